package auth

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// StoredToken is what a TokenStore keeps between restarts: the current access token and the refresh
// token that goes with it (after a rotation, the only one that still works).
type StoredToken struct {
	AccessToken string
	// RefreshToken is empty for grants without one (client credentials, JWT bearer).
	RefreshToken string
	// TokenType is the scheme of the Authorization header ("Bearer", "Zoho-oauthtoken").
	TokenType string
	// IssuedAt is when crmsync asked for the token; Expiry is when it stops working.
	IssuedAt time.Time
	Expiry   time.Time
	// BaseURL is where API calls go when the token endpoint says so: Salesforce instance_url,
	// Pipedrive and Zoho api_domain. Empty otherwise.
	BaseURL string
	// CredentialsHash is CredentialsHash of the credentials the token was obtained with. A token whose
	// hash differs from the current credentials' is ignored: the user re-authorised.
	CredentialsHash string
}

// TokenStore persists the token of one connection. Load returns (nil, nil) when nothing is stored. Save
// replaces what is stored; when it returns nil the token must survive a restart. A Source calls them from
// one goroutine at a time, so implementations need no locking of their own for a single Source.
type TokenStore interface {
	Load(ctx context.Context) (*StoredToken, error)
	Save(ctx context.Context, t StoredToken) error
}

// MemoryStore is a TokenStore in memory, for tests and for schemes that need no persistence. It is safe
// for concurrent use.
type MemoryStore struct {
	mu    sync.Mutex
	tok   *StoredToken
	saves int
}

var _ TokenStore = (*MemoryStore)(nil)

// NewMemoryStore returns a store holding initial (nil for an empty store).
func NewMemoryStore(initial *StoredToken) *MemoryStore {
	m := &MemoryStore{}
	if initial != nil {
		t := *initial
		m.tok = &t
	}
	return m
}

// Load returns a copy of the stored token, or nil.
func (m *MemoryStore) Load(context.Context) (*StoredToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tok == nil {
		return nil, nil
	}
	t := *m.tok
	return &t, nil
}

// Save stores a copy of t.
func (m *MemoryStore) Save(_ context.Context, t StoredToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = &t
	m.saves++
	return nil
}

// Saves returns how many times Save was called.
func (m *MemoryStore) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}

// The token Secret: one per CRMConnection, named TokenSecretName(connection), labelled
// ConnectionLabel=<connection>, owned by the CRMConnection. crmsync writes it; users never need to.
const (
	ConnectionLabel         = "crm.crmsync.io/connection"
	TokenKeyAccessToken     = "access_token"
	TokenKeyRefreshToken    = "refresh_token"
	TokenKeyTokenType       = "token_type"
	TokenKeyExpiry          = "expiry"
	TokenKeyIssuedAt        = "issued_at"
	TokenKeyInstanceURL     = "instance_url"
	TokenKeyAPIDomain       = "api_domain"
	TokenKeyCredentialsHash = "credentials_hash"
	tokenSecretNameSuffix   = "-token"
	maxConnectionNameLen    = 253 - len(tokenSecretNameSuffix)
)

// TokenSecretName returns the name of the token Secret of a CRMConnection.
func TokenSecretName(connection string) string {
	if len(connection) > maxConnectionNameLen {
		connection = connection[:maxConnectionNameLen]
	}
	return connection + tokenSecretNameSuffix
}

// baseURLKey is the token response field (and token Secret key) that carries provider's API base URL.
func baseURLKey(provider string) string {
	if provider == Salesforce {
		return TokenKeyInstanceURL
	}
	return TokenKeyAPIDomain
}

// SecretData renders t as the data of the token Secret. Times are RFC 3339 in UTC; empty fields are left
// out. The base URL goes under instance_url for Salesforce and api_domain otherwise.
func (t StoredToken) SecretData(provider string) map[string][]byte {
	d := map[string][]byte{}
	put := func(k, v string) {
		if v != "" {
			d[k] = []byte(v)
		}
	}
	put(TokenKeyAccessToken, t.AccessToken)
	put(TokenKeyRefreshToken, t.RefreshToken)
	put(TokenKeyTokenType, t.TokenType)
	put(TokenKeyCredentialsHash, t.CredentialsHash)
	put(baseURLKey(provider), t.BaseURL)
	if !t.Expiry.IsZero() {
		put(TokenKeyExpiry, t.Expiry.UTC().Format(time.RFC3339Nano))
	}
	if !t.IssuedAt.IsZero() {
		put(TokenKeyIssuedAt, t.IssuedAt.UTC().Format(time.RFC3339Nano))
	}
	return d
}

// ParseSecretData reads the data of a token Secret written by SecretData. Empty data returns (nil, nil).
// Its errors name keys, never values.
func ParseSecretData(d map[string][]byte) (*StoredToken, error) {
	if len(d) == 0 {
		return nil, nil
	}
	t := &StoredToken{
		AccessToken:     string(d[TokenKeyAccessToken]),
		RefreshToken:    string(d[TokenKeyRefreshToken]),
		TokenType:       string(d[TokenKeyTokenType]),
		CredentialsHash: string(d[TokenKeyCredentialsHash]),
		BaseURL:         string(d[TokenKeyInstanceURL]),
	}
	if t.BaseURL == "" {
		t.BaseURL = string(d[TokenKeyAPIDomain])
	}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{TokenKeyExpiry, &t.Expiry}, {TokenKeyIssuedAt, &t.IssuedAt}} {
		v := d[f.key]
		if len(v) == 0 {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, string(v))
		if err != nil {
			return nil, fmt.Errorf("token Secret key %q is not an RFC 3339 time", f.key)
		}
		*f.dst = ts
	}
	return t, nil
}

// String describes t without its tokens, so that printing a StoredToken by mistake leaks nothing.
func (t StoredToken) String() string {
	return fmt.Sprintf("StoredToken{type: %s, issuedAt: %s, expiry: %s, baseURL: %q, hasRefreshToken: %t}",
		t.TokenType, t.IssuedAt.UTC().Format(time.RFC3339), t.Expiry.UTC().Format(time.RFC3339), t.BaseURL, t.RefreshToken != "")
}

// GoString is String, for %#v.
func (t StoredToken) GoString() string { return t.String() }

// MarshalLog keeps tokens out of structured logs (logr).
func (t StoredToken) MarshalLog() any { return t.String() }
