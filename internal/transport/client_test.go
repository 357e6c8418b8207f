package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// rotatingTokens hands out tokens[0] until it is invalidated, then tokens[1], and so on.
type rotatingTokens struct {
	mu          sync.Mutex
	tokens      []string
	i           int
	invalidated []string
}

func (r *rotatingTokens) Token(context.Context) (*oauth2.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &oauth2.Token{AccessToken: r.tokens[r.i], TokenType: "Bearer"}, nil
}

func (r *rotatingTokens) Invalidate(bad *oauth2.Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, bad.AccessToken)
	if r.i < len(r.tokens)-1 {
		r.i++
	}
}

// countingServer answers with h and counts the requests it received.
func countingServer(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(int(n.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newTestClient(t *testing.T, base string, clock *fakeClock, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Provider: "hubspot", BaseURL: base}
	if clock != nil {
		cfg.Clock = clock
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func classified(t *testing.T, err error) *crmerr.Error {
	t.Helper()
	var ce *crmerr.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *crmerr.Error", err, err)
	}
	return ce
}

func TestDoSendsRequest(t *testing.T) {
	var got struct {
		method, path, query, auth, ctype, body string
	}
	srv, _ := countingServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.path, got.query = r.Method, r.URL.Path, r.URL.RawQuery
		got.auth, got.ctype, got.body = r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})
	c := newTestClient(t, srv.URL+"/crm/v3/", newFakeClock(), func(cfg *Config) {
		cfg.Tokens = &rotatingTokens{tokens: []string{"tok-1"}}
	})
	resp, err := c.Do(context.Background(), Request{
		Op: "upsert contacts", Method: "post", Path: "/objects/contacts/batch/upsert?archived=false",
		Query: url.Values{"limit": {"100"}}, Body: []byte(`{"inputs":[]}`), Idempotent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := struct{ method, path, query, auth, ctype, body string }{
		"POST", "/crm/v3/objects/contacts/batch/upsert", "archived=false&limit=100", "Bearer tok-1", "application/json", `{"inputs":[]}`,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(want)); diff != "" {
		t.Errorf("request as the CRM saw it (-want +got):\n%s", diff)
	}
	var v struct{ OK bool }
	if err := resp.DecodeJSON(&v); err != nil || !v.OK || resp.Status != 200 {
		t.Errorf("response = %d %+v, %v", resp.Status, v, err)
	}
}

func TestDoResolvesURL(t *testing.T) {
	var paths []string
	var mu sync.Mutex
	srv, _ := countingServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
	})
	c := newTestClient(t, srv.URL+"/services/data/v66.0", newFakeClock(), nil)
	for _, req := range []Request{
		{Path: "query", Query: url.Values{"q": {"SELECT Id FROM Contact"}}},
		{URL: "/services/data/v66.0/query/01gxx-2000"},
		{URL: srv.URL + "/abs?x=1"},
	} {
		if _, err := c.Do(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/services/data/v66.0/query?q=SELECT+Id+FROM+Contact", "/services/data/v66.0/query/01gxx-2000", "/abs?x=1"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("request URIs (-want +got):\n%s", diff)
	}
}

func TestDoRefusesToSendCredentialsToAnotherHost(t *testing.T) {
	srv, n := countingServer(t, func(int, http.ResponseWriter, *http.Request) {})
	other, otherN := countingServer(t, func(int, http.ResponseWriter, *http.Request) {})
	c := newTestClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Tokens = &rotatingTokens{tokens: []string{"tok"}}
	})
	_, err := c.Do(context.Background(), Request{Op: "next page", URL: other.URL + "/steal"})
	if ce := classified(t, err); ce.Kind != crmerr.Permanent || !strings.Contains(ce.Error(), "refusing to send credentials") {
		t.Errorf("err = %v, want a Permanent refusal", err)
	}
	if n.Load()+otherN.Load() != 0 {
		t.Errorf("a request was sent")
	}
}

