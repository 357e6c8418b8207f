package sync

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/state"
)

// change is one record read from a side, in canonical form.
type change struct {
	side    Owner
	id      string
	rec     Canonical // nil for a tombstone or an evicted record
	deleted bool
	evicted bool   // values were dropped from the buffer; read them again
	key     string // normalised match key, "" when none
	// modified is the side's modification time of the record (zero when unknown).
	modified time.Time
}

// run is the working state of one Engine.Run.
type run struct {
	e        *Engine
	ctx      context.Context
	job      *Job
	lay      layout
	progress func(Progress)
	phase    string

	conn    map[Owner]*counted
	cursor  map[Owner]connectors.Cursor
	buf     *buffer
	retried map[Owner][]*change
	// attempts holds the failed attempts of queued records, by side and id.
	attempts map[Owner]map[string]int
	// queued is true when the retry queue may hold entries that a success must resolve.
	queued bool
	// queuedAt holds when each queued record (pending or dead) last failed, by side and id.
	queuedAt map[Owner]map[string]time.Time

	calls      int64
	counters   Counters
	conflicts  []state.Conflict
	errs       []RecordError
	started    time.Time
	reconciled bool
	done       int64
	total      int64
}

func (e *Engine) newRun(ctx context.Context, job *Job, progress func(Progress)) (*run, error) {
	if job.Clock == nil {
		job.Clock = systemClock{}
	}
	if job.MaxAttempts <= 0 {
		job.MaxAttempts = DefaultMaxAttempts
	}
	lay, err := job.validate()
	if err != nil {
		return nil, err
	}
	r := &run{
		e: e, ctx: ctx, job: job, lay: lay, progress: progress,
		cursor:   map[Owner]connectors.Cursor{Source: job.Source.Cursor, Destination: job.Dest.Cursor},
		buf:      newBuffer(e.opts.MaxBuffered),
		retried:  map[Owner][]*change{},
		attempts: map[Owner]map[string]int{Source: {}, Destination: {}},
		queuedAt: map[Owner]map[string]time.Time{Source: {}, Destination: {}},
		started:  job.Clock.Now(),
	}
	r.conn = map[Owner]*counted{
		Source:      newCounted(job.Source.Connector, &r.calls),
		Destination: newCounted(job.Dest.Connector, &r.calls),
	}
	return r, nil
}

// execute runs the phases in order; each returns early on the first error that stops the run.
func (r *run) execute() error {
	steps := []func() error{r.loadRetries, r.readDest, r.processSourceRetries, r.streamSource, r.drainDest}
	if r.job.FullResync {
		steps = append(steps, r.reconcile)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("sync job %s: %w", r.job.Name, err)
		}
	}
	r.reconciled = r.job.FullResync
	return nil
}

func (r *run) result() Result {
	c := r.counters
	c.APICalls = r.calls
	return Result{
		SourceCursor: r.cursor[Source],
		DestCursor:   r.cursor[Destination],
		Counters:     c,
		Conflicts:    r.conflicts,
		Errors:       r.errs,
		Started:      r.started,
		Finished:     r.job.Clock.Now(),
		Reconciled:   r.reconciled,
	}
}

func (r *run) report() {
	if r.progress != nil {
		r.progress(Progress{Phase: r.phase, Done: r.done, Total: max(r.total, r.done)})
	}
}

func (r *run) now() time.Time { return r.job.Clock.Now() }

// loadRetries reads the due entries of the retry queue again from their sides. Records that are gone
// come back as tombstones.
func (r *run) loadRetries() error {
	r.phase = PhaseRetries
	pending, dead, err := r.e.store.CountRetries(r.ctx, r.job.Name)
	if err != nil {
		return fmt.Errorf("count retries: %w", err)
	}
	r.queued = pending+dead > 0
	if !r.queued {
		return nil
	}
	if err := r.loadQueued(); err != nil {
		return err
	}
	if pending == 0 {
		return nil
	}
	items, err := r.e.store.DueRetries(r.ctx, r.job.Name, r.now(), r.e.opts.RetryBatch)
	if err != nil {
		return fmt.Errorf("read due retries: %w", err)
	}
	bySide := map[Owner][]string{}
	for _, it := range items {
		if it.Side != Source && it.Side != Destination {
			continue
		}
		r.attempts[it.Side][it.RecordID] = it.Attempts
		bySide[it.Side] = append(bySide[it.Side], it.RecordID)
	}
	for _, s := range []Owner{Source, Destination} {
		chs, err := r.getChanges(s, bySide[s])
		if err != nil {
			return err
		}
		r.retried[s] = chs
	}
	links, err := r.lookup(Destination, ids(r.retried[Destination]))
	if err != nil {
		return err
	}
	for _, ch := range r.retried[Destination] {
		_, linked := links[ch.id]
		r.buf.add(ch, -1, linked)
	}
	return nil
}

