package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/crmerr"
)

const obj = "contacts"

// clock ticks one second per reading.
func clock() func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func newBackend(t *testing.T, n int, opts memory.Options) (*memory.Connector, []string) {
	t.Helper()
	opts.Now = clock()
	c := memory.New(opts)
	ids := make([]string, n)
	for i := range n {
		id, err := c.Create(obj, map[string]any{"email": fmt.Sprintf("u%d@x.io", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return c, ids
}

// read returns the ids of a change stream (tombstones prefixed with "-"), its checkpoints and cursor.
func read(t *testing.T, c *memory.Connector, req connectors.ChangesRequest) ([]string, []connectors.Cursor, connectors.Cursor) {
	t.Helper()
	req.Object = obj
	var ids []string
	var checkpoints []connectors.Cursor
	cur, err := c.Changes(context.Background(), req, func(p connectors.Page) error {
		for _, r := range p.Records {
			if r.Deleted {
				ids = append(ids, "-"+r.ID)
			} else {
				ids = append(ids, r.ID)
			}
		}
		checkpoints = append(checkpoints, p.Checkpoint)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, checkpoints, cur
}

func TestChangesResume(t *testing.T) {
	c, ids := newBackend(t, 5, memory.Options{PageSize: 2})
	all, checkpoints, end := read(t, c, connectors.ChangesRequest{})
	if diff := cmp.Diff(ids, all); diff != "" {
		t.Fatalf("a read from the beginning returns every record once, in modification order -want +got:\n%s", diff)
	}
	cases := map[string]struct {
		reason string
		req    connectors.ChangesRequest
		act    func()
		want   []string
	}{
		"FromCheckpoint": {
			reason: "A page checkpoint resumes after that page.",
			req:    connectors.ChangesRequest{Cursor: checkpoints[0]},
			want:   ids[2:],
		},
		"FromEnd": {
			reason: "The final cursor resumes with nothing.",
			req:    connectors.ChangesRequest{Cursor: end},
		},
		"Lookback": {
			reason: "Lookback re-reads records modified within that time before the cursor.",
			req:    connectors.ChangesRequest{Cursor: end, Lookback: 1500 * time.Millisecond},
			want:   ids[3:],
		},
		"UpdateAndDelete": {
			reason: "An update moves a record to the end; a delete shows as a tombstone.",
			req:    connectors.ChangesRequest{Cursor: end},
			act: func() {
				if err := c.Update(obj, ids[0], map[string]any{"x": 1}); err != nil {
					t.Fatal(err)
				}
				c.Remove(obj, ids[1])
			},
			want: []string{ids[0], "-" + ids[1]},
		},
	}
	for _, name := range []string{"FromCheckpoint", "FromEnd", "Lookback", "UpdateAndDelete"} {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			if tc.act != nil {
				tc.act()
			}
			got, _, _ := read(t, c, tc.req)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\n-want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestChangesStopsOnYieldError(t *testing.T) {
	c, _ := newBackend(t, 5, memory.Options{PageSize: 2})
	stop := errors.New("stop")
	cur, err := c.Changes(context.Background(), connectors.ChangesRequest{Object: obj}, func(connectors.Page) error { return stop })
	if !errors.Is(err, stop) || cur != "" {
		t.Errorf("Changes = %q, %v; want no cursor and the yield error", cur, err)
	}
}

func TestHardDeleteAndUntracked(t *testing.T) {
	c, ids := newBackend(t, 3, memory.Options{})
	_, _, end := read(t, c, connectors.ChangesRequest{})
	c.HardDelete(obj, ids[0])
	hidden, err := c.CreateUntracked(obj, map[string]any{"email": "hidden@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := read(t, c, connectors.ChangesRequest{Cursor: end}); len(got) != 0 {
		t.Errorf("hard deletes and untracked creates must be invisible to Changes, got %v", got)
	}
	var listed []string
	if err := c.ListIDs(context.Background(), obj, func(ids []string) error {
		listed = append(listed, ids...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{ids[1], ids[2], hidden}, listed); diff != "" {
		t.Errorf("ListIDs lists every live record -want +got:\n%s", diff)
	}
}

func TestBatchesAndResults(t *testing.T) {
	c, ids := newBackend(t, 250, memory.Options{ReadBatch: 100, WriteBatch: 100, DeleteBatch: 50, UniqueField: "email"})
	c.SetReject(func(op memory.Op, _ string, r connectors.Record) error {
		if r.Fields["email"] == "bad" {
			return crmerr.New(crmerr.InvalidRecord, "memory", "upsert", "bad email")
		}
		return nil
	})
	ctx := context.Background()
	if recs, err := c.Get(ctx, obj, append(ids, "missing"), nil); err != nil || len(recs) != 250 {
		t.Errorf("Get = %d records, %v; want 250 and missing ids left out", len(recs), err)
	}
	res, err := c.Upsert(ctx, obj, []connectors.Record{
		{Fields: map[string]any{"email": "new@x.io"}},
		{Fields: map[string]any{"email": "bad"}},
		{Fields: map[string]any{"email": "u0@x.io"}},
		{ID: "nope", Fields: map[string]any{"email": "n"}},
	}, connectors.UpsertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range res {
		switch {
		case r.Err == nil:
			kinds = append(kinds, fmt.Sprintf("ok created=%v", r.Created))
		default:
			kinds = append(kinds, crmerr.KindOf(r.Err).String())
		}
	}
	want := []string{"ok created=true", "InvalidRecord", "InvalidRecord", "InvalidRecord"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("one result per record, in order: a create, a rejected record, a duplicate of a unique field, "+
			"an unknown id -want +got:\n%s", diff)
	}
	if _, err := c.Delete(ctx, obj, append(ids[:120:120], "gone")); err != nil {
		t.Fatal(err)
	}
	wantCalls := map[memory.Op]int64{memory.OpGet: 3, memory.OpUpsert: 1, memory.OpDelete: 3}
	if diff := cmp.Diff(wantCalls, c.Calls()); diff != "" {
		t.Errorf("one call per batch -want +got:\n%s", diff)
	}
}

func TestUpsertByExternalID(t *testing.T) {
	c, ids := newBackend(t, 1, memory.Options{UniqueField: "email", UpsertByExternalID: true})
	res, err := c.Upsert(context.Background(), obj, []connectors.Record{{Fields: map[string]any{"email": "u0@x.io", "n": 1}}},
		connectors.UpsertOptions{ExternalIDField: "email"})
	if err != nil || res[0].Err != nil || res[0].ID != ids[0] || res[0].Created {
		t.Errorf("Upsert by external id = %+v, %v; want an update of %s", res, err, ids[0])
	}
}

func TestArchive(t *testing.T) {
	a := memory.NewArchiving(memory.Options{Now: clock()})
	id, _ := a.Create(obj, map[string]any{"email": "a@x.io"})
	if _, err := a.Archive(context.Background(), obj, []string{id}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := read(t, a.Connector, connectors.ChangesRequest{})
	if diff := cmp.Diff([]string{"-" + id}, got); diff != "" {
		t.Errorf("an archived record is a tombstone in Changes -want +got:\n%s", diff)
	}
	if diff := cmp.Diff([]string{id}, a.Archived(obj)); diff != "" || a.Len(obj) != 0 {
		t.Errorf("archived %v (-want +got: %s), live %d; want it archived and not live", a.Archived(obj), diff, a.Len(obj))
	}
}

func TestHookFailsCall(t *testing.T) {
	c, _ := newBackend(t, 1, memory.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	c.SetHook(func(context.Context, memory.Op, int64) error {
		cancel()
		return nil
	})
	_, err := c.Get(ctx, obj, []string{"m1"}, nil)
	if !errors.Is(err, context.Canceled) || !crmerr.Is(err, crmerr.Transient) {
		t.Errorf("Get after the hook cancelled = %v, want a Transient context.Canceled", err)
	}
}
