package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	emulator "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

func TestRateLimitStormAndServerErrors(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	_, _ = f.srv.Seed("contacts", 450)
	f.srv.SetFaults(emulator.Faults{RateLimitNext: 3})
	recs, _, _ := readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts"})
	if len(uniq(ids(recs, false))) != 450 {
		t.Fatalf("read %d of 450 through a 429 storm", len(uniq(ids(recs, false))))
	}
	if st := f.srv.Stats(); st.RateLimited != 3 {
		t.Fatalf("%d 429s answered, want 3", st.RateLimited)
	}

	f.srv.SetFaults(emulator.Faults{ErrorRate: 0.3, ErrorStatus: 503, Latency: time.Millisecond})
	recs, _, _ = readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", PageSize: 50})
	if len(uniq(ids(recs, false))) != 450 {
		t.Fatal("reads did not survive 30% 503s")
	}

	// Creates under 503s and dropped connections: every record is created exactly once.
	f.srv.SetFaults(emulator.Faults{ErrorRate: 0.3, DropRate: 0.1})
	batch := make([]connectors.Record, 300)
	for i := range batch {
		batch[i] = contactRecord(1000 + i)
	}
	res, err := f.conn.Upsert(context.Background(), "contacts", batch, connectors.UpsertOptions{})
	f.srv.SetFaults(emulator.Faults{})
	if err != nil {
		t.Fatalf("Upsert under faults: %v", err)
	}
	seen := map[string]bool{}
	for i, r := range res {
		if r.Err != nil || r.ID == "" || seen[r.ID] {
			t.Fatalf("record %d: %+v", i, r)
		}
		seen[r.ID] = true
	}
	all, _ := f.srv.Records("contacts")
	if len(all) != 750 {
		t.Fatalf("%d contacts stored, want 750: a create was duplicated or lost", len(all))
	}
}