func TestBackoffIsExponentialWithFullJitter(t *testing.T) {
	srv, n := countingServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{}`)
	})
	clock := newFakeClock()
	c := newTestClient(t, srv.URL, clock, func(cfg *Config) { cfg.MaxBackoff = 3 * time.Second })
	var limits []time.Duration
	c.jitter = func(limit time.Duration) time.Duration { limits = append(limits, limit); return limit / 2 }
	if _, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	wantLimits := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second}
	if diff := cmp.Diff(wantLimits, limits); diff != "" {
		t.Errorf("jitter ceilings (-want +got):\n%s", diff)
	}
	wantSleeps := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	if diff := cmp.Diff(wantSleeps, clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
	if n.Load() != 5 {
		t.Errorf("attempts = %d, want 5", n.Load())
	}
}

func TestFullJitterStaysWithinCeiling(t *testing.T) {
	var sawLow, sawHigh bool
	for range 2000 {
		d := fullJitter(time.Second)
		if d < 0 || d > time.Second {
			t.Fatalf("fullJitter(1s) = %v", d)
		}
		sawLow = sawLow || d < 250*time.Millisecond
		sawHigh = sawHigh || d > 750*time.Millisecond
	}
	if !sawLow || !sawHigh {
		t.Errorf("jitter does not spread over [0, ceiling]: low=%v high=%v", sawLow, sawHigh)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clock := newFakeClock()
	cases := []struct {
		reason     string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"HTTP date", clock.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 90 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			srv, _ := countingServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.retryAfter)
					w.WriteHeader(http.StatusTooManyRequests)
					fmt.Fprint(w, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT"}`)
					return
				}
				fmt.Fprint(w, `{}`)
			})
			clock := newFakeClock()
			budget := NewBudget(BudgetConfig{}, clock)
			c := newTestClient(t, srv.URL, clock, func(cfg *Config) { cfg.Budget = budget })
			c.jitter = func(time.Duration) time.Duration { return 0 }
			start := clock.Now()
			if _, err := c.Do(context.Background(), Request{Op: "create contact", Method: "POST", Path: "/c", Body: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]time.Duration{tc.want}, clock.Sleeps()); diff != "" {
				t.Errorf("sleeps (-want +got):\n%s", diff)
			}
			if got := budget.pauseUntil.Sub(start); got != tc.want {
				t.Errorf("budget paused for %v, want %v (other callers must wait too)", got, tc.want)
			}
		})
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 10, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		reason, value string
		want          time.Duration
	}{
		{"absent", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"zero", "0", 0},
		{"negative", "-3", 0},
		{"date", now.Add(time.Hour).Format(http.TimeFormat), time.Hour},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"garbage", "soon", 0},
	}
	for _, tc := range cases {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		if got := RetryAfter(h, now); got != tc.want {
			t.Errorf("%s: RetryAfter(%q) = %v, want %v", tc.reason, tc.value, got, tc.want)
		}
	}
}

func TestLongRetryAfterReturnsAtOnce(t *testing.T) {
	srv, n := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	clock := newFakeClock()
	c := newTestClient(t, srv.URL, clock, nil)
	_, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/x"})
	ce := classified(t, err)
	if ce.Kind != crmerr.RateLimited || !ce.RetryAt.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("err = %v (RetryAt %v), want RateLimited retrying in 1h", err, ce.RetryAt)
	}
	if n.Load() != 1 || len(clock.Sleeps()) != 0 {
		t.Errorf("attempts = %d, sleeps = %v; want 1 attempt and no sleep", n.Load(), clock.Sleeps())
	}
}

