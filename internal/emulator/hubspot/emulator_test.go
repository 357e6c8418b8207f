package hubspot

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestOAuthRefreshAndRotation(t *testing.T) {
	e := newEnv(t, Options{RotateRefreshTokens: true, AccessTokenLifetime: time.Minute})
	c := e.srv.Credentials()
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "refresh_token": {c.RefreshToken}}
	r := e.form("/oauth/v1/token", form)
	wantStatus(t, r, 200)
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		TokenType    string `json:"token_type"`
	}
	if err := json.Unmarshal(r.body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresIn != 60 || tok.TokenType != "bearer" || tok.AccessToken == "" || tok.RefreshToken == c.RefreshToken {
		t.Fatalf("token response %+v: want expires_in 60, a bearer token and a rotated refresh token", tok)
	}
	wantStatus(t, e.doToken(tok.AccessToken, "GET", "/crm/v3/objects/contacts", nil), 200)

	// The rotated-out refresh token is dead.
	r = e.form("/oauth/v1/token", form)
	wantStatus(t, r, 400)
	if m := r.json(t); m["status"] != "BAD_REFRESH_TOKEN" || m["message"] != "missing or invalid refresh token" {
		t.Fatalf("old refresh token: %s", r.body)
	}

	// Expiry answers EXPIRED_AUTHENTICATION, an unknown token INVALID_AUTHENTICATION.
	e.clock.Add(61 * time.Second)
	r = e.doToken(tok.AccessToken, "GET", "/crm/v3/objects/contacts", nil)
	wantStatus(t, r, 401)
	if m := r.json(t); m["category"] != "EXPIRED_AUTHENTICATION" || !strings.Contains(m["message"].(string), "expired 1 second(s) ago") {
		t.Fatalf("expired token: %s", r.body)
	}
	r = e.doToken("", "GET", "/crm/v3/objects/contacts", nil)
	wantStatus(t, r, 401)
	if r.json(t)["category"] != "INVALID_AUTHENTICATION" {
		t.Fatalf("missing token: %s", r.body)
	}

	// Bad client credentials.
	bad := url.Values{"grant_type": {"refresh_token"}, "client_id": {"x"}, "client_secret": {c.ClientSecret}, "refresh_token": {tok.RefreshToken}}
	if r := e.form("/oauth/v1/token", bad); r.json(t)["status"] != "BAD_CLIENT_ID" {
		t.Fatalf("bad client id: %s", r.body)
	}
}

