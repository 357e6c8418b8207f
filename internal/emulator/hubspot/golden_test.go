package hubspot

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var correlationRE = regexp.MustCompile(`"correlationId":"[0-9a-f-]{36}"`)

// pinBody pins the volatile parts of a body (correlation ids) and indents it.
func pinBody(t *testing.T, body []byte) []byte {
	t.Helper()
	body = correlationRE.ReplaceAll(body, []byte(`"correlationId":"00000000-0000-4000-8000-000000000000"`))
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	got := pinBody(t, body)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestGoldenShapes pins the response shapes that the HubSpot documentation shows, so that a change to the
// emulator that drifts from the vendor is a visible diff.
func TestGoldenShapes(t *testing.T) {
	e := newEnv(t, Options{OrderedBatchResults: true, RandSeed: 7})
	ids, err := e.srv.Seed("contacts", 3)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("batch update 207 partial failure", func(t *testing.T) {
		r := e.do("POST", "/crm/v3/objects/contacts/batch/update", map[string]any{"inputs": []any{
			map[string]any{"id": ids[0], "properties": map[string]any{"jobtitle": "Chief Golden Officer"}},
			map[string]any{"id": ids[1], "properties": map[string]any{"lifecyclestage": "dreamer"}},
			map[string]any{"id": "999", "properties": map[string]any{"jobtitle": "CTO"}},
		}})
		wantStatus(t, r, 207)
		golden(t, "batch_update_207.json", r.body)
	})
	t.Run("429 ten-secondly", func(t *testing.T) {
		e.srv.SetFaults(Faults{RateLimitNext: 1})
		r := e.do("GET", "/crm/v3/objects/contacts?limit=1", nil)
		wantStatus(t, r, 429)
		golden(t, "rate_limit_429.json", r.body)
	})
	t.Run("search", func(t *testing.T) {
		r := e.do("POST", "/crm/v3/objects/contacts/search", map[string]any{
			"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}}}},
			"sorts":        []any{map[string]any{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}},
			"properties":   []string{"email", "firstname", "lastname"},
			"limit":        2,
		})
		wantStatus(t, r, 200)
		golden(t, "search_response.json", r.body)
	})
	t.Run("validation error", func(t *testing.T) {
		r := e.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": "v@example.com", "lifecyclestage": "dreamer"}})
		wantStatus(t, r, 400)
		golden(t, "validation_error_400.json", r.body)
	})
	t.Run("conflict", func(t *testing.T) {
		rec, _ := e.srv.Record("contacts", ids[2])
		r := e.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"email": rec.Properties["email"]}})
		wantStatus(t, r, 409)
		golden(t, "conflict_409.json", r.body)
	})
	t.Run("401", func(t *testing.T) {
		r := e.doToken("not-a-token", "GET", "/crm/v3/objects/contacts", nil)
		wantStatus(t, r, 401)
		golden(t, "auth_401.json", r.body)
	})
	t.Run("properties", func(t *testing.T) {
		r := e.do("GET", "/crm/v3/properties/deals", nil)
		wantStatus(t, r, 200)
		golden(t, "properties_deals.json", r.body)
	})
	t.Run("list", func(t *testing.T) {
		r := e.do("GET", "/crm/v3/objects/contacts?limit=2&properties=email", nil)
		wantStatus(t, r, 200)
		golden(t, "list_response.json", r.body)
	})
}
