package salesforce

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

type org struct {
	t     *testing.T
	s     *Server
	ts    *httptest.Server
	token string
}

func newOrg(t *testing.T, opts Options) *org {
	t.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	o := &org{t: t, s: s, ts: ts}
	o.token = o.refresh(s.Credentials().RefreshToken)["access_token"].(string)
	return o
}

func (o *org) tokenCall(form url.Values) (int, map[string]any) {
	o.t.Helper()
	resp, err := http.PostForm(o.ts.URL+"/services/oauth2/token", form)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		o.t.Fatal(err)
	}
	return resp.StatusCode, m
}

func (o *org) refresh(rt string) map[string]any {
	o.t.Helper()
	c := o.s.Credentials()
	status, m := o.tokenCall(url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "refresh_token": {rt}})
	if status != 200 {
		o.t.Fatalf("refresh: %d %v", status, m)
	}
	return m
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func (o *org) do(method, path string, body any, hdr ...string) reply {
	o.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "text/csv"
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/services/data/v66.0/" + path
	}
	req, _ := http.NewRequest(method, o.ts.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+o.token)
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func errorCode(t *testing.T, r reply) string {
	t.Helper()
	var errs []sfError
	if err := json.Unmarshal(r.body, &errs); err != nil || len(errs) == 0 {
		t.Fatalf("not an error array (%d): %s", r.status, r.body)
	}
	return errs[0].ErrorCode
}

func TestTokenRefreshRotationAndRevocation(t *testing.T) {
	o := newOrg(t, Options{RotateRefreshTokens: true})
	first := o.s.Credentials().RefreshToken
	m := o.refresh(first)
	if _, ok := m["expires_in"]; ok {
		t.Error("token response carries expires_in; Salesforce sends none")
	}
	for _, k := range []string{"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at", "refresh_token"} {
		if _, ok := m[k]; !ok {
			t.Errorf("token response lacks %s", k)
		}
	}
	if m["instance_url"] != o.ts.URL {
		t.Errorf("instance_url = %v, want %s", m["instance_url"], o.ts.URL)
	}
	c := o.s.Credentials()
	status, e := o.tokenCall(url.Values{"grant_type": {"refresh_token"}, "client_id": {c.ClientID}, "client_secret": {c.ClientSecret}, "refresh_token": {first}})
	if status != 400 || e["error"] != "invalid_grant" || e["error_description"] != "expired access/refresh token" {
		t.Errorf("rotated-out refresh token: %d %v", status, e)
	}
	o.refresh(m["refresh_token"].(string))
	o.s.RevokeTokens()
	if r := o.do("GET", "limits", nil); r.status != 401 || errorCode(t, r) != "INVALID_SESSION_ID" {
		t.Errorf("revoked session: %d %s", r.status, r.body)
	}
}

func TestExpiredSession(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	clock := &now
	o := newOrg(t, Options{Clock: func() time.Time { return *clock }, SessionLifetime: time.Hour})
	if r := o.do("GET", "limits", nil); r.status != 200 {
		t.Fatalf("limits: %d %s", r.status, r.body)
	}
	*clock = now.Add(61 * time.Minute)
	r := o.do("GET", "limits", nil)
	if r.status != 401 {
		t.Fatalf("after session lifetime: %d", r.status)
	}
	assertShape(t, "error_array.json", r.json(t), true)
}

