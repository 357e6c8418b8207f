package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// Suite limits. A harness should give its connector a short backoff (a few milliseconds) and at least
// 8 attempts, so that the fault cases finish quickly and a 30% error rate cannot exhaust the retries.
const (
	// caseTimeout bounds each case.
	caseTimeout = 2 * time.Minute
	// settleTimeout bounds the polling for an eventually consistent backend to show a write, unless the
	// Env implements SettleEnv.
	settleTimeout = 30 * time.Second
	// stormTimeout bounds a call that has to wait out a 429 storm.
	stormTimeout = 30 * time.Second
	// pageSize is the small page size that makes a few records span many pages.
	pageSize = 7
	// repeatSlack is how far before the newest timestamp a resumed read may repeat records: backends that
	// filter on whole seconds (SOQL datetime literals) must re-read the last second.
	repeatSlack = time.Second
)

var errStopPage = errors.New("conformance: the engine refused this page")

// Run runs the contract suite against h. Every case gets a fresh Env from h.New and is a subtest with a
// stable name, so one case can be run alone: go test -run 'TestConformance/Changes/TiesAtPageBoundary'.
func Run(t *testing.T, h Harness) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s *session)
	}{
		{"Describe/EmailAndTextFields", testDescribe},
		{"Upsert/CreateThenGet", testCreateThenGet},
		{"Upsert/PartialBatchFailure", testPartialBatchFailure},
		{"Upsert/RejectedPicklistValue", testRejectedPicklist},
		{"Upsert/MissingRequiredField", testMissingRequired},
		{"Upsert/IdempotentByID", testIdempotentByID},
		{"Upsert/IdempotentByExternalID", testIdempotentByExternalID},
		{"Values/UnicodeRoundTrip", testUnicode},
		{"Values/LongTextRoundTrip", testLongText},
		{"Changes/PagesAcrossManyPages", testPaging},
		{"Changes/TiesAtPageBoundary", testTies},
		{"Changes/ClockSkewAhead", func(t *testing.T, s *session) { testClockSkew(t, s, 2*time.Minute) }},
		{"Changes/ClockSkewBehind", func(t *testing.T, s *session) { testClockSkew(t, s, -2*time.Minute) }},
		{"Changes/CursorNeverAdvancesOnYieldError", testYieldError},
		{"Deletes/AppearAsTombstones", testTombstones},
		{"Deletes/AlreadyDeletedSucceeds", testDeleteTwice},
		{"Get/UnknownIDsAreOmitted", testGetUnknown},
		{"Faults/RateLimitStorm", testRateLimitStorm},
		{"Faults/ServerErrors", testServerErrors},
		{"Faults/Timeout", testTimeout},
		{"Faults/TokenExpiresMidStream", testTokenExpiry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := h.New(t)
			conn := env.Connector()
			t.Cleanup(func() { _ = conn.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
			defer cancel()
			c.fn(t, &session{ctx: ctx, env: env, conn: conn, obj: env.Object()})
		})
	}
}

// session is one case's environment.
type session struct {
	ctx  context.Context
	env  Env
	conn connectors.Connector
	obj  string
}

func (s *session) fields() []string {
	return []string{s.env.EmailField(), s.env.TextField()}
}

// create upserts n new records NewRecord(from)..NewRecord(from+n-1) and returns their ids in order.
func (s *session) create(t *testing.T, from, n int) []string {
	t.Helper()
	recs := make([]connectors.Record, n)
	for i := range recs {
		recs[i] = s.env.NewRecord(from + i)
	}
	return s.upsertOK(t, recs, connectors.UpsertOptions{})
}

// upsertOK upserts records that must all succeed, and returns their ids.
func (s *session) upsertOK(t *testing.T, recs []connectors.Record, opts connectors.UpsertOptions) []string {
	t.Helper()
	results, err := s.conn.Upsert(s.ctx, s.obj, recs, opts)
	if err != nil {
		t.Fatalf("Upsert of %d valid records: %v", len(recs), err)
	}
	if len(results) != len(recs) {
		t.Fatalf("Upsert of %d records returned %d results; want one per record", len(recs), len(results))
	}
	ids := make([]string, len(results))
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("Upsert of valid record %d (%v) failed: %v", i, recs[i].Fields, r.Err)
		}
		if r.ID == "" {
			t.Fatalf("Upsert result %d has no ID", i)
		}
		ids[i] = r.ID
	}
	return ids
}

