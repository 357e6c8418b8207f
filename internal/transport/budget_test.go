package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/crmerr"
)

func mustAcquire(t *testing.T, b *Budget) func() {
	t.Helper()
	release, err := b.Acquire(context.Background())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return release
}

func TestBurstWindowIsRolling(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetConfig{BurstRequests: 5, BurstWindow: 10 * time.Second}, clock)
	start := clock.Now()
	for i := range 5 {
		mustAcquire(t, b)()
		clock.Advance(time.Second) // completions at +0s .. +4s
		_ = i
	}
	// The 6th request may start only once the first completion (at +0s) is a full window old.
	mustAcquire(t, b)()
	if got, want := clock.Now().Sub(start), 10*time.Second+time.Nanosecond; got != want {
		t.Errorf("6th request started at +%v, want +%v", got, want)
	}
	// The 7th waits for the second completion (+1s) to age out, not for a fixed window to restart.
	mustAcquire(t, b)()
	if got, want := clock.Now().Sub(start), 11*time.Second+time.Nanosecond; got != want {
		t.Errorf("7th request started at +%v, want +%v", got, want)
	}
}

func TestBurstWindowCountsRequestsInFlight(t *testing.T) {
	b := NewBudget(BudgetConfig{BurstRequests: 2, BurstWindow: time.Second}, newFakeClock())
	r1 := mustAcquire(t, b)
	r2 := mustAcquire(t, b)
	got := make(chan error, 1)
	go func() {
		r, err := b.Acquire(context.Background())
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("third Acquire returned (%v) while two requests were in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	r2()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

func TestReserveIsKeptForOtherIntegrations(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetConfig{Provider: "salesforce", DailyRequests: 100, ReservePercent: 20}, clock)
	for range 80 {
		mustAcquire(t, b)()
	}
	_, err := b.Acquire(context.Background())
	ce := classified(t, err)
	if ce.Kind != crmerr.RateLimited || !ce.RetryAt.Equal(clock.Now().Add(24*time.Hour)) {
		t.Errorf("81st Acquire: %v, want RateLimited until the daily window resets", err)
	}
	want := Usage{Used: 80, Limit: 100, Remaining: 0, ResetsAt: clock.Now().Add(24 * time.Hour)}
	if diff := cmp.Diff(want, b.Usage()); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
	if len(clock.Sleeps()) != 0 {
		t.Errorf("Acquire slept %v on an exhausted daily window", clock.Sleeps())
	}
	clock.Advance(24 * time.Hour)
	mustAcquire(t, b)()
	if u := b.Usage(); u.Used != 1 || u.Remaining != 79 {
		t.Errorf("after the window reset Usage = %+v, want Used 1, Remaining 79", u)
	}
}

func TestPauseUntil(t *testing.T) {
	clock := newFakeClock()
	b := NewBudget(BudgetConfig{MaxWait: time.Minute}, clock)
	start := clock.Now()
	b.PauseUntil(start.Add(5 * time.Second))
	b.PauseUntil(start.Add(time.Second)) // an earlier pause does not shorten the first
	mustAcquire(t, b)()
	if got := clock.Now().Sub(start); got != 5*time.Second {
		t.Errorf("Acquire returned after %v, want 5s", got)
	}
	b.PauseUntil(clock.Now().Add(time.Hour))
	_, err := b.Acquire(context.Background())
	if at, ok := crmerr.RetryAt(err); !ok || !at.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("Acquire during a 1h pause: %v, want RateLimited with RetryAt in 1h and no sleep", err)
	}
}

func TestAcquireGivesUpBeforeTheDeadline(t *testing.T) {
	b := NewBudget(BudgetConfig{BurstRequests: 1, BurstWindow: 10 * time.Second}, newFakeClock())
	mustAcquire(t, b)()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := b.Acquire(ctx)
	if !crmerr.Is(err, crmerr.RateLimited) {
		t.Errorf("Acquire with 1s left for a 10s wait: %v, want RateLimited at once", err)
	}
}

func TestRestoreRemembersUsageAcrossRestarts(t *testing.T) {
	clock := newFakeClock()
	resets := clock.Now().Add(3 * time.Hour)
	b := NewBudget(BudgetConfig{DailyRequests: 100}, clock)
	b.Restore(Usage{Used: 98, Limit: 120, ResetsAt: resets})
	want := Usage{Used: 98, Limit: 120, Remaining: 22, ResetsAt: resets}
	if diff := cmp.Diff(want, b.Usage()); diff != "" {
		t.Errorf("Usage after Restore (-want +got):\n%s", diff)
	}

	stale := NewBudget(BudgetConfig{DailyRequests: 100}, clock)
	stale.Restore(Usage{Used: 98, Limit: 100, ResetsAt: clock.Now().Add(-time.Minute)})
	if u := stale.Usage(); u.Used != 0 {
		t.Errorf("usage of a window that already reset was restored: %+v", u)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	var inFlight, peak atomic.Int64
	srv, _ := countingServer(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	})
	c := newTestClient(t, srv.URL, nil, func(cfg *Config) {
		cfg.Budget = NewBudget(BudgetConfig{MaxConcurrency: 3}, nil)
	})
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if _, err := c.Do(context.Background(), Request{Op: "get", Path: "/x"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if peak.Load() != 3 {
		t.Errorf("peak concurrency = %d, want 3", peak.Load())
	}
}

func TestCalibrators(t *testing.T) {
	cases := []struct {
		reason string
		header map[string]string
		want   BudgetState
	}{
		{"salesforce", map[string]string{"Sforce-Limit-Info": "api-usage=18/15000"},
			BudgetState{DailyUsed: 18, DailyLimit: 15000, BurstRemaining: -1, DailyRemaining: -1}},
		{"salesforce with per-app usage", map[string]string{"Sforce-Limit-Info": "api-usage=25/5000, per-app-api-usage=17/250(appName=sample)"},
			BudgetState{DailyUsed: 25, DailyLimit: 5000, BurstRemaining: -1, DailyRemaining: -1}},
		{"salesforce malformed", map[string]string{"Sforce-Limit-Info": "api-usage=lots"}, unreported()},
		{"hubspot", map[string]string{
			"X-HubSpot-RateLimit-Max":                   "190",
			"X-HubSpot-RateLimit-Remaining":             "187",
			"X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
			"X-HubSpot-RateLimit-Daily":                 "625000",
			"X-HubSpot-RateLimit-Daily-Remaining":       "624000",
		}, BudgetState{BurstLimit: 190, BurstRemaining: 187, BurstWindow: 10 * time.Second, DailyLimit: 625000, DailyRemaining: 624000, DailyUsed: -1}},
		{"hubspot search answers carry no headers", map[string]string{"Content-Type": "application/json"}, unreported()},
		{"dynamics", map[string]string{"x-ms-ratelimit-burst-remaining-xrm-requests": "5990"},
			BudgetState{BurstRemaining: 5990, DailyUsed: -1, DailyRemaining: -1}},
		{"zoho", map[string]string{"X-API-CREDITS-REMAINING": "1200"},
			BudgetState{DailyRemaining: 1200, BurstRemaining: -1, DailyUsed: -1}},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		st := unreported()
		for _, c := range DefaultCalibrators {
			c(h, &st)
		}
		if diff := cmp.Diff(tc.want, st); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.reason, diff)
		}
	}
}

func TestObserveCalibratesTheBudget(t *testing.T) {
	t.Run("salesforce org-wide usage", func(t *testing.T) {
		b := NewBudget(BudgetConfig{DailyRequests: 15000, ReservePercent: 10}, newFakeClock())
		b.Observe(http.Header{"Sforce-Limit-Info": {"api-usage=13499/15000"}})
		mustAcquire(t, b)()
		if _, err := b.Acquire(context.Background()); !crmerr.Is(err, crmerr.RateLimited) {
			t.Errorf("Acquire at 13500/15000 with 10%% reserved: %v, want RateLimited", err)
		}
	})
	t.Run("hubspot tier and daily usage", func(t *testing.T) {
		clock := newFakeClock()
		b := NewBudget(BudgetConfig{BurstRequests: 100, BurstWindow: 10 * time.Second, DailyRequests: 250000}, clock)
		b.Observe(http.Header{
			"X-Hubspot-Ratelimit-Max":                   {"190"},
			"X-Hubspot-Ratelimit-Remaining":             {"190"},
			"X-Hubspot-Ratelimit-Interval-Milliseconds": {"10000"},
			"X-Hubspot-Ratelimit-Daily":                 {"625000"},
			"X-Hubspot-Ratelimit-Daily-Remaining":       {"600000"},
		})
		for range 190 {
			mustAcquire(t, b)()
		}
		if len(clock.Sleeps()) != 0 {
			t.Errorf("190 requests in one window waited %v; the observed Professional limit is 190", clock.Sleeps())
		}
		if u := b.Usage(); u.Limit != 625000 || u.Used != 25190 {
			t.Errorf("Usage = %+v, want Limit 625000 and Used 25190", u)
		}
	})
	t.Run("others' usage in the burst window", func(t *testing.T) {
		clock := newFakeClock()
		b := NewBudget(BudgetConfig{BurstRequests: 10, BurstWindow: 10 * time.Second}, clock)
		b.Observe(http.Header{"X-Hubspot-Ratelimit-Max": {"10"}, "X-Hubspot-Ratelimit-Remaining": {"2"}})
		start := clock.Now()
		for range 3 {
			mustAcquire(t, b)()
		}
		if got := clock.Now().Sub(start); got < 10*time.Second {
			t.Errorf("third request started after %v; with 8 of 10 used by others it must wait for the window", got)
		}
	})
	t.Run("own requests in flight are not counted twice", func(t *testing.T) {
		clock := newFakeClock()
		b := NewBudget(BudgetConfig{BurstRequests: 10, BurstWindow: 10 * time.Second}, clock)
		var releases []func()
		for range 5 {
			releases = append(releases, mustAcquire(t, b))
		}
		b.Observe(http.Header{"X-Hubspot-Ratelimit-Max": {"10"}, "X-Hubspot-Ratelimit-Remaining": {"7"}})
		for _, r := range releases {
			r()
		}
		for range 5 {
			mustAcquire(t, b)()
		}
		if len(clock.Sleeps()) != 0 {
			t.Errorf("waited %v although only our own 5 requests used the window", clock.Sleeps())
		}
	})
}

// rollingLimiter is a CRM-side rolling window: it counts arrivals in (now-window, now], like HubSpot.
type rollingLimiter struct {
	mu       sync.Mutex
	clock    Clock
	limit    int
	window   time.Duration
	arrivals []time.Time
	rejected int
	served   int
}

func (l *rollingLimiter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	l.mu.Lock()
	now := l.clock.Now()
	i := 0
	for i < len(l.arrivals) && !l.arrivals[i].After(now.Add(-l.window)) {
		i++
	}
	l.arrivals = l.arrivals[i:]
	ok := len(l.arrivals) < l.limit
	if ok {
		l.arrivals = append(l.arrivals, now)
		l.served++
	} else {
		l.rejected++
	}
	remaining := l.limit - len(l.arrivals)
	l.mu.Unlock()
	h := w.Header()
	h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(l.limit))
	h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(l.window.Milliseconds(), 10))
	h.Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}`)
		return
	}
	fmt.Fprint(w, `{"status":"COMPLETE","results":[]}`)
}

// TestPacingHubSpotRollingLimit is the acceptance scenario at the transport level: 500 batch
// calls under HubSpot's 100 per 10 s finish within 110% of the 50 s ceiling with no 429. Time is
// virtual; the CRM counts arrivals on the same clock.
func TestPacingHubSpotRollingLimit(t *testing.T) {
	cases := []struct {
		reason string
		cfg    BudgetConfig
	}{
		{"configured from vendor defaults", BudgetConfig{BurstRequests: 100, BurstWindow: 10 * time.Second}},
		{"calibrated from the first response's headers", BudgetConfig{}},
		{"configured lower than the tier the headers report (the headers win)", BudgetConfig{BurstRequests: 50, BurstWindow: 10 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			clock := newFakeClock()
			crm := &rollingLimiter{clock: clock, limit: 100, window: 10 * time.Second}
			srv := httptest.NewServer(crm)
			defer srv.Close()
			c := newTestClient(t, srv.URL, clock, func(cfg *Config) { cfg.Budget = NewBudget(tc.cfg, clock) })
			start := clock.Now()
			for i := range 500 {
				if _, err := c.Do(context.Background(), Request{Op: "upsert contacts", Method: "POST", Path: "/batch/upsert", Body: []byte(`{"inputs":[]}`), Idempotent: true}); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			elapsed := clock.Now().Sub(start)
			if crm.rejected != 0 {
				t.Errorf("the CRM answered 429 %d times", crm.rejected)
			}
			if ceiling := 50 * time.Second; elapsed > ceiling*11/10 {
				t.Errorf("500 calls took %v, more than 110%% of the %v ceiling", elapsed, ceiling)
			}
			t.Logf("500 calls in %v of virtual time (ceiling 50s)", elapsed)
		})
	}
}

// TestPacingRealClockConcurrent runs the same pacing on the real clock with concurrent callers sharing
// one budget, scaled down to 20 requests per 300 ms.
func TestPacingRealClockConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time pacing")
	}
	crm := &rollingLimiter{clock: SystemClock, limit: 20, window: 300 * time.Millisecond}
	srv := httptest.NewServer(crm)
	defer srv.Close()
	budget := NewBudget(BudgetConfig{BurstRequests: 20, BurstWindow: 300 * time.Millisecond, MaxConcurrency: 8}, nil)
	c := newTestClient(t, srv.URL, nil, func(cfg *Config) { cfg.Budget = budget })
	jobs := make(chan int, 100)
	for i := range 100 {
		jobs <- i
	}
	close(jobs)
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range jobs {
				if _, err := c.Do(context.Background(), Request{Op: "upsert contacts", Method: "POST", Path: "/b", Idempotent: true}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if crm.rejected != 0 {
		t.Errorf("the CRM answered 429 %d times", crm.rejected)
	}
	// The time is reported, not asserted: wall-clock bounds flake on a loaded machine. The pacing
	// efficiency is measured by the simulated-clock test and the HubSpot 50k benchmark.
	t.Logf("100 calls in %v (ceiling 1.5s)", elapsed)
}

func TestDailyWindowResetsAtAFixedHour(t *testing.T) {
	clock := newFakeClock() // 10:00 UTC
	midnight := func(now time.Time) time.Time {
		y, m, d := now.UTC().Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	}
	b := NewBudget(BudgetConfig{DailyRequests: 1, NextDailyReset: midnight}, clock)
	mustAcquire(t, b)()
	_, err := b.Acquire(context.Background())
	if at, ok := crmerr.RetryAt(err); !ok || !at.Equal(midnight(clock.Now())) {
		t.Errorf("Acquire past the quota: %v; want RateLimited until midnight UTC", err)
	}
	clock.Advance(14 * time.Hour)
	mustAcquire(t, b)()
}