func TestExpireAndRevokeTokens(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.srv.Credentials()
	r := e.form("/oauth/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "refresh_token": {c.RefreshToken}})
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(r.body, &tok)
	wantStatus(t, e.doToken(tok.AccessToken, "GET", "/account-info/v3/details", nil), 200)
	e.srv.ExpireTokens()
	wantStatus(t, e.doToken(tok.AccessToken, "GET", "/account-info/v3/details", nil), 401)
	wantStatus(t, e.doToken(c.PrivateAppToken, "GET", "/account-info/v3/details", nil), 200)

	e.srv.RevokeTokens()
	wantStatus(t, e.doToken(c.PrivateAppToken, "GET", "/account-info/v3/details", nil), 401)
	if r := e.form("/oauth/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "refresh_token": {c.RefreshToken}}); r.status != 400 {
		t.Fatalf("revoked refresh token still works: %d", r.status)
	}
	if n := e.srv.Credentials(); n.PrivateAppToken == c.PrivateAppToken || n.RefreshToken == c.RefreshToken {
		t.Fatal("Credentials after RevokeTokens must be freshly issued")
	}
}

func TestCreateReadUpdateArchive(t *testing.T) {
	e := newEnv(t, Options{})
	r := e.do("POST", "/crm/v3/objects/contacts", contact("Ann@Example.com", "Ann", "Ünïcødé"))
	wantStatus(t, r, 201)
	created := r.json(t)
	id := created["id"].(string)
	props := created["properties"].(map[string]any)
	if props["lastname"] != "Ünïcødé" || props["hs_object_id"] != id || props["lastmodifieddate"] != "2026-03-02T10:15:30.123Z" {
		t.Fatalf("created record: %s", r.body)
	}

	// Duplicate email, case-insensitively.
	r = e.do("POST", "/crm/v3/objects/contacts", contact("ann@example.COM", "A", "B"))
	wantStatus(t, r, 409)
	if msg := r.json(t)["message"]; msg != "Contact already exists. Existing ID: "+id {
		t.Fatalf("conflict message %q", msg)
	}

	// Read-only, unknown and ill-typed properties are rejected in one VALIDATION_ERROR.
	r = e.do("PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"lastmodifieddate": "1", "nope": "x", "email": "not-an-email"}})
	wantStatus(t, r, 400)
	for _, code := range []string{"READ_ONLY_VALUE", "PROPERTY_DOESNT_EXIST", "INVALID_EMAIL"} {
		if !strings.Contains(string(r.body), code) {
			t.Errorf("validation body lacks %s: %s", code, r.body)
		}
	}
	r = e.do("PATCH", "/crm/v3/objects/companies/1", map[string]any{"properties": map[string]any{"numberofemployees": "many"}})
	wantStatus(t, r, 400)

	// Update bumps the modified date; an identical update does not.
	e.clock.Add(time.Second)
	r = e.do("PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"jobtitle": "CTO", "phone": nil}})
	wantStatus(t, r, 200)
	if got := r.json(t)["updatedAt"]; got != "2026-03-02T10:15:31.123Z" {
		t.Fatalf("updatedAt after update = %v", got)
	}
	e.clock.Add(time.Second)
	r = e.do("PATCH", "/crm/v3/objects/contacts/"+id, map[string]any{"properties": map[string]any{"jobtitle": "CTO"}})
	if got := r.json(t)["updatedAt"]; got != "2026-03-02T10:15:31.123Z" {
		t.Fatalf("an update that changes nothing moved updatedAt to %v", got)
	}

	// GET with properties returns nulls for unset ones.
	r = e.do("GET", "/crm/v3/objects/contacts/"+id+"?properties=jobtitle,phone", nil)
	wantStatus(t, r, 200)
	p := r.json(t)["properties"].(map[string]any)
	if p["jobtitle"] != "CTO" || p["phone"] != nil {
		t.Fatalf("properties %v", p)
	}
	if _, ok := p["phone"]; !ok {
		t.Fatal("an unset requested property must be present as null")
	}

	// Archive: 204, modified date unchanged, gone from the live listing, present in the archived one.
	e.clock.Add(time.Second)
	wantStatus(t, e.do("DELETE", "/crm/v3/objects/contacts/"+id, nil), 204)
	wantStatus(t, e.do("DELETE", "/crm/v3/objects/contacts/"+id, nil), 204)
	wantStatus(t, e.do("GET", "/crm/v3/objects/contacts/"+id, nil), 404)
	rec, _ := e.srv.Record("contacts", id)
	if !rec.Archived || !rec.UpdatedAt.Equal(time.Date(2026, 3, 2, 10, 15, 31, 123e6, time.UTC)) {
		t.Fatalf("archived record %+v: archiving must not bump the modified date", rec)
	}
	r = e.do("GET", "/crm/v3/objects/contacts?archived=true", nil)
	res := r.json(t)["results"].([]any)
	if len(res) != 1 || res[0].(map[string]any)["archivedAt"] != "2026-03-02T10:15:33.123Z" {
		t.Fatalf("archived listing: %s", r.body)
	}
	// The email is free again.
	wantStatus(t, e.do("POST", "/crm/v3/objects/contacts", contact("ann@example.com", "Ann", "Again")), 201)
}

func TestRequiredAndTypedProperties(t *testing.T) {
	e := newEnv(t, Options{CustomProperties: []CustomProperty{
		{Object: "contacts", Name: "newsletter", Label: "Newsletter", Type: TypeBool},
		{Object: "contacts", Name: "birthday", Label: "Birthday", Type: TypeDate},
		{Object: "contacts", Name: "colours", Label: "Colours", Type: TypeEnumeration, FieldType: "checkbox", Options: []Option{{Label: "Red", Value: "red"}, {Label: "Blue", Value: "blue"}}},
		{Object: "contacts", Name: "external_id", Label: "External ID", Type: TypeString, Unique: true},
	}})
	r := e.do("POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]any{"amount": "10"}})
	wantStatus(t, r, 400)
	if !strings.Contains(string(r.body), "REQUIRED_PROPERTY") {
		t.Fatalf("deal without dealname: %s", r.body)
	}
	wantStatus(t, e.do("POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]any{"dealname": "D", "dealstage": "closedwon", "amount": 10.5}}), 201)
	wantStatus(t, e.do("POST", "/crm/v3/objects/deals", map[string]any{"properties": map[string]any{"dealname": "D", "dealstage": "won"}}), 400)

	r = e.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": map[string]any{"newsletter": true, "birthday": "1572480000000", "colours": "red;blue"}})
	wantStatus(t, r, 201)
	p := r.json(t)["properties"].(map[string]any)
	if p["newsletter"] != "true" || p["birthday"] != "2019-10-31" || p["colours"] != "red;blue" {
		t.Fatalf("normalised values %v", p)
	}
	for _, bad := range []map[string]any{{"newsletter": "yes"}, {"birthday": "1572480000001"}, {"colours": "red;green"}, {"firstname": strings.Repeat("x", maxStringLength+1)}} {
		wantStatus(t, e.do("POST", "/crm/v3/objects/contacts", map[string]any{"properties": bad}), 400)
	}
	r = e.do("GET", "/crm/v3/properties/contacts/colours", nil)
	wantStatus(t, r, 200)
	if r.json(t)["hubspotDefined"] != nil {
		t.Fatalf("a custom property must not be hubspotDefined: %s", r.body)
	}
}

func TestBatchCreateModes(t *testing.T) {
	e := newEnv(t, Options{})
	existing, _ := e.srv.Create("contacts", map[string]string{"email": "taken@example.com"})

	// Legacy mode: one invalid input fails the whole batch and creates nothing.
	r := e.do("POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		contact("a@example.com", "A", "A"),
		map[string]any{"properties": map[string]any{"email": "b@example.com", "lifecyclestage": "x"}},
	}})
	wantStatus(t, r, 400)
	if recs, _ := e.srv.Records("contacts"); len(recs) != 1 {
		t.Fatalf("a failed batch created %d records", len(recs)-1)
	}

	// Multi-status mode: the valid input is created, the invalid one is named by its trace id.
	r = e.do("POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		map[string]any{"objectWriteTraceId": "t0", "properties": map[string]any{"email": "a@example.com"}},
		map[string]any{"objectWriteTraceId": "t1", "properties": map[string]any{"email": "b@example.com", "lifecyclestage": "x"}},
	}})
	wantStatus(t, r, 207)
	var resp batchResponse
	_ = json.Unmarshal(r.body, &resp)
	if len(resp.Results) != 1 || resp.Results[0].ObjectWriteTraceID != "t0" || resp.NumErrors != 1 || resp.Errors[0].Context["objectWriteTraceId"][0] != "t1" {
		t.Fatalf("multi-status batch: %s", r.body)
	}

	// A duplicate email fails the whole batch with 409, even in multi-status mode.
	r = e.do("POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		map[string]any{"objectWriteTraceId": "t0", "properties": map[string]any{"email": "c@example.com"}},
		map[string]any{"objectWriteTraceId": "t1", "properties": map[string]any{"email": "TAKEN@example.com"}},
	}})
	wantStatus(t, r, 409)
	if !strings.Contains(string(r.body), "Existing ID: "+existing) {
		t.Fatalf("409 must name the existing id: %s", r.body)
	}
	// Duplicates inside one batch conflict too.
	r = e.do("POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{contact("d@example.com", "", ""), contact("D@example.com", "", "")}})
	wantStatus(t, r, 409)

	// More than 100 inputs.
	inputs := make([]any, 101)
	for i := range inputs {
		inputs[i] = contact(fmt.Sprintf("n%d@example.com", i), "", "")
	}
	wantStatus(t, e.do("POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": inputs}), 400)
}

