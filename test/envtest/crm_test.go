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
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connectors"
	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
	sfemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

// crm is one emulated CRM account behind a traffic recorder, served over real HTTP, and what a test needs
// to know about it.
type crm struct {
	provider crmv1.Provider
	authType crmv1.AuthType
	// lifetime is how long the emulator's access tokens live; zero for static tokens.
	lifetime time.Duration
	// sessionLifetime is what spec.auth.sessionLifetime says (Salesforce only).
	sessionLifetime time.Duration
	srv             *httptest.Server
	traffic         *traffic
	tokenPath       string
	// credentials is the data of the user's credentials Secret.
	credentials map[string]string
	// jwtCredentials are those of a JWTBearer connection (Salesforce only).
	jwtCredentials map[string]string
	// replaceKey is the key a person replaces after a revocation; rejection is how the CRM's refusal
	// reads in the conditions (without the Secret).
	replaceKey string
	rejection  string
	// account is how the Authenticated condition names the account.
	account string
	// apiVersion is the APIVersionDeprecated condition of a healthy connection; nil when the CRM does not
	// list its versions.
	apiVersion *metav1.Condition

	tokenCalls func() int
	// dailyUsage is the API usage the CRM counts in its daily window.
	dailyUsage  func() int
	revoke      func()
	reauthorize func() string
	// currentRefreshToken is the refresh token the emulator accepts now ("" for static tokens).
	currentRefreshToken func() string
	// read makes an API call through the connector, as a sync would: one that the CRM answers 401 when
	// the access token is bad.
	read func(ctx context.Context, c connectors.Connector) error
}

// call makes one API call through the connector, as a sync would: either the identity call or a read.
func (c *crm) call(ctx context.Context, conn connectors.Connector, rng *rand.Rand) error {
	if rng.IntN(2) == 0 {
		_, err := conn.(connectors.Identifier).Identity(ctx)
		return err
	}
	return c.read(ctx, conn)
}

type crmOptions struct {
	// lifetime of access tokens; zero keeps the emulator's default.
	lifetime time.Duration
	rotate   bool
	// dailyLimit of the API; zero keeps the emulator's default.
	dailyLimit int
}

// newSalesforce serves an emulated Salesforce org for an OAuth2RefreshToken connection.
func newSalesforce(t *testing.T, clock *fakeClock, o crmOptions) *crm {
	t.Helper()
	emu := sfemu.New(sfemu.Options{SessionLifetime: o.lifetime, RotateRefreshTokens: o.rotate, DailyAPILimit: o.dailyLimit, Clock: clock.Now})
	ids := emu.Seed(3)
	c := &crm{
		provider:            crmv1.ProviderSalesforce,
		authType:            crmv1.AuthOAuth2RefreshToken,
		lifetime:            o.lifetime,
		sessionLifetime:     o.lifetime,
		tokenPath:           "/services/oauth2/token",
		replaceKey:          crmv1.SecretKeyRefreshToken,
		rejection:           "refresh token rejected (invalid_grant: expired access/refresh token)",
		tokenCalls:          func() int { return emu.Stats().TokenCalls },
		dailyUsage:          func() int { return emu.Stats().DailyUsage },
		revoke:              emu.RevokeTokens,
		reauthorize:         emu.IssueRefreshToken,
		currentRefreshToken: func() string { return emu.Credentials().RefreshToken },
		apiVersion: &metav1.Condition{Type: crmv1.ConditionAPIVersionDeprecated, Status: metav1.ConditionFalse,
			Reason: crmv1.ReasonSucceeded, Message: "API v66.0 is supported (newest v66.0)"},
		read: func(ctx context.Context, conn connectors.Connector) error {
			_, err := conn.Get(ctx, "Contact", ids, []string{"LastName"})
			return err
		},
	}
	if c.lifetime == 0 {
		c.lifetime = 2 * time.Hour
	}
	creds := emu.Credentials()
	c.credentials = map[string]string{
		crmv1.SecretKeyClientID:     creds.ClientID,
		crmv1.SecretKeyClientSecret: creds.ClientSecret,
		crmv1.SecretKeyRefreshToken: creds.RefreshToken,
	}
	c.jwtCredentials = map[string]string{
		crmv1.SecretKeyClientID:   creds.ClientID,
		crmv1.SecretKeyUsername:   creds.Username,
		crmv1.SecretKeyPrivateKey: creds.PrivateKeyPEM,
	}
	c.account = fmt.Sprintf("%s (%s)", creds.Username, creds.OrgID)
	c.serve(t, clock, emu)
	return c
}

