package sync

import (
	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/state"
)

// decide plans what a pair needs: a create, field writes by ownership, a delete, or nothing.
func (r *run) decide(p *pair, pl *plan) {
	pl.pairs = append(pl.pairs, p)
	before := len(pl.ops)
	switch {
	case p.fetchErr != nil:
		r.failPair(p, pl, p.fetchErr)
	case p.isNew:
		r.linkNew(p, pl)
	case p.link == nil:
		r.decideUnlinked(p, pl)
	case p.deleted(Source) || p.deleted(Destination):
		r.decideDelete(p, pl)
	case r.counterpartGone(p):
	default:
		r.syncGroup(p, Source, pl)
		r.syncGroup(p, Destination, pl)
	}
	if len(pl.ops) == before && !p.failed {
		r.counters.Skipped++
	}
}

// failPair queues the changed records of a pair that cannot be decided.
func (r *run) failPair(p *pair, pl *plan, err error) {
	p.failed = true
	for _, s := range []Owner{Source, Destination} {
		if c := p.get(s); c != nil && p.changed[sideIndex(s)] && !(p.fetchErr != nil && s == p.fetchSide) {
			pl.retries = append(pl.retries, r.fail(s, c.id, err))
		}
	}
}

// counterpartGone reports whether the side not in hand was deleted under the Ignore policy: the survivor's
// changes then go nowhere.
func (r *run) counterpartGone(p *pair) bool {
	for _, s := range []Owner{Source, Destination} {
		if p.get(s) == nil && isGone(linkFP(p.link, s)) {
			return true
		}
	}
	return false
}

// linkNew links two records matched by key and makes their fields agree by ownership. First contact is
// not a conflict.
func (r *run) linkNew(p *pair, pl *plan) {
	p.link = &state.Link{SourceID: p.get(Source).id, DestID: p.get(Destination).id}
	p.dirty = true
	if p.fromIndex != "" {
		s := Source
		if p.get(Destination).id == p.fromIndex {
			s = Destination
		}
		pl.unindex(s, p.fromIndex)
	}
	r.syncGroup(p, Source, pl)
	r.syncGroup(p, Destination, pl)
}

// decideUnlinked creates the counterpart of a record seen for the first time, where the direction allows;
// otherwise it indexes the record by match key for a counterpart that may come later.
func (r *run) decideUnlinked(p *pair, pl *plan) {
	x := Source
	if p.get(x) == nil {
		x = Destination
	}
	c := p.get(x)
	if c.deleted {
		return
	}
	if !r.job.canCreateOn(other(x)) {
		pl.index(x, c.id, c.key)
		return
	}
	r.create(p, x, pl)
}

// create plans the creation of x's record on the other side with every synced field that has a value and
// that side can write.
func (r *run) create(p *pair, x Owner, pl *plan) {
	y := other(x)
	c := p.get(x)
	var fields []string
	for _, f := range r.lay.fields {
		if !sameValue(c.rec[f], nil) && !readOnly(r.job.side(y).Mapper, f) {
			fields = append(fields, f)
		}
	}
	remote, err := r.toRemote(y, c.rec, fields)
	if err != nil {
		p.failed = true
		pl.retries = append(pl.retries, r.fail(x, c.id, err))
		pl.index(x, c.id, c.key)
		return
	}
	fx, fy := Fingerprint(c.rec, r.lay.owned[x]), Fingerprint(c.rec, r.lay.owned[y])
	pl.add(&op{target: y, rec: connectors.Record{Fields: remote}, create: true, pair: p, blame: c,
		ok: func(res connectors.Result) {
			l := &state.Link{}
			setLinkID(l, x, c.id)
			setLinkID(l, y, res.ID)
			setLinkFP(l, x, fx)
			setLinkFP(l, y, fy)
			p.link, p.dirty = l, true
		}})
}

