package sync

import "github.com/crmsync/crmsync/internal/connectors"

// entry is one buffered destination change.
type entry struct {
	ch         *change
	linked     bool // a link existed when the change was read
	consumed   bool // processed together with a source change, or drained
	superseded bool // a later page carried the same record
}

// buffer holds the destination's changes of one run while the source is processed. Memory is bounded by
// the number of changes, not the size of the object: beyond max entries only ids and keys are kept.
type buffer struct {
	byID map[string]*entry
	// pages[0] holds retried records; pages[k+1] the changes of page k, whose checkpoint is checkpoints[k].
	pages       [][]*entry
	checkpoints []connectors.Cursor
	byKey       map[string][]*entry
	final       connectors.Cursor
	kept, max   int
}

func newBuffer(max int) *buffer {
	return &buffer{byID: map[string]*entry{}, pages: [][]*entry{nil}, byKey: map[string][]*entry{}, max: max}
}

// newPage opens a page and returns its index for add.
func (b *buffer) newPage(checkpoint connectors.Cursor) int {
	b.checkpoints = append(b.checkpoints, checkpoint)
	b.pages = append(b.pages, nil)
	return len(b.checkpoints) - 1
}

// add buffers a change of page (-1 for retries). A later change of the same record supersedes the earlier.
func (b *buffer) add(ch *change, page int, linked bool) {
	if old, ok := b.byID[ch.id]; ok {
		old.superseded = true
		if old.ch.rec != nil {
			b.kept--
		}
	}
	if ch.rec != nil {
		if b.kept >= b.max {
			ch.rec, ch.evicted = nil, true
		} else {
			b.kept++
		}
	}
	e := &entry{ch: ch, linked: linked}
	b.byID[ch.id] = e
	b.pages[page+1] = append(b.pages[page+1], e)
	if !linked && !ch.deleted && ch.key != "" {
		b.byKey[ch.key] = append(b.byKey[ch.key], e)
	}
}

// take consumes the buffered change of a record, or returns nil.
func (b *buffer) take(id string) *change {
	e, ok := b.byID[id]
	if !ok || e.consumed {
		return nil
	}
	e.consumed = true
	return e.ch
}

// takeByKey consumes an unlinked live change with the match key, or returns nil.
func (b *buffer) takeByKey(key string) *change {
	for _, e := range b.byKey[key] {
		if !e.consumed && !e.superseded {
			e.consumed = true
			return e.ch
		}
	}
	return nil
}
