package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/sync"
)

// failingCall makes the n-th Upsert call of a connector fail as a whole the way the HubSpot connector
// reports it: nothing is written, the error is returned, and every record's Result carries it.
type failingCall struct {
	connectors.Connector
	n, calls int
}

func (f *failingCall) Upsert(ctx context.Context, object string, recs []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	f.calls++
	if f.calls != f.n {
		return f.Connector.Upsert(ctx, object, recs, opts)
	}
	err := crmerr.New(crmerr.Transient, "memory", "upsert contacts", "HTTP 503")
	results := make([]connectors.Result, len(recs))
	for i := range results {
		results[i].Err = err
	}
	return results, err
}

// TestWholeCallFailureIsNotARecordFailure: records left unwritten by a call that failed as a whole (an
// outage, a cancelled run) are not failed records. They must not go to the retry queue, where their
// backoff would hold them back after the outage and repeated outages would make them dead letters: the
// run stops, and the next one writes them.
func TestWholeCallFailureIsNotARecordFailure(t *testing.T) {
	e := newEnv(t, envOptions{direction: sync.OneWay, dstOpts: memory.Options{WriteBatch: 100}})
	for i := range 300 {
		e.mustCreate(t, e.src, contact(fmt.Sprintf("u%d@x.io", i), "F", "L"))
	}
	e.job.Dest.Connector = &failingCall{Connector: e.job.Dest.Connector, n: 2}
	res, err := e.runCtx(context.Background())
	if !crmerr.Is(err, crmerr.Transient) {
		t.Fatalf("Run error = %v, want the Transient error of the failed call", err)
	}
	if res.Counters.Failed != 0 || len(res.Errors) != 0 {
		t.Errorf("the records of the failed call were counted as failed records: %+v, errors %v", res.Counters, res.Errors)
	}
	pending, dead, err := e.store.CountRetries(context.Background(), e.job.Name)
	if err != nil {
		t.Fatal(err)
	}
	if pending+dead != 0 {
		t.Errorf("the records of the failed call went to the retry queue: %d pending, %d dead", pending, dead)
	}
	// The next run writes them at once, without waiting for any backoff.
	res = e.run(t)
	if res.Counters.Created != 200 {
		t.Errorf("the run after the outage created %d records, want the 200 left", res.Counters.Created)
	}
	if got, dups := byEmail(t, e.dst, destMapper); len(got) != 300 || len(dups) > 0 {
		t.Errorf("after recovery: %d distinct emails, duplicates %v; want 300 and none", len(got), dups)
	}
}
