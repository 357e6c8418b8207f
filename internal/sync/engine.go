package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/state"
)

// Options tune an Engine. Zero values take the defaults.
type Options struct {
	// MaxBuffered bounds how many changed destination records keep their values in memory while the
	// source is read (default 50,000); beyond it only ids and keys are kept and values are read again
	// with Get when needed.
	MaxBuffered int
	// RetryBatch is how many due retries a run takes (default 1,000).
	RetryBatch int
	// Backoff returns the delay before attempt n+1 after n failed attempts (default: 1 minute doubling
	// up to 6 hours).
	Backoff func(attempts int) time.Duration
}

// Engine runs sync jobs. It holds no per-job state: it is safe to run many different jobs at once, but
// only one run of the same job at a time (the controller's duty).
type Engine struct {
	store StateStore
	opts  Options
}

// New returns an engine over store.
func New(store StateStore, opts Options) *Engine {
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = 50_000
	}
	if opts.RetryBatch <= 0 {
		opts.RetryBatch = 1_000
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	return &Engine{store: store, opts: opts}
}

// DefaultBackoff waits one minute after the first failure and doubles up to six hours.
func DefaultBackoff(attempts int) time.Duration {
	const (
		base = time.Minute
		ceil = 6 * time.Hour
	)
	d := base
	for i := 1; i < attempts && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

// Counters are the totals of one run. Writes are counted per record and side.
type Counters struct {
	Read      int64 // changes read from both sides, retries and reconciliation included
	Created   int64 // records created
	Updated   int64 // records updated
	Deleted   int64 // records deleted or archived
	Skipped   int64 // changes that needed no write (unchanged fingerprint, echoes, ignored deletes)
	Failed    int64 // records that failed and went to the retry queue
	Conflicts int64 // fields changed on both sides; the owner won
	APICalls  int64 // API calls made on both sides
}

// RecordError is one failed record.
type RecordError struct {
	Side Owner
	ID   string
	Err  string
}

// Result is what a run did. Its cursors are always safe to persist, also when Run returns an error: they
// never pass work that was not committed.
type Result struct {
	SourceCursor, DestCursor connectors.Cursor
	Counters                 Counters
	// Conflicts are the first state.MaxConflictsPerRun conflicts; Counters.Conflicts counts them all.
	Conflicts []state.Conflict
	// Errors are the last MaxRecordErrors failed records.
	Errors            []RecordError
	Started, Finished time.Time
	// Reconciled is true when a full reconciliation ran to the end.
	Reconciled bool
}

// MaxRecordErrors is how many failed records a Result keeps.
const MaxRecordErrors = 10

// Progress reports a run's advance: Done records processed of an estimated Total (the changes read so
// far, which grows while the run reads).
type Progress struct {
	Phase       string
	Done, Total int64
}

// The phases of a run, as Progress reports them.
const (
	PhaseRetries   = "Retries"
	PhaseReadDest  = "ReadDestination"
	PhaseSource    = "Source"
	PhaseDest      = "Destination"
	PhaseReconcile = "Reconcile"
)

// Run performs one run of job: it retries due failures, reads and applies both sides' changes, and
// reconciles ids when job.FullResync is set; then it records the run in the store's history.
//
// Delivery is at least once: a run that stops early (error, cancelled ctx) returns cursors that repeat
// the uncommitted work next time, and repeating it is harmless because every write is decided by
// fingerprints and links. Records that fail alone go to the retry queue and never stop the run; a
// failure of a whole call (outage, auth, rate limit) or of the store stops it.
func (e *Engine) Run(ctx context.Context, job Job, progress func(Progress)) (Result, error) {
	r, err := e.newRun(ctx, &job, progress)
	if err != nil {
		return Result{SourceCursor: job.Source.Cursor, DestCursor: job.Dest.Cursor}, err
	}
	err = r.execute()
	res := r.result()
	if rerr := e.record(ctx, &job, res, err); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return res, err
}

func (e *Engine) record(ctx context.Context, job *Job, res Result, runErr error) error {
	rec := state.RunRecord{
		Started:  res.Started,
		Finished: res.Finished,
		Counters: state.RunCounters{
			Read: res.Counters.Read, Created: res.Counters.Created, Updated: res.Counters.Updated,
			Deleted: res.Counters.Deleted, Skipped: res.Counters.Skipped, Failed: res.Counters.Failed,
			Conflicts: res.Counters.Conflicts,
		},
		Conflicts: res.Conflicts,
	}
	if runErr != nil {
		rec.Error = runErr.Error()
	}
	ctx, cancel := commitContext(ctx)
	defer cancel()
	if _, err := e.store.RecordRun(ctx, job.Name, rec); err != nil {
		return fmt.Errorf("sync job %s: record the run in the history: %w", job.Name, err)
	}
	return nil
}

// commitContext returns a context for writing state after work is done: it survives cancellation of the
// run, so that records already written are linked, but is bounded in time.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
}
