package sync

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/mapping"
	"github.com/crmsync/crmsync/internal/state"
)

// StateStore is the durable state the engine consumes. Its link, retry and run methods are those of
// state.Store; the match-index methods are the engine's addition (see docs/sync.md). Every write must be
// one transaction and idempotent unless noted, as state.Store documents.
//
// Link fingerprints mean, for the engine: SourceFingerprint is the fingerprint of the fields owned by the
// source as both sides last agreed on them, DestFingerprint the same for the destination's fields.
type StateStore interface {
	LookupBySource(ctx context.Context, job string, sourceIDs []string) (map[string]state.Link, error)
	LookupByDest(ctx context.Context, job string, destIDs []string) (map[string]state.Link, error)
	UpsertLinks(ctx context.Context, job string, links []state.Link) error
	DeleteLinks(ctx context.Context, job string, sourceIDs []string) error
	IterateLinks(ctx context.Context, job string, fn func([]state.Link) error) error

	// EnqueueRetry counts one more failed attempt per item (not idempotent).
	EnqueueRetry(ctx context.Context, job string, items []state.RetryItem) error
	DueRetries(ctx context.Context, job string, now time.Time, limit int) ([]state.RetryItem, error)
	ResolveRetries(ctx context.Context, job string, side state.Side, recordIDs []string) error
	CountRetries(ctx context.Context, job string) (pending, dead int64, err error)
	DeadLetters(ctx context.Context, job string, limit int) ([]state.RetryItem, error)

	RecordRun(ctx context.Context, job string, run state.RunRecord) (int64, error)

	// PutUnmatched indexes records of one side that have no link yet, by normalised match key (id -> key),
	// replacing any earlier key of the same id. Idempotent.
	PutUnmatched(ctx context.Context, job string, side state.Side, keys map[string]string) error
	// FindUnmatched returns, for each key that is indexed on side, one id (the most recently put);
	// unknown keys are absent. Entries may be stale: the engine verifies them.
	FindUnmatched(ctx context.Context, job string, side state.Side, keys []string) (map[string]string, error)
	// DeleteUnmatched removes ids from the index of side. Unknown ids are ignored. Idempotent.
	DeleteUnmatched(ctx context.Context, job string, side state.Side, ids []string) error
}

// Canonical is one record in canonical form (see mapping.Canonical for the value types).
type Canonical = mapping.Canonical

// Mapper converts the records of one side to and from canonical form. It must be safe for concurrent use
// and round-trip stable: a record written with ToRemote and read back with ToCanonical yields equal
// canonical values, or every echo of a write looks like a new change.
type Mapper interface {
	// Fields lists the canonical fields this side reads. All are written too unless the Mapper implements
	// ReadOnlyFields, whose read-only fields the engine never writes.
	Fields() []string
	// RemoteFields lists the remote fields to read (connectors.ChangesRequest.Fields).
	RemoteFields() []string
	// ToCanonical converts a live record. Its error is permanent for that record.
	ToCanonical(r connectors.Record) (Canonical, error)
	// ToRemote converts the given canonical fields of c to remote field names and wire values; a nil value
	// clears the remote field.
	ToRemote(c Canonical, fields []string) (map[string]any, error)
}

// Archiver is implemented by connectors that can soft-delete (an SQL table with a deleted_at column).
// Archived records must come out of Changes as tombstones and be left out of Get and ListIDs, like deleted
// ones. Same result contract as connectors.Connector.Delete.
type Archiver interface {
	Archive(ctx context.Context, object string, ids []string) ([]connectors.Result, error)
}
