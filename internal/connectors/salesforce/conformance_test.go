package salesforce

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/conformance"
	sfemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

// refreshSource is a minimal OAuth2 refresh-token source for tests (the product's lives in internal/auth).
// Salesforce's token response has no expires_in, so a token is used until the org rejects it; Invalidate
// drops it and the next Token refreshes, keeping a rotated refresh token.
type refreshSource struct {
	mu      sync.Mutex
	cfg     *oauth2.Config
	refresh string
	tok     *oauth2.Token
	client  *http.Client
}

func newRefreshSource(tokenURL string, c sfemu.Credentials) *refreshSource {
	return &refreshSource{
		cfg: &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}},
		refresh: c.RefreshToken,
	}
}

func (s *refreshSource) Token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil {
		return s.tok, nil
	}
	if s.client != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, s.client)
	}
	t, err := s.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refresh}).Token()
	if err != nil {
		return nil, err
	}
	if t.RefreshToken != "" {
		s.refresh = t.RefreshToken
	}
	s.tok = t
	return t, nil
}

func (s *refreshSource) Invalidate(bad *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && bad != nil && s.tok.AccessToken == bad.AccessToken {
		s.tok = nil
	}
}

// testOrg is an emulated org with a connector wired to it.
type testOrg struct {
	emu  *sfemu.Server
	ts   *httptest.Server
	conn *Connector
}

func fastConfig() Config {
	return Config{MaxAttempts: 10, BaseBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, BulkPollInterval: 5 * time.Millisecond, BulkPollMax: 50 * time.Millisecond}
}

func newTestOrg(tb testing.TB, opts sfemu.Options, cfg Config) *testOrg {
	tb.Helper()
	emu := sfemu.New(opts)
	ts := httptest.NewServer(emu)
	tb.Cleanup(ts.Close)
	cfg.Tokens = newRefreshSource(ts.URL+"/services/oauth2/token", emu.Credentials())
	conn, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return &testOrg{emu: emu, ts: ts, conn: conn}
}

type harness struct{}

func (harness) New(t *testing.T) conformance.Env {
	return &env{org: newTestOrg(t, sfemu.Options{}, fastConfig())}
}

type env struct{ org *testOrg }

var (
	_ conformance.Harness       = harness{}
	_ conformance.ExternalIDEnv = (*env)(nil)
	_ conformance.UnknownIDEnv  = (*env)(nil)
)

func TestConformance(t *testing.T) { conformance.Run(t, harness{}) }

func (e *env) Connector() connectors.Connector { return e.org.conn }
func (e *env) Object() string                  { return "Contact" }
func (e *env) EmailField() string              { return "Email" }
func (e *env) TextField() string               { return "Description" }

func (e *env) NewRecord(i int) connectors.Record {
	return connectors.Record{Fields: map[string]any{
		"FirstName": "Ada", "LastName": fmt.Sprintf("Conformance %d", i),
		"Email": fmt.Sprintf("conformance%d@example.com", i), "Loyalty_Tier__c": "Gold",
		"Description": fmt.Sprintf("record %d", i), "External_Id__c": fmt.Sprintf("conformance-%d", i),
	}}
}

// ExternalIDField names the unique external id field NewRecord fills.
func (e *env) ExternalIDField() string { return "External_Id__c" }

// UnknownID is a well-formed Contact id (with its checksum) that no record has.
func (e *env) UnknownID() string { return "003000000000000AAA" }

func (e *env) InvalidPicklist(r connectors.Record) (connectors.Record, bool) {
	return withField(r, "Loyalty_Tier__c", "Diamond"), true
}

func (e *env) MissingRequired(r connectors.Record) (connectors.Record, bool) {
	out := withField(r, "LastName", nil)
	delete(out.Fields, "LastName")
	return out, true
}

func withField(r connectors.Record, k string, v any) connectors.Record {
	f := make(map[string]any, len(r.Fields)+1)
	for kk, vv := range r.Fields {
		f[kk] = vv
	}
	f[k] = v
	r.Fields = f
	return r
}

func (e *env) ExternalCreate(t *testing.T, r connectors.Record) string {
	t.Helper()
	id, err := e.org.emu.Create("Contact", r.Fields)
	if err != nil {
		t.Fatalf("create in the emulator: %v", err)
	}
	return id
}

func (e *env) ExternalUpdate(t *testing.T, id string, fields map[string]any) {
	t.Helper()
	if err := e.org.emu.Update("Contact", id, fields); err != nil {
		t.Fatalf("update in the emulator: %v", err)
	}
}

func (e *env) ExternalDelete(t *testing.T, id string) {
	t.Helper()
	if err := e.org.emu.Delete("Contact", id); err != nil {
		t.Fatalf("delete in the emulator: %v", err)
	}
}

func (e *env) SetModifiedAt(t *testing.T, ids []string, at time.Time) {
	t.Helper()
	if err := e.org.emu.SetModifiedAt(ids, at); err != nil {
		t.Fatal(err)
	}
}

func (e *env) SetClockSkew(t *testing.T, skew time.Duration) { e.org.emu.SetClockSkew(skew) }

func (e *env) InjectFaults(t *testing.T, f conformance.Faults) {
	e.org.emu.SetFaults(sfemu.Faults{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, RateLimitNext: f.RateLimitNext,
		Latency: f.Latency, DropRate: f.DropRate})
}

func (e *env) ExpireTokens(t *testing.T) bool {
	e.org.emu.ExpireTokens()
	return true
}

func (e *env) APICalls() int { return e.org.emu.APICalls() }
