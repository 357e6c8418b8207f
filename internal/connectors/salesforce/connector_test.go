package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	sfemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

var ctx = context.Background()

// readAll runs Changes to the end and returns the records and the final cursor.
func readAll(t *testing.T, c connectors.Connector, req connectors.ChangesRequest) ([]connectors.Record, []connectors.Cursor, connectors.Cursor) {
	t.Helper()
	var recs []connectors.Record
	var cps []connectors.Cursor
	cur, err := c.Changes(ctx, req, func(p connectors.Page) error {
		recs = append(recs, p.Records...)
		cps = append(cps, p.Checkpoint)
		return nil
	})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return recs, cps, cur
}

func ids(recs []connectors.Record) map[string]bool {
	m := map[string]bool{}
	for _, r := range recs {
		m[r.ID] = true
	}
	return m
}

func TestChangesPagingAndIncremental(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{Seed: 450}, fastConfig())
	recs, cps, cur := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", PageSize: 200})
	if len(recs) != 450 || len(cps) != 3 || len(ids(recs)) != 450 {
		t.Fatalf("first read: %d records in %d pages", len(recs), len(cps))
	}
	if recs[0].Fields["LastName"] == nil || recs[0].ModifiedAt.IsZero() || recs[0].Deleted {
		t.Fatalf("record: %+v", recs[0])
	}
	again, _, _ := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Cursor: cur})
	if len(again) > 1 {
		t.Errorf("nothing changed, yet %d records came back", len(again))
	}
	id := recs[10].ID
	if err := o.emu.Update("Contact", id, map[string]any{"Title": "CTO"}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Cursor: cur})
	if !ids(got)[id] {
		t.Errorf("an update after the cursor was not read")
	}
}

func TestChangesTiesAtPageBoundaryAreNotLost(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{Seed: 450}, fastConfig())
	all := o.emu.Records("Contact")
	var every []string
	for _, r := range all {
		every = append(every, r["Id"].(string))
	}
	tie := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := o.emu.SetModifiedAt(every, tie); err != nil {
		t.Fatal(err)
	}
	// Commit only the first page, as a crash after it would.
	var first connectors.Page
	stop := errors.New("stop")
	_, err := o.conn.Changes(ctx, connectors.ChangesRequest{Object: "Contact", PageSize: 200}, func(p connectors.Page) error {
		first = p
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("yield error not returned: %v", err)
	}
	rest, _, _ := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Cursor: first.Checkpoint, PageSize: 200})
	seen := ids(first.Records)
	for id := range ids(rest) {
		seen[id] = true
	}
	if len(seen) != 450 {
		t.Errorf("resuming from a checkpoint inside a tie lost %d records", 450-len(seen))
	}
}

func TestChangesDeletesAsTombstones(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{Seed: 20}, fastConfig())
	_, _, cur := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact"})
	victim := o.emu.Records("Contact")[3]["Id"].(string)
	if err := o.emu.Delete("Contact", victim); err != nil {
		t.Fatal(err)
	}
	recs, _, cur2 := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Cursor: cur})
	found := false
	for _, r := range recs {
		if r.ID == victim && r.Deleted {
			found = true
		}
	}
	if !found {
		t.Fatalf("no tombstone for %s in %d records", victim, len(recs))
	}
	// Purged from the recycle bin: getDeleted still has it while the delete log keeps it.
	o.emu.SetClockSkew(2 * time.Minute)
	dels, mark, err := o.conn.deletedSince(ctx, "Contact", mustCursor(t, cur), time.Minute)
	if err != nil || len(dels) != 1 || dels[0].ID != victim || mark.IsZero() {
		t.Fatalf("getDeleted: %v %v %v", dels, mark, err)
	}
	_ = cur2
}

func mustCursor(t *testing.T, c connectors.Cursor) cursor {
	t.Helper()
	cur, err := decodeCursor("test", c)
	if err != nil {
		t.Fatal(err)
	}
	return cur
}

func TestChangesUnderClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{-3 * time.Hour, 3 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			o := newTestOrg(t, sfemu.Options{}, fastConfig())
			o.emu.SetClockSkew(skew) // the org's clock, not its history: records are made after the skew
			o.emu.Seed(5)
			_, _, cur := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Lookback: time.Second})
			id, err := o.emu.Create("Contact", map[string]any{"LastName": "Skewed"})
			if err != nil {
				t.Fatal(err)
			}
			victim := o.emu.Records("Contact")[0]["Id"].(string)
			_ = o.emu.Delete("Contact", victim)
			recs, _, _ := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Cursor: cur, Lookback: time.Second})
			got := ids(recs)
			if !got[id] || !got[victim] {
				t.Errorf("skew %s: created %v, deleted %v", skew, got[id], got[victim])
			}
		})
	}
}