// newHubSpot serves an emulated HubSpot portal for an OAuth2RefreshToken or PrivateAppToken connection.
func newHubSpot(t *testing.T, clock *fakeClock, authType crmv1.AuthType, o crmOptions) *crm {
	t.Helper()
	emu := hsemu.New(hsemu.Options{AccessTokenLifetime: o.lifetime, RotateRefreshTokens: o.rotate, DailyLimit: o.dailyLimit, Clock: clock.Now})
	ids, err := emu.Seed("contacts", 3)
	if err != nil {
		t.Fatalf("seed the HubSpot emulator: %v", err)
	}
	c := &crm{
		provider:            crmv1.ProviderHubSpot,
		authType:            authType,
		lifetime:            o.lifetime,
		tokenPath:           "/oauth/v1/token",
		account:             "portal 24681357 (STANDARD) (24681357)",
		tokenCalls:          func() int { return emu.Stats().TokenCalls },
		revoke:              emu.RevokeTokens,
		currentRefreshToken: func() string { return emu.Credentials().RefreshToken },
		read: func(ctx context.Context, conn connectors.Connector) error {
			_, err := conn.Get(ctx, "contacts", ids, []string{"email"})
			return err
		},
	}
	creds := emu.Credentials()
	switch authType {
	case crmv1.AuthPrivateAppToken:
		c.lifetime = 0
		c.credentials = map[string]string{crmv1.SecretKeyToken: creds.PrivateAppToken}
		c.replaceKey = crmv1.SecretKeyToken
		c.rejection = "private app token rejected (the CRM answered 401 Unauthorized)"
		c.reauthorize = func() string { return emu.Credentials().PrivateAppToken }
		c.currentRefreshToken = func() string { return "" }
	default:
		if c.lifetime == 0 {
			c.lifetime = 30 * time.Minute
		}
		c.credentials = map[string]string{
			crmv1.SecretKeyClientID:     creds.ClientID,
			crmv1.SecretKeyClientSecret: creds.ClientSecret,
			crmv1.SecretKeyRefreshToken: creds.RefreshToken,
		}
		c.replaceKey = crmv1.SecretKeyRefreshToken
		c.rejection = "refresh token rejected (BAD_REFRESH_TOKEN: missing or invalid refresh token)"
		c.reauthorize = func() string { return emu.Credentials().RefreshToken }
	}
	c.serve(t, clock, emu)
	return c
}

func (c *crm) serve(t *testing.T, clock *fakeClock, emu http.Handler) {
	c.traffic = newTraffic(clock, c.tokenPath, emu)
	c.srv = httptest.NewServer(c.traffic)
	t.Cleanup(c.srv.Close)
}

// spec is the CRMConnection spec that points at the emulator, with the credentials in Secret secret.
func (c *crm) spec(secret string) crmv1.CRMConnectionSpec {
	s := crmv1.CRMConnectionSpec{
		Provider: c.provider,
		Auth:     crmv1.AuthSpec{Type: c.authType, SecretRef: crmv1.LocalObjectReference{Name: secret}},
	}
	switch c.provider {
	case crmv1.ProviderSalesforce:
		// No baseURL: API calls go to the instance_url of the token response, as with a real org.
		s.TokenURL = c.srv.URL + c.tokenPath
		if c.sessionLifetime > 0 {
			s.Auth.SessionLifetime = &metav1.Duration{Duration: c.sessionLifetime}
		}
	case crmv1.ProviderHubSpot:
		s.BaseURL = c.srv.URL
		if c.authType != crmv1.AuthPrivateAppToken {
			s.TokenURL = c.srv.URL + c.tokenPath
		}
	}
	return s
}

// secretValues are the values of the credentials Secret that must never be shown: everything but the
// client id.
func (c *crm) secretValues() []string {
	var out []string
	for k, v := range c.credentials {
		if k != crmv1.SecretKeyClientID {
			out = append(out, v)
		}
	}
	return out
}

// refreshWith asks the token endpoint directly, as another client would, whether refreshToken still
// works; it returns the HTTP status.
func (c *crm) refreshWith(t *testing.T, refreshToken string) int {
	t.Helper()
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {c.credentials[crmv1.SecretKeyClientID]},
		"client_secret": {c.credentials[crmv1.SecretKeyClientSecret]},
		"refresh_token": {refreshToken},
	}
	resp, err := http.PostForm(c.srv.URL+c.tokenPath, form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
