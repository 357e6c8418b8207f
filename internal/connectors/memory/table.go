package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// row is one record of the backend. A row with seq 0 was written without a change-log entry.
type row struct {
	id       string
	fields   map[string]any
	seq      uint64
	mod      time.Time
	deleted  bool
	archived bool
}

func (r *row) live() bool { return !r.deleted && !r.archived }

func (r *row) record(fields []string) connectors.Record {
	rec := connectors.Record{ID: r.id, ModifiedAt: r.mod, Deleted: !r.live()}
	if rec.Deleted {
		return rec
	}
	rec.Fields = make(map[string]any, len(r.fields))
	for k, v := range r.fields {
		if fields == nil || slices.Contains(fields, k) {
			rec.Fields[k] = v
		}
	}
	return rec
}

// logEntry is one modification in the change log; it is stale when its row was modified again later.
type logEntry struct {
	seq uint64
	id  string
	mod time.Time
}

// table is one object: its rows, its append-only change log, and the unique index of Options.UniqueField.
type table struct {
	rows   map[string]*row
	log    []logEntry
	seq    uint64
	nextID int
	unique map[string]string
}

const cursorPrefix = "seq:"

func parseCursor(c connectors.Cursor) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	s, ok := strings.CutPrefix(string(c), cursorPrefix)
	if !ok {
		return 0, fmt.Errorf("cursor %q was not issued by this connector", c)
	}
	return strconv.ParseUint(s, 10, 64)
}

func formatCursor(seq uint64) connectors.Cursor {
	return connectors.Cursor(cursorPrefix + strconv.FormatUint(seq, 10))
}

// startPos returns the log position to read from for a cursor, moved back by lookback in modification time.
func (t *table) startPos(seq uint64, lookback time.Duration) int {
	pos := sort.Search(len(t.log), func(i int) bool { return t.log[i].seq > seq })
	if lookback <= 0 || pos == 0 {
		return pos
	}
	cutoff := t.log[pos-1].mod.Add(-lookback)
	return sort.Search(pos, func(i int) bool { return !t.log[i].mod.Before(cutoff) })
}

// page reads up to n current entries from pos and returns them with the position after the last entry
// scanned.
func (t *table) page(pos, n int, fields []string) ([]connectors.Record, int) {
	var recs []connectors.Record
	for pos < len(t.log) && len(recs) < n {
		e := t.log[pos]
		pos++
		r := t.rows[e.id]
		if r == nil || r.seq != e.seq {
			continue
		}
		recs = append(recs, r.record(fields))
	}
	return recs, pos
}

// Changes implements connectors.Connector. The cursor is a position in the change log; Lookback moves the
// start back by that much modification time. Records modified while the stream is read show up again
// later in the same stream.
func (c *Connector) Changes(ctx context.Context, req connectors.ChangesRequest, yield func(connectors.Page) error) (connectors.Cursor, error) {
	seq, err := parseCursor(req.Cursor)
	if err != nil {
		return "", crmerr.Wrap(crmerr.Permanent, c.opts.Provider, "read changes", err)
	}
	size := req.PageSize
	if size <= 0 || size > c.opts.PageSize {
		size = c.opts.PageSize
	}
	c.mu.Lock()
	t := c.table(req.Object)
	pos := t.startPos(seq, req.Lookback)
	c.mu.Unlock()
	last := seq
	for {
		c.mu.Lock()
		if err := c.call(ctx, OpChanges); err != nil {
			c.mu.Unlock()
			return "", err
		}
		recs, next := t.page(pos, size, req.Fields)
		if next > pos {
			last = max(last, t.log[next-1].seq)
		}
		pos = next
		c.mu.Unlock()
		if len(recs) > 0 {
			if err := yield(connectors.Page{Records: recs, Checkpoint: formatCursor(last)}); err != nil {
				return "", err
			}
		}
		if len(recs) < size {
			return formatCursor(last), nil
		}
	}
}

// Get implements connectors.Connector: live records in request order; missing ids are omitted.
func (c *Connector) Get(ctx context.Context, object string, ids []string, fields []string) ([]connectors.Record, error) {
	var out []connectors.Record
	for _, batch := range chunks(ids, c.opts.ReadBatch) {
		c.mu.Lock()
		if err := c.call(ctx, OpGet); err != nil {
			c.mu.Unlock()
			return nil, err
		}
		t := c.table(object)
		for _, id := range batch {
			if r := t.rows[id]; r != nil && r.live() {
				out = append(out, r.record(fields))
			}
		}
		c.mu.Unlock()
	}
	return out, nil
}

// Upsert implements connectors.Connector.
func (c *Connector) Upsert(ctx context.Context, object string, records []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	results := make([]connectors.Result, 0, len(records))
	for _, batch := range chunks(records, c.opts.WriteBatch) {
		c.mu.Lock()
		if err := c.call(ctx, OpUpsert); err != nil {
			c.mu.Unlock()
			return results, err
		}
		t := c.table(object)
		for _, r := range batch {
			results = append(results, c.upsertOne(object, t, r, opts))
		}
		c.mu.Unlock()
	}
	return results, nil
}