func TestRateLimitedAfterMaxRetries(t *testing.T) {
	srv, n := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`)
	})
	clock := newFakeClock()
	c := newTestClient(t, srv.URL, clock, func(cfg *Config) { cfg.MaxRateLimitRetries = 3 })
	_, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/x"})
	ce := classified(t, err)
	if ce.Kind != crmerr.RateLimited || ce.RetryAt.IsZero() || ce.Status != 429 {
		t.Fatalf("err = %v, want RateLimited with RetryAt", err)
	}
	if !strings.Contains(ce.Error(), "hubspot: list contacts: HTTP 429") || !strings.Contains(ce.Error(), "ten_secondly_rolling") {
		t.Errorf("message %q does not name provider, op, status and the vendor's reason", ce.Error())
	}
	if n.Load() != 4 {
		t.Errorf("attempts = %d, want 4 (1 + 3 retries)", n.Load())
	}
}

// salesforceClassifier marks 403 REQUEST_LIMIT_EXCEEDED as rate limiting, as the Salesforce connector must.
func salesforceClassifier(op string, status int, h http.Header, body []byte) *crmerr.Error {
	e := DefaultClassify(op, status, h, body)
	if e != nil && status == http.StatusForbidden && e.Code == "REQUEST_LIMIT_EXCEEDED" {
		e.Kind = crmerr.RateLimited
	}
	return e
}

func TestClassifierRateLimitIsBackedOff(t *testing.T) {
	srv, n := countingServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`)
			return
		}
		fmt.Fprint(w, `{}`)
	})
	clock := newFakeClock()
	budget := NewBudget(BudgetConfig{}, clock)
	c := newTestClient(t, srv.URL, clock, func(cfg *Config) {
		cfg.Provider = "salesforce"
		cfg.Classify = salesforceClassifier
		cfg.Budget = budget
	})
	if _, err := c.Do(context.Background(), Request{Op: "create Contact", Method: "POST", Path: "/c"}); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 || len(clock.Sleeps()) != 2 {
		t.Errorf("attempts = %d, sleeps = %v; want 3 attempts, 2 backoffs (POST is retried: the CRM refused it)", n.Load(), clock.Sleeps())
	}
}

