package sync_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/sync"
)

// rejectEmail makes a backend refuse writes of records with the email (in remote field field).
func rejectEmail(field, email string) memory.Reject {
	return func(op memory.Op, _ string, r connectors.Record) error {
		if op == memory.OpUpsert && r.Fields[field] == email {
			return crmerr.New(crmerr.InvalidRecord, "memory", "upsert contacts", "INVALID_EMAIL: rejected")
		}
		return nil
	}
}

func TestPartialFailureRetriesAndDeadLetters(t *testing.T) {
	type step struct {
		advance time.Duration // clock moves before the run
		fixed   bool          // the destination accepts the record from this run on
	}
	type want struct {
		Created, Failed int64
		Queue           []state.RetryItem
	}
	cases := map[string]struct {
		reason string
		steps  []step
		want   []want
	}{
		"RetrySucceedsAfterFix": {
			reason: "A rejected record waits for its backoff, is read again and written once the destination accepts it.",
			steps:  []step{{}, {advance: 30 * time.Second, fixed: true}, {advance: time.Minute}},
			want: []want{
				{Created: 4, Failed: 1, Queue: []state.RetryItem{{Side: sync.Source, Attempts: 1}}},
				{Queue: []state.RetryItem{{Side: sync.Source, Attempts: 1}}}, // not due yet
				{Created: 1},
			},
		},
		"DeadLetterAfterMaxAttempts": {
			reason: "A record that keeps failing becomes a dead letter after MaxAttempts (3) and is not retried again.",
			steps:  []step{{}, {advance: time.Minute}, {advance: 2 * time.Minute}, {advance: 24 * time.Hour}},
			want: []want{
				{Created: 4, Failed: 1, Queue: []state.RetryItem{{Side: sync.Source, Attempts: 1}}},
				{Failed: 1, Queue: []state.RetryItem{{Side: sync.Source, Attempts: 2}}},
				{Failed: 1, Queue: []state.RetryItem{{Side: sync.Source, Attempts: 3, DeadLetter: true}}},
				{Queue: []state.RetryItem{{Side: sync.Source, Attempts: 3, DeadLetter: true}}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: sync.OneWay})
			for i := range 4 {
				e.mustCreate(t, e.src, contact(fmt.Sprintf("ok%d@x.io", i), "F", "L"))
			}
			bad := e.mustCreate(t, e.src, contact("bad@x.io", "F", "L"))
			e.dst.SetReject(rejectEmail("email", "bad@x.io"))
			for i, s := range tc.steps {
				e.clock.Advance(s.advance)
				if s.fixed {
					e.dst.SetReject(nil)
				}
				res := e.run(t)
				got := want{Created: res.Counters.Created, Failed: res.Counters.Failed, Queue: e.mem.retryItems(e.job.Name)}
				w := tc.want[i]
				for j := range w.Queue {
					w.Queue[j].RecordID = bad
				}
				opts := cmpopts.IgnoreFields(state.RetryItem{}, "NextAttempt", "LastError", "UpdatedAt")
				if diff := cmp.Diff(w, got, opts, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s\nrun %d -want +got:\n%s", tc.reason, i+1, diff)
				}
			}
		})
	}
}

func TestFailedRecordErrorIsReported(t *testing.T) {
	e := newEnv(t, envOptions{direction: sync.OneWay})
	id := e.mustCreate(t, e.src, contact("bad@x.io", "F", "L"))
	e.dst.SetReject(rejectEmail("email", "bad@x.io"))
	res := e.run(t)
	want := []sync.RecordError{{Side: sync.Source, ID: id, Err: "memory: upsert contacts: INVALID_EMAIL: rejected"}}
	if diff := cmp.Diff(want, res.Errors); diff != "" {
		t.Errorf("Result.Errors -want +got:\n%s", diff)
	}
}

