package sync

import (
	"fmt"

	"github.com/crmsync/crmsync/internal/state"
)

// pair is a record and its counterpart as far as this run knows them.
type pair struct {
	link  *state.Link // nil while unlinked
	isNew bool        // linked in this run by match key
	// rec holds the record of each side (by sideIndex) when in hand; changed marks those read as changes
	// of this run (or retries), as opposed to counterparts fetched for a decision.
	rec     [2]*change
	changed [2]bool
	// fromIndex is the counterpart id taken from the match index, to remove from it once linked.
	fromIndex string
	fetchErr  error
	fetchSide Owner // the side whose record fetchErr is about
	failed    bool  // a write or a conversion failed
	wrote     bool  // a write succeeded
	dirty     bool  // the link must be stored
	drop      bool  // the link must be removed
}

func sideIndex(s Owner) int {
	if s == Source {
		return 0
	}
	return 1
}

func (p *pair) get(s Owner) *change { return p.rec[sideIndex(s)] }

func (p *pair) set(s Owner, c *change, changed bool) {
	p.rec[sideIndex(s)] = c
	p.changed[sideIndex(s)] = changed
}

func (p *pair) deleted(s Owner) bool {
	c := p.get(s)
	return c != nil && c.deleted
}

func linkID(l *state.Link, s Owner) string {
	if s == Source {
		return l.SourceID
	}
	return l.DestID
}

func setLinkID(l *state.Link, s Owner, id string) {
	if s == Source {
		l.SourceID = id
	} else {
		l.DestID = id
	}
}

func linkFP(l *state.Link, s Owner) []byte {
	if s == Source {
		return l.SourceFingerprint
	}
	return l.DestFingerprint
}

func setLinkFP(l *state.Link, s Owner, fp []byte) {
	if s == Source {
		l.SourceFingerprint = fp
	} else {
		l.DestFingerprint = fp
	}
}

// processBatch links, decides, writes and commits a batch of changes of side x. When it returns nil,
// every change of the batch is committed: written and linked, skipped, or in the retry queue.
func (r *run) processBatch(x Owner, chs []*change) error {
	if len(chs) == 0 {
		return nil
	}
	chs = dedupe(chs)
	pairs, err := r.pairUp(x, chs)
	if err != nil {
		return err
	}
	if err := r.fetch(pairs); err != nil {
		return err
	}
	pl := &plan{}
	for _, p := range pairs {
		r.decide(p, pl)
	}
	err = r.apply(pl)
	r.done += int64(len(chs))
	r.report()
	return err
}

// pairUp finds each change's counterpart: through its link, else through the match key among this run's
// unlinked destination changes, else through the match index of the other side.
func (r *run) pairUp(x Owner, chs []*change) ([]*pair, error) {
	y := other(x)
	links, err := r.lookup(x, ids(chs))
	if err != nil {
		return nil, err
	}
	pairs := make([]*pair, len(chs))
	var unmatched []*pair
	for i, ch := range chs {
		p := &pair{}
		p.set(x, ch, true)
		pairs[i] = p
		if l, ok := links[ch.id]; ok {
			p.link = &l
			if y == Destination {
				if c := r.buf.take(l.DestID); c != nil {
					p.set(y, c, true)
				}
			}
			continue
		}
		if ch.deleted || ch.key == "" {
			continue
		}
		if y == Destination {
			if c := r.buf.takeByKey(ch.key); c != nil {
				p.set(y, c, true)
				p.isNew = true
				continue
			}
		}
		unmatched = append(unmatched, p)
	}
	return pairs, r.matchIndexed(x, unmatched)
}

