// Package connectors defines the contract that every CRM and SQL endpoint implements, and its shared types.
package connectors

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// Object is a canonical object name.
type Object string

// The canonical objects.
const (
	Contacts  Object = "contacts"
	Companies Object = "companies"
	Deals     Object = "deals"
)

// Objects lists the canonical objects in a stable order.
var Objects = []Object{Contacts, Companies, Deals}

// Record is one record in the CRM's own terms: remote field names and wire values exactly as the CRM's JSON
// carries them (string, float64 or json.Number, bool, nil, []any, map[string]any). The mapping layer turns
// it into canonical form; connectors never do.
type Record struct {
	// ID is the CRM's id. It is empty for a record to be created.
	ID string
	// Fields holds remote field name -> wire value. A field that is absent is untouched by a write; a field
	// present with a nil value is cleared.
	Fields map[string]any
	// ModifiedAt is the CRM's last-modified time of the record (for a tombstone, the deletion time).
	ModifiedAt time.Time
	// Deleted marks a tombstone: the record was deleted or archived in the CRM. Fields may be empty.
	Deleted bool
}

// Cursor is an opaque position in a change stream. Only the connector that issued it can read it; the
// engine stores it verbatim. The empty cursor means "from the beginning".
type Cursor string

// ChangesRequest asks for the records modified since Cursor.
type ChangesRequest struct {
	// Object is the remote object name ("contacts", "Contact", "Invoice__c").
	Object string
	// Cursor is where the previous read ended; empty reads everything.
	Cursor Cursor
	// Lookback re-reads this much time before the cursor, to catch records whose timestamps tie at a page
	// boundary or were written with a skewed clock. Duplicates that this causes are expected; the engine
	// deduplicates by fingerprint.
	Lookback time.Duration
	// Fields restricts the remote fields read; nil reads the connector's default set.
	Fields []string
	// PageSize overrides the connector's page size, within the CRM's maximum; 0 uses the maximum.
	PageSize int
}

// Page is one page of a change stream.
type Page struct {
	// Records are live records and tombstones, in the order the CRM returned them.
	Records []Record
	// Checkpoint is a cursor that is safe to persist once this page and every page before it has been
	// committed. Resuming from it never skips a change; it may repeat some.
	Checkpoint Cursor
}

// Result is the outcome of one record in a batched write. Partial failure is normal: each record has its
// own result, in the order of the request.
type Result struct {
	// ID is the CRM's id of the record written (or deleted).
	ID string
	// Created is true when the write created a new record.
	Created bool
	// Err is nil on success, otherwise a *crmerr.Error (usually InvalidRecord).
	Err error
}

// UpsertOptions refine a batched write.
type UpsertOptions struct {
	// ExternalIDField, when set and supported, makes records without an ID upsert by this remote field
	// (HubSpot idProperty, a Salesforce external id field) instead of being created blindly. Retrying such
	// a write cannot create a duplicate.
	ExternalIDField string
}

// DeleteDetection says how a connector learns about deletions.
type DeleteDetection string

const (
	// DeletesInStream: tombstones come in the Changes stream itself (change logs, delta links).
	DeletesInStream DeleteDetection = "InStream"
	// DeletesByListing: deletions are read from a separate listing (HubSpot archived=true, Salesforce
	// getDeleted/queryAll) and merged into the Changes stream, within the CRM's retention window.
	DeletesByListing DeleteDetection = "Listing"
	// DeletesByFullScan: only a full ID reconciliation finds deletions.
	DeletesByFullScan DeleteDetection = "FullScan"
)

// Capabilities describe what a connector can do and how large its batches may be.
type Capabilities struct {
	// DefaultObjects maps each canonical object to the CRM's object name.
	DefaultObjects map[Object]string
	// MaxPageSize is the largest page Changes reads in one call.
	MaxPageSize int
	// MaxReadBatch, MaxWriteBatch and MaxDeleteBatch are the largest batches of Get, Upsert and Delete
	// that one API call accepts. Callers may pass more; the connector splits them.
	MaxReadBatch   int
	MaxWriteBatch  int
	MaxDeleteBatch int
	// UpsertByExternalID is true when UpsertOptions.ExternalIDField is honoured.
	UpsertByExternalID bool
	// DeleteDetection says how deletions are found.
	DeleteDetection DeleteDetection
	// DeletedRetention is how far back deletions can be read (Salesforce: 15 days); 0 means no limit.
	DeletedRetention time.Duration
	// Webhooks is true when the CRM can push change notifications.
	Webhooks bool
}