func TestUpsertPartialFailureAndIdempotentReupsert(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{}, fastConfig())
	recs := []connectors.Record{
		{Fields: map[string]any{"LastName": "Ok", "External_Id__c": "e1", "Email": "ok@example.com"}},
		{Fields: map[string]any{"FirstName": "NoLast", "External_Id__c": "e2"}},
		{Fields: map[string]any{"LastName": "Bad", "External_Id__c": "e3", "Loyalty_Tier__c": "Diamond"}},
		{Fields: map[string]any{"LastName": "Ünïcødé ✓ 日本", "External_Id__c": "e4", "Description": strings.Repeat("long ", 6000)}},
	}
	res, err := o.conn.Upsert(ctx, "Contact", recs, connectors.UpsertOptions{ExternalIDField: "External_Id__c"})
	if err != nil || len(res) != 4 {
		t.Fatalf("Upsert: %v %v", res, err)
	}
	type got struct {
		OK      bool
		Created bool
		Kind    crmerr.Kind
		Field   string
	}
	summary := func(res []connectors.Result) []got {
		var out []got
		for _, r := range res {
			g := got{OK: r.Err == nil && r.ID != "", Created: r.Created}
			var ce *crmerr.Error
			if errors.As(r.Err, &ce) {
				g.Kind, g.Field = ce.Kind, ce.Field
			}
			out = append(out, g)
		}
		return out
	}
	want := []got{{OK: true, Created: true}, {Kind: crmerr.InvalidRecord, Field: "LastName"},
		{Kind: crmerr.InvalidRecord, Field: "Loyalty_Tier__c"}, {OK: true, Created: true}}
	if diff := cmp.Diff(want, summary(res)); diff != "" {
		t.Errorf("first upsert (-want +got):\n%s", diff)
	}
	res2, err := o.conn.Upsert(ctx, "Contact", recs, connectors.UpsertOptions{ExternalIDField: "External_Id__c"})
	if err != nil || res2[0].ID != res[0].ID || res2[0].Created || res2[3].Created {
		t.Errorf("re-upsert: %+v %v", res2, err)
	}
	if n := len(o.emu.Records("Contact")); n != 2 {
		t.Errorf("re-upsert left %d records, want 2", n)
	}
	got4, err := o.conn.Get(ctx, "Contact", []string{res[3].ID, "003000000000000AAA"}, []string{"LastName", "Description"})
	if err != nil || len(got4) != 1 || got4[0].Fields["LastName"] != "Ünïcødé ✓ 日本" || len(got4[0].Fields["Description"].(string)) != 30000 {
		t.Errorf("Get: %v %v", got4, err)
	}
}

func TestUpdateCreateDelete(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{}, fastConfig())
	res, err := o.conn.Upsert(ctx, "Contact", []connectors.Record{{Fields: map[string]any{"LastName": "New"}}}, connectors.UpsertOptions{})
	if err != nil || !res[0].Created || res[0].ID == "" {
		t.Fatalf("create: %+v %v", res, err)
	}
	id := res[0].ID
	read, _, _ := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", Fields: []string{"LastName", "CreatedDate", "LastModifiedDate"}})
	read[0].Fields["Title"] = "CEO" // audit fields read with the record are never sent back
	res, err = o.conn.Upsert(ctx, "Contact", []connectors.Record{read[0]}, connectors.UpsertOptions{})
	if err != nil || res[0].Err != nil || res[0].Created || res[0].ID != id {
		t.Fatalf("update: %+v %v", res, err)
	}
	if r, _ := o.emu.Record("Contact", id); r["Title"] != "CEO" {
		t.Errorf("title not updated: %v", r["Title"])
	}
	for i := 0; i < 2; i++ {
		del, err := o.conn.Delete(ctx, "Contact", []string{id})
		if err != nil || len(del) != 1 || del[0].Err != nil {
			t.Fatalf("delete #%d: %+v %v", i+1, del, err)
		}
	}
	var listed []string
	if err := o.conn.ListIDs(ctx, "Contact", func(ids []string) error { listed = append(listed, ids...); return nil }); err != nil || len(listed) != 0 {
		t.Errorf("ListIDs after delete: %v %v", listed, err)
	}
}

