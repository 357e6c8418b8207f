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
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/auth"
)

// TestRotatedRefreshTokenSurvivesRestart: a CRM that rotates refresh tokens kills the one in the user's
// Secret at the first refresh. The rotated one is in the token Secret (owned by the CRMConnection, never
// the user's Secret) before it is used, so a new manager process refreshes with it.
func TestRotatedRefreshTokenSurvivesRestart(t *testing.T) {
	tests := []struct {
		name   string
		newCRM func(t *testing.T, clock *fakeClock) *crm
	}{
		{name: "salesforce", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newSalesforce(t, clock, crmOptions{rotate: true})
		}},
		{name: "hubspot", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{rotate: true})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			c := tt.newCRM(t, clock)
			e := newEnv(t, clock)
			const name = "crm"
			user := e.createSecret(name, c.credentials)
			e.createConnection(name, c.spec(name))
			original := c.credentials[crmv1.SecretKeyRefreshToken]

			e.mustReconcile(name)
			e.expectConditions(name, e.readyConditions(name, c)...)
			rotated := c.currentRefreshToken()
			if rotated == original {
				t.Fatal("the emulator did not rotate the refresh token")
			}
			checkTokenSecret(t, e, name, c, rotated)
			checkUserSecretUnchanged(t, e, name, user)

			// A restart before the token is due reuses the cached access token: no token request.
			calls := c.tokenCalls()
			e.restart()
			e.mustReconcile(name)
			e.expectConditions(name, e.readyConditions(name, c)...)
			if got := c.tokenCalls(); got != calls {
				t.Fatalf("a restart before the token was due made %d token requests, want none", got-calls)
			}

			// A restart after the token expired refreshes with the rotated refresh token; the one in the
			// user's Secret no longer works.
			e.restart()
			clock.Set(e.get(name).Status.TokenExpiresAt.Add(time.Minute))
			e.mustReconcile(name)
			e.expectConditions(name, e.readyConditions(name, c)...)
			if got := c.tokenCalls(); got != calls+1 {
				t.Fatalf("the refresh after the restart made %d token requests, want 1", got-calls)
			}
			last, _ := c.traffic.lastIssue()
			switch last.used {
			case rotated:
			case original:
				t.Fatal("the refresh after the restart used the refresh token of the user's Secret, which the CRM had revoked")
			default:
				t.Fatal("the refresh after the restart used an unknown refresh token")
			}
			rotatedAgain := c.currentRefreshToken()
			checkTokenSecret(t, e, name, c, rotatedAgain)
			checkUserSecretUnchanged(t, e, name, user)
			for what, rt := range map[string]string{"the user's": original, "the first rotated": rotated} {
				if status := c.refreshWith(t, rt); status != http.StatusBadRequest {
					t.Errorf("%s refresh token still works at the CRM (HTTP %d): the test proves nothing", what, status)
				}
			}
		})
	}
}

// checkTokenSecret checks the token Secret of CRMConnection name: owned by it, labelled with it, and
// holding the current access token and refreshToken.
func checkTokenSecret(t *testing.T, e *env, name string, c *crm, refreshToken string) {
	t.Helper()
	conn := e.get(name)
	want := auth.TokenSecretName(name)
	if conn.Status.TokenSecretName != want {
		t.Fatalf("status.tokenSecretName is %q, want %q", conn.Status.TokenSecretName, want)
	}
	s := e.secret(want)
	if got := s.Labels[auth.ConnectionLabel]; got != name {
		t.Errorf("token Secret label %s is %q, want %q", auth.ConnectionLabel, got, name)
	}
	if refs := s.OwnerReferences; len(refs) != 1 || refs[0].Kind != "CRMConnection" || refs[0].Name != name ||
		refs[0].UID != conn.UID || refs[0].Controller == nil || !*refs[0].Controller {
		t.Errorf("token Secret owner references are %+v, want the CRMConnection as controller", refs)
	}
	last, _ := c.traffic.lastIssue()
	if string(s.Data[auth.TokenKeyRefreshToken]) != refreshToken {
		t.Errorf("token Secret does not hold the refresh token the CRM accepts now")
	}
	if string(s.Data[auth.TokenKeyAccessToken]) != last.access {
		t.Errorf("token Secret does not hold the access token issued last")
	}
	if got, want := string(s.Data[auth.TokenKeyExpiry]), last.at.Add(c.lifetime).UTC().Format(time.RFC3339Nano); got != want {
		t.Errorf("token Secret expiry is %s, want %s", got, want)
	}
}

// checkUserSecretUnchanged checks that nobody wrote to the user's credentials Secret.
func checkUserSecretUnchanged(t *testing.T, e *env, name string, created *corev1.Secret) {
	t.Helper()
	s := e.secret(name)
	if s.ResourceVersion != created.GetResourceVersion() {
		t.Fatalf("the user's Secret was written (resourceVersion %s, created as %s)", s.ResourceVersion, created.GetResourceVersion())
	}
}