func (c *Connector) upsertOne(object string, t *table, r connectors.Record, opts connectors.UpsertOptions) connectors.Result {
	if c.reject != nil {
		if err := c.reject(OpUpsert, object, r); err != nil {
			return connectors.Result{ID: r.ID, Err: err}
		}
	}
	id := r.ID
	if id == "" && opts.ExternalIDField != "" && c.opts.UpsertByExternalID {
		id = c.findBy(t, opts.ExternalIDField, r.Fields[opts.ExternalIDField])
	}
	if id == "" {
		if err := c.checkUnique(t, "", r.Fields); err != nil {
			return connectors.Result{Err: err}
		}
		id = c.newID(t)
		c.write(t, &row{id: id, fields: map[string]any{}}, r.Fields)
		return connectors.Result{ID: id, Created: true}
	}
	existing := t.rows[id]
	if existing == nil || !existing.live() {
		return connectors.Result{ID: id, Err: c.invalid(OpUpsert, "record %s not found", id)}
	}
	if err := c.checkUnique(t, id, r.Fields); err != nil {
		return connectors.Result{ID: id, Err: err}
	}
	c.write(t, existing, r.Fields)
	return connectors.Result{ID: id}
}

// findBy returns the id of a live record whose field equals v, or "".
func (c *Connector) findBy(t *table, field string, v any) string {
	if v == nil {
		return ""
	}
	if field == c.opts.UniqueField {
		return t.unique[uniqueKey(v)]
	}
	ids := slices.Sorted(maps.Keys(t.rows))
	for _, id := range ids {
		if r := t.rows[id]; r.live() && r.fields[field] == v {
			return id
		}
	}
	return ""
}

func uniqueKey(v any) string { return fmt.Sprint(v) }

func (c *Connector) checkUnique(t *table, id string, fields map[string]any) error {
	f := c.opts.UniqueField
	if f == "" {
		return nil
	}
	v, ok := fields[f]
	if !ok || v == nil {
		return nil
	}
	if other, taken := t.unique[uniqueKey(v)]; taken && other != id {
		return c.invalid(OpUpsert, "%s %v already exists (record %s)", f, v, other)
	}
	return nil
}

// write applies fields to r (nil clears), bumps its modification and appends to the change log.
func (c *Connector) write(t *table, r *row, fields map[string]any) {
	c.unindex(t, r)
	for k, v := range fields {
		if v == nil {
			delete(r.fields, k)
			continue
		}
		r.fields[k] = v
	}
	t.rows[r.id] = r
	c.index(t, r)
	c.touch(t, r)
}

func (c *Connector) touch(t *table, r *row) {
	t.seq++
	r.seq = t.seq
	r.mod = c.now(t)
	t.log = append(t.log, logEntry{seq: r.seq, id: r.id, mod: r.mod})
}

func (c *Connector) index(t *table, r *row) {
	f := c.opts.UniqueField
	if f == "" || !r.live() || r.fields[f] == nil {
		return
	}
	if t.unique == nil {
		t.unique = map[string]string{}
	}
	t.unique[uniqueKey(r.fields[f])] = r.id
}

func (c *Connector) unindex(t *table, r *row) {
	f := c.opts.UniqueField
	if f == "" || r.fields[f] == nil {
		return
	}
	if k := uniqueKey(r.fields[f]); t.unique[k] == r.id {
		delete(t.unique, k)
	}
}

// Delete implements connectors.Connector: a deleted record becomes a tombstone in Changes.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	return c.remove(ctx, OpDelete, object, ids, false)
}

func (c *Connector) remove(ctx context.Context, op Op, object string, ids []string, archive bool) ([]connectors.Result, error) {
	results := make([]connectors.Result, 0, len(ids))
	for _, batch := range chunks(ids, c.opts.DeleteBatch) {
		c.mu.Lock()
		if err := c.call(ctx, op); err != nil {
			c.mu.Unlock()
			return results, err
		}
		t := c.table(object)
		for _, id := range batch {
			results = append(results, c.removeOne(op, object, t, id, archive))
		}
		c.mu.Unlock()
	}
	return results, nil
}

func (c *Connector) removeOne(op Op, object string, t *table, id string, archive bool) connectors.Result {
	if c.reject != nil {
		if err := c.reject(op, object, connectors.Record{ID: id}); err != nil {
			return connectors.Result{ID: id, Err: err}
		}
	}
	r := t.rows[id]
	if r == nil || !r.live() {
		return connectors.Result{ID: id}
	}
	c.unindex(t, r)
	if archive {
		r.archived = true
	} else {
		r.deleted = true
	}
	c.touch(t, r)
	return connectors.Result{ID: id}
}

// ListIDs implements connectors.Connector: the live ids in id order, ListPage per call.
func (c *Connector) ListIDs(ctx context.Context, object string, yield func(ids []string) error) error {
	c.mu.Lock()
	t := c.table(object)
	var ids []string
	for id, r := range t.rows {
		if r.live() {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	slices.Sort(ids)
	pages := chunks(ids, c.opts.ListPage)
	if len(pages) == 0 {
		pages = [][]string{nil}
	}
	for _, page := range pages {
		c.mu.Lock()
		err := c.call(ctx, OpListIDs)
		c.mu.Unlock()
		if err != nil {
			return err
		}
		if len(page) == 0 {
			continue
		}
		if err := yield(page); err != nil {
			return err
		}
	}
	return nil
}