func TestDescribe(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{}, fastConfig())
	m, err := o.conn.Describe(ctx, "Contact")
	if err != nil {
		t.Fatal(err)
	}
	last, _ := m.Field("LastName")
	stamp, _ := m.Field("SystemModstamp")
	tier, _ := m.Field("Loyalty_Tier__c")
	owner, _ := m.Field("OwnerId")
	if !last.Required || last.ReadOnly || !stamp.ReadOnly || owner.Required || !tier.Custom ||
		!cmp.Equal(tier.Options, []string{"Bronze", "Silver", "Gold", "Platinum"}) {
		t.Errorf("describe: %+v %+v %+v %+v", last, stamp, tier, owner)
	}
	opp, _ := o.conn.Describe(ctx, "Opportunity")
	stage, _ := opp.Field("StageName")
	if !stage.Required || len(stage.Options) != 10 || stage.Options[9] != "Closed Lost" {
		t.Errorf("StageName: %+v", stage)
	}
}

func TestBulkUpsertMapsResultsBack(t *testing.T) {
	cfg := fastConfig()
	cfg.BulkThreshold = 10
	o := newTestOrg(t, sfemu.Options{BulkShuffleResults: true}, cfg)
	var recs []connectors.Record
	for i := 0; i < 30; i++ {
		f := map[string]any{"LastName": fmt.Sprintf("Bulk %d", i), "Email": fmt.Sprintf("b%d@example.com", i), "HasOptedOutOfEmail": i%2 == 0}
		if i%7 == 3 {
			delete(f, "LastName")
		}
		if i%11 == 5 {
			f["Loyalty_Tier__c"] = "Diamond"
		}
		recs = append(recs, connectors.Record{Fields: f})
	}
	res, err := o.conn.Upsert(ctx, "Contact", recs, connectors.UpsertOptions{})
	if err != nil || len(res) != 30 {
		t.Fatalf("bulk upsert: %v", err)
	}
	for i, r := range res {
		var ce *crmerr.Error
		switch {
		case i%7 == 3:
			if !errors.As(r.Err, &ce) || ce.Code != "REQUIRED_FIELD_MISSING" || ce.Field != "LastName" {
				t.Errorf("row %d: %v", i, r.Err)
			}
		case i%11 == 5:
			if !errors.As(r.Err, &ce) || ce.Code != "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" || ce.Kind != crmerr.InvalidRecord {
				t.Errorf("row %d: %v", i, r.Err)
			}
		default:
			rec, ok := o.emu.Record("Contact", r.ID)
			if r.Err != nil || !r.Created || !ok || rec["Email"] != fmt.Sprintf("b%d@example.com", i) {
				t.Errorf("row %d: %+v mapped to %v", i, r, rec["Email"])
			}
		}
	}
	st := o.emu.Stats().ByRoute
	if st["POST /jobs/ingest"] != 1 || st["PUT /jobs/ingest/{id}/batches"] != 1 || st["PATCH /jobs/ingest/{id}"] != 1 {
		t.Errorf("bulk calls: %v", st)
	}
}

func TestFaultsAreRidden(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{Seed: 300}, fastConfig())
	o.emu.SetFaults(sfemu.Faults{RateLimitNext: 3})
	recs, _, _ := readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", PageSize: 200})
	if len(recs) != 300 {
		t.Errorf("after a rate-limit storm: %d records", len(recs))
	}
	o.emu.SetFaults(sfemu.Faults{ErrorRate: 0.3, ErrorStatus: 503})
	recs, _, _ = readAll(t, o.conn, connectors.ChangesRequest{Object: "Contact", PageSize: 200})
	if len(recs) != 300 {
		t.Errorf("under 5xx: %d records", len(recs))
	}
	o.emu.SetFaults(sfemu.Faults{})
	// A session that expires in the middle of a stream is refreshed once and the stream goes on.
	pages := 0
	_, err := o.conn.Changes(ctx, connectors.ChangesRequest{Object: "Contact", PageSize: 200}, func(p connectors.Page) error {
		pages++
		o.emu.ExpireTokens()
		return nil
	})
	if err != nil || pages != 2 {
		t.Errorf("expiry mid-stream: %d pages, %v", pages, err)
	}
}