// maxQueued bounds how many queued records a run remembers for deferral.
const maxQueued = 10_000

// loadQueued remembers when queued records (pending or dead) failed and how often, so that re-reading the
// same version through the lookback or a reconciliation does not count as another attempt, and a record
// that fails again continues its count.
func (r *run) loadQueued() error {
	far := r.now().AddDate(100, 0, 0)
	pending, err := r.e.store.DueRetries(r.ctx, r.job.Name, far, maxQueued)
	if err != nil {
		return fmt.Errorf("read the retry queue: %w", err)
	}
	dead, err := r.e.store.DeadLetters(r.ctx, r.job.Name, maxQueued)
	if err != nil {
		return fmt.Errorf("read dead letters: %w", err)
	}
	for _, it := range append(pending, dead...) {
		if m := r.queuedAt[it.Side]; m != nil {
			m[it.RecordID] = it.UpdatedAt
			r.attempts[it.Side][it.RecordID] = it.Attempts
		}
	}
	return nil
}

// fresh drops the changes of queued records that were not modified since they failed: the retry queue
// reads them again when they are due. A modification after the failure (a person fixed the record) is
// processed at once, also for a dead letter.
func (r *run) fresh(chs []*change) []*change {
	out := chs[:0]
	for _, c := range chs {
		failed, ok := r.queuedAt[c.side][c.id]
		if ok && !c.modified.After(failed) {
			r.counters.Skipped++
			continue
		}
		out = append(out, c)
	}
	return out
}

// getChanges reads records by id as changes: missing ids become tombstones and records that cannot be
// mapped go to the retry queue.
func (r *run) getChanges(s Owner, ids []string) ([]*change, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	sd := r.job.side(s)
	recs, err := r.conn[s].Get(r.ctx, sd.Object, ids, sd.Mapper.RemoteFields())
	if err != nil {
		return nil, fmt.Errorf("read %d %s records from the %s: %w", len(ids), sd.Object, s, err)
	}
	found := make(map[string]bool, len(recs))
	for _, rec := range recs {
		found[rec.ID] = true
	}
	for _, id := range ids {
		if !found[id] {
			recs = append(recs, connectors.Record{ID: id, Deleted: true})
		}
	}
	return r.mapRecords(s, recs)
}

// mapRecords converts records to changes. Records that fail to convert are enqueued for retry at once and
// left out.
func (r *run) mapRecords(s Owner, recs []connectors.Record) ([]*change, error) {
	r.counters.Read += int64(len(recs))
	out := make([]*change, 0, len(recs))
	var failed []state.RetryItem
	for _, rec := range recs {
		ch, err := r.toChange(s, rec)
		if err != nil {
			failed = append(failed, r.fail(s, rec.ID, fmt.Errorf("map %s record %s: %w", s, rec.ID, err)))
			continue
		}
		out = append(out, ch)
	}
	if len(failed) == 0 {
		return out, nil
	}
	ctx, cancel := commitContext(r.ctx)
	defer cancel()
	if err := r.e.store.EnqueueRetry(ctx, r.job.Name, failed); err != nil {
		return nil, fmt.Errorf("enqueue %d retries: %w", len(failed), err)
	}
	return out, nil
}

func (r *run) toChange(s Owner, rec connectors.Record) (*change, error) {
	if rec.Deleted {
		return &change{side: s, id: rec.ID, deleted: true, modified: rec.ModifiedAt}, nil
	}
	c, err := r.job.side(s).Mapper.ToCanonical(rec)
	if err != nil {
		return nil, err
	}
	ch := &change{side: s, id: rec.ID, rec: c, modified: rec.ModifiedAt}
	if f := r.job.Match.Field; f != "" {
		ch.key = matchKey(c[f], r.job.Match.CaseInsensitive)
	}
	return ch, nil
}

func (r *run) changesRequest(s Owner) connectors.ChangesRequest {
	sd := r.job.side(s)
	return connectors.ChangesRequest{
		Object:   sd.Object,
		Cursor:   sd.Cursor,
		Lookback: r.job.Lookback,
		Fields:   sd.Mapper.RemoteFields(),
	}
}

