package sync

import (
	"errors"
	"fmt"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/state"
)

var retryAt = crmerr.RetryAt

// op is one planned write of one record.
type op struct {
	target  Owner
	rec     connectors.Record // upserts
	id      string            // deletes
	create  bool
	delete  bool
	archive bool
	pair    *pair
	// blame is the record retried when the write fails.
	blame *change
	// ok runs when the write succeeded.
	ok func(connectors.Result)
	// done is set once the write has an outcome of its own: written, or failed for this record.
	done bool
}

func (o *op) kind() string {
	switch {
	case o.archive:
		return "archive"
	case o.delete:
		return "delete"
	default:
		return "upsert"
	}
}

// plan is what a batch will write and commit.
type plan struct {
	ops       []*op
	pairs     []*pair
	retries   []state.RetryItem
	indexed   map[Owner]map[string]string
	unindexed map[Owner][]string
}

func (pl *plan) add(o *op) { pl.ops = append(pl.ops, o) }

// index adds an unlinked record to the match index of its side.
func (pl *plan) index(s Owner, id, key string) {
	if key == "" {
		return
	}
	if pl.indexed == nil {
		pl.indexed = map[Owner]map[string]string{}
	}
	if pl.indexed[s] == nil {
		pl.indexed[s] = map[string]string{}
	}
	pl.indexed[s][id] = key
}

func (pl *plan) unindex(s Owner, id string) {
	if pl.unindexed == nil {
		pl.unindexed = map[Owner][]string{}
	}
	pl.unindexed[s] = append(pl.unindexed[s], id)
}

// apply performs the planned writes in the largest batches each side allows, then commits the outcome.
// A call that fails as a whole stops the writes; what succeeded before it is still committed, and the
// error is returned so that no cursor passes the unwritten rest.
func (r *run) apply(pl *plan) error {
	var stop error
	for _, g := range groupOps(pl.ops) {
		if stop = r.write(pl, g); stop != nil {
			break
		}
	}
	if stop != nil {
		// The writes left undone are repeated by the next run, which reads their changes again (no cursor
		// passes them); meanwhile their records' retry entries, if any, must stay.
		for _, o := range pl.ops {
			if !o.done {
				o.pair.failed = true
			}
		}
	}
	return errors.Join(stop, r.commit(pl))
}

// groupOps splits ops by target side and kind, keeping their order.
func groupOps(ops []*op) [][]*op {
	var groups [][]*op
	index := map[string]int{}
	for _, o := range ops {
		k := string(o.target) + "/" + o.kind()
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], o)
	}
	return groups
}

func (r *run) write(pl *plan, ops []*op) error {
	t := ops[0].target
	caps := r.conn[t].caps
	size := caps.MaxWriteBatch
	if ops[0].delete {
		size = caps.MaxDeleteBatch
	}
	if size <= 0 {
		size = len(ops)
	}
	for start := 0; start < len(ops); start += size {
		chunk := ops[start:min(start+size, len(ops))]
		results, err := r.call(chunk)
		for i, o := range chunk {
			switch {
			case i < len(results) && err != nil && errors.Is(results[i].Err, err):
				// Not written because the call failed as a whole (an outage, a cancelled run): that is not
				// the record's failure, so it is not queued for retry; the run stops and the record's
				// write is repeated with the rest.
			case i < len(results):
				r.outcome(pl, o, results[i])
			case err == nil:
				r.outcome(pl, o, connectors.Result{Err: crmerr.New(crmerr.Transient, r.conn[t].Provider(),
					o.kind(), "the connector returned no result for this record")})
			}
		}
		if err != nil {
			return fmt.Errorf("%s %d records on the %s: %w", chunk[0].kind(), len(chunk), t, err)
		}
	}
	return nil
}

