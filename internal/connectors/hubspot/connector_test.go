package hubspot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	emulator "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

// readAll runs Changes and returns every record and the checkpoints, failing the test on error.
func readAll(t testing.TB, c *Connector, req connectors.ChangesRequest) ([]connectors.Record, []connectors.Cursor, connectors.Cursor) {
	t.Helper()
	var recs []connectors.Record
	var checkpoints []connectors.Cursor
	cur, err := c.Changes(context.Background(), req, func(p connectors.Page) error {
		recs = append(recs, p.Records...)
		checkpoints = append(checkpoints, p.Checkpoint)
		return nil
	})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return recs, checkpoints, cur
}

func ids(recs []connectors.Record, deleted bool) []string {
	var out []string
	for _, r := range recs {
		if r.Deleted == deleted {
			out = append(out, r.ID)
		}
	}
	return out
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

func TestChangesPagesAndResumes(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	seeded, _ := f.srv.Seed("contacts", 1050)
	recs, checkpoints, cur := readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", PageSize: 100, Fields: []string{"email", "lastname"}})
	got := ids(recs, false)
	if len(got) != 1050 || len(uniq(got)) != 1050 {
		t.Fatalf("read %d records (%d distinct), want 1050", len(got), len(uniq(got)))
	}
	if !slices.Equal(uniq(got), uniq(seeded)) {
		t.Fatal("the records read are not the records seeded")
	}
	if len(checkpoints) < 11 {
		t.Fatalf("%d pages, want at least 11", len(checkpoints))
	}
	for _, r := range recs[:3] {
		if r.Fields["email"] == nil || r.ModifiedAt.IsZero() {
			t.Fatalf("record %+v lacks email or ModifiedAt", r)
		}
	}

	// Nothing changed: a resume reads only the lookback window.
	again, _, cur2 := readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", Cursor: cur, Lookback: 0})
	if len(again) > 1 {
		t.Fatalf("a resume without changes read %d records", len(again))
	}
	if cur2 != cur {
		t.Fatalf("cursor moved without changes: %s -> %s", cur, cur2)
	}

	// An edit after the cursor is read; resuming from a mid-stream checkpoint never skips.
	time.Sleep(2 * time.Millisecond)
	if err := f.srv.Update("contacts", seeded[10], map[string]string{"lastname": "Edited"}); err != nil {
		t.Fatal(err)
	}
	again, _, _ = readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", Cursor: cur, Lookback: time.Second})
	if !slices.Contains(ids(again, false), seeded[10]) {
		t.Fatal("the edited record is not in the next read")
	}
	fromMid, _, _ := readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", Cursor: checkpoints[4]})
	fromMidIDs := uniq(ids(fromMid, false))
	for _, id := range seeded[500:] {
		if !slices.Contains(fromMidIDs, id) {
			t.Fatalf("resuming from checkpoint 5 skipped %s", id)
		}
	}
}

func TestChangesTiesLargerThanAPage(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	seeded, _ := f.srv.Seed("contacts", 530)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 250 records share one millisecond, across several pages of 100, with others before and after.
	if err := f.srv.SetModifiedAt("contacts", seeded[100:350], at); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.SetModifiedAt("contacts", seeded[:100], at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	recs, _, _ := readAll(t, f.conn, connectors.ChangesRequest{Object: "contacts", PageSize: 100})
	got := ids(recs, false)
	if len(uniq(got)) != 530 {
		t.Fatalf("read %d distinct of 530 records across a 250-record tie", len(uniq(got)))
	}
	if len(got) != 530 {
		t.Fatalf("read %d records, want each exactly once (530)", len(got))
	}
}

func TestChangesPastTheSearchCap(t *testing.T) {
	// A cap of 120 stands for HubSpot's 10,000: offset paging past it answers 400, the keyset never does.
	f := newFixture(t, emulator.Options{SearchPerSecond: 100, SearchResultCap: 120}, Config{})
	_, _ = f.srv.Seed("deals", 700)
	recs, _, _ := readAll(t, f.conn, connectors.ChangesRequest{Object: "deals", PageSize: 100})
	if n := len(uniq(ids(recs, false))); n != 700 {
		t.Fatalf("read %d of 700 deals under a 120-result search cap", n)
	}
	if st := f.srv.Stats(); st.ByStatus[400] != 0 {
		t.Fatalf("%d searches hit the cap", st.ByStatus[400])
	}
}

func TestChangesTombstonesAndSkew(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	seeded, _ := f.srv.Seed("companies", 20)
	_, _, cur := readAll(t, f.conn, connectors.ChangesRequest{Object: "companies"})

	// The CRM's clock runs an hour behind ours: records it stamps now are "older" than our clock, but
	// not older than the cursor, which is the CRM's own time.
	f.srv.SetClockSkew(-time.Hour)
	if err := f.srv.Archive("companies", seeded[3]); err != nil {
		t.Fatal(err)
	}
	f.srv.SetClockSkew(0)
	time.Sleep(2 * time.Millisecond)
	if err := f.srv.Update("companies", seeded[5], map[string]string{"city": "Lyon"}); err != nil {
		t.Fatal(err)
	}
	recs, _, cur2 := readAll(t, f.conn, connectors.ChangesRequest{Object: "companies", Cursor: cur, Lookback: time.Second})
	if tombs := ids(recs, true); !slices.Equal(tombs, []string{seeded[3]}) {
		t.Fatalf("tombstones %v, want [%s]", tombs, seeded[3])
	}
	if !slices.Contains(ids(recs, false), seeded[5]) {
		t.Fatal("the edit is missing")
	}
	for _, r := range recs {
		if r.Deleted && (r.ModifiedAt.IsZero() || len(r.Fields) != 0) {
			t.Fatalf("tombstone %+v", r)
		}
	}
	// Without a lookback, the next read does not repeat the tombstone.
	recs, _, _ = readAll(t, f.conn, connectors.ChangesRequest{Object: "companies", Cursor: cur2})
	if len(ids(recs, true)) != 0 {
		t.Fatalf("tombstones repeated: %v", ids(recs, true))
	}
}

func TestChangesStopsWhenYieldFails(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	_, _ = f.srv.Seed("contacts", 300)
	stop := errors.New("stop")
	pages := 0
	cur, err := f.conn.Changes(context.Background(), connectors.ChangesRequest{Object: "contacts", PageSize: 100}, func(connectors.Page) error {
		pages++
		return stop
	})
	if !errors.Is(err, stop) || cur != "" || pages != 1 {
		t.Fatalf("err %v, cursor %q, pages %d: want the yield error, no cursor, one page", err, cur, pages)
	}
	if _, err := f.conn.Changes(context.Background(), connectors.ChangesRequest{Object: "contacts", Cursor: "garbage"}, nil); !crmerr.Is(err, crmerr.Permanent) {
		t.Fatalf("a garbage cursor: %v", err)
	}
}

func contactRecord(i int) connectors.Record {
	return connectors.Record{Fields: map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "lastname": fmt.Sprintf("L%d", i), "lifecyclestage": "lead"}}
}

func TestUpsertCreatesUpdatesAndPartialFailure(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	existing, _ := f.srv.Create("contacts", map[string]string{"email": "u7@example.com"})
	recs := make([]connectors.Record, 250)
	for i := range recs {
		recs[i] = contactRecord(i)
	}
	recs[3].Fields["lifecyclestage"] = "not-a-stage"
	recs[150].Fields["nonexistent_property"] = "x"
	recs[200].Fields["email"] = "U20@example.com" // duplicate of record 20 within the call
	before := f.srv.APICalls()
	res, err := f.conn.Upsert(context.Background(), "contacts", recs, connectors.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 250 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		switch i {
		case 3:
			assertInvalid(t, r.Err, "INVALID_OPTION", "lifecyclestage")
		case 150:
			assertInvalid(t, r.Err, "PROPERTY_DOESNT_EXIST", "nonexistent_property")
		case 7:
			assertInvalid(t, r.Err, "CONFLICT", "email")
			if !strings.Contains(r.Err.Error(), existing) {
				t.Errorf("the conflict does not name the existing id %s: %v", existing, r.Err)
			}
		case 200:
			assertInvalid(t, r.Err, "CONFLICT", "")
		default:
			if r.Err != nil || r.ID == "" || !r.Created {
				t.Fatalf("record %d: %+v", i, r)
			}
			rec, ok := f.srv.Record("contacts", r.ID)
			if !ok || rec.Properties["email"] != recs[i].Fields["email"] {
				t.Fatalf("record %d was matched to the wrong id %s (%v)", i, r.ID, rec.Properties["email"])
			}
		}
	}
	if calls := f.srv.APICalls() - before; calls > 8 {
		t.Errorf("%d API calls for 250 records with 4 bad ones", calls)
	}

	// Update by id, and an idempotent re-upsert that changes nothing moves no modified date.
	upd := []connectors.Record{{ID: res[0].ID, Fields: map[string]any{"lastname": "Ünïcødé " + strings.Repeat("長", 5000), "phone": nil}}}
	r2, err := f.conn.Upsert(context.Background(), "contacts", upd, connectors.UpsertOptions{})
	if err != nil || r2[0].Err != nil || r2[0].ID != res[0].ID || r2[0].Created {
		t.Fatalf("update: %+v %v", r2, err)
	}
	rec, _ := f.srv.Record("contacts", res[0].ID)
	_, _ = f.conn.Upsert(context.Background(), "contacts", upd, connectors.UpsertOptions{})
	rec2, _ := f.srv.Record("contacts", res[0].ID)
	if !rec2.UpdatedAt.Equal(rec.UpdatedAt) || rec2.Properties["lastname"] != upd[0].Fields["lastname"] {
		t.Fatal("an identical re-upsert changed the record")
	}
	got, err := f.conn.Get(context.Background(), "contacts", []string{res[0].ID, "999999", "not-an-id"}, []string{"lastname", "email"})
	if err != nil || len(got) != 1 || got[0].Fields["lastname"] != upd[0].Fields["lastname"] {
		t.Fatalf("Get: %v %v", got, err)
	}
	// An update of a record that does not exist fails alone.
	r3, err := f.conn.Upsert(context.Background(), "contacts", []connectors.Record{{ID: "123", Fields: map[string]any{"lastname": "x"}}, {ID: res[1].ID, Fields: map[string]any{"lastname": "y"}}}, connectors.UpsertOptions{})
	if err != nil || r3[1].Err != nil {
		t.Fatalf("update: %+v %v", r3, err)
	}
	assertInvalid(t, r3[0].Err, "OBJECT_NOT_FOUND", "")
}

func assertInvalid(t *testing.T, err error, code, field string) {
	t.Helper()
	var e *crmerr.Error
	if !errors.As(err, &e) || e.Kind != crmerr.InvalidRecord || e.Code != code || (field != "" && e.Field != field) {
		t.Fatalf("want InvalidRecord %s on %q, got %#v", code, field, err)
	}
	if e.Provider != "hubspot" || e.Op == "" {
		t.Fatalf("error does not name the provider and operation: %v", err)
	}
}

func TestUpsertByExternalID(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	id, _ := f.srv.Create("contacts", map[string]string{"email": "known@example.com", "lastname": "Old"})
	recs := []connectors.Record{
		{Fields: map[string]any{"email": "KNOWN@example.com", "lastname": "New"}},
		{Fields: map[string]any{"email": "fresh@example.com", "lastname": "Fresh"}},
		{Fields: map[string]any{"lastname": "No email"}},
	}
	for round := 0; round < 2; round++ {
		res, err := f.conn.Upsert(context.Background(), "contacts", recs, connectors.UpsertOptions{ExternalIDField: "email"})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].ID != id || res[0].Created || res[1].ID == "" || res[1].Created != (round == 0) {
			t.Fatalf("round %d: %+v", round, res)
		}
		assertInvalid(t, res[2].Err, "", "email")
	}
	if recs, _ := f.srv.Records("contacts"); len(recs) != 2 {
		t.Fatalf("%d contacts after two upserts, want 2", len(recs))
	}
}

func TestDeleteListAndDescribe(t *testing.T) {
	f := newFixture(t, fastOptions(), Config{})
	seeded, _ := f.srv.Seed("deals", 230)
	res, err := f.conn.Delete(context.Background(), "deals", []string{seeded[0], seeded[1], "424242", seeded[1]})
	if err != nil || len(res) != 4 || res[2].Err != nil || res[2].ID != "424242" {
		t.Fatalf("Delete: %+v %v", res, err)
	}
	var listed []string
	if err := f.conn.ListIDs(context.Background(), "deals", func(ids []string) error { listed = append(listed, ids...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, seeded[2:]) {
		t.Fatalf("ListIDs: %d ids, want %d", len(listed), len(seeded)-2)
	}
	meta, err := f.conn.Describe(context.Background(), "deals")
	if err != nil {
		t.Fatal(err)
	}
	stage, _ := meta.Field("dealstage")
	mod, _ := meta.Field("hs_lastmodifieddate")
	name, _ := meta.Field("dealname")
	if stage.Type != "enumeration" || !slices.Contains(stage.Options, "closedwon") || !mod.ReadOnly || !name.Required || stage.Custom {
		t.Fatalf("Describe: %+v %+v %+v", stage, mod, name)
	}
}