// syncGroup makes the fields owned by side o agree on the other side n, writing only what differs.
//
// The link's fingerprint for o is the group as both sides last agreed on it. The owner's record differing
// from it means the owner changed; the other side's record differing from it means a non-owner edit (or
// a change not synced yet), which the owner's value overwrites. Both differing is a conflict on each
// field whose values differ; the owner wins.
func (r *run) syncGroup(p *pair, o Owner, pl *plan) {
	g := r.lay.owned[o]
	oc, nc := p.get(o), p.get(other(o))
	if len(g) == 0 || oc == nil {
		return
	}
	base := linkFP(p.link, o)
	fo := Fingerprint(oc.rec, g)
	if nc == nil {
		if !sameFP(fo, base) {
			r.push(p, pl, o, g, fo, oc)
		}
		return
	}
	fn := Fingerprint(nc.rec, g)
	if sameFP(fo, fn) {
		if !sameFP(fo, base) {
			setLinkFP(p.link, o, fo)
			p.dirty = true
		}
		return
	}
	diff := differing(oc.rec, nc.rec, g)
	ownerChanged, otherChanged := !sameFP(fo, base), !sameFP(fn, base)
	if !p.isNew && ownerChanged && otherChanged {
		r.conflict(p, o, diff)
	}
	blame := oc
	if !ownerChanged {
		blame = nc // a non-owner edit to undo: retrying the owner record would find nothing to do
	}
	r.push(p, pl, o, diff, fo, blame)
}

// push plans the write of o's values of fields to the other side; on success the link records fp.
func (r *run) push(p *pair, pl *plan, o Owner, fields []string, fp []byte, blame *change) {
	n := other(o)
	remote, err := r.toRemote(n, p.get(o).rec, fields)
	if err != nil {
		p.failed = true
		pl.retries = append(pl.retries, r.fail(blame.side, blame.id, err))
		return
	}
	pl.add(&op{target: n, rec: connectors.Record{ID: linkID(p.link, n), Fields: remote}, pair: p, blame: blame,
		ok: func(connectors.Result) {
			setLinkFP(p.link, o, fp)
			p.dirty = true
		}})
}

// toRemote converts exactly fields of c for side s; absent fields are written as null, so that the
// write makes the side agree with the fingerprint.
func (r *run) toRemote(s Owner, c Canonical, fields []string) (map[string]any, error) {
	sub := make(Canonical, len(fields))
	for _, f := range fields {
		sub[f] = c[f]
	}
	return r.job.side(s).Mapper.ToRemote(sub, fields)
}

func differing(a, b Canonical, fields []string) []string {
	var out []string
	for _, f := range fields {
		if !sameValue(a[f], b[f]) {
			out = append(out, f)
		}
	}
	return out
}

func (r *run) conflict(p *pair, winner Owner, fields []string) {
	src, dst := p.get(Source), p.get(Destination)
	for _, f := range fields {
		r.counters.Conflicts++
		if len(r.conflicts) >= state.MaxConflictsPerRun {
			continue
		}
		r.conflicts = append(r.conflicts, state.Conflict{
			SourceID: src.id, DestID: dst.id, Field: f, Winner: winner,
			SourceValue: display(src.rec[f]), DestValue: display(dst.rec[f]), At: r.now(),
		})
	}
}

// decideDelete applies the delete policy to the counterpart of a deleted record.
func (r *run) decideDelete(p *pair, pl *plan) {
	x := Source
	if !p.deleted(Source) {
		x = Destination
	}
	y := other(x)
	switch {
	case p.deleted(y), isGone(linkFP(p.link, y)), !r.job.propagatesFrom(x):
		// Both sides are gone, or this direction does not carry deletes: forget the link.
		p.drop = true
	case isGone(linkFP(p.link, x)):
		// Already ignored.
	case r.job.DeletePolicy == Ignore:
		setLinkFP(p.link, x, gone)
		p.dirty = true
	default:
		archive := r.job.DeletePolicy == Archive && r.conn[y].arch != nil
		pl.add(&op{target: y, delete: true, archive: archive, id: linkID(p.link, y), pair: p, blame: p.get(x),
			ok: func(connectors.Result) { p.drop = true }})
	}
}