func signJWT(t *testing.T, pemKey string, claims map[string]any) string {
	t.Helper()
	blk, _ := pem.Decode([]byte(pemKey))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	unsigned := enc(map[string]string{"alg": "RS256"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(unsigned))
	sig, err := rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestJWTBearer(t *testing.T) {
	o := newOrg(t, Options{})
	c := o.s.Credentials()
	good := map[string]any{"iss": c.ClientID, "sub": c.Username, "aud": "https://login.salesforce.com", "exp": time.Now().Add(3 * time.Minute).Unix()}
	status, m := o.tokenCall(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {signJWT(t, c.PrivateKeyPEM, good)}})
	if status != 200 || m["access_token"] == nil || m["refresh_token"] != nil {
		t.Fatalf("jwt bearer: %d %v", status, m)
	}
	assertShape(t, "token.json", m, true)
	for name, mutate := range map[string]func(map[string]any){
		"wrong audience": func(c map[string]any) { c["aud"] = "https://evil.example" },
		"wrong user":     func(c map[string]any) { c["sub"] = "someone@else" },
		"expired":        func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() },
	} {
		bad := map[string]any{}
		for k, v := range good {
			bad[k] = v
		}
		mutate(bad)
		status, m := o.tokenCall(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {signJWT(t, c.PrivateKeyPEM, bad)}})
		if status != 400 || m["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
}

func TestVersionsAndRetiredVersion(t *testing.T) {
	o := newOrg(t, Options{})
	r := o.do("GET", "/services/data", nil)
	var vs []versionInfo
	_ = json.Unmarshal(r.body, &vs)
	if len(vs) != 7 || vs[6].Version != "66.0" || vs[6].Label != "Spring '26" || vs[0].URL != "/services/data/v60.0" {
		t.Errorf("versions: %s", r.body)
	}
	if r := o.do("GET", "/services/data/v52.0/limits", nil); r.status != http.StatusGone {
		t.Errorf("retired version: %d", r.status)
	}
	if r := o.do("GET", "/services/data/v99.0/limits", nil); r.status != http.StatusNotFound {
		t.Errorf("future version: %d", r.status)
	}
}

func TestQueryPagingAndShape(t *testing.T) {
	o := newOrg(t, Options{Seed: 4500})
	r := o.do("GET", "query?q="+url.QueryEscape("SELECT Id, LastName, SystemModstamp FROM Contact ORDER BY SystemModstamp, Id"), nil)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	assertShape(t, "query_page.json", r.json(t), true)
	var page struct {
		TotalSize      int              `json:"totalSize"`
		Done           bool             `json:"done"`
		NextRecordsURL string           `json:"nextRecordsUrl"`
		Records        []map[string]any `json:"records"`
	}
	seen := map[string]bool{}
	last := ""
	for pages := 1; ; pages++ {
		_ = json.Unmarshal(r.body, &page)
		for _, rec := range page.Records {
			id := rec["Id"].(string)
			if seen[id] {
				t.Fatalf("duplicate %s", id)
			}
			seen[id] = true
			if ms := rec["SystemModstamp"].(string); ms < last {
				t.Fatalf("out of order: %s after %s", ms, last)
			} else {
				last = ms
			}
		}
		if page.Done {
			if pages != 3 || len(seen) != 4500 || page.TotalSize != 4500 {
				t.Fatalf("pages=%d seen=%d total=%d", pages, len(seen), page.TotalSize)
			}
			break
		}
		if !strings.HasPrefix(page.NextRecordsURL, "/services/data/v66.0/query/01g") || !strings.HasSuffix(page.NextRecordsURL, "-"+itoa(len(seen))) {
			t.Fatalf("nextRecordsUrl %q", page.NextRecordsURL)
		}
		r = o.do("GET", page.NextRecordsURL, nil)
	}
	r = o.do("GET", "query?q="+url.QueryEscape("SELECT Id FROM Contact"), nil, "Sforce-Query-Options", "batchSize=200")
	_ = json.Unmarshal(r.body, &page)
	if len(page.Records) != 200 {
		t.Errorf("batchSize=200 gave %d records", len(page.Records))
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestQueryErrors(t *testing.T) {
	o := newOrg(t, Options{Seed: 3})
	for q, code := range map[string]string{
		"SELECT Id FROM Contact WHERE": "MALFORMED_QUERY",
		"SELECT Id Contact":            "MALFORMED_QUERY",
		"SELECT Nope FROM Contact":     "INVALID_FIELD",
		"SELECT Id FROM Contact WHERE SystemModstamp > '2026-01-01T00:00:00Z'": "INVALID_FIELD",
		"SELECT Id FROM Widget__c":                                               "INVALID_TYPE",
		"SELECT Id FROM Contact WHERE LastName = 'unterminated":                  "MALFORMED_QUERY",
		"SELECT Account.Name FROM Contact":                                       "INVALID_FIELD",
		"SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00Z AND": "MALFORMED_QUERY",
	} {
		r := o.do("GET", "query?q="+url.QueryEscape(q), nil)
		if r.status != 400 || errorCode(t, r) != code {
			t.Errorf("%q: %d %s, want %s", q, r.status, r.body, code)
		}
	}
}

func TestSOQLFilters(t *testing.T) {
	o := newOrg(t, Options{})
	a, _ := o.s.Create("Contact", map[string]any{"LastName": "Alpha", "Email": "a@example.com", "Loyalty_Tier__c": "Gold"})
	b, _ := o.s.Create("Contact", map[string]any{"LastName": "Beta", "Email": "b@example.com", "HasOptedOutOfEmail": true})
	c, _ := o.s.Create("Contact", map[string]any{"LastName": "gamma"})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_ = o.s.SetModifiedAt([]string{a}, t0)
	_ = o.s.SetModifiedAt([]string{b}, t0.Add(time.Hour))
	_ = o.s.SetModifiedAt([]string{c}, t0.Add(2*time.Hour))
	cases := map[string][]string{
		"SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00Z ORDER BY SystemModstamp":                                         {b, c},
		"SELECT Id FROM Contact WHERE SystemModstamp >= 2026-01-01T00:00:00.000+0000 ORDER BY SystemModstamp DESC":                           {c, b, a},
		"SELECT Id FROM Contact WHERE LastName LIKE 'G%'":                                                                                    {c},
		"SELECT Id FROM Contact WHERE LastName IN ('alpha', 'Beta') ORDER BY LastName":                                                       {a, b},
		"SELECT Id FROM Contact WHERE HasOptedOutOfEmail = true":                                                                             {b},
		"SELECT Id FROM Contact WHERE Email = null":                                                                                          {c},
		"SELECT Id FROM Contact WHERE Loyalty_Tier__c != 'Gold' ORDER BY Id":                                                                 {b, c},
		"SELECT Id FROM Contact WHERE (SystemModstamp > 2026-01-01T00:30:00Z) OR (LastName = 'Alpha' AND Email != null) ORDER BY Id LIMIT 2": {a, b},
		"SELECT Id FROM Contact WHERE Id = '" + b[:15] + "'":                                                                                 {b},
		"SELECT Id FROM Contact ORDER BY Id LIMIT 0":                                                                                         {},
	}
	for q, want := range cases {
		r := o.do("GET", "query?q="+url.QueryEscape(q), nil)
		var page struct {
			Records []struct{ Id string } `json:"records"`
		}
		_ = json.Unmarshal(r.body, &page)
		var got []string
		for _, rec := range page.Records {
			got = append(got, rec.Id)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s\n got %v\nwant %v (%s)", q, got, want, r.body)
		}
	}
}

func TestCollectionsPartialFailureAndAllOrNone(t *testing.T) {
	o := newOrg(t, Options{})
	body := map[string]any{"allOrNone": false, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Ok", "Email": "ok@example.com"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "FirstName": "NoLast"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Bad", "Loyalty_Tier__c": "Diamond"},
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "Ro", "SystemModstamp": "2026-01-01T00:00:00Z"},
	}}
	r := o.do("POST", "composite/sobjects", body)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	res := r.json(t).([]any)
	assertShape(t, "saveresult_partial.json", res[:2], true)
	codes := []string{}
	for _, x := range res[1:] {
		codes = append(codes, x.(map[string]any)["errors"].([]any)[0].(map[string]any)["statusCode"].(string))
	}
	if strings.Join(codes, ",") != "REQUIRED_FIELD_MISSING,INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST,INVALID_FIELD_FOR_INSERT_UPDATE" {
		t.Errorf("codes %v", codes)
	}
	if n := len(o.s.Records("Contact")); n != 1 {
		t.Errorf("records after partial failure: %d", n)
	}
	body["allOrNone"] = true
	r = o.do("POST", "composite/sobjects", body)
	res = r.json(t).([]any)
	first := res[0].(map[string]any)["errors"].([]any)[0].(map[string]any)["statusCode"]
	if first != "ALL_OR_NONE_OPERATION_ROLLED_BACK" || len(o.s.Records("Contact")) != 1 {
		t.Errorf("allOrNone: %s, %d records", r.body, len(o.s.Records("Contact")))
	}
	var many []any
	for i := 0; i < 201; i++ {
		many = append(many, map[string]any{"attributes": map[string]any{"type": "Contact"}, "LastName": "x"})
	}
	if r := o.do("POST", "composite/sobjects", map[string]any{"records": many}); r.status != 400 || errorCode(t, r) != "EXCEEDED_ID_LIMIT" {
		t.Errorf("201 records: %d %s", r.status, r.body)
	}
	if r := o.do("POST", "composite/sobjects", map[string]any{"records": []any{map[string]any{"attributes": map[string]any{"type": "Contact"}, "Nope__c": 1}}}); r.status != 400 || errorCode(t, r) != "INVALID_FIELD" {
		t.Errorf("unknown field: %d %s", r.status, r.body)
	}
}

