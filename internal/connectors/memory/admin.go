package memory

import (
	"fmt"
	"maps"
	"slices"

	"github.com/crmsync/crmsync/internal/connectors"
)

// The methods below act on the backend directly, as a person using the CRM would. They are not API calls:
// they are neither counted nor hooked, and Reject does not apply.

// Create inserts a record, as created in the CRM's UI, and returns its id.
func (c *Connector) Create(object string, fields map[string]any) (string, error) {
	return c.create(object, fields, true)
}

// CreateUntracked inserts a record that Changes never reports (until it is modified again), like a bulk
// import that bypasses the change log. Only ListIDs and Get see it.
func (c *Connector) CreateUntracked(object string, fields map[string]any) (string, error) {
	return c.create(object, fields, false)
}

func (c *Connector) create(object string, fields map[string]any, tracked bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.table(object)
	if err := c.checkUnique(t, "", fields); err != nil {
		return "", err
	}
	r := &row{id: c.newID(t), fields: map[string]any{}}
	if tracked {
		c.write(t, r, fields)
		return r.id, nil
	}
	maps.Copy(r.fields, fields)
	r.mod = c.now(t)
	t.rows[r.id] = r
	c.index(t, r)
	return r.id, nil
}

// Update changes fields of a live record (nil clears a field) and bumps its modification.
func (c *Connector) Update(object, id string, fields map[string]any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.table(object)
	r := t.rows[id]
	if r == nil || !r.live() {
		return fmt.Errorf("memory: update %s %s: no such live record", object, id)
	}
	if err := c.checkUnique(t, id, fields); err != nil {
		return err
	}
	c.write(t, r, fields)
	return nil
}

// Remove deletes a record so that Changes reports a tombstone.
func (c *Connector) Remove(object, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeOne(OpDelete, object, c.table(object), id, false)
}

// HardDelete removes a record without a trace in Changes, as a purge or a hard delete that a
// modified-since poll cannot see. Only ListIDs reveals it.
func (c *Connector) HardDelete(object, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.table(object)
	if r := t.rows[id]; r != nil {
		c.unindex(t, r)
		delete(t.rows, id)
	}
}

// Snapshot returns a copy of every live record: id -> fields.
func (c *Connector) Snapshot(object string) map[string]map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]any{}
	for id, r := range c.table(object).rows {
		if r.live() {
			out[id] = maps.Clone(r.fields)
		}
	}
	return out
}

// Record returns a copy of one live record.
func (c *Connector) Record(object, id string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.table(object).rows[id]
	if r == nil || !r.live() {
		return nil, false
	}
	return maps.Clone(r.fields), true
}

// Archived returns the ids of archived records, sorted.
func (c *Connector) Archived(object string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id, r := range c.table(object).rows {
		if r.archived {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Len returns the number of live records.
func (c *Connector) Len(object string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.table(object).rows {
		if r.live() {
			n++
		}
	}
	return n
}

// Head returns the cursor at the end of the change log: reading from it returns only later changes.
func (c *Connector) Head(object string) connectors.Cursor {
	c.mu.Lock()
	defer c.mu.Unlock()
	return formatCursor(c.table(object).seq)
}
