package sync

import (
	"fmt"

	"github.com/crmsync/crmsync/internal/state"
)

// reconcile compares the live ids of each side with the link table: ids without a link are changes the
// streams missed and are read and processed; links whose id is no longer live are deletions the streams
// missed and are processed as tombstones. The destination goes first, so that in a OneWay job a
// destination record deleted behind our back is unlinked before the source side recreates it.
func (r *run) reconcile() error {
	r.phase = PhaseReconcile
	for _, s := range []Owner{Destination, Source} {
		if err := r.reconcileSide(s); err != nil {
			return err
		}
	}
	return nil
}

// reconcileSide holds the set of live ids of side s in memory while it runs. It deletes nothing unless
// the listing completed.
func (r *run) reconcileSide(s Owner) error {
	sd := r.job.side(s)
	live := map[string]struct{}{}
	err := r.conn[s].ListIDs(r.ctx, sd.Object, func(list []string) error {
		for _, id := range list {
			live[id] = struct{}{}
		}
		r.total += int64(len(list))
		links, err := r.lookup(s, list)
		if err != nil {
			return err
		}
		var unlinked []string
		for _, id := range list {
			if _, ok := links[id]; !ok {
				unlinked = append(unlinked, id)
			}
		}
		r.done += int64(len(list) - len(unlinked))
		chs, err := r.getChanges(s, unlinked)
		if err != nil {
			return err
		}
		return r.processChunks(s, r.fresh(chs))
	})
	if err != nil {
		return fmt.Errorf("reconcile %s ids: %w", s, err)
	}
	vanished, err := r.vanished(s, live)
	if err != nil {
		return err
	}
	r.total += int64(len(vanished))
	return r.processChunks(s, vanished)
}

// vanished returns tombstones for the linked records of side s that are not live.
func (r *run) vanished(s Owner, live map[string]struct{}) ([]*change, error) {
	var out []*change
	err := r.e.store.IterateLinks(r.ctx, r.job.Name, func(links []state.Link) error {
		for i := range links {
			l := &links[i]
			id := linkID(l, s)
			if _, ok := live[id]; ok || isGone(linkFP(l, s)) {
				continue
			}
			out = append(out, &change{side: s, id: id, deleted: true})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile %s links: %w", s, err)
	}
	r.counters.Read += int64(len(out))
	return out, nil
}
