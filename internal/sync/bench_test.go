package sync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/sync"
)

// BenchmarkEngineInitialSync measures an initial sync of 20,000 source contacts between in-memory backends
// with HubSpot-sized batches (100 per page and per write), with the SQLite state store and with the
// in-memory one. TwoWay adds 20,000 destination contacts, half of them the same people. records/s counts
// the distinct people synced (the source's records at the end).
func BenchmarkEngineInitialSync(b *testing.B) {
	const n = 20_000
	for _, bc := range []struct {
		name      string
		direction sync.Direction
		sqlite    bool
	}{
		{"OneWay/sqlite", sync.OneWay, true},
		{"TwoWay/sqlite", sync.TwoWay, true},
		{"OneWay/memory", sync.OneWay, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var elapsed time.Duration
			var calls, records int64
			for range b.N {
				b.StopTimer()
				o := envOptions{direction: bc.direction}
				if bc.sqlite {
					o.store = openSQLite(b)
				}
				e := newEnv(b, o)
				seed(b, e, n, bc.direction == sync.TwoWay)
				b.StartTimer()
				start := time.Now()
				res := e.run(b)
				elapsed += time.Since(start)
				calls += res.Counters.APICalls
				records += int64(e.src.Len("contacts"))
				if got := e.dst.Len("contacts"); got < n {
					b.Fatalf("destination has %d records, want at least %d", got, n)
				}
			}
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(calls)/float64(b.N), "calls/run")
		})
	}
}

// seed fills the source with n contacts; with both, the destination gets n contacts too, half of them the
// same people.
func seed(tb testing.TB, e *env, n int, both bool) {
	tb.Helper()
	for i := range n {
		e.mustCreate(tb, e.src, map[string]any{"Email": fmt.Sprintf("u%d@x.io", i), "FirstName": "F", "LastName": fmt.Sprint(i)})
		if both {
			e.mustCreate(tb, e.dst, map[string]any{"email": fmt.Sprintf("U%d@X.IO", i+n/2), "phone": fmt.Sprint(i)})
		}
	}
}

// BenchmarkIncremental1M100 runs incremental syncs over 1,000,000 linked contacts of which 100 changed
// since the last run. API calls must depend on the 100 changes, not on the million; ms/run shows whether
// the state store's lookups do too.
func BenchmarkIncremental1M100(b *testing.B) {
	for _, name := range []string{"sqlite", "memory"} {
		b.Run(name, func(b *testing.B) {
			var store sync.StateStore = newMemStore()
			if name == "sqlite" {
				store = openSQLite(b)
			}
			benchIncremental(b, store, 1_000_000, 100)
		})
	}
}

func benchIncremental(b *testing.B, store sync.StateStore, total, changed int) {
	e := newEnv(b, envOptions{direction: sync.OneWay, store: store})
	preSynced(b, e, store, total)
	var calls, writes int64
	var elapsed time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := range changed {
			id := fmt.Sprintf("s%d", 1+(i*changed+j*9973)%total)
			e.mustUpdate(b, e.src, id, map[string]any{"LastName": fmt.Sprintf("round %d", i)})
		}
		e.src.ResetCalls()
		e.dst.ResetCalls()
		b.StartTimer()
		start := time.Now()
		res := e.run(b)
		elapsed += time.Since(start)
		calls += e.src.APICalls() + e.dst.APICalls()
		writes += res.Counters.Updated
		if res.Counters.Updated != int64(changed) {
			b.Fatalf("run %d updated %d records, want %d", i, res.Counters.Updated, changed)
		}
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/run")
	b.ReportMetric(float64(writes)/float64(b.N), "updates/run")
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/run")
}

// preSynced builds total contacts on both sides that are already linked with current fingerprints, and
// cursors at the end of both change streams, as a finished initial sync leaves them.
func preSynced(b *testing.B, e *env, store sync.StateStore, total int) {
	b.Helper()
	ctx := context.Background()
	fields := []string{"email", "first", "last", "phone", "score", "title"}
	batch := make([]state.Link, 0, 10_000)
	for i := range total {
		email := fmt.Sprintf("u%d@x.io", i)
		sid := e.mustCreate(b, e.src, map[string]any{"Email": email, "LastName": "L"})
		did := e.mustCreate(b, e.dst, map[string]any{"email": email, "last_name": "L"})
		c, err := sourceMapper.ToCanonical(connectors.Record{Fields: map[string]any{"Email": email, "LastName": "L"}})
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, state.Link{SourceID: sid, DestID: did, SourceFingerprint: sync.Fingerprint(c, fields)})
		if len(batch) == cap(batch) || i == total-1 {
			if err := store.UpsertLinks(ctx, e.job.Name, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	e.job.Source.Cursor, e.job.Dest.Cursor = e.src.Head("contacts"), e.dst.Head("contacts")
}
