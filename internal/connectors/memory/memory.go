// Package memory is an in-memory connectors.Connector for engine tests and benchmarks that honours the
// connector contract: resumable change cursors with lookback, tombstones, batched calls and per-record
// results.
package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// Op names an API operation, for call counts, hooks and injected failures.
type Op string

// The operations of the contract.
const (
	OpChanges  Op = "changes"
	OpGet      Op = "get"
	OpUpsert   Op = "upsert"
	OpDelete   Op = "delete"
	OpArchive  Op = "archive"
	OpListIDs  Op = "listids"
	OpDescribe Op = "describe"
)

// Options configure a Connector. Zero sizes default to 100.
type Options struct {
	// Provider is what Provider returns; default "memory".
	Provider string
	// IDPrefix starts every generated id; default "m".
	IDPrefix string
	// PageSize, ReadBatch, WriteBatch, DeleteBatch and ListPage are the largest batch of one API call for
	// Changes, Get, Upsert, Delete/Archive and ListIDs.
	PageSize, ReadBatch, WriteBatch, DeleteBatch, ListPage int
	// UniqueField, when set, makes the backend reject (InvalidRecord) a write that would give two live
	// records the same value of this remote field, as HubSpot does for email.
	UniqueField string
	// UpsertByExternalID makes UpsertOptions.ExternalIDField honoured.
	UpsertByExternalID bool
	// Now is the backend's clock; default time.Now. Modification times never go backwards even if it does.
	Now func() time.Time
	// Fields is what Describe returns.
	Fields []connectors.FieldMeta
}

// Hook runs before every API call (each page, each batch). A non-nil error fails that call as a whole;
// a hook may also cancel the caller's context to simulate a crash.
type Hook func(ctx context.Context, op Op, call int64) error

// Reject decides per record whether a write is refused; a non-nil error (use InvalidRecord) becomes that
// record's Result.Err. For deletes and archives only r.ID is set.
type Reject func(op Op, object string, r connectors.Record) error

// Connector is the in-memory backend and its connector at once. It is safe for concurrent use.
type Connector struct {
	opts Options

	mu     sync.Mutex
	tables map[string]*table
	calls  map[Op]int64
	hook   Hook
	reject Reject
	closed bool
}

var _ connectors.Connector = (*Connector)(nil)

// New returns an empty backend.
func New(opts Options) *Connector {
	for _, n := range []*int{&opts.PageSize, &opts.ReadBatch, &opts.WriteBatch, &opts.DeleteBatch, &opts.ListPage} {
		if *n <= 0 {
			*n = 100
		}
	}
	if opts.Provider == "" {
		opts.Provider = "memory"
	}
	if opts.IDPrefix == "" {
		opts.IDPrefix = "m"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Connector{opts: opts, tables: map[string]*table{}, calls: map[Op]int64{}}
}

// Archiving is a Connector that also soft-deletes, as an SQL table with a deleted_at column does: archived
// records come out of Changes as tombstones and vanish from Get and ListIDs, but stay in the backend.
type Archiving struct{ *Connector }

// NewArchiving returns an empty backend with an Archive method.
func NewArchiving(opts Options) Archiving { return Archiving{New(opts)} }

// Archive soft-deletes records by id, one Result per id. Archiving a missing or archived record succeeds.
func (a Archiving) Archive(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	return a.remove(ctx, OpArchive, object, ids, true)
}

// SetHook installs h (nil removes it).
func (c *Connector) SetHook(h Hook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hook = h
}

// SetReject installs r (nil removes it).
func (c *Connector) SetReject(r Reject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reject = r
}

// Calls returns the API calls answered so far, by operation.
func (c *Connector) Calls() map[Op]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// APICalls returns the total number of API calls answered so far.
func (c *Connector) APICalls() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.calls {
		n += v
	}
	return n
}

// Writes returns the number of write calls (upsert, delete, archive) answered so far.
func (c *Connector) Writes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[OpUpsert] + c.calls[OpDelete] + c.calls[OpArchive]
}

// ResetCalls zeroes the call counters.
func (c *Connector) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
}

// Provider implements connectors.Connector.
func (c *Connector) Provider() string { return c.opts.Provider }

// Capabilities implements connectors.Connector.
func (c *Connector) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{
		DefaultObjects: map[connectors.Object]string{
			connectors.Contacts: "contacts", connectors.Companies: "companies", connectors.Deals: "deals",
		},
		MaxPageSize:        c.opts.PageSize,
		MaxReadBatch:       c.opts.ReadBatch,
		MaxWriteBatch:      c.opts.WriteBatch,
		MaxDeleteBatch:     c.opts.DeleteBatch,
		UpsertByExternalID: c.opts.UpsertByExternalID,
		DeleteDetection:    connectors.DeletesInStream,
	}
}

// Describe implements connectors.Connector.
func (c *Connector) Describe(ctx context.Context, object string) (connectors.ObjectMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.call(ctx, OpDescribe); err != nil {
		return connectors.ObjectMeta{}, err
	}
	return connectors.ObjectMeta{Name: object, Fields: slices.Clone(c.opts.Fields)}, nil
}

// Close implements connectors.Connector.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// call counts one API call and runs the hook; the caller holds c.mu.
func (c *Connector) call(ctx context.Context, op Op) error {
	if c.closed {
		return crmerr.New(crmerr.Permanent, c.opts.Provider, string(op), "connector is closed")
	}
	if err := ctx.Err(); err != nil {
		return crmerr.Wrap(crmerr.Transient, c.opts.Provider, string(op), err)
	}
	c.calls[op]++
	if c.hook == nil {
		return nil
	}
	if err := c.hook(ctx, op, c.calls[op]); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return crmerr.Wrap(crmerr.Transient, c.opts.Provider, string(op), err)
	}
	return nil
}

func (c *Connector) table(object string) *table {
	t, ok := c.tables[object]
	if !ok {
		t = &table{rows: map[string]*row{}}
		c.tables[object] = t
	}
	return t
}

// now returns the backend's clock, never earlier than the last modification of t.
func (c *Connector) now(t *table) time.Time {
	n := c.opts.Now().UTC()
	if len(t.log) > 0 && n.Before(t.log[len(t.log)-1].mod) {
		return t.log[len(t.log)-1].mod
	}
	return n
}

func (c *Connector) newID(t *table) string {
	t.nextID++
	return c.opts.IDPrefix + strconv.Itoa(t.nextID)
}

func (c *Connector) invalid(op Op, format string, args ...any) error {
	return crmerr.New(crmerr.InvalidRecord, c.opts.Provider, string(op), fmt.Sprintf(format, args...))
}

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}
