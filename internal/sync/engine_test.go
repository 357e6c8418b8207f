package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/sync"
)

func TestInitialSyncOneWay(t *testing.T) {
	cases := map[string]struct {
		reason   string
		src, dst []map[string]any // source records in source names, destination records in destination names
		want     map[string]sync.Canonical
	}{
		"EmptyDestination": {
			reason: "Every source record is created on the destination with every mapped field.",
			src: []map[string]any{
				{"Email": "a@x.io", "FirstName": "Ann", "LastName": "Lee", "Score": int64(7)},
				{"Email": "b@x.io", "FirstName": "Bob", "Phone": "+1 555"},
			},
			want: map[string]sync.Canonical{
				"a@x.io": {"email": "a@x.io", "first": "Ann", "last": "Lee", "phone": nil, "title": nil, "score": int64(7)},
				"b@x.io": {"email": "b@x.io", "first": "Bob", "last": nil, "phone": "+1 555", "title": nil, "score": nil},
			},
		},
		"MatchExistingCaseInsensitive": {
			reason: "A destination record with the same email in other case is updated, not duplicated; fields not " +
				"mapped stay as they are.",
			src: []map[string]any{{"Email": "Ann@X.io", "FirstName": "Ann", "Title": "CEO"}},
			dst: []map[string]any{{"email": "ann@x.io", "first_name": "Annie", "phone": "123", "extra": "kept"}},
			want: map[string]sync.Canonical{
				"ann@x.io": {"email": "Ann@X.io", "first": "Ann", "last": nil, "phone": nil, "title": "CEO", "score": nil},
			},
		},
		"UnmatchedDestinationStays": {
			reason: "OneWay never deletes or changes destination records without a source counterpart.",
			src:    []map[string]any{{"Email": "a@x.io"}},
			dst:    []map[string]any{{"email": "other@x.io", "first_name": "O"}},
			want: map[string]sync.Canonical{
				"a@x.io":     {"email": "a@x.io", "first": nil, "last": nil, "phone": nil, "title": nil, "score": nil},
				"other@x.io": {"email": "other@x.io", "first": "O", "last": nil, "phone": nil, "title": nil, "score": nil},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: sync.OneWay})
			for _, r := range tc.src {
				e.mustCreate(t, e.src, r)
			}
			for _, r := range tc.dst {
				e.mustCreate(t, e.dst, r)
			}
			e.run(t)
			got, dups := byEmail(t, e.dst, destMapper)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\ndestination -want +got:\n%s", tc.reason, diff)
			}
			if len(dups) > 0 {
				t.Errorf("%s\nduplicates on the destination: %v", tc.reason, dups)
			}
		})
	}
}

func TestQuietRunsWriteNothing(t *testing.T) {
	e := newEnv(t, envOptions{direction: sync.OneWay})
	for i := range 250 {
		e.mustCreate(t, e.src, contact(fmt.Sprintf("u%d@x.io", i), "F", fmt.Sprint(i)))
	}
	first := e.run(t)
	if first.Counters.Created != 250 || e.dst.Len("contacts") != 250 {
		t.Fatalf("initial sync: created %d, destination has %d, want 250", first.Counters.Created, e.dst.Len("contacts"))
	}
	if got, want := first.Counters.APICalls, e.src.APICalls()+e.dst.APICalls(); got != want {
		t.Errorf("Result.APICalls = %d, the backends answered %d", got, want)
	}

	type calls struct{ Writes, Total int64 }
	measure := func() (sync.Result, calls) {
		e.src.ResetCalls()
		e.dst.ResetCalls()
		res := e.run(t)
		return res, calls{Writes: e.src.Writes() + e.dst.Writes(), Total: e.src.APICalls() + e.dst.APICalls()}
	}
	// The second run reads the echoes of the 250 creates (3 pages of 100) and one empty source page.
	echo, echoCalls := measure()
	if diff := cmp.Diff(calls{Writes: 0, Total: 4}, echoCalls); diff != "" {
		t.Errorf("the run after the initial sync must only read the echoes -want +got:\n%s", diff)
	}
	if echo.Counters.Skipped != 250 {
		t.Errorf("echo run skipped %d changes, want 250", echo.Counters.Skipped)
	}
	_, quietCalls := measure()
	if diff := cmp.Diff(calls{Writes: 0, Total: 2}, quietCalls); diff != "" {
		t.Errorf("a run without changes must make one read per side and no write -want +got:\n%s", diff)
	}
}

func TestPingPong(t *testing.T) {
	e := newEnv(t, envOptions{owners: map[string]sync.Owner{"phone": sync.Destination, "title": sync.Destination}})
	id := e.mustCreate(t, e.src, contact("a@x.io", "Ann", "Lee"))
	e.settle(t, 3)
	dstID := findByEmail(t, e.dst, destMapper, "a@x.io")

	e.mustUpdate(t, e.src, id, map[string]any{"FirstName": "Anna"})
	e.mustUpdate(t, e.dst, dstID, map[string]any{"phone": "42"})
	res := e.run(t)
	if got := res.Counters.Updated; got != 2 {
		t.Fatalf("run with one change per side: %d updates, want 2", got)
	}
	for i := range 3 {
		e.src.ResetCalls()
		e.dst.ResetCalls()
		res := e.run(t)
		if w := e.src.Writes() + e.dst.Writes(); w != 0 {
			t.Errorf("run %d after the change wrote %d times: our own writes came back as changes (%+v)", i+1, w, res.Counters)
		}
	}
	got, _ := e.src.Record("contacts", id)
	if got["FirstName"] != "Anna" || got["Phone"] != "42" {
		t.Errorf("source record = %v, want FirstName Anna and Phone 42", got)
	}
}