func TestBatchConflictsAsMultiStatus(t *testing.T) {
	e := newEnv(t, Options{MultiStatusConflicts: true})
	_, _ = e.srv.Create("contacts", map[string]string{"email": "taken@example.com"})
	r := e.do("POST", "/crm/v3/objects/contacts/batch/create", map[string]any{"inputs": []any{
		map[string]any{"objectWriteTraceId": "t0", "properties": map[string]any{"email": "c@example.com"}},
		map[string]any{"objectWriteTraceId": "t1", "properties": map[string]any{"email": "taken@example.com"}},
	}})
	wantStatus(t, r, 207)
	if !strings.Contains(string(r.body), `"category":"CONFLICT"`) {
		t.Fatalf("want a per-input CONFLICT: %s", r.body)
	}
}

func TestBatchReadUpsertArchive(t *testing.T) {
	e := newEnv(t, Options{OrderedBatchResults: true})
	ids, _ := e.srv.Seed("contacts", 2)
	rec, _ := e.srv.Record("contacts", ids[0])

	r := e.do("POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": rec.Properties["email"], "idProperty": "email", "properties": map[string]any{"jobtitle": "Boss"}},
		map[string]any{"id": "new@example.com", "idProperty": "email", "properties": map[string]any{"firstname": "New"}},
	}})
	wantStatus(t, r, 200)
	var resp batchResponse
	_ = json.Unmarshal(r.body, &resp)
	if len(resp.Results) != 2 || *resp.Results[0].New || !*resp.Results[1].New || *resp.Results[1].Properties["email"] != "new@example.com" {
		t.Fatalf("upsert: %s", r.body)
	}
	// Duplicate ids in one batch are refused.
	wantStatus(t, e.do("POST", "/crm/v3/objects/contacts/batch/upsert", map[string]any{"inputs": []any{
		map[string]any{"id": "x@example.com", "idProperty": "email", "properties": map[string]any{}},
		map[string]any{"id": "X@example.com", "idProperty": "email", "properties": map[string]any{}},
	}}), 400)

	r = e.do("POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"properties": []string{"email"}, "inputs": []any{map[string]any{"id": ids[0]}, map[string]any{"id": "1"}}})
	wantStatus(t, r, 207)
	r = e.do("POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"inputs": []any{map[string]any{"id": "1"}}})
	wantStatus(t, r, 404)
	r = e.do("POST", "/crm/v3/objects/contacts/batch/read", map[string]any{"idProperty": "email", "inputs": []any{map[string]any{"id": "NEW@example.com"}}})
	wantStatus(t, r, 200)

	wantStatus(t, e.do("POST", "/crm/v3/objects/contacts/batch/archive", map[string]any{"inputs": []any{map[string]any{"id": ids[0]}, map[string]any{"id": "1"}}}), 204)
	if rec, _ := e.srv.Record("contacts", ids[0]); !rec.Archived {
		t.Fatal("batch/archive did not archive")
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t, Options{})
	ids, _ := e.srv.Seed("companies", 250)
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.do("GET", "/crm/v3/objects/companies?limit=100&after="+url.QueryEscape(after), nil)
		wantStatus(t, r, 200)
		var p pageJSON
		_ = json.Unmarshal(r.body, &p)
		for _, rec := range p.Results {
			seen = append(seen, rec.ID)
		}
		if p.Paging == nil {
			break
		}
		after = p.Paging.Next.After
	}
	if strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %d ids, want the %d seeded in order", len(seen), len(ids))
	}
}