func (r *run) call(chunk []*op) ([]connectors.Result, error) {
	o := chunk[0]
	c := r.conn[o.target]
	object := r.job.side(o.target).Object
	if o.delete {
		ids := make([]string, len(chunk))
		for i, x := range chunk {
			ids[i] = x.id
		}
		if o.archive {
			return c.Archive(r.ctx, object, ids)
		}
		return c.Delete(r.ctx, object, ids)
	}
	recs := make([]connectors.Record, len(chunk))
	for i, x := range chunk {
		recs[i] = x.rec
	}
	var opts connectors.UpsertOptions
	if key := r.job.side(o.target).UpsertKey; key != "" && c.caps.UpsertByExternalID {
		opts.ExternalIDField = key
	}
	return c.Upsert(r.ctx, object, recs, opts)
}

// outcome records one record's result: success updates the pair, failure queues the blamed record.
func (r *run) outcome(pl *plan, o *op, res connectors.Result) {
	o.done = true
	if res.Err != nil {
		o.pair.failed = true
		pl.retries = append(pl.retries, r.fail(o.blame.side, o.blame.id, res.Err))
		if o.create {
			pl.index(o.blame.side, o.blame.id, o.blame.key)
		}
		return
	}
	o.ok(res)
	o.pair.wrote = true
	switch {
	case o.delete:
		r.counters.Deleted++
	case o.create && res.Created:
		r.counters.Created++
	default:
		r.counters.Updated++
	}
}

// commit stores links, retries and match-index changes of a batch. It runs on a context that survives
// the run's cancellation, so that records already written are always linked.
func (r *run) commit(pl *plan) error {
	ctx, cancel := commitContext(r.ctx)
	defer cancel()
	st, job := r.e.store, r.job.Name
	var (
		upserts []state.Link
		drops   []string
		resolve = map[Owner][]string{}
	)
	for _, p := range pl.pairs {
		if p.link != nil && p.drop {
			drops = append(drops, p.link.SourceID)
		} else if p.link != nil && p.dirty {
			upserts = append(upserts, *p.link)
		}
		if r.queued && !p.failed {
			r.resolvable(p, resolve)
		}
	}
	if len(upserts) > 0 {
		if err := st.UpsertLinks(ctx, job, upserts); err != nil {
			return fmt.Errorf("store %d links: %w", len(upserts), err)
		}
	}
	if len(drops) > 0 {
		if err := st.DeleteLinks(ctx, job, drops); err != nil {
			return fmt.Errorf("delete %d links: %w", len(drops), err)
		}
	}
	if len(pl.retries) > 0 {
		if err := st.EnqueueRetry(ctx, job, pl.retries); err != nil {
			return fmt.Errorf("enqueue %d retries: %w", len(pl.retries), err)
		}
	}
	return r.commitIndex(pl, resolve)
}

// resolvable collects the records of a successful pair whose retry entries, if any, are now obsolete.
func (r *run) resolvable(p *pair, into map[Owner][]string) {
	for _, s := range []Owner{Source, Destination} {
		c := p.get(s)
		if c == nil || !p.changed[sideIndex(s)] {
			continue
		}
		if _, retried := r.attempts[s][c.id]; retried || p.wrote {
			into[s] = append(into[s], c.id)
		}
	}
}

func (r *run) commitIndex(pl *plan, resolve map[Owner][]string) error {
	ctx, cancel := commitContext(r.ctx)
	defer cancel()
	st, job := r.e.store, r.job.Name
	for _, s := range []Owner{Source, Destination} {
		if m := pl.indexed[s]; len(m) > 0 {
			if err := st.PutUnmatched(ctx, job, s, m); err != nil {
				return fmt.Errorf("index %d unmatched %s records: %w", len(m), s, err)
			}
		}
		if ids := pl.unindexed[s]; len(ids) > 0 {
			if err := st.DeleteUnmatched(ctx, job, s, ids); err != nil {
				return fmt.Errorf("remove %d %s records from the match index: %w", len(ids), s, err)
			}
		}
		if ids := resolve[s]; len(ids) > 0 {
			if err := st.ResolveRetries(ctx, job, s, ids); err != nil {
				return fmt.Errorf("resolve %d %s retries: %w", len(ids), s, err)
			}
		}
	}
	return nil
}