func TestRefreshOnceOn401(t *testing.T) {
	t.Run("fresh token accepted", func(t *testing.T) {
		srv, n := countingServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer fresh" {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`)
				return
			}
			fmt.Fprint(w, `{}`)
		})
		tokens := &rotatingTokens{tokens: []string{"stale", "fresh"}}
		clock := newFakeClock()
		c := newTestClient(t, srv.URL, clock, func(cfg *Config) { cfg.Tokens = tokens })
		if _, err := c.Do(context.Background(), Request{Op: "create Contact", Method: "POST", Path: "/c"}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"stale"}, tokens.invalidated); diff != "" {
			t.Errorf("invalidated (-want +got):\n%s", diff)
		}
		if n.Load() != 2 || len(clock.Sleeps()) != 0 {
			t.Errorf("attempts = %d, sleeps = %v; want 2 attempts without waiting", n.Load(), clock.Sleeps())
		}
	})
	t.Run("fresh token rejected too", func(t *testing.T) {
		srv, n := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}`)
		})
		tokens := &rotatingTokens{tokens: []string{"a", "b", "c"}}
		c := newTestClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.Tokens = tokens })
		_, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/c"})
		if ce := classified(t, err); ce.Kind != crmerr.Auth || ce.Status != 401 {
			t.Errorf("err = %v, want Auth 401", err)
		}
		if n.Load() != 2 || len(tokens.invalidated) != 1 {
			t.Errorf("attempts = %d, invalidations = %d; want exactly one refresh", n.Load(), len(tokens.invalidated))
		}
	})
}

func TestRetriesOnlyIdempotentRequests(t *testing.T) {
	cases := []struct {
		reason     string
		method     string
		idempotent bool
		want       int64
	}{
		{"GET is idempotent", "GET", false, 3},
		{"PUT is idempotent", "PUT", false, 3},
		{"DELETE is idempotent", "DELETE", false, 3},
		{"POST is not", "POST", false, 1},
		{"PATCH is not", "PATCH", false, 1},
		{"POST marked idempotent (upsert by external id)", "POST", true, 3},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			srv, n := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
			})
			c := newTestClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.MaxAttempts = 3 })
			_, err := c.Do(context.Background(), Request{Op: "write", Method: tc.method, Path: "/x", Body: []byte("{}"), Idempotent: tc.idempotent})
			if ce := classified(t, err); ce.Kind != crmerr.Transient || ce.Status != 502 {
				t.Errorf("err = %v, want Transient 502", err)
			}
			if n.Load() != tc.want {
				t.Errorf("attempts = %d, want %d", n.Load(), tc.want)
			}
		})
	}
}

func TestConnectionRefusedIsRetriedEvenForPOST(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var attempts int
	c := newTestClient(t, "http://"+addr, newFakeClock(), func(cfg *Config) {
		cfg.MaxAttempts = 3
		cfg.Hooks.OnCall = func(CallInfo) { attempts++ }
	})
	_, err = c.Do(context.Background(), Request{Op: "create contact", Method: "POST", Path: "/x"})
	if ce := classified(t, err); ce.Kind != crmerr.Transient || !strings.Contains(ce.Error(), "cannot connect") {
		t.Errorf("err = %v, want Transient cannot connect", err)
	}
	if attempts != 3 {
		t.Errorf("attempts = %d, want 3", attempts)
	}
}

func TestBodyCap(t *testing.T) {
	srv, _ := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", 2048))
	})
	c := newTestClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.MaxBodyBytes = 1024 })
	_, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/x"})
	ce := classified(t, err)
	if ce.Kind != crmerr.Permanent || ce.Code != "BODY_TOO_LARGE" || !strings.HasPrefix(ce.Error(), "hubspot: list contacts: HTTP 200") {
		t.Errorf("err = %v, want Permanent BODY_TOO_LARGE naming provider, op and status", err)
	}
}

func TestTruncatedBody(t *testing.T) {
	srv, n := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"results":[`)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := newTestClient(t, srv.URL, newFakeClock(), func(cfg *Config) { cfg.MaxAttempts = 2 })
	_, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/x"})
	ce := classified(t, err)
	if ce.Kind != crmerr.Transient || ce.Code != "TRUNCATED_BODY" || ce.Status != 200 {
		t.Errorf("err = %v, want Transient TRUNCATED_BODY with status 200", err)
	}
	if n.Load() != 2 {
		t.Errorf("attempts = %d, want 2 (a GET is retried)", n.Load())
	}
}

func TestDecodeJSONClassifiesBadBodies(t *testing.T) {
	cases := []struct {
		reason, ctype, body string
		strict              bool
		kind                crmerr.Kind
	}{
		{"HTML error page", "text/html; charset=utf-8", "<html><body>Bad gateway</body></html>", false, crmerr.Transient},
		{"malformed JSON", "application/json", `{"results":[}`, false, crmerr.Transient},
		{"truncated JSON", "application/json", `{"results":[{"id":"1"`, false, crmerr.Transient},
		{"empty body", "application/json", ``, false, crmerr.Transient},
		{"trailing garbage", "application/json", `{"results":[]} {"x":1}`, false, crmerr.Transient},
		{"unknown field in strict mode", "application/json", `{"results":[],"surprise":1}`, true, crmerr.Permanent},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			srv, _ := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				fmt.Fprint(w, tc.body)
			})
			c := newTestClient(t, srv.URL, newFakeClock(), nil)
			resp, err := c.Do(context.Background(), Request{Op: "search contacts", Path: "/x"})
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ Results []map[string]any }
			if tc.strict {
				err = resp.DecodeJSONStrict(&v)
			} else {
				err = resp.DecodeJSON(&v)
			}
			ce := classified(t, err)
			if ce.Kind != tc.kind || !strings.HasPrefix(ce.Error(), "hubspot: search contacts: HTTP 200 MALFORMED_RESPONSE") {
				t.Errorf("err = %q (%v), want %v naming provider, op and status", ce.Error(), ce.Kind, tc.kind)
			}
		})
	}
}

