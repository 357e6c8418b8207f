package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// issued is one token the fake token server handed out.
type issued struct {
	at        time.Time
	expiresIn int
}

// tokenServer is a fake OAuth token endpoint. With rotate set, every refresh issues a new refresh token
// and kills the old one, as Salesforce does with rotation enabled.
type tokenServer struct {
	*httptest.Server
	clock *fakeClock

	mu        sync.Mutex
	calls     int
	rotate    bool
	expiresIn int            // 0 leaves expires_in out (Salesforce)
	extra     map[string]any // instance_url, api_domain
	validRT   string         // the refresh token the server accepts; empty accepts any
	usedRTs   []string
	tokens    map[string]issued
	forms     []url.Values
	headers   []http.Header
	delay     time.Duration
	// fail, when it returns a status, answers with it instead of a token.
	fail func(call int, form url.Values) (status int, header http.Header, body string)
}

func newTokenServer(t *testing.T, clock *fakeClock) *tokenServer {
	ts := &tokenServer{clock: clock, expiresIn: 300, tokens: map[string]issued{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.handle))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) handle(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ts.mu.Lock()
	ts.calls++
	call := ts.calls
	ts.forms = append(ts.forms, r.PostForm)
	ts.headers = append(ts.headers, r.Header.Clone())
	delay, fail := ts.delay, ts.fail
	ts.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if fail != nil {
		if status, h, body := fail(call, r.PostForm); status != 0 {
			for k, v := range h {
				w.Header()[k] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	resp := map[string]any{"token_type": "Bearer"}
	if r.PostForm.Get("grant_type") == "refresh_token" {
		rt := r.PostForm.Get("refresh_token")
		ts.usedRTs = append(ts.usedRTs, rt)
		if ts.validRT != "" && rt != ts.validRT {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"expired access/refresh token"}`)
			return
		}
		if ts.rotate {
			ts.validRT = fmt.Sprintf("rt-ROTATED-%04d-%d", call, ts.clock.Now().Unix())
			resp["refresh_token"] = ts.validRT
		}
	}
	at := fmt.Sprintf("at-ISSUED-%04d-%d", call, ts.clock.Now().UnixNano())
	ts.tokens[at] = issued{at: ts.clock.Now(), expiresIn: ts.expiresIn}
	resp["access_token"] = at
	if ts.expiresIn > 0 {
		resp["expires_in"] = ts.expiresIn
	}
	for k, v := range ts.extra {
		resp[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (ts *tokenServer) Calls() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.calls
}

func (ts *tokenServer) set(f func(ts *tokenServer)) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	f(ts)
}

// expiryOf returns when the server says an access token expires.
func (ts *tokenServer) expiryOf(at string) (time.Time, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	i, ok := ts.tokens[at]
	return i.at.Add(time.Duration(i.expiresIn) * time.Second), ok
}

func (ts *tokenServer) issuedTokens() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []string
	for k := range ts.tokens {
		out = append(out, k)
	}
	return out
}

// flakyStore is a MemoryStore whose Load and Save can be made to fail, and which records what was saved.
type flakyStore struct {
	*MemoryStore
	mu       sync.Mutex
	loadErr  error
	saveErr  error
	saved    []StoredToken
	onSave   func(StoredToken)
	attempts int
}

func newFlakyStore(initial *StoredToken) *flakyStore {
	return &flakyStore{MemoryStore: NewMemoryStore(initial)}
}

func (f *flakyStore) Load(ctx context.Context) (*StoredToken, error) {
	f.mu.Lock()
	err := f.loadErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.MemoryStore.Load(ctx)
}

func (f *flakyStore) Save(ctx context.Context, t StoredToken) error {
	f.mu.Lock()
	f.attempts++
	err, on := f.saveErr, f.onSave
	f.mu.Unlock()
	if on != nil {
		on(t)
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.saved = append(f.saved, t)
	f.mu.Unlock()
	return f.MemoryStore.Save(ctx, t)
}

func (f *flakyStore) setErrs(load, save error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loadErr, f.saveErr = load, save
}

var errStoreDown = errors.New("etcdserver: request timed out")

// refreshCreds are OAuth2RefreshToken credentials with recognisable secret values.
func refreshCreds() Credentials {
	return Credentials{
		KeyClientID:     "client-id-1",
		KeyClientSecret: "cs-SECRET-7f3a9c",
		KeyRefreshToken: "rt-SECRET-original-51d2",
	}
}

func refreshSpec(provider, tokenURL string, clock Clock) Spec {
	return Spec{
		Provider:      provider,
		AuthType:      OAuth2RefreshToken,
		TokenURL:      tokenURL,
		RefreshBefore: time.Minute,
		Clock:         clock,
	}
}

func mustSource(t *testing.T, spec Spec, creds Credentials, store TokenStore) *Source {
	t.Helper()
	s, err := NewSource(spec, creds, store)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

func (ts *tokenServer) form(i int) url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.forms[i]
}

func (ts *tokenServer) header(i int) http.Header {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.headers[i]
}
