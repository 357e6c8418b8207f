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
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connections"
)

// TestConcurrentUsersCauseOneRefresh: ten syncs that find the connection's token expired at the same
// moment cause exactly one token request, and all of them go on with the new token.
func TestConcurrentUsersCauseOneRefresh(t *testing.T) {
	const users = 10
	crms := []struct {
		name   string
		newCRM func(t *testing.T, clock *fakeClock) *crm
	}{
		{name: "salesforce", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newSalesforce(t, clock, crmOptions{lifetime: 15 * time.Minute, rotate: true})
		}},
		{name: "hubspot", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{lifetime: 5 * time.Minute, rotate: true})
		}},
	}
	uses := []struct {
		name string
		use  func(ctx context.Context, live *connections.Live, c *crm, rng *rand.Rand) error
	}{
		{name: "Source.Token", use: func(ctx context.Context, live *connections.Live, _ *crm, _ *rand.Rand) error {
			_, err := live.Source.Token(ctx)
			return err
		}},
		{name: "API calls", use: func(ctx context.Context, live *connections.Live, c *crm, rng *rand.Rand) error {
			return c.call(ctx, live.Connector, rng)
		}},
	}
	for _, cc := range crms {
		for _, u := range uses {
			t.Run(cc.name+" "+u.name, func(t *testing.T) {
				clock := newFakeClock()
				c := cc.newCRM(t, clock)
				e := newEnv(t, clock)
				const name = "crm"
				e.connect(name, c)
				e.mustReconcile(name)
				e.expectConditions(name, e.readyConditions(name, c)...)

				clock.Set(e.get(name).Status.TokenExpiresAt.Add(time.Second))
				tokenCalls, apiCalls := c.tokenCalls(), len(c.traffic.Calls())
				live := e.live(name)

				// The token endpoint answers only once every user has set off, so that they all find
				// the token expired while the one refresh is in flight.
				release := c.traffic.holdTokenRequests()
				t.Cleanup(release)
				var setOff sync.WaitGroup
				setOff.Add(users)
				go func() { setOff.Wait(); release() }()
				errs := make(chan error, users)
				for i := range users {
					go func() {
						rng := rand.New(rand.NewPCG(uint64(i), 10))
						setOff.Done()
						errs <- u.use(e.ctx, live, c, rng)
					}()
				}
				for range users {
					if err := <-errs; err != nil {
						t.Errorf("user failed: %v", err)
					}
				}
				if got := c.tokenCalls() - tokenCalls; got != 1 {
					t.Fatalf("%d users of an expired token caused %d token requests, want 1", users, got)
				}
				last, _ := c.traffic.lastIssue()
				for _, call := range c.traffic.Calls()[apiCalls:] {
					if !call.known || call.at.Before(last.at) || call.status >= 400 {
						t.Errorf("%s %s after the refresh: HTTP %d, with the new token: %t", call.method, call.path, call.status, call.known && !call.at.Before(last.at))
					}
				}

				// The reconciler reports the refresh the users caused, and makes none of its own.
				e.mustReconcile(name)
				checkTokenStatus(t, e.get(name), clock.Now(), c)
				if got := c.tokenCalls() - tokenCalls; got != 1 {
					t.Fatalf("the reconcile after the users' refresh made another token request")
				}
				if got := live.Source.Expiry(); !got.Equal(last.at.Add(c.lifetime)) {
					t.Fatalf("the live token expires at %s, want %s", got, last.at.Add(c.lifetime))
				}
			})
		}
	}
}