func TestDailyLimitIsRateLimitedWithRetryAt(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{DailyAPILimit: 2}, fastConfig())
	_, err := o.conn.Describe(ctx, "Contact")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = o.conn.Get(ctx, "Contact", []string{"003000000000000AAA"}, []string{"LastName"})
	_, err = o.conn.Get(ctx, "Contact", []string{"003000000000000AAA"}, []string{"LastName"})
	at, ok := crmerr.RetryAt(err)
	if !ok || time.Until(at) < 50*time.Minute {
		t.Fatalf("over the daily limit: %v (retry at %v)", err, at)
	}
	if !strings.Contains(err.Error(), "salesforce") || !strings.Contains(err.Error(), "REQUEST_LIMIT_EXCEEDED") {
		t.Errorf("message: %v", err)
	}
}

func TestRetiredVersionIsPermanent(t *testing.T) {
	cfg := fastConfig()
	cfg.APIVersion = "v52.0"
	o := newTestOrg(t, sfemu.Options{}, cfg)
	_, err := o.conn.Describe(ctx, "Contact")
	if !crmerr.Is(err, crmerr.Permanent) || !strings.Contains(err.Error(), "spec.apiVersion") || !strings.Contains(err.Error(), "HTTP 410") {
		t.Errorf("retired version: %v", err)
	}
}

// TestBadInput serves broken answers in place of the emulator's and checks that each gives a classified
// error naming salesforce, the operation and the HTTP status, without a panic or a cursor.
func TestBadInput(t *testing.T) {
	cases := []struct {
		reason string
		status int
		ctype  string
		body   string
		page2  bool // break the second page instead of the first
		cut    bool // promise a longer body than is sent
		want   string
	}{
		{reason: "truncated body", status: 200, ctype: "application/json", body: `{"totalSize":450,"done":false,"records":[{"attri`, cut: true, want: "HTTP 200"},
		{reason: "malformed JSON", status: 200, ctype: "application/json", body: `{"totalSize":1,"done":true,"records":[{"Id":`, want: "HTTP 200"},
		{reason: "HTML error page", status: 503, ctype: "text/html", body: "<html><body>Service Unavailable</body></html>", want: "HTTP 503"},
		{reason: "HTML with 200", status: 200, ctype: "text/html", body: "<html>login</html>", want: "HTTP 200"},
		{reason: "unknown fields", status: 200, ctype: "application/json", body: `{"rows":[],"more":false}`, want: "HTTP 200"},
		{reason: "empty page with next", status: 200, ctype: "application/json", body: `{"totalSize":5,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/01gX-2000","records":[]}`, want: "HTTP 200"},
		{reason: "looping next", status: 200, ctype: "application/json", page2: true, want: "loops"},
		{reason: "malformed error array", status: 400, ctype: "application/json", body: `[{"nope":1}]`, want: "HTTP 400"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			emu := sfemu.New(sfemu.Options{Seed: 450})
			var loopURL string
			calls := 0
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "/queryAll") && !strings.Contains(r.URL.Path, "/query/") {
					emu.ServeHTTP(w, r)
					return
				}
				calls++
				if tc.page2 {
					if calls == 1 {
						rec := httptest.NewRecorder()
						emu.ServeHTTP(rec, r)
						body := rec.Body.String()
						i := strings.Index(body, `"nextRecordsUrl":"`)
						loopURL = body[i+18 : i+18+strings.Index(body[i+18:], `"`)]
						w.Header().Set("Content-Type", "application/json")
						_, _ = w.Write(rec.Body.Bytes())
						return
					}
					// Every later page points back at the second one.
					rec := httptest.NewRecorder()
					emu.ServeHTTP(rec, r)
					body := rec.Body.String()
					if i := strings.Index(body, `"nextRecordsUrl":"`); i >= 0 {
						j := i + 18 + strings.Index(body[i+18:], `"`)
						body = body[:i+18] + loopURL + body[j:]
					}
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(body))
					return
				}
				w.Header().Set("Content-Type", tc.ctype)
				if tc.cut {
					w.Header().Set("Content-Length", "100000")
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			ts := httptest.NewServer(h)
			defer ts.Close()
			cfg := fastConfig()
			cfg.MaxAttempts = 2
			cfg.Tokens = newRefreshSource(ts.URL+"/services/oauth2/token", emu.Credentials())
			conn, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			pages := 0
			var cur connectors.Cursor
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				cur, err = conn.Changes(ctx, connectors.ChangesRequest{Object: "Contact", PageSize: 200}, func(connectors.Page) error { pages++; return nil })
			}()
			var ce *crmerr.Error
			if !errors.As(err, &ce) {
				t.Fatalf("unclassified error %v", err)
			}
			msg := err.Error()
			t.Logf("%s: %s", ce.Kind, msg)
			if !strings.HasPrefix(msg, "salesforce: read changes of Contact") || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "HTTP ") {
				t.Errorf("error %q should name salesforce, the operation, %q and the status", msg, tc.want)
			}
			if cur != "" {
				t.Errorf("a cursor came back with an error: %q", cur)
			}
			if tc.page2 && pages > 2 {
				t.Errorf("the loop was followed for %d pages", pages)
			}
		})
	}
}

