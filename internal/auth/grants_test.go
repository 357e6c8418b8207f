package auth

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// verifyAssertion checks an RS256 JWT with pub and returns its claims.
func verifyAssertion(t *testing.T, assertion string, pub *rsa.PublicKey) map[string]any {
	t.Helper()
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion has %d parts", len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "RS256" {
		t.Errorf("alg = %v, want RS256", header["alg"])
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("assertion signature: %v", err)
	}
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	return claims
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestSalesforceJWTBearer(t *testing.T) {
	key, keyPEM := testRSAKey(t)
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) {
		ts.expiresIn = 0 // Salesforce sends no expires_in
		ts.extra = map[string]any{"instance_url": "https://acme.my.salesforce.com", "issued_at": "1793606400000", "signature": "sig"}
	})
	spec := Spec{Provider: Salesforce, AuthType: JWTBearer, TokenURL: ts.URL + "/services/oauth2/token",
		LoginURL: "https://test.salesforce.com", SessionLifetime: 30 * time.Minute, Clock: clock}
	creds := Credentials{KeyClientID: "3MVG9-consumer-key", KeyUsername: "integration@acme.example", KeyPrivateKey: keyPEM}
	src := mustSource(t, spec, creds, nil)

	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	form := ts.form(0)
	if got := form.Get("grant_type"); got != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Errorf("grant_type = %q", got)
	}
	claims := verifyAssertion(t, form.Get("assertion"), &key.PublicKey)
	now := float64(time.Now().Unix())
	exp, _ := claims["exp"].(float64)
	if exp <= now || exp > now+JWTAssertionLifetime.Seconds()+1 {
		t.Errorf("exp must be within 3 minutes from now: exp-now = %.0fs", exp-now)
	}
	got := map[string]any{"iss": claims["iss"], "sub": claims["sub"], "aud": claims["aud"]}
	want := map[string]any{"iss": "3MVG9-consumer-key", "sub": "integration@acme.example", "aud": "https://test.salesforce.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("assertion claims: -want, +got:\n%s", diff)
	}
	if diff := cmp.Diff(clock.Now().Add(30*time.Minute), tok.Expiry); diff != "" {
		t.Errorf("without expires_in the expiry is issue time + session lifetime: -want, +got:\n%s", diff)
	}
	if tok.Extra("instance_url") != "https://acme.my.salesforce.com" || src.BaseURL() != "https://acme.my.salesforce.com" {
		t.Errorf("instance_url must reach Extra and BaseURL, got %v / %q", tok.Extra("instance_url"), src.BaseURL())
	}
	if tok.Type() != "Bearer" {
		t.Errorf("Type() = %q", tok.Type())
	}
}

func TestClientCredentials(t *testing.T) {
	cases := map[string]struct {
		reason    string
		provider  string
		scopes    []string
		wantScope string
		extra     map[string]any
		wantBase  string
	}{
		"Dynamics": {
			reason:    "Azure AD gets the environment's .default scope; no refresh token comes back.",
			provider:  Dynamics,
			scopes:    []string{"https://acme.crm.dynamics.com/.default"},
			wantScope: "https://acme.crm.dynamics.com/.default",
			extra:     map[string]any{"ext_expires_in": 3599},
		},
		"Salesforce": {
			reason:   "Salesforce client credentials on My Domain return instance_url.",
			provider: Salesforce,
			extra:    map[string]any{"instance_url": "https://acme.my.salesforce.com"},
			wantBase: "https://acme.my.salesforce.com",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			ts := newTokenServer(t, clock)
			ts.set(func(ts *tokenServer) { ts.expiresIn = 3599; ts.extra = tc.extra })
			spec := Spec{Provider: tc.provider, AuthType: OAuth2ClientCredentials, TokenURL: ts.URL, Scopes: tc.scopes, Clock: clock}
			store := NewMemoryStore(nil)
			src := mustSource(t, spec, Credentials{KeyClientID: "app-id", KeyClientSecret: "cs-SECRET-cc"}, store)
			tok, err := src.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			form := ts.form(0)
			got := map[string]string{"grant_type": form.Get("grant_type"), "client_id": form.Get("client_id"),
				"client_secret": form.Get("client_secret"), "scope": form.Get("scope")}
			want := map[string]string{"grant_type": "client_credentials", "client_id": "app-id", "client_secret": "cs-SECRET-cc", "scope": tc.wantScope}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s\ntoken request form: -want, +got:\n%s", tc.reason, diff)
			}
			if diff := cmp.Diff(clock.Now().Add(3599*time.Second), tok.Expiry); diff != "" {
				t.Errorf("expiry from expires_in on the injected clock: -want, +got:\n%s", diff)
			}
			if src.BaseURL() != tc.wantBase {
				t.Errorf("BaseURL() = %q, want %q", src.BaseURL(), tc.wantBase)
			}
			// Expired: a new grant, not a refresh.
			clock.Advance(time.Hour)
			if _, err := src.Token(context.Background()); err != nil {
				t.Fatal(err)
			}
			if ts.Calls() != 2 || ts.form(1).Get("grant_type") != "client_credentials" {
				t.Errorf("an expired client credentials token is replaced by a new grant")
			}
		})
	}
}

