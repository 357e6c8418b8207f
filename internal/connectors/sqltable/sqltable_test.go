package sqltable

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

var ctx = context.Background()

// readAll reads every change after cursor and returns the records and the final cursor.
func readAll(t *testing.T, c *Connector, cursor connectors.Cursor, pageSize int) ([]connectors.Record, connectors.Cursor) {
	t.Helper()
	var out []connectors.Record
	next, err := c.Changes(ctx, connectors.ChangesRequest{Object: c.Table(), Cursor: cursor, PageSize: pageSize},
		func(p connectors.Page) error {
			if p.Checkpoint == "" {
				t.Fatal("a page without a checkpoint")
			}
			out = append(out, p.Records...)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return out, next
}

// logOps returns the change-log entries of the test table as "op:id" strings, in order.
func (e *env) logOps(t *testing.T) []string {
	t.Helper()
	var ops string
	q := `SELECT COALESCE(string_agg(op || ':' || record_id, ',' ORDER BY seq), '') FROM crmsync_changelog WHERE table_name = $1`
	if e.eng.driver == DriverSQLite {
		q = `SELECT COALESCE(group_concat(op || ':' || record_id, ','), '') FROM (SELECT op, record_id FROM crmsync_changelog WHERE table_name = $1 ORDER BY seq)`
	}
	e.app.queryRow(t, q, []any{testTable}, &ops)
	if ops == "" {
		return nil
	}
	return strings.Split(ops, ",")
}

func ids(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func mustUpsert(t *testing.T, c *Connector, recs ...connectors.Record) []connectors.Result {
	t.Helper()
	res, err := c.Upsert(ctx, testTable, recs, connectors.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
	}
	return res
}

func TestApplicationWritesAreCapturedOnce(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		_, cur := readAll(t, e.conn, "", 0) // empty table: straight to the log
		a := e.ExternalCreate(t, e.NewRecord(1))
		b := e.ExternalCreate(t, e.NewRecord(2))
		e.ExternalUpdate(t, a, map[string]any{"lastname": "Changed"})
		e.ExternalDelete(t, b)

		want := []string{"I:" + a, "I:" + b, "U:" + a, "D:" + b}
		if diff := cmp.Diff(want, e.logOps(t)); diff != "" {
			t.Errorf("change log (-want +got):\n%s", diff)
		}
		recs, cur2 := readAll(t, e.conn, cur, 0)
		if len(recs) != 2 {
			t.Fatalf("Changes returned %d records, want 2 (each id once): %+v", len(recs), recs)
		}
		if recs[0].ID != a || recs[0].Deleted || recs[0].Fields["lastname"] != "Changed" || recs[0].Fields["email"] != "person1@example.com" {
			t.Errorf("updated record = %+v", recs[0])
		}
		if recs[1].ID != b || !recs[1].Deleted {
			t.Errorf("deleted record = %+v, want a tombstone", recs[1])
		}
		if recs[0].ModifiedAt.IsZero() || time.Since(recs[0].ModifiedAt) > time.Minute {
			t.Errorf("ModifiedAt = %v, want the time of the application's update", recs[0].ModifiedAt)
		}
		// Nothing new: nothing returned, and the cursor stays.
		if again, cur3 := readAll(t, e.conn, cur2, 0); len(again) != 0 || cur3 != cur2 {
			t.Errorf("re-read returned %d records and cursor %q (was %q)", len(again), cur3, cur2)
		}
	})
}

func TestUpdateBumpsUpdatedAt(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		id := e.ExternalCreate(t, e.NewRecord(1))
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		e.SetModifiedAt(t, []string{id}, old)
		e.ExternalUpdate(t, id, map[string]any{"phone": "+1"})
		got, err := e.conn.Get(ctx, testTable, []string{id}, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("Get = %v, %v", got, err)
		}
		if !got[0].ModifiedAt.After(old.Add(time.Hour)) {
			t.Errorf("ModifiedAt = %v after an application update; want it bumped", got[0].ModifiedAt)
		}
		if diff := cmp.Diff([]string{"I:" + id, "U:" + id}, e.logOps(t)); diff != "" {
			t.Errorf("change log (-want +got):\n%s", diff)
		}
	})
}