func TestWholeBatchFailureKeepsCursor(t *testing.T) {
	cases := map[string]struct {
		reason     string
		failCall   int64
		wantCursor func(e *env, res sync.Result) bool
		wantDest   int
	}{
		"FirstBatch": {
			reason:     "When the first write call fails as a whole, nothing was committed and the cursor must not move.",
			failCall:   1,
			wantCursor: func(_ *env, res sync.Result) bool { return res.SourceCursor == "" },
		},
		"WithinFirstBatch": {
			reason: "When a later write call of the first batch fails, the records written before it are kept, but " +
				"the cursor must not move past the unfinished batch.",
			failCall:   3,
			wantCursor: func(_ *env, res sync.Result) bool { return res.SourceCursor == "" },
			wantDest:   200,
		},
		"SecondBatch": {
			reason:   "When a write call of the second batch (of 500) fails, the cursor may pass the first batch only.",
			failCall: 7,
			wantCursor: func(e *env, res sync.Result) bool {
				return res.SourceCursor != "" && res.SourceCursor != e.src.Head("contacts")
			},
			wantDest: 600,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: sync.OneWay})
			for i := range 1200 {
				e.mustCreate(t, e.src, contact(fmt.Sprintf("u%d@x.io", i), "F", "L"))
			}
			e.dst.SetHook(func(_ context.Context, op memory.Op, call int64) error {
				if op == memory.OpUpsert && call == tc.failCall {
					return crmerr.New(crmerr.Transient, "memory", "upsert contacts", "HTTP 503")
				}
				return nil
			})
			res, err := e.runCtx(context.Background())
			if !crmerr.Is(err, crmerr.Transient) {
				t.Fatalf("%s\nRun error = %v, want the Transient error of the failed call", tc.reason, err)
			}
			if !tc.wantCursor(e, res) || res.DestCursor != "" {
				t.Errorf("%s\ncursors after the failure: source %q, destination %q", tc.reason, res.SourceCursor, res.DestCursor)
			}
			if n := e.dst.Len("contacts"); n != tc.wantDest {
				t.Errorf("%s\ndestination has %d records, want %d", tc.reason, n, tc.wantDest)
			}
			e.dst.SetHook(nil)
			e.settle(t, 3)
			got, dups := byEmail(t, e.dst, destMapper)
			if len(got) != 1200 || len(dups) > 0 {
				t.Errorf("%s\nafter recovery: %d distinct emails, duplicates %v; want 1200 and none", tc.reason, len(got), dups)
			}
		})
	}
}

// crashingStore fails UpsertLinks once, on its n-th call: the writes of that batch are done but their
// links are lost, as when the process dies between the two.
type crashingStore struct {
	sync.StateStore
	n, calls int
}

func (s *crashingStore) UpsertLinks(ctx context.Context, job string, links []state.Link) error {
	s.calls++
	if s.calls == s.n {
		return errors.New("state store went away")
	}
	return s.StateStore.UpsertLinks(ctx, job, links)
}

func TestCrashBetweenWriteAndLinkCreatesNoDuplicates(t *testing.T) {
	for _, dir := range []sync.Direction{sync.OneWay, sync.TwoWay} {
		t.Run(string(dir), func(t *testing.T) {
			store := &crashingStore{StateStore: newMemStore(), n: 2}
			e := newEnv(t, envOptions{direction: dir, store: store})
			for i := range 1200 {
				e.mustCreate(t, e.src, contact(fmt.Sprintf("u%d@x.io", i), "F", "L"))
			}
			if _, err := e.runCtx(context.Background()); err == nil {
				t.Fatal("Run succeeded although the store failed")
			}
			if n := e.dst.Len("contacts"); n != 1000 {
				t.Fatalf("destination has %d records after the crash, want 1000 (two batches written)", n)
			}
			e.settle(t, 3)
			got, dups := byEmail(t, e.dst, destMapper)
			if len(got) != 1200 || len(dups) > 0 {
				t.Errorf("after the rerun: %d distinct emails, duplicates %v; want 1200 and none", len(got), dups)
			}
			if n := e.src.Len("contacts"); n != 1200 {
				t.Errorf("source has %d records, want 1200", n)
			}
		})
	}
}