// matchIndexed pairs unlinked records with unlinked records of the other side found in the match index.
// Index entries are verified (still unlinked, still live, same key); stale ones are removed.
func (r *run) matchIndexed(x Owner, ps []*pair) error {
	if len(ps) == 0 {
		return nil
	}
	y := other(x)
	keys := make([]string, 0, len(ps))
	for _, p := range ps {
		keys = append(keys, p.get(x).key)
	}
	found, err := r.e.store.FindUnmatched(r.ctx, r.job.Name, y, keys)
	if err != nil {
		return fmt.Errorf("find unmatched %s records: %w", y, err)
	}
	if len(found) == 0 {
		return nil
	}
	valid, stale, err := r.verifyUnmatched(y, found)
	if err != nil {
		return err
	}
	for _, p := range ps {
		key := p.get(x).key
		c, ok := valid[key]
		if !ok {
			continue
		}
		delete(valid, key)
		p.set(y, c, false)
		p.isNew = true
		p.fromIndex = c.id
	}
	if len(stale) == 0 {
		return nil
	}
	if err := r.e.store.DeleteUnmatched(r.ctx, r.job.Name, y, stale); err != nil {
		return fmt.Errorf("remove stale match index entries: %w", err)
	}
	return nil
}

// verifyUnmatched reads the candidates of the match index (key -> id) of side s and returns those that
// are live, unlinked and still carry the key, by key, and the ids of the others.
func (r *run) verifyUnmatched(s Owner, found map[string]string) (map[string]*change, []string, error) {
	cand := make([]string, 0, len(found))
	for _, id := range found {
		cand = append(cand, id)
	}
	links, err := r.lookup(s, cand)
	if err != nil {
		return nil, nil, err
	}
	var stale, unlinked []string
	for _, id := range cand {
		if _, ok := links[id]; ok {
			stale = append(stale, id)
		} else {
			unlinked = append(unlinked, id)
		}
	}
	chs, err := r.getChanges(s, unlinked)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]*change, len(chs))
	for _, c := range chs {
		byID[c.id] = c
	}
	valid := map[string]*change{}
	for key, id := range found {
		c := byID[id]
		switch {
		case c == nil:
			// Not converted: it is in the retry queue now.
		case c.deleted || c.key != key:
			stale = append(stale, id)
		default:
			valid[key] = c
		}
	}
	return valid, stale, nil
}

// fetch reads the records that decisions need but the run does not hold: evicted buffered changes, and
// the counterpart of a change whose fields owned by the other side drifted from the last sync. Two rounds,
// because an evicted change must be read before its counterpart's need is known.
func (r *run) fetch(pairs []*pair) error {
	for range 2 {
		need := map[Owner][]string{}
		for _, p := range pairs {
			for _, s := range []Owner{Source, Destination} {
				if id := r.missing(p, s); id != "" {
					need[s] = append(need[s], id)
				}
			}
		}
		for s, list := range need {
			if err := r.fetchSide(pairs, s, list); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) fetchSide(pairs []*pair, s Owner, list []string) error {
	chs, err := r.getChangesQuiet(s, list)
	if err != nil {
		return err
	}
	wanted := make(map[string]bool, len(list))
	for _, id := range list {
		wanted[id] = true
	}
	for _, p := range pairs {
		id := r.missing(p, s)
		if !wanted[id] {
			continue
		}
		if c, ok := chs[id]; ok {
			p.set(s, c, p.changed[sideIndex(s)])
			continue
		}
		// The record could not be converted; getChanges queued it for retry.
		p.fetchErr = fmt.Errorf("the %s record %s could not be converted", s, id)
		p.fetchSide = s
		p.set(s, &change{side: s, id: id}, p.changed[sideIndex(s)])
	}
	return nil
}

// missing returns the id of the side-s record that pair p needs and lacks, or "".
func (r *run) missing(p *pair, s Owner) string {
	if c := p.get(s); c != nil {
		if c.evicted {
			return c.id
		}
		return ""
	}
	o := p.get(other(s))
	if p.link == nil || o == nil || o.deleted || o.evicted || isGone(linkFP(p.link, s)) {
		return ""
	}
	g := r.lay.owned[s]
	if len(g) == 0 || sameFP(Fingerprint(o.rec, g), linkFP(p.link, s)) {
		return ""
	}
	return linkID(p.link, s)
}

// getChangesQuiet is getChanges for records that are not changes of this run: they are not counted as
// read. Records that fail to convert are absent from the result.
func (r *run) getChangesQuiet(s Owner, list []string) (map[string]*change, error) {
	read := r.counters.Read
	chs, err := r.getChanges(s, list)
	r.counters.Read = read
	if err != nil {
		return nil, err
	}
	out := make(map[string]*change, len(chs))
	for _, c := range chs {
		out[c.id] = c
	}
	return out, nil
}