func TestBulkCopyIsCapturedOnce(t *testing.T) {
	e := newEnv(t, engines[1])
	_, cur := readAll(t, e.conn, "", 0)
	conn := e.app.(pgApp).conn
	const n = 2500
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{fmt.Sprintf("copy-%04d", i), fmt.Sprintf("copy%d@example.com", i), "Copy"}
	}
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{testTable}, []string{"id", "email", "last_name"}, pgx.CopyFromRows(rows))
	if err != nil || copied != n {
		t.Fatalf("CopyFrom = %d, %v", copied, err)
	}
	if ops := e.logOps(t); len(ops) != n || ops[0] != "I:copy-0000" || ops[n-1] != fmt.Sprintf("I:copy-%04d", n-1) {
		t.Fatalf("COPY of %d rows logged %d entries", n, len(ops))
	}
	recs, _ := readAll(t, e.conn, cur, 1000)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.ID] {
			t.Fatalf("record %s returned twice", r.ID)
		}
		seen[r.ID] = true
	}
	if len(seen) != n {
		t.Errorf("Changes returned %d records after a COPY of %d", len(seen), n)
	}
}

func TestOwnWritesAreNeverCaptured(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		_, cur := readAll(t, e.conn, "", 0)
		res := mustUpsert(t, e.conn, e.NewRecord(1), e.NewRecord(2), e.NewRecord(3))
		created := ids(nil)
		for _, r := range res {
			if !r.Created || r.ID == "" {
				t.Fatalf("result %+v, want a created record with an id", r)
			}
			created = append(created, r.ID)
		}
		mustUpsert(t, e.conn, connectors.Record{ID: created[0], Fields: map[string]any{"lastname": "Synced"}})
		mustUpsert(t, e.conn, connectors.Record{ID: "chosen-id", Fields: map[string]any{"email": "chosen@example.com"}})
		if _, err := e.conn.Delete(ctx, testTable, []string{created[1]}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.conn.Archive(ctx, testTable, []string{created[2]}); err != nil {
			t.Fatal(err)
		}
		if ops := e.logOps(t); len(ops) != 0 {
			t.Errorf("crmsync's own writes were captured: %v", ops)
		}
		if recs, _ := readAll(t, e.conn, cur, 0); len(recs) != 0 {
			t.Errorf("crmsync's own writes came back through Changes: %+v", recs)
		}
	})
}

// TestConcurrentApplicationWritesAreCaptured checks that tagging crmsync's writes never hides an
// application's write made at the same time.
func TestConcurrentApplicationWritesAreCaptured(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		const rounds = 60
		var wg sync.WaitGroup
		wg.Add(2)
		var syncErr error
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				batch := []connectors.Record{e.NewRecord(10000 + 2*i), e.NewRecord(10001 + 2*i)}
				if _, err := e.conn.Upsert(ctx, testTable, batch, connectors.UpsertOptions{}); err != nil {
					syncErr = err
					return
				}
			}
		}()
		appIDs := map[string]bool{}
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				appIDs[e.ExternalCreate(t, e.NewRecord(i))] = true
			}
		}()
		wg.Wait()
		if syncErr != nil {
			t.Fatal(syncErr)
		}
		ops := e.logOps(t)
		if len(ops) != rounds {
			t.Fatalf("logged %d entries, want exactly the application's %d inserts", len(ops), rounds)
		}
		for _, op := range ops {
			if !appIDs[strings.TrimPrefix(op, "I:")] {
				t.Errorf("logged %s, which is not an application write", op)
			}
		}
	})
}

func TestSnapshotThenLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		var pre []string
		for i := 0; i < 25; i++ {
			pre = append(pre, e.ExternalCreate(t, e.NewRecord(i)))
		}
		if _, err := e.conn.Archive(ctx, testTable, pre[:1]); err != nil {
			t.Fatal(err)
		}
		// A page-by-page read from the empty cursor, with a change made in the middle of the snapshot.
		var got []connectors.Record
		var checkpoints []connectors.Cursor
		var late string
		cur, err := e.conn.Changes(ctx, connectors.ChangesRequest{Object: testTable, PageSize: 10}, func(p connectors.Page) error {
			got = append(got, p.Records...)
			checkpoints = append(checkpoints, p.Checkpoint)
			if len(checkpoints) == 1 {
				late = e.ExternalCreate(t, e.NewRecord(99))
				e.ExternalUpdate(t, pre[0], map[string]any{"lastname": "DuringSnapshot"})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(checkpoints) < 3 {
			t.Fatalf("read %d pages of 10 for 25+ rows", len(checkpoints))
		}
		byID := map[string]connectors.Record{}
		for _, r := range got {
			byID[r.ID] = r
		}
		for _, id := range pre {
			if _, ok := byID[id]; !ok {
				t.Errorf("snapshot missed pre-existing row %s", id)
			}
		}
		if !byID[pre[0]].Deleted {
			t.Errorf("an archived row came back as %+v, want a tombstone", byID[pre[0]])
		}
		if _, ok := byID[late]; !ok {
			t.Errorf("a row inserted during the snapshot was lost")
		}
		if r := byID[pre[0]]; r.Fields["lastname"] != "DuringSnapshot" {
			// The update was made after the row's page was read; the log must bring it.
			t.Errorf("an update made during the snapshot was lost: %+v", r)
		}
		// Resuming from the second checkpoint re-reads the rest, never less.
		rest, cur2 := readAll(t, e.conn, checkpoints[1], 10)
		if len(rest) == 0 || cur2 != cur {
			t.Errorf("resume from a snapshot checkpoint: %d records, cursor %q (want %q)", len(rest), cur2, cur)
		}
	})
}

func TestChangesStopsWhenYieldFails(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		for i := 0; i < 5; i++ {
			e.ExternalCreate(t, e.NewRecord(i))
		}
		boom := errors.New("boom")
		pages := 0
		cur, err := e.conn.Changes(ctx, connectors.ChangesRequest{Object: testTable, PageSize: 2}, func(connectors.Page) error {
			pages++
			return boom
		})
		if !errors.Is(err, boom) || cur != "" || pages != 1 {
			t.Errorf("Changes = %q, %v after %d pages; want the yield error, no cursor, 1 page", cur, err, pages)
		}
		_, err = e.conn.Changes(ctx, connectors.ChangesRequest{Object: testTable, Cursor: "hubspot:123"}, func(connectors.Page) error { return nil })
		if !crmerr.Is(err, crmerr.Permanent) || !strings.Contains(err.Error(), "reset the job's cursor") {
			t.Errorf("a foreign cursor gave %v", err)
		}
	})
}

