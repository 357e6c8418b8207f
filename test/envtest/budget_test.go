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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// TestBudgetInStatus: status.rateLimit follows the CRM's usage headers, a restart restores it, and a spent
// budget sets RateLimited with the time work resumes while the connection stays Ready: it works, it only
// has to wait. Token refreshes and restarts while the budget is spent do not change that.
func TestBudgetInStatus(t *testing.T) {
	const dailyLimit = 40
	clock := newFakeClock()
	c := newSalesforce(t, clock, crmOptions{lifetime: 15 * time.Minute, dailyLimit: dailyLimit})
	e := newEnv(t, clock)
	const name = "crm"
	e.connect(name, c)
	if res := e.mustReconcile(name); res.RequeueAfter <= 0 || res.RequeueAfter > 33*time.Second {
		t.Fatalf("a Ready connection requeues after %s, want the budget report interval (30 s plus jitter)", res.RequeueAfter)
	}
	e.expectConditions(name, e.readyConditions(name, c)...)
	resetsAt := metav1.NewTime(start.Add(24 * time.Hour))

	// Syncs spend some of the budget; the CRM reports its count in every answer.
	for range 5 {
		clock.Advance(time.Second)
		if err := c.read(e.ctx, e.live(name).Connector); err != nil {
			t.Fatalf("API call: %v", err)
		}
	}
	e.mustReconcile(name)
	used := int64(c.dailyUsage())
	want := &crmv1.RateLimitStatus{Used: used, Limit: dailyLimit, Remaining: dailyLimit - used, ResetsAt: &resetsAt}
	if diff := cmp.Diff(want, e.get(name).Status.RateLimit); diff != "" {
		t.Fatalf("status.rateLimit after %d calls (-want +got):\n%s", used, diff)
	}

	// A restart restores the usage from the status before the first call.
	e.restart()
	e.mustReconcile(name)
	if u := e.live(name).Budget.Usage(); int64(u.Used) < used || u.Limit != dailyLimit || !u.ResetsAt.Equal(resetsAt.Time) {
		t.Fatalf("after a restart the budget is %+v, want at least %d of %d used until %s", u, used, dailyLimit, resetsAt.Time)
	}
	// The calls of that reconcile (identity, API versions) are counted on top: the CRM does not report
	// its count for them.
	if rl := e.get(name).Status.RateLimit; rl.Used < used || rl.Limit != dailyLimit || rl.Remaining != rl.Limit-rl.Used || !rl.ResetsAt.Equal(&resetsAt) {
		t.Fatalf("status.rateLimit after a restart is %+v, want at least %d of %d used until %s", rl, used, dailyLimit, resetsAt.Time)
	}

	// Syncs spend the rest: the budget refuses further calls until the window resets.
	for i := 0; ; i++ {
		if i > dailyLimit {
			t.Fatalf("%d calls within a daily limit of %d were all admitted", i, dailyLimit)
		}
		clock.Advance(time.Second)
		err := c.read(e.ctx, e.live(name).Connector)
		if err == nil {
			continue
		}
		if at, ok := crmerr.RetryAt(err); !crmerr.Is(err, crmerr.RateLimited) || !ok || !at.Equal(resetsAt.Time) {
			t.Fatalf("call on a spent budget returned %v, want RateLimited until %s", err, resetsAt.Time)
		}
		break
	}
	if got := c.dailyUsage(); got != dailyLimit {
		t.Fatalf("the CRM counted %d calls, want exactly the daily limit %d: the budget let calls through or stopped early", got, dailyLimit)
	}
	spent := append(e.readyConditions(name, c), cond(crmv1.ConditionRateLimited, metav1.ConditionTrue, crmv1.ReasonRateLimitExceeded,
		"API budget spent (40 of 40 requests used); syncs resume at 2026-03-03T09:00:00Z"))
	spentStatus := &crmv1.RateLimitStatus{Used: dailyLimit, Limit: dailyLimit, Remaining: 0, ResetsAt: &resetsAt}
	check := func(when string) {
		t.Helper()
		e.mustReconcile(name)
		e.expectConditions(name, spent...)
		if diff := cmp.Diff(spentStatus, e.get(name).Status.RateLimit); diff != "" {
			t.Fatalf("status.rateLimit %s (-want +got):\n%s", when, diff)
		}
	}
	check("once the budget is spent")

	// A token refresh (and the identity call that normally follows it) does not change that.
	clock.Set(e.get(name).Status.NextTokenRefreshTime.Add(time.Second))
	tokenCalls := c.tokenCalls()
	check("after a token refresh on a spent budget")
	if c.tokenCalls() != tokenCalls+1 {
		t.Fatalf("no token refresh happened")
	}

	// Nor does a restart: the spent budget is restored from the status, no call is made to find out.
	e.restart()
	check("after a restart on a spent budget")

	// When the window resets, RateLimited goes away.
	clock.Set(resetsAt.Add(time.Minute))
	e.mustReconcile(name)
	e.expectConditions(name, e.readyConditions(name, c)...)
	if rl := e.get(name).Status.RateLimit; rl.Remaining <= 0 || !rl.ResetsAt.After(resetsAt.Time) {
		t.Fatalf("status.rateLimit after the window reset is %+v, want a new window with budget left", rl)
	}
}