// stream is everything one Changes call produced.
type stream struct {
	pages  []connectors.Page
	cursor connectors.Cursor
	err    error
}

func (st stream) records() []connectors.Record {
	var out []connectors.Record
	for _, p := range st.pages {
		out = append(out, p.Records...)
	}
	return out
}

// live returns the live records by id; a record that came twice is reported by dupes.
func (st stream) live() (byID map[string]connectors.Record, dupes []string) {
	byID = map[string]connectors.Record{}
	for _, r := range st.records() {
		if r.Deleted {
			continue
		}
		if _, ok := byID[r.ID]; ok {
			dupes = append(dupes, r.ID)
		}
		byID[r.ID] = r
	}
	return byID, dupes
}

// read runs one Changes call, recording every page.
func (s *session) read(ctx context.Context, cursor connectors.Cursor, lookback time.Duration, size int) stream {
	var st stream
	st.cursor, st.err = s.conn.Changes(ctx, connectors.ChangesRequest{
		Object: s.obj, Cursor: cursor, Lookback: lookback, Fields: s.fields(), PageSize: size,
	}, func(p connectors.Page) error {
		st.pages = append(st.pages, p)
		return nil
	})
	return st
}

// readUntil repeats a read from cursor until ok accepts it, for backends whose reads lag behind writes.
func (s *session) readUntil(t *testing.T, what string, cursor connectors.Cursor, lookback time.Duration, size int, ok func(stream) string) stream {
	t.Helper()
	var st stream
	s.eventually(t, what, func() string {
		st = s.read(s.ctx, cursor, lookback, size)
		if st.err != nil {
			return fmt.Sprintf("Changes failed: %v", st.err)
		}
		return ok(st)
	})
	return st
}

// hasAll is a readUntil condition: every id is among the live records.
func hasAll(ids []string) func(stream) string {
	return func(st stream) string {
		live, _ := st.live()
		if missing := missingIDs(ids, live); len(missing) > 0 {
			return fmt.Sprintf("%d of %d records missing from the stream, e.g. %v", len(missing), len(ids), first(missing, 5))
		}
		return ""
	}
}