// TestUncommittedTransactionIsNotSkipped holds a PostgreSQL transaction open while a later one commits: the
// cursor must not move past the open one, so its change is read once it commits.
func TestUncommittedTransactionIsNotSkipped(t *testing.T) {
	e := newEnv(t, engines[1])
	_, cur := readAll(t, e.conn, "", 0)
	slow, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close(ctx)
	tx, err := slow.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO crm_contacts (id, email) VALUES ('slow', 'slow@example.com')`); err != nil {
		t.Fatal(err)
	}
	fast := e.ExternalCreate(t, e.NewRecord(1)) // commits after "slow" took its sequence number
	recs, cur := readAll(t, e.conn, cur, 0)
	for _, r := range recs {
		if r.ID == fast {
			t.Log("the committed change was read while an older transaction was open")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	more, _ := readAll(t, e.conn, cur, 0)
	all := append(ids(recs), ids(more)...)
	found := map[string]int{}
	for _, id := range all {
		found[id]++
	}
	if found["slow"] != 1 || found[fast] != 1 {
		t.Errorf("read %v; want slow and %s once each", all, fast)
	}
}

func TestUpsertPartialFailure(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		first := mustUpsert(t, e.conn, e.NewRecord(1))[0]
		missing, _ := e.MissingRequired(e.NewRecord(2))
		batch := []connectors.Record{
			e.NewRecord(3),
			missing,        // NOT NULL email
			e.NewRecord(1), // duplicate email (UNIQUE)
			{Fields: map[string]any{"email": "n@example.com", "employees": "many"}}, // not an integer
			{Fields: map[string]any{"email": "u@example.com", "nosuchfield": "x"}},  // unknown field
			{ID: first.ID, Fields: map[string]any{"lastname": "Updated"}},           // a partial update of a NOT NULL row
			{ID: "new-with-id", Fields: map[string]any{"email": "withid@example.com"}},
			e.NewRecord(4),
		}
		res, err := e.conn.Upsert(ctx, testTable, batch, connectors.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(batch) {
			t.Fatalf("%d results for %d records", len(res), len(batch))
		}
		wantFail := map[int]string{1: "email", 2: "email", 3: "employees", 4: "nosuchfield"}
		for i, r := range res {
			field, shouldFail := wantFail[i]
			var ce *crmerr.Error
			switch {
			case !shouldFail && r.Err != nil:
				t.Errorf("record %d failed with the others: %v", i, r.Err)
			case !shouldFail:
			case !errors.As(r.Err, &ce) || ce.Kind != crmerr.InvalidRecord:
				t.Errorf("record %d: err = %v, want InvalidRecord", i, r.Err)
			case ce.Field != field:
				t.Errorf("record %d: field = %q, want %q (%v)", i, ce.Field, field, r.Err)
			}
		}
		if res[5].ID != first.ID || res[5].Created {
			t.Errorf("update by id = %+v", res[5])
		}
		if res[6].ID != "new-with-id" || !res[6].Created {
			t.Errorf("insert with a chosen id = %+v", res[6])
		}
		got, err := e.conn.Get(ctx, testTable, []string{first.ID, res[0].ID, res[7].ID, "new-with-id", "no-such-id"}, []string{"lastname", "email"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("Get returned %d records, want 4", len(got))
		}
		for _, r := range got {
			if r.ID == first.ID && (r.Fields["lastname"] != "Updated" || r.Fields["email"] != "person1@example.com") {
				t.Errorf("partial update lost or clobbered fields: %+v", r.Fields)
			}
			if _, ok := r.Fields["phone"]; ok {
				t.Errorf("Get returned a field that was not asked for: %+v", r.Fields)
			}
		}
	})
}

func TestUpsertByExternalID(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		opts := connectors.UpsertOptions{ExternalIDField: "email"}
		r := e.NewRecord(1)
		first, err := e.conn.Upsert(ctx, testTable, []connectors.Record{r}, opts)
		if err != nil || first[0].Err != nil || !first[0].Created {
			t.Fatalf("first upsert = %+v, %v", first, err)
		}
		r.Fields["lastname"] = "Again"
		second, err := e.conn.Upsert(ctx, testTable, []connectors.Record{r}, opts)
		if err != nil || second[0].Err != nil || second[0].Created || second[0].ID != first[0].ID {
			t.Fatalf("retried upsert by email = %+v, %v; want an update of %s", second, err, first[0].ID)
		}
		var n int
		e.app.queryRow(t, `SELECT count(*) FROM crm_contacts`, nil, &n)
		if n != 1 {
			t.Errorf("%d rows after two upserts by external id, want 1", n)
		}
	})
}

func TestValuesRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		in := map[string]any{
			"email":     "types@example.com",
			"firstname": nil,
			"score":     12.5,
			"employees": json.Number("42"),
			"vip":       true,
			"birthday":  "1990-05-17",
			"last_seen": "2025-01-02T03:04:05.123456Z",
			"tags":      []any{"a", "b"},
			"extra":     map[string]any{"k": "v", "n": 1.0},
		}
		res := mustUpsert(t, e.conn, connectors.Record{Fields: in})
		got, err := e.conn.Get(ctx, testTable, []string{res[0].ID}, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("Get = %v, %v", got, err)
		}
		want := map[string]any{
			"email": "types@example.com", "firstname": nil, "lastname": nil, "phone": nil,
			"score": json.Number("12.5"), "employees": json.Number("42"), "vip": true,
			"birthday": "1990-05-17", "last_seen": "2025-01-02T03:04:05.123456Z", "tags": "a;b",
			"extra": map[string]any{"k": "v", "n": 1.0},
		}
		if diff := cmp.Diff(want, got[0].Fields); diff != "" {
			t.Errorf("fields after a round trip (-want +got):\n%s", diff)
		}
		// Clearing with nil, and a value of the wrong type.
		res2, err := e.conn.Upsert(ctx, testTable, []connectors.Record{
			{ID: res[0].ID, Fields: map[string]any{"score": nil}},
			{ID: res[0].ID, Fields: map[string]any{"vip": "perhaps"}},
		}, connectors.UpsertOptions{})
		if err != nil || res2[0].Err != nil || !crmerr.Is(res2[1].Err, crmerr.InvalidRecord) {
			t.Fatalf("results = %+v, %v", res2, err)
		}
		got, _ = e.conn.Get(ctx, testTable, []string{res[0].ID}, []string{"score", "vip"})
		if got[0].Fields["score"] != nil || got[0].Fields["vip"] != true {
			t.Errorf("after clearing score: %+v", got[0].Fields)
		}
	})
}

func TestDeleteArchiveAndListIDs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		var all []connectors.Record
		for i := 0; i < 1205; i++ {
			all = append(all, e.NewRecord(i))
		}
		res, err := e.conn.Upsert(ctx, testTable, all, connectors.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		idList := make([]string, len(res))
		for i, r := range res {
			idList[i] = r.ID
		}
		del, err := e.conn.Delete(ctx, testTable, []string{idList[0], idList[1], "never-existed"})
		if err != nil || len(del) != 3 || del[2].Err != nil {
			t.Fatalf("Delete = %+v, %v", del, err)
		}
		arch, err := e.conn.Archive(ctx, testTable, append(idList[2:5:5], "never-existed"))
		if err != nil || len(arch) != 4 || arch[3].Err != nil || arch[3].ID != "never-existed" {
			t.Fatalf("Archive = %+v, %v", arch, err)
		}
		var listed []string
		pages := 0
		if err := e.conn.ListIDs(ctx, testTable, func(ids []string) error {
			pages++
			listed = append(listed, ids...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1200 || pages != 2 {
			t.Errorf("ListIDs gave %d ids in %d pages, want 1200 live ids in 2", len(listed), pages)
		}
		if archived, _ := e.conn.Get(ctx, testTable, idList[2:4], nil); len(archived) != 0 {
			t.Errorf("Get returned archived rows: %+v", archived)
		}
		if live, _ := e.conn.Get(ctx, testTable, idList[5:6], nil); len(live) != 1 {
			t.Errorf("Get of a live row returned %+v", live)
		}
		// The application archiving a row is a change that reads as a tombstone.
		_, cur := readAll(t, e.conn, "", 2000)
		e.app.exec(t, `UPDATE crm_contacts SET deleted_at = $1 WHERE id = $2`, time.Now().UTC().Format(tsLayout), idList[10])
		recs, _ := readAll(t, e.conn, cur, 0)
		if len(recs) != 1 || recs[0].ID != idList[10] || !recs[0].Deleted {
			t.Errorf("soft delete by the application read as %+v", recs)
		}
	})
}

func TestPruneKeepsWhatAConsumerStillNeeds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		cfgB := testConfig(eng, e.dsn)
		cfgB.JobName = "ns/other"
		b := newEnvOn(t, eng, e.dsn, cfgB)
		_, curA := readAll(t, e.conn, "", 0)
		_, curB := readAll(t, b.conn, "", 0)
		for i := 0; i < 10; i++ {
			e.ExternalCreate(t, e.NewRecord(i))
		}
		if n, err := e.conn.Prune(ctx); err != nil || n != 0 {
			t.Fatalf("Prune before anyone read = %d, %v", n, err)
		}
		_, curA = readAll(t, e.conn, curA, 0)
		readAll(t, e.conn, curA, 0) // acknowledges curA
		if n, _ := e.conn.Prune(ctx); n != 0 {
			t.Errorf("pruned %d entries that consumer B has not read", n)
		}
		recsB, curB := readAll(t, b.conn, curB, 0)
		if len(recsB) != 10 {
			t.Fatalf("consumer B read %d changes, want 10", len(recsB))
		}
		readAll(t, b.conn, curB, 0)
		if n, _ := e.conn.Prune(ctx); n != 10 {
			t.Errorf("pruned %d entries after both consumers read them, want 10", n)
		}
		if ops := e.logOps(t); len(ops) != 0 {
			t.Errorf("log after pruning: %v", ops)
		}
		// A removed consumer no longer holds pruning back.
		e.ExternalCreate(t, e.NewRecord(50))
		if err := b.conn.RemoveConsumer(ctx); err != nil {
			t.Fatal(err)
		}
		_, curA = readAll(t, e.conn, curA, 0)
		readAll(t, e.conn, curA, 0)
		if n, _ := e.conn.Prune(ctx); n != 1 {
			t.Errorf("pruned %d after removing consumer B, want 1", n)
		}
	})
}

func TestExistingTableIsValidated(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		dsn := eng.newDB(t)
		app := eng.app(t, dsn)
		defer app.close()
		app.exec(t, `CREATE TABLE people (id TEXT PRIMARY KEY, updated_at TEXT, deleted_at TEXT, mail TEXT, name TEXT)`)
		app.exec(t, `INSERT INTO people (id, mail, name) VALUES ('p1', 'p1@example.com', 'One')`)

		cfg := Config{Driver: eng.driver, DSN: dsn, Table: "people", Columns: map[string]string{"email": "mail", "lastname": "surname"}}
		_, err := New(ctx, cfg)
		if !crmerr.Is(err, crmerr.Permanent) || !strings.Contains(err.Error(), `table people has no column "surname" (mapped from field lastname)`) {
			t.Errorf("New with a missing column: %v", err)
		}
		cfg.Table = "nobody"
		if _, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), "table nobody does not exist") {
			t.Errorf("New on a missing table: %v", err)
		}
		// Without a column map, the table's own columns are the fields.
		c, err := New(ctx, Config{Driver: eng.driver, DSN: dsn, Table: "people"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		meta, err := c.Describe(ctx, "people")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range meta.Fields {
			names = append(names, f.Name)
		}
		if diff := cmp.Diff([]string{"mail", "name"}, names); diff != "" {
			t.Errorf("Describe fields (-want +got):\n%s", diff)
		}
		got, _ := readAll(t, c, "", 0)
		if len(got) != 1 || got[0].ID != "p1" || got[0].Fields["mail"] != "p1@example.com" {
			t.Errorf("initial read of an existing table = %+v", got)
		}
	})
}

func TestDescribeRequiredFields(t *testing.T) {
	forEachEngine(t, func(t *testing.T, eng engine) {
		e := newEnv(t, eng)
		meta, err := e.conn.Describe(ctx, testTable)
		if err != nil {
			t.Fatal(err)
		}
		email, _ := meta.Field("email")
		last, _ := meta.Field("lastname")
		if !email.Required || last.Required || last.Label != "last_name" {
			t.Errorf("email = %+v, lastname = %+v", email, last)
		}
		if _, err := e.conn.Describe(ctx, "deals"); !crmerr.Is(err, crmerr.Permanent) {
			t.Errorf("Describe of another object: %v", err)
		}
	})
}

func TestRedactDSN(t *testing.T) {
	cases := []struct {
		reason, in, want string
	}{
		{"URL user info", "postgres://app:s3cret@db:5432/app?sslmode=require", "postgres://app:xxxxx@db:5432/app?sslmode=require"},
		{"URL query", "postgres://db/app?user=app&password=s3cret", "postgres://db/app?password=xxxxx&user=app"},
		{"key=value", "host=db user=app password=s3cret dbname=app", "host=db user=app password=xxxxx dbname=app"},
		{"key=value quoted", "host=db password='s3 cret' dbname=app", "host=db password=xxxxx dbname=app"},
		{"no password", "postgres://app@db/app", "postgres://app@db/app"},
		{"sqlite file", "/var/lib/app/app.db", "/var/lib/app/app.db"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if got := RedactDSN(tc.in); got != tc.want {
				t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestErrorsNeverShowThePassword(t *testing.T) {
	_, err := New(ctx, Config{Driver: DriverPostgres, DSN: "postgres://app:s3cretpw@127.0.0.1:1/app?connect_timeout=2",
		Table: "t", Fields: testFields, CreateTable: true})
	if err == nil {
		t.Fatal("New succeeded against a closed port")
	}
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if !crmerr.Is(err, crmerr.Transient) || !strings.Contains(err.Error(), "app:xxxxx@127.0.0.1:1") {
		t.Errorf("error = %v, want a transient error naming the redacted DSN", err)
	}
	scrubbed := scrub(errors.New("dial postgres://app:s3cretpw@h/db failed; password s3cretpw"), "postgres://app:s3cretpw@h/db", "s3cretpw")
	if strings.Contains(scrubbed.Error(), "s3cretpw") {
		t.Errorf("scrub left the password: %v", scrubbed)
	}
}

func TestCapabilities(t *testing.T) {
	e := newEnv(t, engines[0])
	caps := e.conn.Capabilities()
	if caps.DeleteDetection != connectors.DeletesInStream || caps.MaxWriteBatch != 1000 || caps.DefaultObjects[connectors.Contacts] != testTable {
		t.Errorf("Capabilities = %+v", caps)
	}
	if e.conn.Provider() != "sqltable" {
		t.Errorf("Provider = %q", e.conn.Provider())
	}
}