func search(e *env, object string, body map[string]any) response {
	e.t.Helper()
	return e.do("POST", "/crm/v3/objects/"+object+"/search", body)
}

func modifiedSince(prop string, ms int64, after string, limit int) map[string]any {
	return map[string]any{
		"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": prop, "operator": "GTE", "value": fmt.Sprint(ms)}}}},
		"sorts":        []any{map[string]any{"propertyName": prop, "direction": "ASCENDING"}},
		"limit":        limit,
		"after":        after,
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t, Options{SearchPerSecond: -1, SearchResultCap: 50})
	ids, _ := e.srv.Seed("deals", 120)
	base := e.clock.Now().Add(-119 * time.Second).UnixMilli()

	// Modified since, ascending, paged by offset.
	r := search(e, "deals", modifiedSince("hs_lastmodifieddate", base+100_000, "", 10))
	wantStatus(t, r, 200)
	var p pageJSON
	_ = json.Unmarshal(r.body, &p)
	if *p.Total != 20 || len(p.Results) != 10 || p.Results[0].ID != ids[100] || p.Paging.Next.After != "10" {
		t.Fatalf("search page: total %d, %d results, first %s", *p.Total, len(p.Results), p.Results[0].ID)
	}
	if r.header.Get("X-HubSpot-RateLimit-Remaining") != "" {
		t.Fatal("search answers carry no rate-limit headers")
	}

	// Past the result cap: 400.
	wantStatus(t, search(e, "deals", modifiedSince("hs_lastmodifieddate", 0, "50", 10)), 400)
	r = search(e, "deals", modifiedSince("hs_lastmodifieddate", 0, "40", 10))
	wantStatus(t, r, 200)
	_ = json.Unmarshal(r.body, &p)
	if *p.Total != 120 || p.Paging == nil {
		t.Fatalf("the page before the cap still offers a next page: %s", r.body)
	}

	// Operators.
	cases := []struct {
		filter map[string]any
		want   int
	}{
		{map[string]any{"propertyName": "dealstage", "operator": "IN", "values": []string{"closedwon", "closedlost"}}, -1},
		{map[string]any{"propertyName": "hs_object_id", "operator": "EQ", "value": ids[3]}, 1},
		{map[string]any{"propertyName": "hs_object_id", "operator": "NEQ", "value": ids[3]}, 119},
		{map[string]any{"propertyName": "hs_object_id", "operator": "LT", "value": ids[3]}, 3},
		{map[string]any{"propertyName": "hs_object_id", "operator": "LTE", "value": ids[3]}, 4},
		{map[string]any{"propertyName": "hs_object_id", "operator": "GT", "value": ids[3]}, 116},
		{map[string]any{"propertyName": "dealname", "operator": "HAS_PROPERTY"}, 120},
		{map[string]any{"propertyName": "description", "operator": "HAS_PROPERTY"}, 0},
		{map[string]any{"propertyName": "description", "operator": "NOT_HAS_PROPERTY"}, 120},
	}
	for _, c := range cases {
		r := search(e, "deals", map[string]any{"filterGroups": []any{map[string]any{"filters": []any{c.filter}}}})
		wantStatus(t, r, 200)
		_ = json.Unmarshal(r.body, &p)
		if c.want >= 0 && *p.Total != c.want {
			t.Errorf("%v: total %d, want %d", c.filter, *p.Total, c.want)
		}
	}
	// Two sorts, too many groups, bad operator, unknown property, limit > 200.
	for _, body := range []map[string]any{
		{"sorts": []string{"createdate", "dealname"}},
		{"filterGroups": []any{map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}, map[string]any{}}},
		{"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "dealname", "operator": "LIKE", "value": "x"}}}}},
		{"filterGroups": []any{map[string]any{"filters": []any{map[string]any{"propertyName": "nope", "operator": "EQ", "value": "x"}}}}},
		{"limit": 201},
	} {
		wantStatus(t, search(e, "deals", body), 400)
	}
}

