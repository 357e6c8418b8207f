package auth

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)

func TestRefreshTime(t *testing.T) {
	cases := map[string]struct {
		reason        string
		issued        time.Time
		expiry        time.Time
		refreshBefore time.Duration
		want          time.Time
	}{
		"RefreshBeforeWins": {
			reason:        "A 30 min HubSpot token with refreshBefore 5m refreshes 5m before expiry (10% is only 3m).",
			issued:        t0,
			expiry:        t0.Add(30 * time.Minute),
			refreshBefore: 5 * time.Minute,
			want:          t0.Add(25 * time.Minute),
		},
		"TenPercentWins": {
			reason:        "A 2h Salesforce session with refreshBefore 5m refreshes 12m (10%) before expiry.",
			issued:        t0,
			expiry:        t0.Add(2 * time.Hour),
			refreshBefore: 5 * time.Minute,
			want:          t0.Add(108 * time.Minute),
		},
		"ZeroRefreshBefore": {
			reason:        "Without refreshBefore the 10% rule alone applies: 30s before a 5 min token expires.",
			issued:        t0,
			expiry:        t0.Add(5 * time.Minute),
			refreshBefore: 0,
			want:          t0.Add(270 * time.Second),
		},
		"RefreshBeforeLongerThanLifetime": {
			reason:        "A refreshBefore longer than the token's life is capped at half the lifetime, so the token is not refreshed on every use.",
			issued:        t0,
			expiry:        t0.Add(5 * time.Minute),
			refreshBefore: 10 * time.Minute,
			want:          t0.Add(150 * time.Second),
		},
		"ZeroLifetime": {
			reason:        "A token that expires when issued is due at once (refreshBefore before expiry).",
			issued:        t0,
			expiry:        t0,
			refreshBefore: time.Minute,
			want:          t0.Add(-time.Minute),
		},
		"UnknownIssueTime": {
			reason:        "Without an issue time the lifetime is unknown, so only refreshBefore applies.",
			expiry:        t0.Add(time.Hour),
			refreshBefore: 5 * time.Minute,
			want:          t0.Add(55 * time.Minute),
		},
		"NeverExpires": {
			reason:        "A static token has no expiry and no refresh time.",
			issued:        t0,
			refreshBefore: 5 * time.Minute,
			want:          time.Time{},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := RefreshTime(tc.issued, tc.expiry, tc.refreshBefore)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nRefreshTime(...): -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestNextRefresh(t *testing.T) {
	half := func() float64 { return 0.5 }
	cases := map[string]struct {
		reason        string
		now           time.Time
		issued        time.Time
		expiry        time.Time
		refreshBefore time.Duration
		jitter        func() float64
		want          time.Duration
	}{
		"NoJitter": {
			reason:        "Without jitter the wait is the time until RefreshTime.",
			now:           t0.Add(time.Minute),
			issued:        t0,
			expiry:        t0.Add(30 * time.Minute),
			refreshBefore: 5 * time.Minute,
			want:          24 * time.Minute,
		},
		"JitterIsBounded": {
			reason:        "Half a jitter window of min(30s, 10% of the 5m margin) adds 15s.",
			now:           t0,
			issued:        t0,
			expiry:        t0.Add(30 * time.Minute),
			refreshBefore: 5 * time.Minute,
			jitter:        half,
			want:          25*time.Minute + 15*time.Second,
		},
		"JitterOutOfRangeIsClamped": {
			reason:        "A jitter function returning more than 1 adds no more than the whole window.",
			now:           t0,
			issued:        t0,
			expiry:        t0.Add(30 * time.Minute),
			refreshBefore: 5 * time.Minute,
			jitter:        func() float64 { return 7 },
			want:          25*time.Minute + 30*time.Second,
		},
		"SalesforceSession": {
			reason:        "A 2h Salesforce session (no expires_in) refreshes 12m before expiry, plus at most 30s of jitter.",
			now:           t0,
			issued:        t0,
			expiry:        t0.Add(DefaultSessionLifetime),
			refreshBefore: 5 * time.Minute,
			jitter:        func() float64 { return 1 },
			want:          108*time.Minute + 30*time.Second,
		},
		"ShortTokenCappedBeforeExpiry": {
			reason:        "For a 20s token the refresh is never later than 5s before expiry.",
			now:           t0,
			issued:        t0,
			expiry:        t0.Add(20 * time.Second),
			refreshBefore: 0,
			jitter:        func() float64 { return 1 },
			want:          15 * time.Second,
		},
		"AlreadyExpired": {
			reason:        "An expired token is refreshed now, never with a negative wait.",
			now:           t0.Add(time.Hour),
			issued:        t0,
			expiry:        t0.Add(30 * time.Minute),
			refreshBefore: 5 * time.Minute,
			jitter:        half,
			want:          0,
		},
		"ZeroLifetime": {
			reason:        "A token that expired when issued is refreshed now.",
			now:           t0,
			issued:        t0,
			expiry:        t0,
			refreshBefore: time.Minute,
			jitter:        half,
			want:          0,
		},
		"RefreshBeforeLongerThanLifetime": {
			reason:        "refreshBefore 10m on a 5m token refreshes at half-life, not in a loop.",
			now:           t0,
			issued:        t0,
			expiry:        t0.Add(5 * time.Minute),
			refreshBefore: 10 * time.Minute,
			want:          150 * time.Second,
		},
		"NeverExpires": {
			reason:        "A static token is never refreshed.",
			now:           t0,
			issued:        t0,
			refreshBefore: time.Minute,
			want:          Never,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := NextRefresh(tc.now, tc.issued, tc.expiry, tc.refreshBefore, tc.jitter)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nNextRefresh(...): -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}