func missingIDs(ids []string, have map[string]connectors.Record) []string {
	var missing []string
	for _, id := range ids {
		if _, ok := have[id]; !ok {
			missing = append(missing, id)
		}
	}
	return missing
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// eventually polls cond until it returns "" (met) or the env's settle time passes, and then fails with
// the last reason. The polling interval grows from 10 ms to 500 ms.
func (s *session) eventually(t *testing.T, what string, cond func() string) {
	t.Helper()
	settle := settleTimeout
	if x, ok := s.env.(SettleEnv); ok {
		settle = max(x.SettleTimeout(), 0)
	}
	deadline := time.Now().Add(settle)
	wait := 10 * time.Millisecond
	for {
		reason := cond()
		if reason == "" {
			return
		}
		if time.Now().Add(wait).After(deadline) {
			t.Fatalf("%s: not met within %v: %s", what, settle, reason)
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			timer.Stop()
			t.Fatalf("%s: %v: %s", what, s.ctx.Err(), reason)
		case <-timer.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// value renders a wire value for comparison: the contract carries wire types, which differ by CRM.
func value(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprint(v)
}

// get reads one record that must exist.
func (s *session) get(t *testing.T, id string) connectors.Record {
	t.Helper()
	recs, err := s.conn.Get(s.ctx, s.obj, []string{id}, s.fields())
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if len(recs) != 1 || recs[0].ID != id {
		t.Fatalf("Get(%s) returned %d records %v; want exactly that record", id, len(recs), recordIDs(recs))
	}
	return recs[0]
}

func recordIDs(recs []connectors.Record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// wantField fails unless r carries field with the wire value want.
func wantField(t *testing.T, r connectors.Record, field string, want any, where string) {
	t.Helper()
	got, ok := r.Fields[field]
	if !ok {
		t.Errorf("%s: record %s has no field %q (fields: %v)", where, r.ID, field, slices.Sorted(maps.Keys(r.Fields)))
		return
	}
	if value(got) != value(want) {
		g, w := value(got), value(want)
		t.Errorf("%s: record %s field %q does not round-trip:\n got  %d bytes %q\n want %d bytes %q", where, r.ID, field, len(g), clip(g), len(w), clip(w))
	}
}

func clip(s string) string {
	if len(s) <= 120 {
		return s
	}
	return s[:60] + "…" + s[len(s)-60:]
}

// classified returns err as a *crmerr.Error or fails.
func classified(t *testing.T, err error, what string) *crmerr.Error {
	t.Helper()
	var ce *crmerr.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v (%T) is not a classified *crmerr.Error", what, err, err)
	}
	return ce
}

func testDescribe(t *testing.T, s *session) {
	meta, err := s.conn.Describe(s.ctx, s.obj)
	if err != nil {
		t.Fatalf("Describe(%s): %v", s.obj, err)
	}
	for _, name := range s.fields() {
		f, ok := meta.Field(name)
		switch {
		case !ok:
			t.Errorf("Describe(%s) lacks field %q", s.obj, name)
		case f.ReadOnly:
			t.Errorf("Describe(%s) marks %q read-only; the suite writes it", s.obj, name)
		case f.Type == "":
			t.Errorf("Describe(%s) gives field %q no type", s.obj, name)
		}
	}
}

func testCreateThenGet(t *testing.T, s *session) {
	rec := s.env.NewRecord(1)
	results, err := s.conn.Upsert(s.ctx, s.obj, []connectors.Record{rec}, connectors.UpsertOptions{})
	if err != nil {
		t.Fatalf("Upsert: %v", err)
	}
	if len(results) != 1 || results[0].Err != nil || results[0].ID == "" {
		t.Fatalf("Upsert of one new record = %+v; want one success with an ID", results)
	}
	if !results[0].Created {
		t.Errorf("Upsert of a new record reports Created=false")
	}
	got := s.get(t, results[0].ID)
	for _, f := range s.fields() {
		wantField(t, got, f, rec.Fields[f], "Get after create")
	}
}

// invalidCase runs one rejected write: bad must fail with InvalidRecord naming a field that differs
// from good, and the valid records around it must still be written.
func invalidCase(t *testing.T, s *session, good connectors.Record, bad connectors.Record) {
	t.Helper()
	changed := changedFields(good, bad)
	results, err := s.conn.Upsert(s.ctx, s.obj, []connectors.Record{bad}, connectors.UpsertOptions{})
	if err != nil {
		t.Fatalf("Upsert of one invalid record failed as a whole (%v); want a per-record InvalidRecord result", err)
	}
	if len(results) != 1 {
		t.Fatalf("Upsert returned %d results for one record", len(results))
	}
	checkInvalid(t, results[0], changed)
}

func checkInvalid(t *testing.T, r connectors.Result, changed []string) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("invalid record accepted (ID %q); want an InvalidRecord result", r.ID)
	}
	ce := classified(t, r.Err, "invalid record result")
	if ce.Kind != crmerr.InvalidRecord {
		t.Errorf("invalid record result is %v (%v); want InvalidRecord", ce.Kind, ce)
	}
	for _, f := range changed {
		if strings.EqualFold(ce.Field, f) || strings.Contains(ce.Error(), f) {
			return
		}
	}
	t.Errorf("invalid record error %q names none of the offending fields %v (set Error.Field)", ce.Error(), changed)
}

func changedFields(good, bad connectors.Record) []string {
	var out []string
	for k, v := range good.Fields {
		if bv, ok := bad.Fields[k]; !ok || value(bv) != value(v) {
			out = append(out, k)
		}
	}
	for k := range bad.Fields {
		if _, ok := good.Fields[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func testRejectedPicklist(t *testing.T, s *session) {
	good := s.env.NewRecord(1)
	bad, ok := s.env.InvalidPicklist(good)
	if !ok {
		t.Skip("the backend has no restricted picklist")
	}
	invalidCase(t, s, good, bad)
}

func testMissingRequired(t *testing.T, s *session) {
	good := s.env.NewRecord(1)
	bad, ok := s.env.MissingRequired(good)
	if !ok {
		t.Skip("the backend requires no field")
	}
	invalidCase(t, s, good, bad)
}

func testPartialBatchFailure(t *testing.T, s *session) {
	good := s.env.NewRecord(2)
	bad, ok := s.env.MissingRequired(good)
	if !ok {
		bad, ok = s.env.InvalidPicklist(good)
	}
	if !ok {
		t.Skip("the backend rejects no record")
	}
	batch := []connectors.Record{s.env.NewRecord(1), bad, s.env.NewRecord(3)}
	results, err := s.conn.Upsert(s.ctx, s.obj, batch, connectors.UpsertOptions{})
	if err != nil {
		t.Fatalf("Upsert of a batch with one invalid record failed as a whole (%v); partial failure is normal", err)
	}
	if len(results) != 3 {
		t.Fatalf("Upsert of 3 records returned %d results; want one per record, in order", len(results))
	}
	checkInvalid(t, results[1], changedFields(good, bad))
	for _, i := range []int{0, 2} {
		if results[i].Err != nil || results[i].ID == "" {
			t.Fatalf("valid record %d beside an invalid one: %+v; want success with an ID", i, results[i])
		}
		got := s.get(t, results[i].ID)
		wantField(t, got, s.env.EmailField(), batch[i].Fields[s.env.EmailField()], "valid record of a partly failed batch")
	}
}

// countByEmail counts live records with the given email in a full read.
func countByEmail(st stream, field, email string) int {
	n := 0
	live, _ := st.live()
	for _, r := range live {
		if value(r.Fields[field]) == email {
			n++
		}
	}
	return n
}

// wantOneWithEmail polls full reads until exactly one live record carries email.
func (s *session) wantOneWithEmail(t *testing.T, email string) {
	t.Helper()
	field := s.env.EmailField()
	s.readUntil(t, "exactly one live record with email "+email, "", 0, 0, func(st stream) string {
		if n := countByEmail(st, field, email); n != 1 {
			return fmt.Sprintf("%d live records carry it", n)
		}
		return ""
	})
}

func testIdempotentByID(t *testing.T, s *session) {
	rec := s.env.NewRecord(1)
	id := s.upsertOK(t, []connectors.Record{rec}, connectors.UpsertOptions{})[0]
	again := connectors.Record{ID: id, Fields: map[string]any{}}
	for k, v := range rec.Fields {
		again.Fields[k] = v
	}
	again.Fields[s.env.TextField()] = "Re-upserted"
	for round := range 2 {
		results, err := s.conn.Upsert(s.ctx, s.obj, []connectors.Record{again}, connectors.UpsertOptions{})
		if err != nil || len(results) != 1 || results[0].Err != nil {
			t.Fatalf("re-upsert %d by ID: results %+v, err %v", round+1, results, err)
		}
		if results[0].ID != id || results[0].Created {
			t.Errorf("re-upsert %d by ID gave ID %q Created=%v; want the same ID %q, not created", round+1, results[0].ID, results[0].Created, id)
		}
	}
	wantField(t, s.get(t, id), s.env.TextField(), "Re-upserted", "Get after re-upsert")
	s.wantOneWithEmail(t, value(rec.Fields[s.env.EmailField()]))
}

func testIdempotentByExternalID(t *testing.T, s *session) {
	if !s.conn.Capabilities().UpsertByExternalID {
		t.Skip("the connector cannot upsert by an external id")
	}
	field := s.env.EmailField()
	if x, ok := s.env.(ExternalIDEnv); ok {
		field = x.ExternalIDField()
	}
	opts := connectors.UpsertOptions{ExternalIDField: field}
	rec := s.env.NewRecord(1)
	if _, ok := rec.Fields[field]; !ok {
		t.Fatalf("NewRecord carries no value for the external id field %q; implement ExternalIDEnv if it is not the email field", field)
	}
	var id string
	for round := range 3 {
		rec.Fields[s.env.TextField()] = fmt.Sprintf("Round %d", round)
		results, err := s.conn.Upsert(s.ctx, s.obj, []connectors.Record{rec}, opts)
		if err != nil || len(results) != 1 || results[0].Err != nil {
			t.Fatalf("upsert %d by external id %q: results %+v, err %v", round+1, field, results, err)
		}
		switch {
		case round == 0:
			id = results[0].ID
		case results[0].ID != id:
			t.Errorf("upsert %d by external id %q gave ID %q; want %q from the first", round+1, field, results[0].ID, id)
		case results[0].Created:
			t.Errorf("upsert %d by external id %q reports Created; the record existed", round+1, field)
		}
	}
	wantField(t, s.get(t, id), s.env.TextField(), "Round 2", "Get after upserts by external id")
	s.wantOneWithEmail(t, value(rec.Fields[s.env.EmailField()]))
}

// roundTrip writes text into the text field of a new record and checks Get and Changes give it back.
func roundTrip(t *testing.T, s *session, text string) {
	t.Helper()
	rec := s.env.NewRecord(1)
	rec.Fields[s.env.TextField()] = text
	id := s.upsertOK(t, []connectors.Record{rec}, connectors.UpsertOptions{})[0]
	wantField(t, s.get(t, id), s.env.TextField(), text, "Get")
	st := s.readUntil(t, "the record in the change stream", "", 0, 0, hasAll([]string{id}))
	live, _ := st.live()
	wantField(t, live[id], s.env.TextField(), text, "Changes")
}

func testUnicode(t *testing.T, s *session) {
	roundTrip(t, s, "Zoë 🚀👩🏽‍💻 李小龍 東京 مرحبا بالعالم שלום \u200fRTL\u200f ñ")
}

func testLongText(t *testing.T, s *session) {
	n := 5000
	if x, ok := s.env.(TextLimitEnv); ok && x.MaxTextLen() > 0 {
		n = min(n, x.MaxTextLen())
	}
	var long []rune
	for i := 0; len(long) < n; i++ {
		long = append(long, []rune(fmt.Sprintf("%d-é ", i))...)
	}
	roundTrip(t, s, string(long[:n]))
}

func testPaging(t *testing.T, s *session) {
	const n = 4*pageSize + 3
	ids := s.create(t, 1, n)
	st := s.readUntil(t, "all records in one paged read", "", 0, pageSize, hasAll(ids))
	live, dupes := st.live()
	if len(dupes) > 0 {
		t.Errorf("records delivered more than once in one stream: %v", first(dupes, 5))
	}
	if len(live) != n {
		t.Errorf("stream has %d live records; want exactly the %d created", len(live), n)
	}
	if len(st.pages) < n/pageSize {
		t.Errorf("%d records came in %d pages; with PageSize %d want at least %d", n, len(st.pages), pageSize, n/pageSize)
	}
	for i, p := range st.pages {
		if len(p.Records) > pageSize {
			t.Errorf("page %d has %d records; PageSize is %d", i, len(p.Records), pageSize)
		}
		if p.Checkpoint == "" && len(p.Records) > 0 {
			t.Errorf("page %d has no Checkpoint", i)
		}
	}
	if st.cursor == "" {
		t.Fatalf("Changes returned an empty cursor after reading %d records", n)
	}
	again := s.read(s.ctx, st.cursor, 0, pageSize)
	if again.err != nil {
		t.Fatalf("Changes from the returned cursor: %v", again.err)
	}
	checkOnlyRepeats(t, again, live, "resuming from the final cursor with nothing new")
}

// checkOnlyRepeats fails when a resumed read delivers anything but records already seen, unchanged,
// from the last second before the newest timestamp seen (ties a cursor may conservatively repeat).
func checkOnlyRepeats(t *testing.T, st stream, seen map[string]connectors.Record, what string) {
	t.Helper()
	var newest time.Time
	for _, r := range seen {
		if r.ModifiedAt.After(newest) {
			newest = r.ModifiedAt
		}
	}
	for _, r := range st.records() {
		old, ok := seen[r.ID]
		switch {
		case !ok:
			t.Errorf("%s: record %s (deleted=%v) was never written", what, r.ID, r.Deleted)
		case !r.ModifiedAt.Equal(old.ModifiedAt):
			t.Errorf("%s: record %s came back with ModifiedAt %v, was %v", what, r.ID, r.ModifiedAt, old.ModifiedAt)
		case r.ModifiedAt.Before(newest.Add(-repeatSlack)):
			t.Errorf("%s: record %s (ModifiedAt %v) repeated although it is older than the newest %v: the cursor re-reads too much", what, r.ID, r.ModifiedAt, newest)
		}
	}
}

// testTies builds a group of records sharing one modification time across page boundaries, then
// resumes from every page's checkpoint as an engine restarted after that page would.
func testTies(t *testing.T, s *session) {
	ids := s.create(t, 1, 20)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	before, tied, after := ids[:4], ids[4:16], ids[16:]
	s.env.SetModifiedAt(t, before, base)
	s.env.SetModifiedAt(t, tied, base.Add(time.Second))
	s.env.SetModifiedAt(t, after, base.Add(2*time.Second))
	full := s.readUntil(t, "the tie group in the stream", "", 0, pageSize, func(st stream) string {
		if reason := hasAll(ids)(st); reason != "" {
			return reason
		}
		live, _ := st.live()
		for _, id := range tied {
			if at := live[id].ModifiedAt; !at.Equal(base.Add(time.Second)) {
				return fmt.Sprintf("record %s has ModifiedAt %v, not the tie %v set through SetModifiedAt", id, at, base.Add(time.Second))
			}
		}
		return ""
	})
	if len(full.pages) < 3 {
		t.Fatalf("20 records came in %d pages; with PageSize %d the tie group must cross page boundaries", len(full.pages), pageSize)
	}
	seen := map[string]bool{}
	for k, p := range full.pages[:len(full.pages)-1] {
		for _, r := range p.Records {
			seen[r.ID] = true
		}
		if p.Checkpoint == "" {
			t.Errorf("page %d has no Checkpoint", k)
			continue
		}
		resumed := s.read(s.ctx, p.Checkpoint, 0, pageSize)
		if resumed.err != nil {
			t.Fatalf("Changes from page %d's checkpoint: %v", k, resumed.err)
		}
		got := toSet(seen)
		for _, r := range resumed.records() {
			got[r.ID] = connectors.Record{}
		}
		if missing := missingIDs(ids, got); len(missing) > 0 {
			t.Errorf("resuming after page %d (checkpoint %q) loses %d records %v: ties at a page boundary must not be skipped", k, p.Checkpoint, len(missing), missing)
		}
	}
}

func toSet(set map[string]bool) map[string]connectors.Record {
	out := make(map[string]connectors.Record, len(set))
	for id := range set {
		out[id] = connectors.Record{}
	}
	return out
}

func testClockSkew(t *testing.T, s *session, skew time.Duration) {
	s.env.SetClockSkew(t, skew)
	var ids []string
	for i := range 3 {
		ids = append(ids, s.env.ExternalCreate(t, s.env.NewRecord(i+1)))
	}
	st := s.readUntil(t, "records written under a skewed clock", "", 0, 0, hasAll(ids))
	if st.cursor == "" {
		t.Fatal("Changes returned an empty cursor after reading records")
	}
	s.env.ExternalUpdate(t, ids[0], map[string]any{s.env.TextField(): "Changed after the cursor"})
	s.readUntil(t, fmt.Sprintf("a change after the cursor with the CRM clock %v off, Lookback 5m", skew), st.cursor, 5*time.Minute, 0, func(st stream) string {
		live, _ := st.live()
		r, ok := live[ids[0]]
		if !ok {
			return "the changed record is not in the stream"
		}
		if got := value(r.Fields[s.env.TextField()]); got != "Changed after the cursor" {
			return fmt.Sprintf("the record carries %q", got)
		}
		return ""
	})
}

func testYieldError(t *testing.T, s *session) {
	ids := s.create(t, 1, 3*pageSize)
	s.readUntil(t, "all records", "", 0, pageSize, hasAll(ids))
	var firstPage connectors.Page
	pages := 0
	cursor, err := s.conn.Changes(s.ctx, connectors.ChangesRequest{Object: s.obj, Fields: s.fields(), PageSize: pageSize},
		func(p connectors.Page) error {
			pages++
			if pages == 1 {
				firstPage = p
				return nil
			}
			return errStopPage
		})
	if !errors.Is(err, errStopPage) {
		t.Errorf("Changes returned %v; want the yield error (wrapped is fine)", err)
	}
	if cursor != "" {
		t.Errorf("Changes returned cursor %q after yield failed; the cursor must not advance", cursor)
	}
	if pages != 2 {
		t.Fatalf("yield was called %d times; want Changes to stop at the refused second page", pages)
	}
	if firstPage.Checkpoint == "" {
		t.Fatal("the accepted first page has no Checkpoint")
	}
	resumed := s.read(s.ctx, firstPage.Checkpoint, 0, pageSize)
	if resumed.err != nil {
		t.Fatalf("Changes from the first page's checkpoint: %v", resumed.err)
	}
	got := map[string]connectors.Record{}
	for _, r := range append(firstPage.Records, resumed.records()...) {
		got[r.ID] = r
	}
	if missing := missingIDs(ids, got); len(missing) > 0 {
		t.Errorf("resuming after the refused page loses %v", missing)
	}
}

func testTombstones(t *testing.T, s *session) {
	ids := s.create(t, 1, 2)
	st := s.readUntil(t, "both records", "", 0, 0, hasAll(ids))
	s.env.ExternalDelete(t, ids[0])
	if s.conn.Capabilities().DeleteDetection == connectors.DeletesByFullScan {
		s.wantListIDs(t, ids[1:], ids[:1])
		return
	}
	s.readUntil(t, "a tombstone for the deleted record", st.cursor, time.Minute, 0, func(st stream) string {
		for _, r := range st.records() {
			if r.ID == ids[0] && r.Deleted {
				return ""
			}
		}
		return fmt.Sprintf("no Deleted record with ID %s among %d records", ids[0], len(st.records()))
	})
	s.wantListIDs(t, ids[1:], ids[:1])
}

// wantListIDs polls ListIDs until it lists every id of present and none of absent.
func (s *session) wantListIDs(t *testing.T, present, absent []string) {
	t.Helper()
	s.eventually(t, "ListIDs after a delete", func() string {
		listed := map[string]connectors.Record{}
		err := s.conn.ListIDs(s.ctx, s.obj, func(ids []string) error {
			for _, id := range ids {
				listed[id] = connectors.Record{}
			}
			return nil
		})
		if err != nil {
			return fmt.Sprintf("ListIDs: %v", err)
		}
		if missing := missingIDs(present, listed); len(missing) > 0 {
			return fmt.Sprintf("live records %v not listed", missing)
		}
		for _, id := range absent {
			if _, ok := listed[id]; ok {
				return fmt.Sprintf("deleted record %s still listed", id)
			}
		}
		return ""
	})
}

func testDeleteTwice(t *testing.T, s *session) {
	id := s.create(t, 1, 1)[0]
	for round := range 2 {
		results, err := s.conn.Delete(s.ctx, s.obj, []string{id})
		if err != nil {
			t.Fatalf("Delete %d: %v", round+1, err)
		}
		if len(results) != 1 || results[0].Err != nil {
			t.Fatalf("Delete %d of %s: %+v; deleting a deleted record must succeed", round+1, id, results)
		}
	}
}

func testGetUnknown(t *testing.T, s *session) {
	ids := s.create(t, 1, 2)
	s.env.ExternalDelete(t, ids[1])
	unknown := []string{ids[1]}
	if x, ok := s.env.(UnknownIDEnv); ok {
		unknown = append(unknown, x.UnknownID())
	}
	s.eventually(t, "Get omits unknown and deleted ids", func() string {
		recs, err := s.conn.Get(s.ctx, s.obj, append([]string{ids[0]}, unknown...), s.fields())
		if err != nil {
			return fmt.Sprintf("Get failed: %v", err)
		}
		if got := recordIDs(recs); len(got) != 1 || got[0] != ids[0] {
			return fmt.Sprintf("Get(%s + unknown %v) returned %v; want only %s", ids[0], unknown, got, ids[0])
		}
		return ""
	})
}

func testRateLimitStorm(t *testing.T, s *session) {
	id := s.create(t, 1, 1)[0]
	s.env.InjectFaults(t, Faults{RateLimitNext: 5})
	start := time.Now()
	s.get(t, id)
	if d := time.Since(start); d > stormTimeout {
		t.Errorf("Get through 5 rate-limit answers took %v; want under %v", d, stormTimeout)
	}
	s.env.InjectFaults(t, Faults{RateLimitNext: 5})
	start = time.Now()
	rec := s.env.NewRecord(2)
	s.upsertOK(t, []connectors.Record{rec}, connectors.UpsertOptions{})
	if d := time.Since(start); d > stormTimeout {
		t.Errorf("Upsert through 5 rate-limit answers took %v; want under %v", d, stormTimeout)
	}
	s.env.InjectFaults(t, Faults{})
	s.wantOneWithEmail(t, value(rec.Fields[s.env.EmailField()]))
}

func testServerErrors(t *testing.T, s *session) {
	ids := s.create(t, 1, 3)
	s.readUntil(t, "the records", "", 0, 0, hasAll(ids))
	s.env.InjectFaults(t, Faults{ErrorRate: 0.3, ErrorStatus: 503})
	defer s.env.InjectFaults(t, Faults{})
	recs, err := s.conn.Get(s.ctx, s.obj, ids, s.fields())
	if err != nil {
		t.Fatalf("Get under a 30%% 5xx rate: %v; reads must succeed through retries", err)
	}
	if len(recs) != len(ids) {
		t.Errorf("Get under a 30%% 5xx rate returned %d of %d records", len(recs), len(ids))
	}
	st := s.read(s.ctx, "", 0, 0)
	if st.err != nil {
		t.Fatalf("Changes under a 30%% 5xx rate: %v; reads must succeed through retries", st.err)
	}
	if live, _ := st.live(); len(missingIDs(ids, live)) > 0 {
		t.Errorf("Changes under a 30%% 5xx rate lost records %v", missingIDs(ids, live))
	}
}

func testTimeout(t *testing.T, s *session) {
	ids := s.create(t, 1, 2)
	s.readUntil(t, "the records", "", 0, 0, hasAll(ids))
	const latency, deadline = 1500 * time.Millisecond, 250 * time.Millisecond
	s.env.InjectFaults(t, Faults{Latency: latency})
	defer s.env.InjectFaults(t, Faults{})

	ctx, cancel := context.WithTimeout(s.ctx, deadline)
	start := time.Now()
	_, err := s.conn.Get(ctx, s.obj, ids, s.fields())
	cancel()
	checkTimeout(t, err, time.Since(start), latency, "Get")

	ctx, cancel = context.WithTimeout(s.ctx, deadline)
	start = time.Now()
	yielded := 0
	cursor, err := s.conn.Changes(ctx, connectors.ChangesRequest{Object: s.obj, Fields: s.fields()}, func(connectors.Page) error {
		yielded++
		return nil
	})
	cancel()
	checkTimeout(t, err, time.Since(start), latency, "Changes")
	if cursor != "" {
		t.Errorf("Changes returned cursor %q after timing out; want none", cursor)
	}
	if yielded > 0 {
		t.Errorf("Changes yielded %d pages although every call timed out", yielded)
	}
}

func checkTimeout(t *testing.T, err error, took, latency time.Duration, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s past its deadline succeeded", what)
		return
	}
	ce := classified(t, err, what+" past its deadline")
	if ce.Kind != crmerr.Transient {
		t.Errorf("%s past its deadline: %v is %v; want Transient", what, err, ce.Kind)
	}
	if took >= latency {
		t.Errorf("%s took %v; it must give up at its deadline, not wait out the %v latency", what, took, latency)
	}
}

func testTokenExpiry(t *testing.T, s *session) {
	if !s.env.ExpireTokens(t) {
		t.Skip("the backend has no tokens")
	}
	ids := s.create(t, 1, 2*pageSize+1)
	s.readUntil(t, "all records", "", 0, pageSize, hasAll(ids))
	expired := false
	got := map[string]connectors.Record{}
	cursor, err := s.conn.Changes(s.ctx, connectors.ChangesRequest{Object: s.obj, Fields: s.fields(), PageSize: pageSize},
		func(p connectors.Page) error {
			for _, r := range p.Records {
				got[r.ID] = r
			}
			if !expired {
				expired = true
				s.env.ExpireTokens(t)
			}
			return nil
		})
	if err != nil {
		t.Fatalf("Changes with the token expiring after page 1: %v; the connector must refresh and carry on", err)
	}
	if cursor == "" {
		t.Error("Changes returned no cursor")
	}
	if missing := missingIDs(ids, got); len(missing) > 0 {
		t.Errorf("the stream lost %v after the token expired", missing)
	}
}
