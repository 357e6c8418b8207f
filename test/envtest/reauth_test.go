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
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/api/meta"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// How a revocation comes to light.
const (
	atScheduledRefresh = "at the next scheduled refresh"
	bySyncCall         = "by a sync's call answered 401"
)

// TestRevokedCredentialsStallUntilTheSecretIsUpdated: when the CRM revokes the grant, one reconcile sets
// ReauthorizationRequired with the Secret key to replace, later reconciles make no token request (no hot
// loop that could lock the account), and updating the user's Secret brings the connection back.
func TestRevokedCredentialsStallUntilTheSecretIsUpdated(t *testing.T) {
	salesforce := func(t *testing.T, clock *fakeClock) *crm { return newSalesforce(t, clock, crmOptions{rotate: true}) }
	hubspotOAuth := func(t *testing.T, clock *fakeClock) *crm {
		return newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{})
	}
	hubspotPAT := func(t *testing.T, clock *fakeClock) *crm {
		return newHubSpot(t, clock, crmv1.AuthPrivateAppToken, crmOptions{})
	}
	tests := []struct {
		name     string
		newCRM   func(t *testing.T, clock *fakeClock) *crm
		discover string
		// tokenRequests is how many token requests finding out costs: the one refused refresh.
		tokenRequests int
	}{
		{name: "salesforce", newCRM: salesforce, discover: atScheduledRefresh, tokenRequests: 1},
		{name: "salesforce", newCRM: salesforce, discover: bySyncCall, tokenRequests: 1},
		{name: "hubspot OAuth", newCRM: hubspotOAuth, discover: atScheduledRefresh, tokenRequests: 1},
		{name: "hubspot OAuth", newCRM: hubspotOAuth, discover: bySyncCall, tokenRequests: 1},
		{name: "hubspot private app token", newCRM: hubspotPAT, discover: bySyncCall, tokenRequests: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.discover, func(t *testing.T) {
			clock := newFakeClock()
			c := tt.newCRM(t, clock)
			e := newEnv(t, clock)
			const name = "crm"
			e.connect(name, c)
			e.mustReconcile(name)
			e.expectConditions(name, e.readyConditions(name, c)...)
			regarding := e.ns + "/" + name

			c.revoke()
			before := c.tokenCalls()
			switch tt.discover {
			case atScheduledRefresh:
				clock.Set(e.get(name).Status.NextTokenRefreshTime.Add(time.Second))
			case bySyncCall:
				// A token younger than auth.MinTokenAgeToInvalidate is not given up on a 401.
				clock.Advance(time.Minute)
				err := c.read(e.ctx, e.live(name).Connector)
				if !crmerr.Is(err, crmerr.Auth) {
					t.Fatalf("a sync's call after the revocation returned %v, want an Auth error", err)
				}
			}

			// One reconcile reports it.
			message := fmt.Sprintf("%s: replace key %q in Secret %s/%s", c.rejection, c.replaceKey, e.ns, name)
			res, err := e.reconcile(name)
			if !errors.Is(err, reconcile.TerminalError(nil)) || res.RequeueAfter != 0 {
				t.Fatalf("reconcile after the revocation returned (%+v, %v), want a terminal error and no requeue", res, err)
			}
			want := e.stalledConditions(name, crmv1.ReasonReauthorizationRequired, message)
			if c.apiVersion != nil {
				want = append(want, *c.apiVersion)
			}
			e.expectConditions(name, want...)
			ev, _ := e.events.last(regarding)
			if wantEv := (event{regarding: regarding, eventType: corev1.EventTypeWarning, reason: crmv1.ReasonReauthorizationRequired,
				action: "Reconcile", note: e.prefix(name) + message}); ev != wantEv {
				t.Fatalf("last event is %+v, want %+v", ev, wantEv)
			}
			if got := c.tokenCalls() - before; got != tt.tokenRequests {
				t.Fatalf("finding the revocation made %d token requests, want %d", got, tt.tokenRequests)
			}

			// No hot loop: later reconciles (even once a refresh and the identity call would be due) and
			// syncs make no token request, and no new event.
			events := e.events.count(regarding)
			for range 3 {
				clock.Advance(2 * time.Hour)
				res, err := e.reconcile(name)
				if !errors.Is(err, reconcile.TerminalError(nil)) || res.RequeueAfter != 0 {
					t.Fatalf("reconcile of a stalled connection returned (%+v, %v), want a terminal error and no requeue", res, err)
				}
				if err := c.read(e.ctx, e.live(name).Connector); !auth.IsReauthorizationRequired(err) {
					t.Fatalf("a sync's call on a stalled connection returned %v, want the re-authorisation error", err)
				}
			}
			e.expectConditions(name, want...)
			if got := c.tokenCalls() - before; got != tt.tokenRequests {
				t.Fatalf("a stalled connection made %d more token requests", got-tt.tokenRequests)
			}
			if got := e.events.count(regarding); got != events {
				t.Fatalf("a stalled connection emitted %d more events", got-events)
			}

			// The person re-authorises and updates the key the message named.
			e.setSecretKey(name, c.replaceKey, c.reauthorize())
			e.mustReconcile(name)
			e.expectConditions(name, e.readyConditions(name, c)...)
			ev, _ = e.events.last(regarding)
			if ev.eventType != corev1.EventTypeNormal || ev.reason != crmv1.ReasonSucceeded {
				t.Fatalf("last event after the recovery is %+v, want a Normal Succeeded one", ev)
			}
		})
	}
}