func TestMatchIndexLinksLateCounterparts(t *testing.T) {
	cases := map[string]struct {
		reason    string
		direction sync.Direction
		setup     func(t *testing.T, e *env)
	}{
		"OneWayDestinationFirst": {
			reason:    "A destination record created by hand is indexed; a later source record with its email is linked to it.",
			direction: sync.OneWay,
			setup: func(t *testing.T, e *env) {
				e.mustCreate(t, e.dst, map[string]any{"email": "late@x.io", "first_name": "Hand"})
			},
		},
		"TwoWayFailedCreate": {
			reason:    "A destination record whose create on the source failed waits in the index for the source's own record.",
			direction: sync.TwoWay,
			setup: func(t *testing.T, e *env) {
				e.src.SetReject(rejectEmail("Email", "late@x.io"))
				e.mustCreate(t, e.dst, map[string]any{"email": "late@x.io", "first_name": "Hand"})
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: tc.direction})
			e.mustCreate(t, e.src, contact("a@x.io", "A", "A"))
			e.run(t)
			tc.setup(t, e)
			e.run(t)
			e.run(t)
			e.src.SetReject(nil)
			e.mustCreate(t, e.src, contact("LATE@x.io", "Src", "Late"))
			e.settle(t, 3)
			_, dups := byEmail(t, e.dst, destMapper)
			_, srcDups := byEmail(t, e.src, sourceMapper)
			if len(dups)+len(srcDups) > 0 || e.dst.Len("contacts") != 2 {
				t.Errorf("%s\nduplicates: destination %v, source %v; destination has %d records, want 2",
					tc.reason, dups, srcDups, e.dst.Len("contacts"))
			}
			id := findByEmail(t, e.dst, destMapper, "late@x.io")
			got, _ := e.dst.Record("contacts", id)
			if got["first_name"] != "Src" {
				t.Errorf("%s\nthe linked destination record has first_name %v, want the source's Src", tc.reason, got["first_name"])
			}
		})
	}
}

func TestOneWayOverwritesDestinationEdits(t *testing.T) {
	e := newEnv(t, envOptions{direction: sync.OneWay})
	e.mustCreate(t, e.src, contact("a@x.io", "Ann", "Lee"))
	e.settle(t, 3)
	id := findByEmail(t, e.dst, destMapper, "a@x.io")
	e.mustUpdate(t, e.dst, id, map[string]any{"first_name": "Edited", "extra": "kept"})
	e.settle(t, 3)
	got, _ := e.dst.Record("contacts", id)
	want := map[string]any{"email": "a@x.io", "first_name": "Ann", "last_name": "Lee", "extra": "kept"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a OneWay destination mirrors the source's mapped fields -want +got:\n%s", diff)
	}
}

func TestConcurrentJobs(t *testing.T) {
	store := newMemStore()
	envs := make([]*env, 4)
	for i := range envs {
		envs[i] = newEnv(t, envOptions{store: store})
		envs[i].job.Name = fmt.Sprintf("ns/job%d", i)
		for j := range 300 {
			envs[i].mustCreate(t, envs[i].src, contact(fmt.Sprintf("u%d@x.io", j), "F", "L"))
		}
	}
	errs := make(chan error, len(envs))
	for _, e := range envs {
		go func() {
			_, err := e.runCtx(context.Background())
			errs <- err
		}()
	}
	for range envs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range envs {
		if n := store.linkCount(e.job.Name); n != 300 || e.dst.Len("contacts") != 300 {
			t.Errorf("job %d: %d links and %d destination records, want 300 each", i, n, e.dst.Len("contacts"))
		}
	}
}

func TestDeadLetterRevivedByEdit(t *testing.T) {
	e := newEnv(t, envOptions{direction: sync.OneWay})
	id := e.mustCreate(t, e.src, contact("bad@x.io", "F", "L"))
	e.dst.SetReject(rejectEmail("email", "bad@x.io"))
	for range 3 {
		e.run(t)
		e.clock.Advance(time.Hour)
	}
	if q := e.mem.retryItems(e.job.Name); len(q) != 1 || !q[0].DeadLetter {
		t.Fatalf("retry queue = %+v, want one dead letter", q)
	}
	e.dst.SetReject(nil)
	e.mustUpdate(t, e.src, id, map[string]any{"FirstName": "Fixed"})
	res := e.run(t)
	if res.Counters.Created != 1 || len(e.mem.retryItems(e.job.Name)) != 0 {
		t.Errorf("after the record was edited: created %d, queue %+v; want it written at once and resolved",
			res.Counters.Created, e.mem.retryItems(e.job.Name))
	}
}