func TestTokenExpiresMidStream(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	_, _ = f.srv.Seed("contacts", 500)
	pages := 0
	_, err := f.conn.Changes(context.Background(), connectors.ChangesRequest{Object: "contacts", PageSize: 100}, func(connectors.Page) error {
		pages++
		if pages == 2 {
			f.srv.ExpireTokens()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Changes across a token expiry: %v", err)
	}
	if f.tokens.calls != 2 {
		t.Fatalf("%d token requests, want 2 (initial and one refresh)", f.tokens.calls)
	}
	if st := f.srv.Stats(); st.ByStatus[401] != 1 {
		t.Fatalf("%d 401s", st.ByStatus[401])
	}
}

func TestRevokedTokenIsAuth(t *testing.T) {
	srv := emulator.New(emulator.Options{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	conn, err := New(Config{BaseURL: ts.URL, Tokens: staticSource(srv.Credentials().PrivateAppToken)})
	if err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens()
	_, err = conn.Get(context.Background(), "contacts", []string{"1"}, []string{"email"})
	var e *crmerr.Error
	if !errors.As(err, &e) || e.Kind != crmerr.Auth || e.Status != 401 || e.Code != "INVALID_AUTHENTICATION" || !strings.Contains(e.Error(), "hubspot: read contacts: HTTP 401") {
		t.Fatalf("revoked token: %#v", err)
	}
}

func TestSearchPacing(t *testing.T) {
	// The real 5 searches a second on both sides: pacing must avoid every 429.
	f := newFixture(t, emulator.Options{}, Config{SearchPerSecond: DefaultSearchPerSecond})
	_, _ = f.srv.Seed("contacts", 120)
	start := time.Now()
	recs, _, _ := readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", PageSize: 10, Fields: []string{"email"}})
	if len(uniq(ids(recs, false))) != 120 {
		t.Fatal("records lost")
	}
	st := f.srv.Stats()
	if st.RateLimited != 0 {
		t.Fatalf("%d searches were refused", st.RateLimited)
	}
	if min := time.Duration(st.SearchCalls-5) * time.Second / 5; time.Since(start) < min {
		t.Fatalf("%d searches in %v: faster than 5/s", st.SearchCalls, time.Since(start))
	}
}

// badServer answers the calls whose path has the given suffix with a crafted response, and passes the
// rest to an emulator.
func badServer(t *testing.T, srv *emulator.Server, suffix string, bad func(w http.ResponseWriter, r *http.Request, n int)) *httptest.Server {
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, suffix) {
			bad(w, r, int(n.Add(1)))
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestBadInput(t *testing.T) {
	page := func(body string) func(w http.ResponseWriter, r *http.Request, n int) {
		return func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		}
	}
	rec := `{"id":"%d","properties":{"lastmodifieddate":"2026-01-01T00:00:0%d.000Z","email":"x%d@example.com"},"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-01T00:00:00.000Z","archived":false}`
	cases := []struct {
		name   string
		suffix string // the call to break
		call   string // "changes" or "list"
		bad    func(w http.ResponseWriter, r *http.Request, n int)
		kind   crmerr.Kind
		status int
		text   string
	}{
		{"malformed JSON", "/search", "changes", page(`{"total":1,"results":[{"id":"1",`), crmerr.Transient, 200, "invalid JSON"},
		{"HTML error page", "/search", "changes", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
		}, crmerr.Transient, 502, "not HubSpot's JSON"},
		{"HTML page with 200", "/search", "changes", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html>maintenance</html>"))
		}, crmerr.Transient, 200, "expected a JSON body"},
		{"truncated body", "/search", "changes", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "5000")
			_, _ = w.Write([]byte(`{"total":3,"results":[`))
		}, crmerr.Transient, 200, "cut short"},
		{"unknown fields", "/search", "changes", page(`{"items":[{"key":"1"}],"more":false}`), crmerr.Permanent, 200, "no results"},
		{"empty page with a next cursor", "/search", "changes", page(`{"total":5,"results":[],"paging":{"next":{"after":"100"}}}`), crmerr.Transient, 200, "empty page"},
		{"search that loops", "/search", "changes", func(w http.ResponseWriter, _ *http.Request, n int) {
			w.Header().Set("Content-Type", "application/json")
			// The same two pages again and again, whatever the filter says.
			_, _ = fmt.Fprintf(w, `{"total":9,"results":[`+rec+`,`+rec+`],"paging":{"next":{"after":"2"}}}`, 1, n%2+1, 1, 2, n%2+1, 2)
		}, crmerr.Transient, 200, "modified before the filter"},
		{"list cursor that loops", "/crm/v3/objects/contacts", "list", func(w http.ResponseWriter, _ *http.Request, _ int) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"results":[`+rec+`],"paging":{"next":{"after":"MTAK"}}}`, 1, 1, 1)
		}, crmerr.Transient, 200, "loops"},
		{"list empty page with a next cursor", "/crm/v3/objects/contacts", "list", page(`{"results":[],"paging":{"next":{"after":"MTAK"}}}`), crmerr.Transient, 200, "empty page"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := emulator.New(emulator.Options{SearchPerSecond: -1})
			ids, _ := srv.Seed("contacts", 5)
			ts := badServer(t, srv, c.suffix, c.bad)
			conn, err := New(Config{BaseURL: ts.URL, Tokens: staticSource(srv.Credentials().PrivateAppToken), SearchPerSecond: -1,
				MaxAttempts: 2, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			var yielded int
			var cur connectors.Cursor
			op := "search contacts"
			switch c.call {
			case "changes":
				cur, err = conn.Changes(context.Background(), connectors.ChangesRequest{Object: "contacts", Fields: []string{"email"}, PageSize: 2}, func(p connectors.Page) error {
					yielded += len(p.Records)
					return nil
				})
			case "list":
				op = "list contacts"
				err = conn.ListIDs(context.Background(), "contacts", func(got []string) error { yielded += len(got); return nil })
			}
			var e *crmerr.Error
			if !errors.As(err, &e) {
				t.Fatalf("want a classified error, got %v", err)
			}
			if e.Kind != c.kind || e.Status != c.status || e.Provider != "hubspot" || e.Op != op || !strings.Contains(e.Error(), c.text) {
				t.Fatalf("got %s %v; want %s, HTTP %d, op %q, mentioning %q", e.Kind, e, c.kind, c.status, op, c.text)
			}
			msg := e.Error()
			if !strings.Contains(msg, "hubspot") || !strings.Contains(msg, op) || !strings.Contains(msg, fmt.Sprintf("HTTP %d", c.status)) {
				t.Fatalf("message %q does not name the CRM, the operation and the status", msg)
			}
			if cur != "" {
				t.Fatalf("a failed read returned cursor %q", cur)
			}
			if c.call == "changes" && yielded > 2 || c.call == "list" && yielded > 1 {
				t.Fatalf("%d records yielded past the bad page (seeded %d)", yielded, len(ids))
			}
		})
	}
}

func TestClassify(t *testing.T) {
	c, _ := New(Config{Tokens: staticSource("x")})
	jsonH := http.Header{"Content-Type": {"application/json;charset=utf-8"}}
	cases := []struct {
		reason string
		op     string
		status int
		body   string
		kind   crmerr.Kind
		code   string
		field  string
	}{
		{"burst 429", "search contacts", 429, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"c","policyName":"TEN_SECONDLY_ROLLING"}`, crmerr.RateLimited, "TEN_SECONDLY_ROLLING", ""},
		{"daily 429", "create contacts", 429, `{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY"}`, crmerr.RateLimited, "DAILY", ""},
		{"expired token", "read contacts", 401, `{"status":"error","message":"The OAuth token used to make this call expired 1 minute(s) ago.","category":"EXPIRED_AUTHENTICATION"}`, crmerr.Auth, "EXPIRED_AUTHENTICATION", ""},
		{"invalid value on write", "update contacts", 400, `{"status":"error","message":"Property values were not valid","category":"VALIDATION_ERROR","errors":[{"message":"x","code":"INVALID_OPTION","context":{"propertyName":["lifecyclestage"]}}]}`, crmerr.InvalidRecord, "INVALID_OPTION", "lifecyclestage"},
		{"bad search", "search contacts", 400, `{"status":"error","message":"bad filter","category":"VALIDATION_ERROR"}`, crmerr.Permanent, "VALIDATION_ERROR", ""},
		{"duplicate", "create contacts", 409, `{"status":"error","message":"Contact already exists. Existing ID: 123","category":"CONFLICT"}`, crmerr.InvalidRecord, "CONFLICT", ""},
		{"missing scope", "read deals", 403, `{"status":"error","message":"This app hasn't been granted all required scopes","category":"MISSING_SCOPES"}`, crmerr.Permanent, "MISSING_SCOPES", ""},
		{"unknown object", "read widgets", 404, `{"status":"error","message":"not found","category":"OBJECT_NOT_FOUND"}`, crmerr.Permanent, "OBJECT_NOT_FOUND", ""},
		{"server error", "search contacts", 500, `{"status":"error","message":"internal error","category":"INTERNAL_ERROR"}`, crmerr.Transient, "INTERNAL_ERROR", ""},
		{"gateway HTML", "search contacts", 504, `<html>Gateway Timeout</html>`, crmerr.Transient, "", ""},
		{"locked", "update contacts", 423, ``, crmerr.Transient, "", ""},
	}
	for _, tc := range cases {
		h := jsonH
		if strings.HasPrefix(tc.body, "<") {
			h = http.Header{"Content-Type": {"text/html"}}
		}
		e := c.classify(tc.op, tc.status, h, []byte(tc.body))
		if e == nil || e.Kind != tc.kind || e.Code != tc.code || e.Field != tc.field || e.Status != tc.status || e.Op != tc.op || e.Provider != "hubspot" {
			t.Errorf("%s: got %#v, want %s %s %q", tc.reason, e, tc.kind, tc.code, tc.field)
			continue
		}
		if tc.kind == crmerr.RateLimited && e.RetryAt.IsZero() {
			t.Errorf("%s: no RetryAt", tc.reason)
		}
		if strings.Contains(e.Error(), "<html>") {
			t.Errorf("%s: the body leaked into the message: %s", tc.reason, e)
		}
	}
	if c.classify("search contacts", 207, jsonH, []byte(`{}`)) != nil {
		t.Error("207 is a success for the transport")
	}
}