func TestZohoRefresh(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) {
		ts.expiresIn = 3600
		ts.extra = map[string]any{"api_domain": "https://www.zohoapis.eu", "scope": "ZohoCRM.modules.ALL"}
	})
	src := mustSource(t, refreshSpec(Zoho, ts.URL, clock), refreshCreds(), NewMemoryStore(nil))
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "https://www.zohoapis.eu/crm/v8/Contacts", nil)
	SetAuthHeader(req, tok)
	if got, want := req.Header.Get("Authorization"), "Zoho-oauthtoken "+tok.AccessToken; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	// oauth2's own header logic agrees, so transports that use tok.Type() work too.
	if tok.Type() != "Zoho-oauthtoken" {
		t.Errorf("Type() = %q", tok.Type())
	}
	if tok.Extra("api_domain") != "https://www.zohoapis.eu" || src.BaseURL() != "https://www.zohoapis.eu" {
		t.Errorf("api_domain must reach Extra and BaseURL")
	}
	form := ts.form(0)
	if form.Get("client_secret") != "cs-SECRET-7f3a9c" || form.Get("grant_type") != "refresh_token" {
		t.Errorf("Zoho takes the client credentials in the form, got %v", redactForm(form))
	}
}

func TestPipedriveOAuthUsesBasicAuthAndAPIDomain(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) {
		ts.expiresIn = 3599
		ts.rotate = true
		ts.extra = map[string]any{"api_domain": "https://acme.pipedrive.com/", "scope": "base"}
	})
	src := mustSource(t, refreshSpec(Pipedrive, ts.URL, clock), refreshCreds(), NewMemoryStore(nil))
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	user, pass, ok := (&http.Request{Header: ts.header(0)}).BasicAuth()
	if !ok || user != "client-id-1" || pass != "cs-SECRET-7f3a9c" {
		t.Errorf("Pipedrive wants Basic client_id:client_secret")
	}
	if ts.form(0).Get("client_secret") != "" {
		t.Errorf("the client secret must not also go in the form")
	}
	if src.BaseURL() != "https://acme.pipedrive.com" {
		t.Errorf("BaseURL() = %q", src.BaseURL())
	}
}

func TestStaticTokens(t *testing.T) {
	cases := map[string]struct {
		reason     string
		provider   string
		authType   string
		wantHeader string
		wantValue  string
		wantMsg    string
	}{
		"HubSpotPrivateApp": {
			reason:   "A private app token is a Bearer token.",
			provider: HubSpot, authType: PrivateAppToken,
			wantHeader: "Authorization", wantValue: "Bearer pat-SECRET-na1-0000",
			wantMsg: `hubspot: authenticate: HTTP 401 invalid_grant: private app token rejected (the CRM answered 401 Unauthorized): replace key "token" in the credentials Secret`,
		},
		"PipedriveAPIToken": {
			reason:   "A Pipedrive API token goes in x-api-token, not Authorization.",
			provider: Pipedrive, authType: APIToken,
			wantHeader: "X-Api-Token", wantValue: "pat-SECRET-na1-0000",
			wantMsg: `pipedrive: authenticate: HTTP 401 invalid_grant: API token rejected (the CRM answered 401 Unauthorized): replace key "token" in the credentials Secret`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			src := mustSource(t, Spec{Provider: tc.provider, AuthType: tc.authType, Clock: clock},
				Credentials{KeyToken: "pat-SECRET-na1-0000\n"}, nil)
			tok, err := src.Token(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !tok.Expiry.IsZero() || src.NextRefresh(nil) != Never {
				t.Errorf("%s\na static token never expires and is never refreshed", tc.reason)
			}
			req := httptest.NewRequest(http.MethodGet, "https://example.invalid/", nil)
			src.SetAuthHeader(req, tok)
			if got := req.Header.Get(tc.wantHeader); got != tc.wantValue {
				t.Errorf("%s\n%s = %q, want %q", tc.reason, tc.wantHeader, got, tc.wantValue)
			}
			if tc.authType == APIToken && req.Header.Get("Authorization") != "" {
				t.Errorf("an API token must not also be sent as Authorization")
			}
			clock.Advance(24 * time.Hour)
			src.Invalidate(tok)
			_, err = src.Token(context.Background())
			if !IsReauthorizationRequired(err) {
				t.Fatalf("a rejected static token cannot be refreshed: want a re-authorisation error, got %v", err)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("error:\nwant %s\ngot  %s", tc.wantMsg, err)
			}
		})
	}
}

func redactForm(v url.Values) url.Values {
	out := url.Values{}
	for k := range v {
		out.Set(k, "…")
	}
	return out
}
