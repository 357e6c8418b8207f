package sync

import (
	"context"

	"github.com/crmsync/crmsync/internal/connectors"
)

// counted wraps a connector to count the API calls one run makes through it. The count follows the
// contract's batch sizes, so it is exact for connectors that make one call per page and per full batch.
type counted struct {
	connectors.Connector
	caps  connectors.Capabilities
	arch  Archiver // nil when the connector cannot soft-delete
	calls *int64
}

func newCounted(c connectors.Connector, calls *int64) *counted {
	cc := &counted{Connector: c, caps: c.Capabilities(), calls: calls}
	if a, ok := c.(Archiver); ok {
		cc.arch = a
	}
	return cc
}

func batches(n, size int) int64 {
	if n <= 0 {
		return 0
	}
	if size <= 0 {
		return 1
	}
	return int64((n + size - 1) / size)
}

func (c *counted) Changes(ctx context.Context, req connectors.ChangesRequest, yield func(connectors.Page) error) (connectors.Cursor, error) {
	size := req.PageSize
	if size <= 0 || (c.caps.MaxPageSize > 0 && size > c.caps.MaxPageSize) {
		size = c.caps.MaxPageSize
	}
	var pages int64
	lastFull := true
	cur, err := c.Connector.Changes(ctx, req, func(p connectors.Page) error {
		pages++
		lastFull = len(p.Records) >= size
		return yield(p)
	})
	if lastFull || err != nil {
		pages++ // the request that found the end, or the one that failed
	}
	*c.calls += pages
	return cur, err
}

func (c *counted) Get(ctx context.Context, object string, ids []string, fields []string) ([]connectors.Record, error) {
	*c.calls += batches(len(ids), c.caps.MaxReadBatch)
	return c.Connector.Get(ctx, object, ids, fields)
}

func (c *counted) Upsert(ctx context.Context, object string, records []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	*c.calls += batches(len(records), c.caps.MaxWriteBatch)
	return c.Connector.Upsert(ctx, object, records, opts)
}

func (c *counted) Delete(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	*c.calls += batches(len(ids), c.caps.MaxDeleteBatch)
	return c.Connector.Delete(ctx, object, ids)
}

func (c *counted) Archive(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	*c.calls += batches(len(ids), c.caps.MaxDeleteBatch)
	return c.arch.Archive(ctx, object, ids)
}

func (c *counted) ListIDs(ctx context.Context, object string, yield func(ids []string) error) error {
	var pages int64
	err := c.Connector.ListIDs(ctx, object, func(ids []string) error {
		pages++
		return yield(ids)
	})
	*c.calls += max(pages, 1)
	return err
}