func TestUpsertByExternalID(t *testing.T) {
	o := newOrg(t, Options{})
	rec := map[string]any{"attributes": map[string]any{"type": "Contact"}, "External_Id__c": "ext-1", "LastName": "One"}
	r := o.do("PATCH", "composite/sobjects/Contact/External_Id__c", map[string]any{"records": []any{rec,
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "External_Id__c": "ext-2", "LastName": "Two"}}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = o.do("PATCH", "composite/sobjects/Contact/External_Id__c", map[string]any{"records": []any{rec,
		map[string]any{"attributes": map[string]any{"type": "Contact"}, "External_Id__c": "EXT-2", "LastName": "Two again"}}})
	res := r.json(t).([]any)
	assertShape(t, "upsert_results.json", res, true)
	if res[0].(map[string]any)["created"] != false || res[1].(map[string]any)["created"] != false || len(o.s.Records("Contact")) != 2 {
		t.Errorf("re-upsert created records: %s", r.body)
	}
	r = o.do("PATCH", "sobjects/Contact/External_Id__c/ext-3", map[string]any{"LastName": "Three"})
	if r.status != 201 || r.json(t).(map[string]any)["created"] != true {
		t.Errorf("single upsert create: %d %s", r.status, r.body)
	}
	r = o.do("PATCH", "sobjects/Contact/External_Id__c/ext-3", map[string]any{"LastName": "Three!"})
	if r.status != 200 {
		t.Errorf("single upsert update: %d %s", r.status, r.body)
	}
	if _, err := o.s.Create("Contact", map[string]any{"LastName": "Dup", "External_Id__c": "ext-1"}); err == nil || !strings.Contains(err.Error(), "DUPLICATE_VALUE") {
		t.Errorf("duplicate external id: %v", err)
	}
}

func TestRetrieveUpdateDeleteAndDeletedListing(t *testing.T) {
	now := time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)
	cur := now
	clock := &cur
	o := newOrg(t, Options{Clock: func() time.Time { return *clock }})
	id, err := o.s.Create("Contact", map[string]any{"LastName": "Gone", "Email": "g@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	keep, _ := o.s.Create("Contact", map[string]any{"LastName": "Kept"})
	r := o.do("GET", "composite/sobjects/Contact?ids="+id+","+keep[:15]+",003000000000000AAA&fields=Id,LastName,Email", nil)
	got := r.json(t).([]any)
	if r.status != 200 || len(got) != 3 || got[2] != nil || got[0].(map[string]any)["Email"] != "g@example.com" {
		t.Fatalf("retrieve: %d %s", r.status, r.body)
	}
	if r := o.do("PATCH", "composite/sobjects", map[string]any{"records": []any{map[string]any{"attributes": map[string]any{"type": "Contact"}, "id": keep, "Title": "CTO"}}}); r.status != 200 || !strings.Contains(string(r.body), `"success":true`) {
		t.Fatalf("update: %s", r.body)
	}
	*clock = now.Add(10 * time.Minute)
	r = o.do("DELETE", "composite/sobjects?ids="+id+",003000000000000AAA&allOrNone=false", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "INVALID_CROSS_REFERENCE_KEY") {
		t.Fatalf("delete: %s", r.body)
	}
	if r := o.do("DELETE", "composite/sobjects?ids="+id, nil); !strings.Contains(string(r.body), "ENTITY_IS_DELETED") {
		t.Errorf("second delete: %s", r.body)
	}
	*clock = now.Add(20 * time.Minute)
	r = o.do("GET", "sobjects/Contact/deleted/?start=2026-05-20T11:00:00%2B00:00&end=2026-05-20T13:00:00%2B00:00", nil)
	if r.status != 200 {
		t.Fatalf("getDeleted: %d %s", r.status, r.body)
	}
	assertShape(t, "deleted.json", r.json(t), true)
	if !strings.Contains(string(r.body), id) || !strings.Contains(string(r.body), `"latestDateCovered":"2026-05-20T12:20:00.000+0000"`) {
		t.Errorf("getDeleted: %s", r.body)
	}
	if r := o.do("GET", "sobjects/Contact/deleted/?start=2026-05-01T00:00:00Z&end=2026-05-20T13:00:00Z", nil); r.status != 400 || errorCode(t, r) != "INVALID_REPLICATION_DATE" {
		t.Errorf("window older than 15 days: %d %s", r.status, r.body)
	}
	q := url.QueryEscape("SELECT Id, IsDeleted FROM Contact WHERE IsDeleted = true")
	if r := o.do("GET", "queryAll?q="+q, nil); !strings.Contains(string(r.body), id) {
		t.Errorf("queryAll lacks the deleted record: %s", r.body)
	}
	if r := o.do("GET", "query?q="+q, nil); strings.Contains(string(r.body), id) {
		t.Errorf("query returns a deleted record: %s", r.body)
	}
	_ = o.s.PurgeRecycleBin("Contact")
	if r := o.do("GET", "queryAll?q="+q, nil); strings.Contains(string(r.body), id) {
		t.Errorf("queryAll returns a purged record")
	}
	if r := o.do("GET", "sobjects/Contact/deleted/?start=2026-05-20T11:00:00Z&end=2026-05-20T13:00:00Z", nil); r.status != 400 {
		t.Errorf("getDeleted before purge: %d", r.status)
	}
}

func TestDescribe(t *testing.T) {
	o := newOrg(t, Options{})
	r := o.do("GET", "sobjects/Contact/describe", nil)
	assertShape(t, "describe.json", r.json(t), false)
	var d struct {
		Fields []struct {
			Name, Type                       string
			Createable, Updateable, Nillable bool
			ExternalID                       bool `json:"externalId"`
			RestrictedPicklist               bool
			PicklistValues                   []struct{ Value string }
			DefaultedOnCreate                bool
		}
	}
	_ = json.Unmarshal(r.body, &d)
	byName := map[string]int{}
	for i, f := range d.Fields {
		byName[f.Name] = i
	}
	last := d.Fields[byName["LastName"]]
	tier := d.Fields[byName["Loyalty_Tier__c"]]
	stamp := d.Fields[byName["SystemModstamp"]]
	ext := d.Fields[byName["External_Id__c"]]
	if last.Nillable || !last.Createable || !tier.RestrictedPicklist || len(tier.PicklistValues) != 4 || stamp.Createable || stamp.Updateable || !ext.ExternalID {
		t.Errorf("describe: %+v %+v %+v %+v", last, tier, stamp, ext)
	}
}

func TestBulkIngestLifecycle(t *testing.T) {
	o := newOrg(t, Options{})
	r := o.do("POST", "jobs/ingest", map[string]any{"object": "Contact", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"})
	info := r.json(t).(map[string]any)
	id := info["id"].(string)
	if r.status != 200 || info["state"] != "Open" || !strings.HasPrefix(id, "750") {
		t.Fatalf("create job: %d %s", r.status, r.body)
	}
	data := "LastName,Email,Loyalty_Tier__c\n\"O'Brien, Jr.\",ob@example.com,Gold\n,missing@example.com,\nBad,bad@example.com,Diamond\n"
	if r := o.do("PUT", "jobs/ingest/"+id+"/batches", data); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := o.do("PATCH", "jobs/ingest/"+id, map[string]any{"state": "UploadComplete"}); r.status != 200 {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r = o.do("GET", "jobs/ingest/"+id, nil)
		info = r.json(t).(map[string]any)
		if info["state"] == "JobComplete" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	assertShape(t, "bulk_job_info.json", info, false)
	if info["numberRecordsProcessed"] != 3.0 || info["numberRecordsFailed"] != 2.0 {
		t.Fatalf("job info: %s", r.body)
	}
	r = o.do("GET", "jobs/ingest/"+id+"/successfulResults", nil)
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "sf__Id" || rows[0][1] != "sf__Created" || rows[1][2] != "O'Brien, Jr." || rows[1][1] != "true" {
		t.Fatalf("successfulResults: %v %q", err, r.body)
	}
	r = o.do("GET", "jobs/ingest/"+id+"/failedResults", nil)
	rows, _ = csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if len(rows) != 3 || rows[0][1] != "sf__Error" || !strings.HasPrefix(rows[1][1], "REQUIRED_FIELD_MISSING:") || !strings.HasPrefix(rows[2][1], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:") {
		t.Fatalf("failedResults: %q", r.body)
	}
	st := o.s.Stats()
	if st.ByRoute["POST /jobs/ingest"] != 1 || st.ByRoute["PUT /jobs/ingest/{id}/batches"] != 1 || st.ByRoute["GET /jobs/ingest/{id}/successfulResults"] != 1 {
		t.Errorf("routes: %v", st.ByRoute)
	}
}

func TestDailyLimitAndFaults(t *testing.T) {
	o := newOrg(t, Options{DailyAPILimit: 3})
	for i := 1; i <= 3; i++ {
		r := o.do("GET", "limits", nil)
		if r.status != 200 || r.header.Get("Sforce-Limit-Info") != "api-usage="+itoa(i)+"/3" {
			t.Fatalf("call %d: %d %q", i, r.status, r.header.Get("Sforce-Limit-Info"))
		}
	}
	r := o.do("GET", "limits", nil)
	if r.status != 403 || errorCode(t, r) != "REQUEST_LIMIT_EXCEEDED" || r.header.Get("Retry-After") != "" {
		t.Fatalf("over limit: %d %s", r.status, r.body)
	}

	o = newOrg(t, Options{})
	o.s.SetFaults(Faults{RateLimitNext: 2})
	for i := 0; i < 2; i++ {
		if r := o.do("GET", "limits", nil); r.status != 403 {
			t.Errorf("rate-limit fault %d: %d", i, r.status)
		}
	}
	if r := o.do("GET", "limits", nil); r.status != 200 {
		t.Errorf("after rate-limit faults: %d", r.status)
	}
	o.s.SetFaults(Faults{ErrorRate: 1, ErrorStatus: 500})
	if r := o.do("GET", "limits", nil); r.status != 500 || errorCode(t, r) != "UNKNOWN_EXCEPTION" {
		t.Errorf("error fault: %d %s", r.status, r.body)
	}
	o.s.SetFaults(Faults{ErrorRate: 1, HTMLErrors: true})
	if r := o.do("GET", "limits", nil); r.status != 503 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("html fault: %d %s", r.status, r.header)
	}
	o.s.SetFaults(Faults{DropRate: 1})
	req, _ := http.NewRequest("GET", o.ts.URL+"/services/data/v66.0/limits", nil)
	req.Header.Set("Authorization", "Bearer "+o.token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("dropped connection answered %d", resp.StatusCode)
	}
}

func TestServePrintsEndpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", Options{Seed: 5}, pw) }()
	line, err := bufioLine(pr)
	if err != nil {
		t.Fatal(err)
	}
	var ep Endpoint
	if err := json.Unmarshal([]byte(line), &ep); err != nil || ep.Provider != "salesforce" || ep.RefreshToken == "" || !strings.HasSuffix(ep.TokenURL, "/services/oauth2/token") {
		t.Fatalf("endpoint line %q: %v", line, err)
	}
	resp, err := http.PostForm(ep.TokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {ep.ClientID}, "client_secret": {ep.ClientSecret}, "refresh_token": {ep.RefreshToken}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("token from standalone emulator: %v", err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func bufioLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := r.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

// assertShape compares the JSON shape of got with a golden example taken from Salesforce's documentation:
// every key of the golden object must be present with the same JSON type (null matches anything); with
// exact, got may have no other keys. Arrays compare element-wise up to the golden length.
func assertShape(t *testing.T, golden string, got any, exact bool) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + golden)
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", golden, err)
	}
	if msg := shapeDiff("$", want, got, exact); msg != "" {
		t.Errorf("%s: %s", golden, msg)
	}
}

func shapeDiff(path string, want, got any, exact bool) string {
	if want == nil {
		return ""
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path + ": want an object"
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return path + "." + k + ": missing"
			}
			if msg := shapeDiff(path+"."+k, wv, gv, exact); msg != "" {
				return msg
			}
		}
		if exact {
			for k := range g {
				if _, ok := w[k]; !ok {
					return path + "." + k + ": not in the documented shape"
				}
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return path + ": want an array"
		}
		for i := 0; i < len(w) && i < len(g); i++ {
			if msg := shapeDiff(path+"["+itoa(i)+"]", w[i], g[i], exact); msg != "" {
				return msg
			}
		}
	case string:
		if _, ok := got.(string); !ok {
			return path + ": want a string"
		}
	case float64:
		if _, ok := got.(float64); !ok {
			return path + ": want a number"
		}
	case bool:
		if _, ok := got.(bool); !ok {
			return path + ": want a boolean"
		}
	}
	return ""
}
