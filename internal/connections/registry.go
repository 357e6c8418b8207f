// Package connections keeps one live, authenticated connector per CRMConnection, shared by the connection's
// controller and every sync that uses it.
package connections

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/transport"
)

// Settings is everything a live connection is built from: the CRMConnection's spec and the content of its
// credentials Secret. Two equal Settings build interchangeable connections.
type Settings struct {
	Provider string
	AuthType string
	// Endpoint decides where tokens come from.
	Endpoint auth.Endpoint
	// BaseURL overrides the API host (sandboxes, emulators); for Salesforce it is the instance URL.
	BaseURL    string
	APIVersion string
	// SessionLifetime is Salesforce's token lifetime; RefreshBefore the least refresh margin.
	SessionLifetime time.Duration
	RefreshBefore   time.Duration
	// Budget is the API budget; zero fields take the provider's documented defaults.
	Budget      transport.BudgetConfig
	Credentials auth.Credentials
	// Revision identifies the spec generation and the Secret's resourceVersion. A new revision rebuilds the
	// connection, so that a user's re-authorisation takes effect at once.
	Revision string
}

// Live is one connection in use. Its Source is the only token source of the connection, which is what
// makes "one refresh at a time per connection" hold across every sync; its Budget is the one budget every
// sync of the connection spends.
type Live struct {
	Key       types.NamespacedName
	Provider  string
	Source    *auth.Source
	Budget    *transport.Budget
	Connector connectors.Connector

	revision string

	mu            sync.Mutex
	account       *connectors.Account
	identifiedAt  time.Time
	versionStatus *connectors.APIVersionStatus
	versionAt     time.Time
}

// Account returns the identity found by the last successful identity call, and when it was made.
func (l *Live) Account() (*connectors.Account, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.account, l.identifiedAt
}

// SetAccount records the result of an identity call.
func (l *Live) SetAccount(a connectors.Account, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.account, l.identifiedAt = &a, at
}

// VersionStatus returns the last API version check and when it was made.
func (l *Live) VersionStatus() (*connectors.APIVersionStatus, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.versionStatus, l.versionAt
}

// SetVersionStatus records an API version check.
func (l *Live) SetVersionStatus(s connectors.APIVersionStatus, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.versionStatus, l.versionAt = &s, at
}

// Registry holds the live connections of one manager. It is safe for concurrent use.
type Registry struct {
	// HTTPClient sends every request of every connection; nil uses the transport's default.
	HTTPClient *http.Client
	// Clock is the time source of tokens, budgets and retries; nil is the system clock.
	Clock transport.Clock
	// Logger receives token lifecycle events; never a token or a secret.
	Logger logr.Logger
	// Metrics, when set, observes API calls and token refreshes.
	Metrics *Metrics

	mu   sync.Mutex
	live map[types.NamespacedName]*Live
}

// Ensure returns the live connection for key, building it when it does not exist or when its revision
// changed. A rebuilt connection keeps the budget usage of the one it replaces; restore seeds the usage of
// a connection built for the first time since the manager started (from the CRMConnection's status).
// store persists the connection's tokens. Ensure is idempotent for an unchanged revision.
func (r *Registry) Ensure(key types.NamespacedName, s Settings, store auth.TokenStore, restore *transport.Usage) (*Live, error) {
	rev := revision(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.live[key]
	if old != nil && old.revision == rev {
		return old, nil
	}
	l, err := r.build(key, s, store)
	if err != nil {
		return nil, err
	}
	l.revision = rev
	switch {
	case old != nil:
		l.Budget.Restore(old.Budget.Usage())
		_ = old.Connector.Close()
	case restore != nil:
		l.Budget.Restore(*restore)
	}
	if r.live == nil {
		r.live = map[types.NamespacedName]*Live{}
	}
	r.live[key] = l
	return l, nil
}

// Get returns the live connection for key, if the CRMConnection controller has built it.
func (r *Registry) Get(key types.NamespacedName) (*Live, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.live[key]
	return l, ok
}

// Remove closes and forgets the connection for key. It is idempotent.
func (r *Registry) Remove(key types.NamespacedName) {
	r.mu.Lock()
	l := r.live[key]
	delete(r.live, key)
	r.mu.Unlock()
	if l != nil {
		_ = l.Connector.Close()
	}
	if r.Metrics != nil {
		r.Metrics.Forget(key)
	}
}

// All returns every live connection.
func (r *Registry) All() []*Live {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Live, 0, len(r.live))
	for _, l := range r.live {
		out = append(out, l)
	}
	return out
}

func (r *Registry) clock() transport.Clock {
	if r.Clock == nil {
		return transport.SystemClock
	}
	return r.Clock
}

func (r *Registry) build(key types.NamespacedName, s Settings, store auth.TokenStore) (*Live, error) {
	tokenURL, err := auth.ResolveTokenURL(s.Provider, s.AuthType, s.Endpoint)
	if err != nil {
		return nil, err
	}
	scopes, err := auth.DefaultScopes(s.Provider, s.Endpoint)
	if err != nil {
		return nil, err
	}
	src, err := auth.NewSource(auth.Spec{
		Provider: s.Provider, AuthType: s.AuthType, TokenURL: tokenURL, LoginURL: s.Endpoint.LoginURL, Scopes: scopes,
		SessionLifetime: s.SessionLifetime, RefreshBefore: s.RefreshBefore, HTTPClient: r.HTTPClient,
		Clock: r.clock(), Logger: r.Logger.WithValues("connection", key.String()),
	}, s.Credentials, store)
	if err != nil {
		return nil, err
	}
	budget := transport.NewBudget(budgetConfig(s.Provider, s.Budget), r.clock())
	conn, err := newConnector(s, src, budget, r.HTTPClient, r.clock(), r.Metrics.hooks(key, s.Provider))
	if err != nil {
		return nil, err
	}
	return &Live{Key: key, Provider: s.Provider, Source: src, Budget: budget, Connector: conn}, nil
}

// revision fingerprints the settings that decide how a connection is built.
func revision(s Settings) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%+v\x00%+v\x00%s\x00%s", s.Provider, s.AuthType, s.BaseURL, s.APIVersion,
		s.Endpoint, s.Budget, s.SessionLifetime, s.RefreshBefore)
	fmt.Fprintf(h, "\x00%s\x00%s", s.Revision, auth.CredentialsHash(s.Provider, s.AuthType, s.Credentials))
	return hex.EncodeToString(h.Sum(nil))
}
