/*
Copyright 2026 The crmsync Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package envtest

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/auth"
)

// TestTokenIsAlwaysFreshOverADay runs a connection for 24 simulated hours: the reconciler runs whenever it
// asked to be requeued, and syncs make API calls at random moments in between. No API call may go out
// with an expired token (none is answered 401), every token is replaced before it expires, and the status
// always tells the truth about the current token.
func TestTokenIsAlwaysFreshOverADay(t *testing.T) {
	tests := []struct {
		name          string
		newCRM        func(t *testing.T, clock *fakeClock) *crm
		refreshBefore *metav1.Duration // nil: the CRD default (5m)
	}{
		{
			name: "hubspot OAuth with 5-minute access tokens",
			newCRM: func(t *testing.T, clock *fakeClock) *crm {
				return newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{lifetime: 5 * time.Minute})
			},
			refreshBefore: &metav1.Duration{Duration: time.Minute},
		},
		{
			// spec.auth.sessionLifetime cannot be shorter than 15m (the shortest session timeout an org
			// can set), so this is the shortest Salesforce token a valid spec describes.
			name: "salesforce refresh token with 15-minute sessions and rotation",
			newCRM: func(t *testing.T, clock *fakeClock) *crm {
				return newSalesforce(t, clock, crmOptions{lifetime: 15 * time.Minute, rotate: true})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each runs in its own namespace, with its own clock and emulator
			clock := newFakeClock()
			c := tt.newCRM(t, clock)
			e := newEnv(t, clock)
			const name = "crm"
			spec := c.spec(name)
			spec.Auth.RefreshBefore = tt.refreshBefore
			e.createSecret(name, c.credentials)
			e.createConnection(name, spec)

			rng := rand.New(rand.NewPCG(4, 24))
			end := clock.Now().Add(24 * time.Hour)
			const maxReconciles = 4000 // the budget report alone requeues every 30 s: 2,880 a day
			reconciles, apiCalls := 0, 0
			var prevToken string
			var prevNext *metav1.Time
			for clock.Now().Before(end) {
				if reconciles++; reconciles > maxReconciles {
					t.Fatalf("more than %d reconciles in a simulated day", maxReconciles)
				}
				res := e.mustReconcile(name)
				conn := e.get(name)
				checkTokenStatus(t, conn, clock.Now(), c)
				last, _ := c.traffic.lastIssue()
				// The refresh time of one token does not move from reconcile to reconcile.
				if next := conn.Status.NextTokenRefreshTime; last.access == prevToken && !next.Equal(prevNext) {
					t.Fatalf("at %s: status.nextTokenRefreshTime moved from %s to %s for the same token", clock.Now(), prevNext, next)
				}
				prevToken, prevNext = last.access, conn.Status.NextTokenRefreshTime
				if res.RequeueAfter <= 0 {
					t.Fatalf("at %s: reconcile asked for no requeue; the token would never be refreshed", clock.Now())
				}
				next := clock.Now().Add(res.RequeueAfter)
				if expiry := last.at.Add(c.lifetime); !next.Before(expiry.Add(-auth.ExpirySafety)) {
					t.Fatalf("at %s: next reconcile at %s, but the token expires at %s", clock.Now(), next, expiry)
				}
				// Syncs use the connection at random moments until the next reconcile, in about half of
				// the intervals (an interval without calls leaves the status alone: no write).
				var at []time.Time
				for range max(rng.IntN(6)-2, 0) {
					at = append(at, clock.Now().Add(time.Duration(rng.Int64N(int64(res.RequeueAfter)))))
				}
				slices.SortFunc(at, time.Time.Compare)
				for _, a := range at {
					clock.Set(a)
					if err := c.call(e.ctx, e.live(name).Connector, rng); err != nil {
						t.Fatalf("API call at %s: %v", a, err)
					}
					apiCalls++
				}
				clock.Set(next)
			}

			calls := c.traffic.Calls()
			if len(calls) < apiCalls {
				t.Fatalf("the emulator saw %d API calls, fewer than the %d made", len(calls), apiCalls)
			}
			rejected := 0
			for _, call := range calls {
				switch {
				case call.status == http.StatusUnauthorized || call.status == http.StatusForbidden:
					rejected++
					t.Errorf("%s %s at %s was answered %d", call.method, call.path, call.at, call.status)
				case !call.known:
					t.Errorf("%s %s at %s carried a token the emulator never issued", call.method, call.path, call.at)
				case call.age > c.lifetime-auth.ExpirySafety:
					t.Errorf("%s %s at %s carried a token %s old; tokens live %s", call.method, call.path, call.at, call.age, c.lifetime)
				}
				if rejected > 10 {
					t.FailNow()
				}
			}

			rb := e.get(name).Spec.Auth.RefreshBefore.Duration
			issues := c.traffic.Issues()
			for i := 1; i < len(issues); i++ {
				prev, cur := issues[i-1], issues[i]
				expiry := prev.at.Add(c.lifetime)
				if cur.at.After(expiry.Add(-auth.ExpirySafety)) {
					t.Errorf("token issued at %s expired at %s, but the next one was issued only at %s", prev.at, expiry, cur.at)
				}
				if due := auth.RefreshTime(prev.at, expiry, rb); cur.at.Before(due) {
					t.Errorf("token issued at %s was due at %s, but was replaced early at %s", prev.at, due, cur.at)
				}
				if prev.refresh != "" && cur.used != prev.refresh {
					t.Errorf("the token request at %s did not use the refresh token issued at %s", cur.at, prev.at)
				}
			}
			if last := issues[len(issues)-1]; !end.Before(last.at.Add(c.lifetime)) {
				t.Errorf("the last token, issued at %s, expired before the day ended", last.at)
			}
			if minimum := int(24 * time.Hour / c.lifetime); len(issues) < minimum {
				t.Errorf("%d tokens issued in a day of %s tokens, want at least %d", len(issues), c.lifetime, minimum)
			}
			t.Logf("%d reconciles, %d API calls (%d seen by the emulator), %d token requests", reconciles, apiCalls, len(calls), len(issues))
		})
	}
}

// checkTokenStatus checks that the token times in the status describe the token the emulator issued last.
func checkTokenStatus(t *testing.T, conn *crmv1.CRMConnection, now time.Time, c *crm) {
	t.Helper()
	if r := condition(conn, crmv1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue {
		t.Fatalf("at %s: not Ready: %+v", now, r)
	}
	last, ok := c.traffic.lastIssue()
	if !ok {
		t.Fatalf("at %s: Ready, but no token was ever issued", now)
	}
	st := conn.Status
	if st.LastTokenRefreshTime == nil || st.TokenExpiresAt == nil || st.NextTokenRefreshTime == nil {
		t.Fatalf("at %s: token times missing from status: last %v, expires %v, next %v", now, st.LastTokenRefreshTime, st.TokenExpiresAt, st.NextTokenRefreshTime)
	}
	expiry := last.at.Add(c.lifetime)
	if got, want := st.LastTokenRefreshTime.Time, last.at.Truncate(time.Second); !got.Equal(want) {
		t.Fatalf("at %s: status.lastTokenRefreshTime is %s, but the current token was issued at %s", now, got, want)
	}
	if got, want := st.TokenExpiresAt.Time, expiry.Truncate(time.Second); !got.Equal(want) {
		t.Fatalf("at %s: status.tokenExpiresAt is %s, want %s", now, got, want)
	}
	next := st.NextTokenRefreshTime.Time
	due := auth.RefreshTime(last.at, expiry, conn.Spec.Auth.RefreshBefore.Duration).Truncate(time.Second)
	if next.Before(due) || next.After(expiry.Add(-auth.ExpirySafety)) || next.Before(now.Truncate(time.Second)) {
		t.Fatalf("at %s: status.nextTokenRefreshTime is %s, want between %s and %s and not in the past", now, next, due, expiry.Add(-auth.ExpirySafety))
	}
}