func TestDeadlineGivesTransientError(t *testing.T) {
	block := make(chan struct{})
	srv, _ := countingServer(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	defer close(block)
	c := newTestClient(t, srv.URL, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, Request{Op: "list contacts", Path: "/x"})
	ce := classified(t, err)
	if ce.Kind != crmerr.Transient || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want Transient wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Do took %v after a 50ms deadline", d)
	}
}

func TestDailyExhaustionReturnsImmediately(t *testing.T) {
	srv, n := countingServer(t, func(int, http.ResponseWriter, *http.Request) {})
	clock := newFakeClock()
	budget := NewBudget(BudgetConfig{Provider: "salesforce", DailyRequests: 3}, clock)
	c := newTestClient(t, srv.URL, clock, func(cfg *Config) { cfg.Budget = budget })
	for i := range 3 {
		if _, err := c.Do(context.Background(), Request{Op: "query", Path: "/q"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := c.Do(context.Background(), Request{Op: "query", Path: "/q"})
	ce := classified(t, err)
	if ce.Kind != crmerr.RateLimited || !ce.RetryAt.Equal(budget.Usage().ResetsAt) || ce.Op != "query" {
		t.Errorf("err = %v, want RateLimited retrying at the window reset %v", err, budget.Usage().ResetsAt)
	}
	if !strings.Contains(ce.Error(), "daily API budget spent") {
		t.Errorf("message %q does not say the daily budget is spent", ce.Error())
	}
	if n.Load() != 3 || len(clock.Sleeps()) != 0 {
		t.Errorf("server saw %d calls, client slept %v; want 3 and no sleep", n.Load(), clock.Sleeps())
	}
}

func TestHooksReportEveryAttempt(t *testing.T) {
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Sforce-Limit-Info", "api-usage=18/15000")
	})
	var calls []CallInfo
	c := newTestClient(t, srv.URL, newFakeClock(), func(cfg *Config) {
		cfg.Provider = "salesforce"
		cfg.Budget = NewBudget(BudgetConfig{}, cfg.Clock)
		cfg.Hooks.OnCall = func(ci CallInfo) { ci.Duration = 0; calls = append(calls, ci) }
	})
	if _, err := c.Do(context.Background(), Request{Op: "query Contact", Path: "/q"}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].Err == nil {
		t.Fatalf("calls = %+v", calls)
	}
	calls[0].Err = nil
	want := []CallInfo{
		{Provider: "salesforce", Op: "query Contact", Method: "GET", Status: 503, Attempt: 1, BudgetRemaining: -1},
		{Provider: "salesforce", Op: "query Contact", Method: "GET", Status: 200, Attempt: 2, BudgetRemaining: 15000 - 18},
	}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Provider: "x", BaseURL: "not a url"}, {Provider: "x", BaseURL: "/relative"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestRateLimitAnswerDoesNotBlockAWholeWindow(t *testing.T) {
	srv, _ := countingServer(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-HubSpot-RateLimit-Max", "100")
		w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
		if n == 1 {
			w.Header().Set("X-HubSpot-RateLimit-Remaining", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("X-HubSpot-RateLimit-Remaining", "98")
	})
	clock := newFakeClock()
	c := newTestClient(t, srv.URL, clock, func(cfg *Config) {
		cfg.Budget = NewBudget(BudgetConfig{BurstRequests: 100, BurstWindow: 10 * time.Second}, clock)
	})
	c.jitter = func(limit time.Duration) time.Duration { return limit }
	start := clock.Now()
	if _, err := c.Do(context.Background(), Request{Op: "list contacts", Path: "/x"}); err != nil {
		t.Fatal(err)
	}
	if got := clock.Now().Sub(start); got != DefaultBaseBackoff {
		t.Errorf("one 429 cost %v (sleeps %v); want one backoff of %v, not a whole window", got, clock.Sleeps(), DefaultBaseBackoff)
	}
}