func TestConflictOwnerWins(t *testing.T) {
	e := newEnv(t, envOptions{owners: map[string]sync.Owner{"phone": sync.Destination}})
	id := e.mustCreate(t, e.src, map[string]any{"Email": "a@x.io", "FirstName": "Ann", "Phone": "1"})
	e.settle(t, 3)
	dstID := findByEmail(t, e.dst, destMapper, "a@x.io")

	e.mustUpdate(t, e.src, id, map[string]any{"FirstName": "Src", "Phone": "src-phone"})
	e.mustUpdate(t, e.dst, dstID, map[string]any{"first_name": "Dst", "phone": "dst-phone"})
	res := e.run(t)

	want := []state.Conflict{
		{SourceID: id, DestID: dstID, Field: "first", Winner: sync.Source, SourceValue: "Src", DestValue: "Dst"},
		{SourceID: id, DestID: dstID, Field: "phone", Winner: sync.Destination, SourceValue: "src-phone", DestValue: "dst-phone"},
	}
	if diff := cmp.Diff(want, res.Conflicts, cmpopts.IgnoreFields(state.Conflict{}, "At")); diff != "" {
		t.Errorf("conflicts -want +got:\n%s", diff)
	}
	if res.Counters.Conflicts != 2 {
		t.Errorf("Counters.Conflicts = %d, want 2", res.Counters.Conflicts)
	}
	e.settle(t, 3)
	src, _ := e.src.Record("contacts", id)
	dst, _ := e.dst.Record("contacts", dstID)
	gotVals := []any{src["FirstName"], src["Phone"], dst["first_name"], dst["phone"]}
	if diff := cmp.Diff([]any{"Src", "dst-phone", "Src", "dst-phone"}, gotVals); diff != "" {
		t.Errorf("each field must hold its owner's value on both sides -want +got:\n%s", diff)
	}
}

func TestCancelledRunConverges(t *testing.T) {
	cases := map[string]struct {
		reason    string
		direction sync.Direction
		side      string // "source" or "destination": whose backend cancels
		op        memory.Op
		call      int64
	}{
		"OneWayWhileReadingSource": {
			reason:    "A crash while the seventh source page is read keeps the first batch of five pages.",
			direction: sync.OneWay, side: "source", op: memory.OpChanges, call: 7,
		},
		"TwoWayWhileWritingDestination": {
			reason:    "A crash in the middle of the writes to the destination.",
			direction: sync.TwoWay, side: "destination", op: memory.OpUpsert, call: 3,
		},
		"TwoWayWhileWritingSource": {
			reason:    "A crash while destination-only records are created on the source, after the source cursor moved.",
			direction: sync.TwoWay, side: "source", op: memory.OpUpsert, call: 2,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: tc.direction})
			for i := range 1000 {
				e.mustCreate(t, e.src, contact(fmt.Sprintf("u%d@x.io", i), "F", "L"))
			}
			for i := 700; i < 1300; i++ {
				e.mustCreate(t, e.dst, map[string]any{"email": fmt.Sprintf("U%d@X.IO", i), "phone": "1"})
			}
			ctx, cancel := context.WithCancel(context.Background())
			conn := e.src
			if tc.side == "destination" {
				conn = e.dst
			}
			conn.SetHook(func(_ context.Context, op memory.Op, call int64) error {
				if op == tc.op && call == tc.call {
					cancel()
				}
				return nil
			})
			if _, err := e.runCtx(ctx); err == nil {
				t.Fatalf("%s\nRun with a cancelled context returned no error", tc.reason)
			}
			conn.SetHook(nil)
			e.settle(t, 4)
			wantSrc, wantDst := 1000, 1300
			if tc.direction == sync.TwoWay {
				wantSrc = 1300
			}
			for _, side := range []struct {
				conn *memory.Connector
				mp   fieldMapper
				want int
			}{{e.src, sourceMapper, wantSrc}, {e.dst, destMapper, wantDst}} {
				got, dups := byEmail(t, side.conn, side.mp)
				if len(got) != side.want || len(dups) > 0 || side.conn.Len("contacts") != side.want {
					t.Errorf("%s\nafter the rerun: %d distinct emails in %d records, duplicates %v; want %d and none",
						tc.reason, len(got), side.conn.Len("contacts"), dups, side.want)
				}
			}
		})
	}
}

func TestProgress(t *testing.T) {
	e := newEnv(t, envOptions{direction: sync.OneWay})
	for i := range 1234 {
		e.mustCreate(t, e.src, contact(fmt.Sprintf("u%d@x.io", i), "F", "L"))
	}
	var got []sync.Progress
	if _, err := e.engine.Run(context.Background(), e.job, func(p sync.Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) < 3 {
		t.Fatalf("%d progress reports for 1,234 records in batches of 500, want at least 3", len(got))
	}
	for i, p := range got {
		if p.Done > p.Total || (i > 0 && p.Done < got[i-1].Done) {
			t.Errorf("report %d = %+v after %+v: Done must grow and never pass Total", i, p, got[max(i-1, 0)])
		}
	}
	if last := got[len(got)-1]; last.Done != 1234 || last.Total != 1234 {
		t.Errorf("last report = %+v, want 1234 of 1234", last)
	}
}