// TestCredentialsSecretProblems: a missing Secret, or one without a key the auth type needs, stalls the
// connection with a message that names the Secret and the keys, costs no token request and no retries,
// and fixing the Secret makes the connection Ready.
func TestCredentialsSecretProblems(t *testing.T) {
	const secret = "creds"
	tests := []struct {
		name string
		// jwt uses a Salesforce JWTBearer connection instead of a HubSpot OAuth one.
		jwt bool
		// data of the broken Secret; nil: there is none.
		data map[string]string
		// reason and message of the Authenticated condition; %[1]s is the Secret's namespace/name.
		reason  string
		message string
	}{
		{
			name:    "Secret missing",
			reason:  crmv1.ReasonSecretNotFound,
			message: "Secret %[1]s not found: create it with keys [client_id client_secret refresh_token] (see docs/credentials.md)",
		},
		{
			name:    "key missing",
			data:    map[string]string{"client_id": "app", "client_secret": "shh"},
			reason:  crmv1.ReasonSecretInvalid,
			message: `Secret %[1]s is missing key "refresh_token" (required for hubspot OAuth2RefreshToken)`,
		},
		{
			name:    "key empty",
			data:    map[string]string{"client_id": "app", "client_secret": " \n", "refresh_token": "na1-rt"},
			reason:  crmv1.ReasonSecretInvalid,
			message: `Secret %[1]s is missing key "client_secret" (required for hubspot OAuth2RefreshToken)`,
		},
		{
			name:    "two keys missing",
			data:    map[string]string{"client_secret": "shh", "note": "from the app settings page"},
			reason:  crmv1.ReasonSecretInvalid,
			message: `Secret %[1]s is missing keys "client_id" and "refresh_token" (required for hubspot OAuth2RefreshToken)`,
		},
		{
			name:    "private key not PEM",
			jwt:     true,
			data:    map[string]string{"client_id": "app", "username": "integration@example.com", "private_key": "ssh-rsa AAAA"},
			reason:  crmv1.ReasonSecretInvalid,
			message: `Secret %[1]s has an invalid key "private_key" (not a PEM-encoded RSA private key)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			e := newEnv(t, clock)
			var c *crm
			var fixed map[string]string
			spec := func() crmv1.CRMConnectionSpec { return c.spec(secret) }
			if tt.jwt {
				c = newSalesforce(t, clock, crmOptions{})
				fixed = c.jwtCredentials
				spec = func() crmv1.CRMConnectionSpec {
					s := c.spec(secret)
					s.Auth.Type = crmv1.AuthJWTBearer
					return s
				}
			} else {
				c = newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{})
				fixed = c.credentials
			}
			if tt.data != nil {
				e.createSecret(secret, tt.data)
			}
			const name = "crm"
			e.createConnection(name, spec())
			regarding := e.ns + "/" + name
			message := fmt.Sprintf(tt.message, e.ns+"/"+secret)

			for i := range 3 {
				res, err := e.reconcile(name)
				if !errors.Is(err, reconcile.TerminalError(nil)) || res.RequeueAfter != 0 {
					t.Fatalf("reconcile %d returned (%+v, %v), want a terminal error and no requeue", i+1, res, err)
				}
				e.expectConditions(name, e.stalledConditions(name, tt.reason, message)...)
				clock.Advance(time.Hour)
			}
			if n := e.events.count(regarding); n != 1 {
				t.Fatalf("%d events for a Secret problem seen three times, want 1", n)
			}
			if ev, _ := e.events.last(regarding); ev.eventType != corev1.EventTypeWarning || ev.reason != tt.reason || ev.note != e.prefix(name)+message {
				t.Fatalf("event is %+v, want a Warning %s naming the problem", ev, tt.reason)
			}
			if n := c.tokenCalls(); n != 0 {
				t.Fatalf("a connection without usable credentials made %d token requests", n)
			}

			// The person fixes the Secret.
			if tt.data == nil {
				e.createSecret(secret, fixed)
			} else {
				s := e.secret(secret)
				s.Data = map[string][]byte{}
				for k, v := range fixed {
					s.Data[k] = []byte(v)
				}
				if err := k8sClient.Update(e.kubectl, s); err != nil {
					t.Fatalf("fix Secret: %v", err)
				}
			}
			e.mustReconcile(name)
			e.expectConditions(name, e.readyConditions(name, c)...)
			if r := condition(e.get(name), crmv1.ConditionStalled); r != nil {
				t.Fatalf("Stalled is still set: %+v", r)
			}
		})
	}
}

// TestTokenEndpointOutageBacksOff: a token endpoint that fails for a while is retried with backoff, not
// in a hot loop; syncs keep using the current token while it is valid, and the connection recovers on its
// own once the endpoint answers again.
func TestTokenEndpointOutageBacksOff(t *testing.T) {
	clock := newFakeClock()
	c := newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{})
	e := newEnv(t, clock)
	const name = "crm"
	e.connect(name, c)
	e.mustReconcile(name)
	e.expectConditions(name, e.readyConditions(name, c)...)

	c.traffic.failTokenRequests(3)
	clock.Set(e.get(name).Status.NextTokenRefreshTime.Add(time.Second))
	requests := c.traffic.TokenRequests()
	failure := "hubspot: token request: HTTP 503 temporarily_unavailable: the authorization server is down for maintenance"
	for i := range 5 {
		res, err := e.reconcile(name)
		if err != nil || res.RequeueAfter <= 0 || res.RequeueAfter > 33*time.Second { // 30 s plus the 10% jitter
			t.Fatalf("reconcile %d during the outage returned (%+v, %v), want a retry within 30s and no error: the token is still valid", i+1, res, err)
		}
	}
	if got := c.traffic.TokenRequests() - requests; got != 1 {
		t.Fatalf("5 reconciles within a second of a failed refresh made %d token requests, want 1", got)
	}
	// The connection stays Ready: its token is still valid. Authenticated says that the refresh fails.
	conn := e.get(name)
	auth := meta.FindStatusCondition(conn.Status.Conditions, crmv1.ConditionAuthenticated)
	if !meta.IsStatusConditionTrue(conn.Status.Conditions, crmv1.ConditionReady) || auth == nil ||
		auth.Status != metav1.ConditionTrue || auth.Reason != crmv1.ReasonTokenRefreshFailing || !strings.Contains(auth.Message, failure) {
		t.Fatalf("conditions during the outage = %+v, want Ready=True and Authenticated=True/%s naming %q", conn.Status.Conditions, crmv1.ReasonTokenRefreshFailing, failure)
	}

	// Syncs go on with the current token, which is still valid, without asking the endpoint again.
	if err := c.read(e.ctx, e.live(name).Connector); err != nil {
		t.Fatalf("a sync's call during the outage failed: %v", err)
	}
	if got := c.traffic.TokenRequests() - requests; got != 1 {
		t.Fatalf("a sync's call during the outage made another token request")
	}

	// Each retry waits longer (1 s, 2 s, ...): two more failures, then the endpoint answers.
	for i, hold := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		clock.Advance(hold)
		if _, err := e.reconcile(name); err != nil {
			t.Fatalf("retry %d: %v", i+1, err)
		}
		if got := c.traffic.TokenRequests() - requests; got != i+2 {
			t.Fatalf("after waiting %s, %d token requests in all, want %d", hold, got, i+2)
		}
	}
	e.expectConditions(name, e.readyConditions(name, c)...)
	checkTokenStatus(t, e.get(name), clock.Now(), c)
}