func TestSearchLagAndLimit(t *testing.T) {
	e := newEnv(t, Options{SearchLag: 2 * time.Second})
	_, _ = e.srv.Create("contacts", map[string]string{"email": "lag@example.com"})
	var p pageJSON
	_ = json.Unmarshal(search(e, "contacts", map[string]any{}).body, &p)
	if *p.Total != 0 {
		t.Fatal("a fresh write is visible to search before the lag")
	}
	e.clock.Add(2 * time.Second)
	_ = json.Unmarshal(search(e, "contacts", map[string]any{}).body, &p)
	if *p.Total != 1 {
		t.Fatal("the write is not visible after the lag")
	}
	// 5 searches a second; the 6th is refused with the SECONDLY policy and no rate-limit headers.
	for i := 0; i < 4; i++ {
		wantStatus(t, search(e, "contacts", map[string]any{}), 200)
	}
	r := search(e, "contacts", map[string]any{})
	wantStatus(t, r, 429)
	if r.json(t)["policyName"] != "SECONDLY" || r.header.Get("X-HubSpot-RateLimit-Max") != "" {
		t.Fatalf("search limit: %s", r.body)
	}
	e.clock.Add(time.Second)
	wantStatus(t, search(e, "contacts", map[string]any{}), 200)
}

func TestBurstAndDailyLimits(t *testing.T) {
	e := newEnv(t, Options{BurstLimit: 3, BurstWindow: 10 * time.Second, DailyLimit: 5})
	for i := 0; i < 3; i++ {
		r := e.do("GET", "/crm/v3/objects/contacts", nil)
		wantStatus(t, r, 200)
		if got := r.header.Get("X-HubSpot-RateLimit-Remaining"); got != fmt.Sprint(2-i) {
			t.Fatalf("call %d: Remaining %s", i, got)
		}
		if r.header.Get("X-HubSpot-RateLimit-Max") != "3" || r.header.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" ||
			r.header.Get("X-HubSpot-RateLimit-Daily") != "5" || r.header.Get("X-HubSpot-RateLimit-Daily-Remaining") != fmt.Sprint(4-i) {
			t.Fatalf("headers %v", r.header)
		}
	}
	r := e.do("GET", "/crm/v3/objects/contacts", nil)
	wantStatus(t, r, 429)
	if r.json(t)["policyName"] != "TEN_SECONDLY_ROLLING" {
		t.Fatalf("burst: %s", r.body)
	}
	e.clock.Add(10*time.Second + time.Millisecond)
	wantStatus(t, e.do("GET", "/crm/v3/objects/contacts", nil), 200)
	wantStatus(t, e.do("GET", "/crm/v3/objects/contacts", nil), 200)
	r = e.do("GET", "/crm/v3/objects/contacts", nil)
	wantStatus(t, r, 429)
	if m := r.json(t); m["policyName"] != "DAILY" || m["message"] != "You have reached your daily limit." {
		t.Fatalf("daily: %s", r.body)
	}
	if st := e.srv.Stats(); st.RateLimited != 2 || st.APICalls != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.SetFaults(Faults{ErrorRate: 1, ErrorStatus: 502, HTMLErrors: true})
	r := e.do("GET", "/crm/v3/objects/contacts", nil)
	if r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("HTML fault: %d %s", r.status, r.header.Get("Content-Type"))
	}
	e.srv.SetFaults(Faults{ErrorRate: 1})
	if r := e.do("GET", "/crm/v3/objects/contacts", nil); r.status != 503 || r.json(t)["status"] != "error" {
		t.Fatalf("JSON fault: %d %s", r.status, r.body)
	}
	e.srv.SetFaults(Faults{DropRate: 1})
	req, _ := http.NewRequest("GET", e.ts.URL+"/crm/v3/objects/contacts", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if resp, err := e.ts.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a dropped connection answered")
	}
	e.srv.SetFaults(Faults{Latency: 30 * time.Millisecond})
	start := time.Now()
	wantStatus(t, e.do("GET", "/crm/v3/objects/contacts", nil), 200)
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("latency not applied")
	}
	e.srv.SetFaults(Faults{})
	// Go's client resends an idempotent request once when a reused connection closes: 1 or 2 drops.
	if st := e.srv.Stats(); st.Dropped < 1 || st.Injected != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClockSkewAndSetModifiedAt(t *testing.T) {
	e := newEnv(t, Options{})
	e.srv.SetClockSkew(-5 * time.Minute)
	id, _ := e.srv.Create("contacts", map[string]string{"email": "skew@example.com"})
	rec, _ := e.srv.Record("contacts", id)
	if want := e.clock.Now().Add(-5 * time.Minute); !rec.UpdatedAt.Equal(want) {
		t.Fatalf("skewed updatedAt %v, want %v", rec.UpdatedAt, want)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := e.srv.SetModifiedAt("contacts", []string{id}, at); err != nil {
		t.Fatal(err)
	}
	var p pageJSON
	_ = json.Unmarshal(search(e, "contacts", modifiedSince("lastmodifieddate", at.UnixMilli(), "", 10)).body, &p)
	if *p.Total != 1 || *p.Results[0].Properties["lastmodifieddate"] != "2025-01-01T00:00:00.000Z" {
		t.Fatalf("SetModifiedAt not visible to search: %+v", p)
	}
}

func TestAdminHTTP(t *testing.T) {
	e := newEnv(t, Options{})
	adm := func(method, path, body string) response { return e.doToken("", method, "/_admin"+path, body) }
	wantStatus(t, adm("POST", "/seed", `{"object":"contacts","count":3}`), 201)
	r := adm("POST", "/records/contacts", `{"properties":{"email":"ui@example.com"}}`)
	wantStatus(t, r, 201)
	id := r.json(t)["id"].(string)
	wantStatus(t, adm("PATCH", "/records/contacts/"+id, `{"properties":{"firstname":"Ui"}}`), 204)
	wantStatus(t, adm("PATCH", "/records/contacts/"+id, `{"properties":{"lifecyclestage":"bogus"}}`), 400)
	wantStatus(t, adm("POST", "/modified-at", `{"object":"contacts","ids":["`+id+`"],"at":"2025-06-01T00:00:00Z"}`), 204)
	wantStatus(t, adm("DELETE", "/records/contacts/"+id, ""), 204)
	r = adm("GET", "/records/contacts?archived=true", "")
	if res := r.json(t)["results"].([]any); len(res) != 1 {
		t.Fatalf("archived records: %s", r.body)
	}
	wantStatus(t, adm("PUT", "/faults", `{"rateLimitNext":1,"latency":"1ms"}`), 200)
	wantStatus(t, e.do("GET", "/crm/v3/objects/contacts", nil), 429)
	wantStatus(t, adm("DELETE", "/faults", ""), 204)
	wantStatus(t, adm("PUT", "/clock-skew", `{"skew":"90s"}`), 200)
	wantStatus(t, adm("POST", "/tokens/expire", ""), 204)
	r = adm("POST", "/tokens/revoke", "")
	wantStatus(t, r, 200)
	wantStatus(t, e.do("GET", "/crm/v3/objects/contacts", nil), 401)
	r = adm("GET", "/stats", "")
	if st := r.json(t); st["apiCalls"].(float64) != 2 || st["rateLimited"].(float64) != 1 {
		t.Fatalf("stats: %s", r.body)
	}
	r = adm("GET", "/credentials", "")
	if r.json(t)["privateAppToken"] == e.token {
		t.Fatal("credentials not re-issued after revoke")
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", Options{Seed: 5}, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ep Endpoint
	if err := json.Unmarshal([]byte(line), &ep); err != nil || ep.Provider != "hubspot" || ep.PrivateAppToken == "" || ep.TokenURL != ep.BaseURL+"/oauth/v1/token" {
		t.Fatalf("endpoint line %q: %v", line, err)
	}
	req, _ := http.NewRequest("GET", ep.BaseURL+"/crm/v3/objects/deals?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+ep.PrivateAppToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var p pageJSON
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if len(p.Results) != 5 {
		t.Fatalf("seeded deals: %d", len(p.Results))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