// readDest buffers the destination's changes, so that a record changed on both sides is seen as a pair.
// Nothing is written and no cursor moves.
func (r *run) readDest() error {
	r.phase = PhaseReadDest
	type page struct {
		checkpoint connectors.Cursor
		chs        []*change
	}
	var (
		pending []page
		n       int
	)
	flush := func() error {
		var all []*change
		for _, p := range pending {
			all = append(all, p.chs...)
		}
		links, err := r.lookup(Destination, ids(all))
		if err != nil {
			return err
		}
		for _, p := range pending {
			k := r.buf.newPage(p.checkpoint)
			for _, ch := range p.chs {
				_, linked := links[ch.id]
				r.buf.add(ch, k, linked)
			}
		}
		pending, n = pending[:0], 0
		return nil
	}
	final, err := r.conn[Destination].Changes(r.ctx, r.changesRequest(Destination), func(p connectors.Page) error {
		chs, err := r.mapRecords(Destination, p.Records)
		if err != nil {
			return err
		}
		chs = r.fresh(chs)
		pending, n = append(pending, page{p.Checkpoint, chs}), n+len(chs)
		r.total += int64(len(p.Records))
		r.report()
		if n < r.batchSize(Destination) {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("read destination changes: %w", err)
	}
	r.buf.final = final
	return nil
}

func (r *run) processSourceRetries() error {
	r.phase = PhaseRetries
	r.total += int64(len(r.retried[Source]))
	return r.processChunks(Source, r.retried[Source])
}

// streamSource processes the source's changes in batches of whole pages; the source cursor advances past
// a batch's last page once its work is committed.
func (r *run) streamSource() error {
	r.phase = PhaseSource
	var (
		pending []*change
		last    connectors.Cursor
	)
	flush := func() error {
		if err := r.processBatch(Source, pending); err != nil {
			return err
		}
		pending = pending[:0]
		if last != "" {
			r.cursor[Source] = last
		}
		return nil
	}
	final, err := r.conn[Source].Changes(r.ctx, r.changesRequest(Source), func(p connectors.Page) error {
		r.total += int64(len(p.Records))
		chs, err := r.mapRecords(Source, p.Records)
		if err != nil {
			return err
		}
		pending, last = append(pending, r.fresh(chs)...), p.Checkpoint
		if len(pending) < r.batchSize(Source) {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("process source changes: %w", err)
	}
	r.cursor[Source] = final
	return nil
}

// drainDest processes the buffered destination changes that no source change consumed, in batches of
// whole pages; the destination cursor advances past a batch's last page once its work is committed.
func (r *run) drainDest() error {
	r.phase = PhaseDest
	var pending []*change
	for k, page := range r.buf.pages {
		for _, e := range page {
			if !e.consumed && !e.superseded {
				e.consumed = true
				pending = append(pending, e.ch)
			}
		}
		if len(pending) < r.batchSize(Destination) && k < len(r.buf.pages)-1 {
			continue
		}
		if err := r.processChunks(Destination, pending); err != nil {
			return fmt.Errorf("process destination changes: %w", err)
		}
		pending = pending[:0]
		if k > 0 {
			r.cursor[Destination] = r.buf.checkpoints[k-1]
		}
	}
	r.cursor[Destination] = r.buf.final
	return nil
}

// batchSize is how many changes of side s are decided and committed together: several of the other
// side's write batches, so that state transactions stay few.
func (r *run) batchSize(s Owner) int {
	return 5 * max(r.conn[other(s)].caps.MaxWriteBatch, 100)
}

// processChunks processes changes of one side in batches of batchSize.
func (r *run) processChunks(s Owner, chs []*change) error {
	size := r.batchSize(s)
	for start := 0; start < len(chs); start += size {
		if err := r.processBatch(s, chs[start:min(start+size, len(chs))]); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) lookup(s Owner, ids []string) (map[string]state.Link, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var (
		links map[string]state.Link
		err   error
	)
	if s == Source {
		links, err = r.e.store.LookupBySource(r.ctx, r.job.Name, ids)
	} else {
		links, err = r.e.store.LookupByDest(r.ctx, r.job.Name, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("look up %d links by %s id: %w", len(ids), s, err)
	}
	return links, nil
}

func ids(chs []*change) []string {
	out := make([]string, len(chs))
	for i, c := range chs {
		out[i] = c.id
	}
	return out
}

// dedupe keeps the last change per id, in order of first appearance.
func dedupe(chs []*change) []*change {
	pos := make(map[string]int, len(chs))
	out := make([]*change, 0, len(chs))
	for _, c := range chs {
		if i, ok := pos[c.id]; ok {
			out[i] = c
			continue
		}
		pos[c.id] = len(out)
		out = append(out, c)
	}
	return out
}

// fail builds the retry entry of a failed record and counts it.
func (r *run) fail(s Owner, id string, err error) state.RetryItem {
	attempts := r.attempts[s][id] + 1
	next := r.now().Add(r.e.opts.Backoff(attempts))
	if at, ok := retryAt(err); ok && at.After(next) {
		next = at
	}
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	r.counters.Failed++
	r.errs = append(r.errs, RecordError{Side: s, ID: id, Err: msg})
	if len(r.errs) > MaxRecordErrors {
		r.errs = slices.Delete(r.errs, 0, len(r.errs)-MaxRecordErrors)
	}
	r.queued = true
	r.queuedAt[s][id] = r.now()
	return state.RetryItem{
		Side: s, RecordID: id, NextAttempt: next, LastError: msg,
		DeadLetter: attempts >= r.job.MaxAttempts,
	}
}
