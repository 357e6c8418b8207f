package auth

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestSimulatedDayOfFiveMinuteTokens runs 24 simulated hours against a token endpoint that issues 5 minute
// tokens and rotates the refresh token on every refresh. A controller loop refreshes at the times
// NextRefresh gives (with jitter); API calls arrive at random times in between. Every call must carry a
// token that the server considers unexpired at that moment; every scheduled refresh must happen before
// the token expires; a restart half-way must continue with the rotated refresh token; and ten concurrent
// callers that find the token due must cause exactly one token request.
func TestSimulatedDayOfFiveMinuteTokens(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	creds := refreshCreds()
	ts.set(func(ts *tokenServer) { ts.expiresIn = 300; ts.rotate = true; ts.validRT = creds[KeyRefreshToken] })
	store := NewMemoryStore(nil)
	spec := refreshSpec(Salesforce, ts.URL, clock)
	spec.RefreshBefore = 30 * time.Second
	src := mustSource(t, spec, creds, store)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(4, 2))

	if _, err := src.Token(ctx); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	end := start.Add(24 * time.Hour)
	nextRefresh := clock.Now().Add(src.NextRefresh(rng.Float64))
	nextCall := clock.Now().Add(randomGap(rng))
	nextBurst := start.Add(3 * time.Hour)
	restartAt := start.Add(12*time.Hour + 7*time.Minute)
	var calls, refreshes, bursts int

	for steps := 0; clock.Now().Before(end); steps++ {
		if steps > 20000 {
			t.Fatalf("at %s: the simulation stopped making progress (a refresh loop?)", clock.Now().Sub(start))
		}
		switch {
		case !restartAt.IsZero() && !restartAt.After(nextCall) && !restartAt.After(nextRefresh):
			clock.Set(restartAt)
			restartAt = time.Time{}
			src = mustSource(t, spec, creds, store) // a manager restart: only the store survives
			before := ts.Calls()
			if err := src.Refresh(ctx); err != nil { // the first reconcile after the restart
				t.Fatalf("Refresh after restart: %v", err)
			}
			if ts.Calls() != before || src.Expiry().IsZero() {
				t.Fatalf("after a restart the cached, unexpired token must be reused without a token request")
			}
			nextRefresh = clock.Now().Add(src.NextRefresh(rng.Float64))

		case !nextBurst.After(nextCall) && !nextBurst.After(nextRefresh):
			// Jump to the moment the token falls due, skipping the scheduled refresh, and let ten
			// syncs ask at once.
			if due := refreshDeadline(src.LastRefresh(), src.Expiry(), spec.RefreshBefore); due.After(clock.Now()) {
				clock.Set(due)
			}
			before := ts.Calls()
			tokens := concurrentTokens(t, src, 10)
			if got := ts.Calls() - before; got != 1 {
				t.Fatalf("at %s: 10 concurrent callers with a due token made %d token requests, want 1", clock.Now().Sub(start), got)
			}
			for _, tok := range tokens {
				assertUnexpired(t, ts, tok, clock.Now(), start)
			}
			bursts++
			nextBurst = nextBurst.Add(3 * time.Hour)
			nextRefresh = clock.Now().Add(src.NextRefresh(rng.Float64))

		case nextRefresh.Before(nextCall):
			clock.Set(nextRefresh)
			if !clock.Now().Before(src.Expiry()) {
				t.Fatalf("at %s: the scheduled refresh came after expiry %s", clock.Now().Sub(start), src.Expiry().Sub(start))
			}
			if err := src.Refresh(ctx); err != nil {
				t.Fatalf("at %s: Refresh: %v", clock.Now().Sub(start), err)
			}
			refreshes++
			nextRefresh = clock.Now().Add(src.NextRefresh(rng.Float64))

		default:
			clock.Set(nextCall)
			tok, err := src.Token(ctx)
			if err != nil {
				t.Fatalf("at %s: Token: %v", clock.Now().Sub(start), err)
			}
			assertUnexpired(t, ts, tok.AccessToken, clock.Now(), start)
			calls++
			nextCall = clock.Now().Add(randomGap(rng))
		}
	}

	// 24 h of 5 minute tokens refreshed 30 s (10%) before expiry, plus up to 3 s of jitter: about 320.
	requests := ts.Calls()
	if requests < 280 || requests > 340 {
		t.Errorf("token requests over 24 h: %d, want about 320 (one per 4.5 minutes)", requests)
	}
	if refreshes < 250 || calls < 1000 || bursts != 8 {
		t.Errorf("the simulation did not exercise enough: %d scheduled refreshes, %d calls, %d bursts", refreshes, calls, bursts)
	}
	t.Logf("24h: %d API calls, %d scheduled refreshes, %d bursts, %d token requests", calls, refreshes, bursts, requests)
}

// randomGap is the time to the next API call: mostly seconds apart, sometimes a quiet spell of minutes.
func randomGap(rng *rand.Rand) time.Duration {
	if rng.IntN(10) == 0 {
		return time.Duration(rng.IntN(600)) * time.Second
	}
	return time.Duration(rng.ExpFloat64() * float64(20*time.Second))
}

func concurrentTokens(t *testing.T, src *Source, n int) []string {
	t.Helper()
	out := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			tok, err := src.Token(context.Background())
			errs[i] = err
			if tok != nil {
				out[i] = tok.AccessToken
			}
		}()
	}
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent caller %d: %v", i, err)
		}
	}
	return out
}

func assertUnexpired(t *testing.T, ts *tokenServer, at string, now, start time.Time) {
	t.Helper()
	exp, ok := ts.expiryOf(at)
	if !ok {
		t.Fatalf("at %s: a token the server never issued was used", now.Sub(start))
	}
	if !now.Before(exp) {
		t.Fatalf("at %s: an API call went out with a token that expired at %s", now.Sub(start), exp.Sub(start))
	}
}
