package auth

import (
	"math"
	"time"
)

const (
	// Never is what NextRefresh returns for a token that never expires: schedule nothing.
	Never time.Duration = math.MaxInt64
	// ExpirySafety is the least time a token has left when it is refreshed or handed out: a refresh is
	// never scheduled later than this before expiry, and Source.Token never returns a token with less.
	ExpirySafety = 5 * time.Second
	// MaxRefreshJitter bounds the jitter NextRefresh adds, so connections that were created together do not
	// refresh in lockstep.
	MaxRefreshJitter = 30 * time.Second
)

// RefreshTime returns when a token issued at issued and expiring at expiry should be refreshed: expiry
// minus the larger of refreshBefore and 10% of the lifetime. The margin is capped at half the lifetime, so
// that a refreshBefore as long as the token itself does not refresh on every use. An unknown issue time
// counts as a zero lifetime; a zero expiry (a token that never expires) returns the zero time.
func RefreshTime(issued, expiry time.Time, refreshBefore time.Duration) time.Time {
	if expiry.IsZero() {
		return time.Time{}
	}
	var lifetime time.Duration
	if !issued.IsZero() && expiry.After(issued) {
		lifetime = expiry.Sub(issued)
	}
	margin := max(refreshBefore, lifetime/10)
	if lifetime > 0 {
		margin = min(margin, lifetime/2)
	}
	return expiry.Add(-margin)
}

// refreshDeadline is RefreshTime, but never later than ExpirySafety before expiry.
func refreshDeadline(issued, expiry time.Time, refreshBefore time.Duration) time.Time {
	at := RefreshTime(issued, expiry, refreshBefore)
	if latest := expiry.Add(-ExpirySafety); at.After(latest) {
		return latest
	}
	return at
}

// NextRefresh returns how long from now to wait before refreshing: until RefreshTime plus a jitter of
// jitter() (clamped to [0,1]) times a window of min(MaxRefreshJitter, 10% of the remaining margin). The
// result is never later than ExpirySafety before expiry and never negative (0 means refresh now). A nil
// jitter adds none; a zero expiry returns Never. It is pure: the caller passes the clock's now.
func NextRefresh(now, issued, expiry time.Time, refreshBefore time.Duration, jitter func() float64) time.Duration {
	if expiry.IsZero() {
		return Never
	}
	at := RefreshTime(issued, expiry, refreshBefore)
	if jitter != nil {
		f := min(max(jitter(), 0), 1)
		window := min(MaxRefreshJitter, expiry.Sub(at)/10)
		if window > 0 {
			at = at.Add(time.Duration(f * float64(window)))
		}
	}
	if latest := expiry.Add(-ExpirySafety); at.After(latest) {
		at = latest
	}
	return max(at.Sub(now), 0)
}