// FieldMeta is the live metadata of one remote field.
type FieldMeta struct {
	Name     string
	Label    string
	Type     string   // the CRM's own type name: "picklist", "enumeration", "string", ...
	Options  []string // allowed picklist values (remote values), for enum types
	Required bool     // must be present on create
	ReadOnly bool     // cannot be written
	Custom   bool
	// UpsertKey marks a field whose value identifies one record, which UpsertOptions.ExternalIDField may
	// therefore name: a HubSpot property with unique values (and the email of contacts), a Salesforce
	// external id field.
	UpsertKey bool
}

// ObjectMeta is the live metadata of one remote object.
type ObjectMeta struct {
	Name   string
	Fields []FieldMeta
}

// Field returns the metadata of the named field.
func (m ObjectMeta) Field(name string) (FieldMeta, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldMeta{}, false
}

// Connector is one CRM (or SQL table) behind the common contract. A Connector is bound to one
// CRMConnection's credentials and budget, is safe for concurrent use, and must be closed.
//
// Every method returns classified errors (*crmerr.Error). Reads are always safe to retry. Upsert is safe
// to retry for records that carry an ID or when ExternalIDField is used; a retried create without either
// may duplicate, which is why the engine links records before writing.
type Connector interface {
	// Provider names the CRM: "hubspot", "salesforce", "dynamics", "pipedrive", "zoho", "sqltable".
	Provider() string
	// Capabilities describe batch sizes and delete detection. They do not change over a connector's life.
	Capabilities() Capabilities
	// Describe returns the live field metadata of a remote object.
	Describe(ctx context.Context, object string) (ObjectMeta, error)
	// Changes streams the records modified since req.Cursor, page by page, calling yield for each page.
	// It never holds more than one page in memory. It returns the cursor to resume from after the last
	// page. When yield returns an error, Changes stops and returns it; no cursor past the last page that
	// yield accepted is ever returned. On error the returned cursor is empty.
	Changes(ctx context.Context, req ChangesRequest, yield func(Page) error) (Cursor, error)
	// Get reads records by id. Ids that do not exist are omitted from the result, not errors.
	Get(ctx context.Context, object string, ids []string, fields []string) ([]Record, error)
	// Upsert writes records in the largest batches the CRM allows: records with an ID are updated, records
	// without one are created (or upserted by opts.ExternalIDField). It returns one Result per record, in
	// order. The error is non-nil only when the whole call failed (auth, rate limit, outage); then results
	// may be partial and len(results) tells how many records were attempted.
	Upsert(ctx context.Context, object string, records []Record, opts UpsertOptions) ([]Result, error)
	// Delete deletes (or archives, where that is what the CRM does) records by id, one Result per id.
	// Deleting a record that is already gone succeeds. Same error contract as Upsert.
	Delete(ctx context.Context, object string, ids []string) ([]Result, error)
	// ListIDs streams the ids of every live record of an object, for full reconciliation.
	ListIDs(ctx context.Context, object string, yield func(ids []string) error) error
	// Close releases connections. It is safe to call more than once.
	Close() error
}

// ErrorKind re-exports the error kinds so that callers of the contract need only this package.
type ErrorKind = crmerr.Kind

// The error kinds of the contract; see package crmerr.
const (
	Transient     = crmerr.Transient
	RateLimited   = crmerr.RateLimited
	Auth          = crmerr.Auth
	InvalidRecord = crmerr.InvalidRecord
	Permanent     = crmerr.Permanent
)

// Error is the classified error type of the contract.
type Error = crmerr.Error

// Account identifies the CRM account a connection is authenticated to.
type Account struct {
	// ID is the CRM's id of the account: Salesforce org id, HubSpot portal id.
	ID string
	// Name is a human-readable name: the org or portal name, or the integration user.
	Name string
	// InstanceURL is where the API calls go, when the CRM assigns it (Salesforce instance_url).
	InstanceURL string
}

// Identifier is implemented by connectors that can make a cheap call proving the credentials work and
// telling whose account they belong to. It is safe to retry.
type Identifier interface {
	Identity(ctx context.Context) (Account, error)
}

// APIVersionStatus says how the connection's API version stands with the CRM.
type APIVersionStatus struct {
	// InUse is the version the connector calls.
	InUse string
	// Latest is the newest version the CRM offers.
	Latest string
	// Available is false when the CRM no longer lists InUse: calls will fail (Salesforce answers 410).
	Available bool
	// NearRetirement is true when InUse is old enough that the CRM's retirement policy will remove it
	// soon; Message says why.
	NearRetirement bool
	Message        string
}

// APIVersionChecker is implemented by connectors whose CRM lists its API versions.
type APIVersionChecker interface {
	CheckAPIVersion(ctx context.Context) (APIVersionStatus, error)
}
