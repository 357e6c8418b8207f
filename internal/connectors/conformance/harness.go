// Package conformance is the contract test suite that every connector runs against its emulator (or, for
// the SQL endpoint, against a real database).
package conformance

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
)

// Faults are injected into the system behind the connector. Zero values mean "no fault".
type Faults struct {
	// ErrorRate is the fraction (0..1) of API calls answered with ErrorStatus (default 503) in the
	// vendor's error shape.
	ErrorRate   float64
	ErrorStatus int
	// RateLimitNext answers the next N API calls with the vendor's rate-limit response (HubSpot 429,
	// Salesforce 403 REQUEST_LIMIT_EXCEEDED), including its headers.
	RateLimitNext int
	// Latency delays every API call.
	Latency time.Duration
	// DropRate is the fraction of API calls whose connection is closed without an answer.
	DropRate float64
}

// Harness binds the suite to one connector and the system behind it. Each call of New starts from an empty
// system (no records, no faults, fresh credentials). Give the connector a short backoff (a few
// milliseconds) and at least 8 attempts: the fault cases then run fast, and a 30% error rate cannot
// exhaust the retries by chance.
type Harness interface {
	// New returns a fresh environment. Cleanup is registered on t.
	New(t *testing.T) Env
}

// Env is one connector wired to one fresh backend, plus the controls the suite needs to act as "a person
// using the CRM" and as "the network".
type Env interface {
	// Connector under test. The suite closes it.
	Connector() connectors.Connector
	// Object is the remote name of the contacts object ("contacts", "Contact", "crm_contacts").
	Object() string
	// NewRecord returns a valid new contact (no ID) in remote field names, unique by i: it must carry the
	// match field (email) and every required field. Its Fields must be writable.
	NewRecord(i int) connectors.Record
	// EmailField and TextField name a remote email field and a free-text field (e.g. last name) that the
	// suite edits and compares.
	EmailField() string
	TextField() string
	// InvalidPicklist returns r changed so that the backend rejects it for a picklist value; ok=false when
	// the backend has no restricted picklist (the SQL endpoint), and the suite skips that case.
	InvalidPicklist(r connectors.Record) (bad connectors.Record, ok bool)
	// MissingRequired returns r changed so that a required field is missing; ok=false when nothing is
	// required.
	MissingRequired(r connectors.Record) (bad connectors.Record, ok bool)

	// ExternalCreate, ExternalUpdate and ExternalDelete change data directly in the backend, as a person in
	// the CRM's UI would, bumping its modification time. They return the record's id.
	ExternalCreate(t *testing.T, r connectors.Record) string
	ExternalUpdate(t *testing.T, id string, fields map[string]any)
	ExternalDelete(t *testing.T, id string)
	// SetModifiedAt forces the backend's modification timestamp of records, to build ties at page
	// boundaries.
	SetModifiedAt(t *testing.T, ids []string, at time.Time)
	// SetClockSkew makes the backend's clock run skew ahead of (positive) or behind ours.
	SetClockSkew(t *testing.T, skew time.Duration)
	// InjectFaults replaces the current faults; Faults{} clears them.
	InjectFaults(t *testing.T, f Faults)
	// ExpireTokens makes every issued access token invalid now (as if its lifetime ended), without
	// revoking the refresh credentials: the connector must refresh and carry on. ok=false when the
	// backend has no tokens.
	ExpireTokens(t *testing.T) (ok bool)
	// APICalls returns how many API calls (excluding token calls and admin calls) the backend answered.
	APICalls() int
}

// ExternalIDEnv is implemented by an Env whose connector upserts by an external id field other than
// EmailField (a Salesforce External ID field). NewRecord must give that field a value unique by i.
type ExternalIDEnv interface {
	ExternalIDField() string
}

// TextLimitEnv is implemented by an Env whose TextField holds fewer than 5,000 characters; the
// long-value case then writes exactly MaxTextLen characters.
type TextLimitEnv interface {
	MaxTextLen() int
}

// UnknownIDEnv is implemented by an Env that can name a well-formed id that no record has; Get must omit
// it. Without it the suite uses the id of a deleted record only.
type UnknownIDEnv interface {
	UnknownID() string
}

// SettleEnv is implemented by an Env that knows how long its backend may take to show a write in reads
// (HubSpot's search lags). The suite polls that long before it fails; 0 means reads see writes at once.
// Without it the suite polls for up to 30 s.
type SettleEnv interface {
	SettleTimeout() time.Duration
}
