package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/conformance"
	emulator "github.com/crmsync/crmsync/internal/emulator/hubspot"
	"github.com/crmsync/crmsync/internal/transport"
)

// oauthSource is a minimal refresh-token source for tests: it refreshes on expiry and after Invalidate.
type oauthSource struct {
	tokenURL string
	creds    emulator.Credentials
	client   *http.Client

	mu      sync.Mutex
	tok     *oauth2.Token
	refresh string
	calls   int
}

func (s *oauthSource) Token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && time.Until(s.tok.Expiry) > time.Minute {
		return s.tok, nil
	}
	if s.refresh == "" {
		s.refresh = s.creds.RefreshToken
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {s.creds.ClientID}, "client_secret": {s.creds.ClientSecret}, "refresh_token": {s.refresh}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	s.calls++
	var body struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("token endpoint answered %d", resp.StatusCode)
	}
	s.refresh = body.RefreshToken
	s.tok = &oauth2.Token{AccessToken: body.AccessToken, TokenType: "Bearer", Expiry: time.Now().Add(time.Duration(body.ExpiresIn) * time.Second)}
	return s.tok, nil
}

func (s *oauthSource) Invalidate(bad *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && bad != nil && s.tok.AccessToken == bad.AccessToken {
		s.tok = nil
	}
}

// staticSource is a private app token.
type staticSource string

func (s staticSource) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: string(s), TokenType: "Bearer"}, nil
}

// fixture is a connector wired to a fresh emulator.
type fixture struct {
	srv    *emulator.Server
	ts     *httptest.Server
	conn   *Connector
	tokens *oauthSource
}

// fastOptions are the emulator's documented limits except for search pacing, raised so that tests that
// page through many small pages stay quick (TestSearchPacing covers the real 5/s).
// The burst window is 1 s instead of 10 s (same limit), so that a 429, after which the budget rightly
// waits out a full window, costs a second.
func fastOptions() emulator.Options {
	return emulator.Options{SearchPerSecond: 100, BurstWindow: time.Second, RotateRefreshTokens: true}
}

func newFixture(t testing.TB, opts emulator.Options, cfg Config) *fixture {
	t.Helper()
	srv := emulator.New(opts)
	var handler http.Handler = srv
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	f := &fixture{srv: srv, ts: ts}
	if cfg.Tokens == nil {
		f.tokens = &oauthSource{tokenURL: ts.URL + "/oauth/v1/token", creds: srv.Credentials(), client: ts.Client()}
		cfg.Tokens = f.tokens
	}
	cfg.BaseURL = ts.URL
	if cfg.SearchPerSecond == 0 {
		cfg.SearchPerSecond = 100
	}
	if cfg.BaseBackoff == 0 {
		cfg.BaseBackoff = 5 * time.Millisecond
		cfg.MaxBackoff = 50 * time.Millisecond
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 8
	}
	conn, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	f.conn = conn
	return f
}

// harness runs the conformance suite against the emulator.
type harness struct{}

func (harness) New(t *testing.T) conformance.Env {
	return &confEnv{f: newFixture(t, fastOptions(), Config{})}
}

// confEnv implements conformance.Env.
type confEnv struct{ f *fixture }

var _ conformance.Env = (*confEnv)(nil)

func (e *confEnv) Connector() connectors.Connector { return e.f.conn }
func (e *confEnv) Object() string                  { return "contacts" }
func (e *confEnv) EmailField() string              { return "email" }
func (e *confEnv) TextField() string               { return "lastname" }

func (e *confEnv) NewRecord(i int) connectors.Record {
	return connectors.Record{Fields: map[string]any{
		"email":          fmt.Sprintf("conformance-%d@example.com", i),
		"firstname":      "Test",
		"lastname":       fmt.Sprintf("Person %d", i),
		"lifecyclestage": "lead",
	}}
}

func (e *confEnv) InvalidPicklist(r connectors.Record) (connectors.Record, bool) {
	bad := connectors.Record{ID: r.ID, Fields: map[string]any{}}
	for k, v := range r.Fields {
		bad.Fields[k] = v
	}
	bad.Fields["lifecyclestage"] = "not-a-stage"
	return bad, true
}

// MissingRequired: HubSpot requires no property to create a contact.
func (e *confEnv) MissingRequired(connectors.Record) (connectors.Record, bool) {
	return connectors.Record{}, false
}

func stringFields(fields map[string]any) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		s, err := wireValue(v)
		if err != nil {
			panic(err)
		}
		out[k] = s
	}
	return out
}

func (e *confEnv) ExternalCreate(t *testing.T, r connectors.Record) string {
	t.Helper()
	id, err := e.f.srv.Create("contacts", stringFields(r.Fields))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *confEnv) ExternalUpdate(t *testing.T, id string, fields map[string]any) {
	t.Helper()
	if err := e.f.srv.Update("contacts", id, stringFields(fields)); err != nil {
		t.Fatal(err)
	}
}

func (e *confEnv) ExternalDelete(t *testing.T, id string) {
	t.Helper()
	if err := e.f.srv.Archive("contacts", id); err != nil {
		t.Fatal(err)
	}
}

func (e *confEnv) SetModifiedAt(t *testing.T, ids []string, at time.Time) {
	t.Helper()
	if err := e.f.srv.SetModifiedAt("contacts", ids, at); err != nil {
		t.Fatal(err)
	}
}

func (e *confEnv) SetClockSkew(_ *testing.T, skew time.Duration) { e.f.srv.SetClockSkew(skew) }

func (e *confEnv) InjectFaults(_ *testing.T, f conformance.Faults) {
	e.f.srv.SetFaults(emulator.Faults{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, RateLimitNext: f.RateLimitNext,
		Latency: f.Latency, DropRate: f.DropRate})
}

func (e *confEnv) ExpireTokens(*testing.T) bool {
	e.f.srv.ExpireTokens()
	return true
}

func (e *confEnv) APICalls() int { return e.f.srv.APICalls() }

// UnknownID is a well-formed HubSpot id that no record has.
func (e *confEnv) UnknownID() string { return "999999999999" }

var _ conformance.UnknownIDEnv = (*confEnv)(nil)

var _ transport.TokenSource = (*oauthSource)(nil)