func TestClassifier(t *testing.T) {
	cl := Classifier("v66.0")
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json;charset=UTF-8"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		reason string
		status int
		h      http.Header
		body   string
		kind   crmerr.Kind
		code   string
		field  string
		retry  bool
	}{
		{"daily quota spent", 403, hdr("Sforce-Limit-Info", "api-usage=15001/15000"), `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, crmerr.RateLimited, "REQUEST_LIMIT_EXCEEDED", "", true},
		{"concurrency refusal", 403, hdr("Sforce-Limit-Info", "api-usage=10/15000"), `[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`, crmerr.RateLimited, "REQUEST_LIMIT_EXCEEDED", "", false},
		{"expired session", 401, hdr(), `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`, crmerr.Auth, "INVALID_SESSION_ID", "", false},
		{"required field", 400, hdr(), `[{"message":"Required fields are missing: [LastName]","errorCode":"REQUIRED_FIELD_MISSING","fields":["LastName"]}]`, crmerr.InvalidRecord, "REQUIRED_FIELD_MISSING", "LastName", false},
		{"duplicate", 400, hdr(), `[{"message":"duplicate value found: External_Id__c duplicates value on record with id: 003","errorCode":"DUPLICATE_VALUE","fields":[]}]`, crmerr.InvalidRecord, "DUPLICATE_VALUE", "External_Id__c", false},
		{"malformed query", 400, hdr(), `[{"message":"unexpected token","errorCode":"MALFORMED_QUERY"}]`, crmerr.Permanent, "MALFORMED_QUERY", "", false},
		{"retired", 410, hdr(), `[{"message":"gone","errorCode":"GONE"}]`, crmerr.Permanent, "GONE", "", false},
		{"server error", 500, hdr(), `[{"message":"x","errorCode":"UNKNOWN_EXCEPTION"}]`, crmerr.Transient, "UNKNOWN_EXCEPTION", "", false},
		{"html 502", 502, http.Header{"Content-Type": {"text/html"}}, `<html>bad gateway</html>`, crmerr.Transient, "MALFORMED_RESPONSE", "", false},
		{"truncated", 400, hdr(), `[{"message":"Requ`, crmerr.Permanent, "MALFORMED_RESPONSE", "", false},
		{"oauth", 400, hdr(), `{"error":"invalid_grant","error_description":"expired access/refresh token"}`, crmerr.Auth, "invalid_grant", "", false},
	}
	for _, tc := range cases {
		e := cl("read changes of Contact", tc.status, tc.h, []byte(tc.body))
		if e == nil {
			t.Errorf("%s: not classified", tc.reason)
			continue
		}
		if e.Kind != tc.kind || e.Code != tc.code || e.Field != tc.field || !e.RetryAt.IsZero() != tc.retry {
			t.Errorf("%s: got %v %s %q retry=%v", tc.reason, e.Kind, e.Code, e.Field, e.RetryAt)
		}
		if !strings.HasPrefix(e.Error(), "salesforce: read changes of Contact: HTTP ") {
			t.Errorf("%s: message %q", tc.reason, e.Error())
		}
	}
	if cl("x", 200, hdr(), nil) != nil || cl("x", 204, hdr(), nil) != nil {
		t.Error("success classified as an error")
	}
}

func TestCursorIsOpaqueAndValidated(t *testing.T) {
	o := newTestOrg(t, sfemu.Options{}, fastConfig())
	_, err := o.conn.Changes(ctx, connectors.ChangesRequest{Object: "Contact", Cursor: "not-a-cursor"}, func(connectors.Page) error { return nil })
	if !crmerr.Is(err, crmerr.Permanent) || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("bad cursor: %v", err)
	}
}
