package auth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/crmerr"
)

func TestConcurrentCallersCauseOneRefresh(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) { ts.delay = 50 * time.Millisecond; ts.rotate = true })
	creds := refreshCreds()
	// A cached token that expired an hour ago, from the same credentials.
	store := NewMemoryStore(&StoredToken{
		AccessToken: "at-stale", RefreshToken: creds[KeyRefreshToken], TokenType: "Bearer",
		IssuedAt: clock.Now().Add(-2 * time.Hour), Expiry: clock.Now().Add(-time.Hour),
		CredentialsHash: CredentialsHash(HubSpot, OAuth2RefreshToken, creds),
	})
	src := mustSource(t, refreshSpec(HubSpot, ts.URL, clock), creds, store)

	const callers = 10
	tokens := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tok, err := src.Token(context.Background())
			errs[i] = err
			if tok != nil {
				tokens[i] = tok.AccessToken
			}
		}()
	}
	close(start)
	wg.Wait()

	if got := ts.Calls(); got != 1 {
		t.Fatalf("%d concurrent callers with an expired token made %d token requests, want exactly 1", callers, got)
	}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] || tokens[i] == "at-stale" {
			t.Errorf("caller %d got %q, want the one new token %q", i, tokens[i], tokens[0])
		}
	}
}

func TestRotatedRefreshTokenIsPersistedBeforeUseAndSurvivesRestart(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	creds := refreshCreds()
	ts.set(func(ts *tokenServer) { ts.rotate = true; ts.validRT = creds[KeyRefreshToken] })
	store := newFlakyStore(nil)
	var returned []string
	store.onSave = func(st StoredToken) {
		// A token is saved before it is handed out, never after.
		if slices.Contains(returned, st.AccessToken) {
			t.Errorf("the token expiring at %s was returned before it was saved", st.Expiry)
		}
	}
	src := mustSource(t, refreshSpec(Salesforce, ts.URL, clock), creds, store)
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	returned = append(returned, tok.AccessToken)
	saved, _ := store.Load(context.Background())
	if saved == nil || saved.AccessToken != tok.AccessToken || saved.RefreshToken == creds[KeyRefreshToken] {
		t.Fatalf("after a rotation the store must hold the returned access token and the new refresh token, got %+v", saved)
	}

	// The old refresh token is dead now. A restarted manager (a new Source on the same store) must
	// refresh with the rotated one.
	clock.Advance(10 * time.Minute)
	restarted := mustSource(t, refreshSpec(Salesforce, ts.URL, clock), creds, store)
	if _, err := restarted.Token(context.Background()); err != nil {
		t.Fatalf("after a restart: %v (the rotated refresh token was not used)", err)
	}
	ts.mu.Lock()
	used := append([]string(nil), ts.usedRTs...)
	ts.mu.Unlock()
	if diff := cmp.Diff([]string{creds[KeyRefreshToken], saved.RefreshToken}, used); diff != "" {
		t.Errorf("refresh tokens sent to the token endpoint: -want, +got:\n%s", diff)
	}
}

func TestRestartReusesCachedAccessToken(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	creds := refreshCreds()
	store := NewMemoryStore(&StoredToken{
		AccessToken: "at-cached", RefreshToken: "rt-rotated", TokenType: "Bearer",
		IssuedAt: clock.Now().Add(-5 * time.Minute), Expiry: clock.Now().Add(25 * time.Minute),
		BaseURL: "https://acme.my.salesforce.com", CredentialsHash: CredentialsHash(Salesforce, OAuth2RefreshToken, creds),
	})
	src := mustSource(t, refreshSpec(Salesforce, ts.URL, clock), creds, store)
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "at-cached" || ts.Calls() != 0 {
		t.Errorf("a valid cached token must be reused without a token request: got %q after %d requests", tok.AccessToken, ts.Calls())
	}
	if got := tok.Extra("instance_url"); got != "https://acme.my.salesforce.com" {
		t.Errorf("Extra(instance_url) = %v", got)
	}
	if got := src.BaseURL(); got != "https://acme.my.salesforce.com" {
		t.Errorf("BaseURL() = %q", got)
	}
	if tok.RefreshToken != "" {
		t.Errorf("Token must not hand out the refresh token")
	}
}

func TestChangedCredentialsWinOverCache(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	old := refreshCreds()
	store := NewMemoryStore(&StoredToken{
		AccessToken: "at-of-old-consent", RefreshToken: "rt-rotated-of-old-consent", TokenType: "Bearer",
		IssuedAt: clock.Now(), Expiry: clock.Now().Add(time.Hour),
		CredentialsHash: CredentialsHash(Zoho, OAuth2RefreshToken, old),
	})
	reauthorised := refreshCreds()
	reauthorised[KeyRefreshToken] = "rt-SECRET-new-consent"
	src := mustSource(t, refreshSpec(Zoho, ts.URL, clock), reauthorised, store)
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "at-of-old-consent" {
		t.Fatalf("the cached token of the old credentials was used after the user re-authorised")
	}
	ts.mu.Lock()
	used := append([]string(nil), ts.usedRTs...)
	ts.mu.Unlock()
	if diff := cmp.Diff([]string{"rt-SECRET-new-consent"}, used); diff != "" {
		t.Errorf("refresh tokens used: -want, +got:\n%s", diff)
	}
	saved, _ := store.Load(context.Background())
	if saved.CredentialsHash != CredentialsHash(Zoho, OAuth2RefreshToken, reauthorised) {
		t.Errorf("the new token must be stored with the new credentials' hash")
	}
}

func TestFailedSaveOfRotatedTokenHoldsTokenBack(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) { ts.rotate = true })
	store := newFlakyStore(nil)
	src := mustSource(t, refreshSpec(HubSpot, ts.URL, clock), refreshCreds(), store)

	store.setErrs(nil, errStoreDown)
	tok, err := src.Token(context.Background())
	if err == nil || tok != nil {
		t.Fatalf("Token must fail while the rotated refresh token cannot be saved, got %v, %v", tok, err)
	}
	if !crmerr.Is(err, crmerr.Transient) {
		t.Errorf("a failed Save is Transient, got %v", err)
	}
	want := "hubspot: persist rotated refresh token: the token Secret could not be written; the new access token is held back until it is: etcdserver: request timed out"
	if err.Error() != want {
		t.Errorf("error:\nwant %s\ngot  %s", want, err)
	}

	// The store recovers; after the failure hold the pending token is saved and used, without asking the
	// token endpoint again (which would spend the rotated refresh token a second time).
	store.setErrs(nil, nil)
	clock.Advance(2 * time.Second)
	tok, err = src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ts.Calls() != 1 {
		t.Errorf("token requests: want 1, got %d", ts.Calls())
	}
	saved, _ := store.Load(context.Background())
	if saved == nil || saved.AccessToken != tok.AccessToken {
		t.Errorf("the returned token must be the saved one")
	}
}

func TestFailedSaveWithoutRotationStillUsesToken(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock) // no rotation
	store := newFlakyStore(nil)
	store.setErrs(nil, errStoreDown)
	src := mustSource(t, refreshSpec(Zoho, ts.URL, clock), refreshCreds(), store)
	if _, err := src.Token(context.Background()); err != nil {
		t.Errorf("without rotation nothing irreplaceable is lost, so a failed cache write must not fail Token: %v", err)
	}
}

func TestLoadFailureBlocksTokenRequest(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	store := newFlakyStore(nil)
	store.setErrs(errStoreDown, nil)
	src := mustSource(t, refreshSpec(Salesforce, ts.URL, clock), refreshCreds(), store)
	_, err := src.Token(context.Background())
	if !crmerr.Is(err, crmerr.Transient) || ts.Calls() != 0 {
		t.Errorf("an unreadable token Secret may hold the only live refresh token: want Transient and no token request, got %v after %d requests", err, ts.Calls())
	}
}

func TestCancelledCallerDoesNotLoseRotation(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) { ts.rotate = true; ts.delay = 200 * time.Millisecond })
	store := NewMemoryStore(nil)
	src := mustSource(t, refreshSpec(Salesforce, ts.URL, clock), refreshCreds(), store)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := src.Token(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	// The request went on without the caller, and its rotated refresh token was saved.
	deadline := time.Now().Add(5 * time.Second)
	for store.Saves() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if store.Saves() != 1 {
		t.Fatalf("the rotated refresh token was not saved after the caller gave up")
	}
	if _, err := src.Token(context.Background()); err != nil || ts.Calls() != 1 {
		t.Errorf("the next caller must get the saved token without a new request: %v, %d requests", err, ts.Calls())
	}
}

func TestInvalidate(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	src := mustSource(t, refreshSpec(Salesforce, ts.URL, clock), refreshCreds(), NewMemoryStore(nil))
	ctx := context.Background()
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	src.Invalidate(first)
	if got, _ := src.Token(ctx); got.AccessToken != first.AccessToken || ts.Calls() != 1 {
		t.Errorf("a token rejected moments after issue must not trigger a refresh (a CRM rejecting every token would hammer the token endpoint)")
	}

	clock.Advance(time.Minute)
	src.Invalidate(first)
	second, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken || ts.Calls() != 2 {
		t.Fatalf("after Invalidate the next Token must refresh once: got %d requests", ts.Calls())
	}

	clock.Advance(time.Minute)
	src.Invalidate(first) // a straggler reporting the old token
	if got, _ := src.Token(ctx); got.AccessToken != second.AccessToken || ts.Calls() != 2 {
		t.Errorf("invalidating a token that was already replaced must not refresh again")
	}
}

func TestTransientFailureKeepsUsableTokenAndBacksOff(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	spec := refreshSpec(HubSpot, ts.URL, clock)
	spec.RefreshBefore = 2 * time.Minute
	src := mustSource(t, spec, refreshCreds(), NewMemoryStore(nil))
	ctx := context.Background()
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts.set(func(ts *tokenServer) {
		ts.fail = func(int, url.Values) (int, http.Header, string) {
			return http.StatusServiceUnavailable, nil, `{"status":"error","message":"upstream unavailable"}`
		}
	})
	clock.Advance(4 * time.Minute) // due (2m margin on a 5m token), but 1m left

	tok, err := src.Token(ctx)
	if err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("a failed refresh with a usable token left must return that token, got %v", err)
	}
	err = src.Refresh(ctx)
	if !crmerr.Is(err, crmerr.Transient) {
		t.Fatalf("Refresh must report the failure as Transient, got %v", err)
	}
	if got := ts.Calls(); got != 2 {
		t.Errorf("within the failure hold no new request may be made: want 2 requests, got %d", got)
	}
	want := "hubspot: token request: HTTP 503: upstream unavailable"
	if err.Error() != want {
		t.Errorf("error:\nwant %s\ngot  %s", want, err)
	}

	clock.Advance(2 * time.Minute) // expired now, and past the hold
	if _, err := src.Token(ctx); !crmerr.Is(err, crmerr.Transient) {
		t.Errorf("with the token expired the failure must surface, got %v", err)
	}
	ts.set(func(ts *tokenServer) { ts.fail = nil })
	clock.Advance(5 * time.Second)
	if _, err := src.Token(ctx); err != nil {
		t.Errorf("after the endpoint recovers Token must succeed: %v", err)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	cases := map[string]struct {
		reason     string
		provider   string
		authType   string
		status     int
		header     http.Header
		body       string
		wantKind   crmerr.Kind
		wantCode   string
		wantMsg    string
		wantReauth bool
		wantRetry  time.Duration
	}{
		"SalesforceExpiredRefreshToken": {
			reason:   "invalid_grant names the key to replace.",
			provider: Salesforce, authType: OAuth2RefreshToken, status: 400,
			body:     `{"error":"invalid_grant","error_description":"expired access/refresh token"}`,
			wantKind: crmerr.Auth, wantCode: CodeInvalidGrant, wantReauth: true,
			wantMsg: `salesforce: token request: HTTP 400 invalid_grant: refresh token rejected (invalid_grant: expired access/refresh token): replace key "refresh_token" in the credentials Secret`,
		},
		"HubSpotBadRefreshToken": {
			reason:   "HubSpot's own code for a dead refresh token.",
			provider: HubSpot, authType: OAuth2RefreshToken, status: 400,
			body:     `{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token","correlationId":"c0ffee"}`,
			wantKind: crmerr.Auth, wantCode: CodeInvalidGrant, wantReauth: true,
			wantMsg: `hubspot: token request: HTTP 400 invalid_grant: refresh token rejected (BAD_REFRESH_TOKEN: missing or unknown refresh token): replace key "refresh_token" in the credentials Secret`,
		},
		"AzureInvalidClientSecret": {
			reason:   "AADSTS7000215 is a wrong client secret: name only that key.",
			provider: Dynamics, authType: OAuth2ClientCredentials, status: 401,
			body:     `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}`,
			wantKind: crmerr.Auth, wantCode: CodeInvalidGrant, wantReauth: true,
			wantMsg: `dynamics: token request: HTTP 401 invalid_grant: client credentials rejected (invalid_client: AADSTS7000215: Invalid client secret provided.): replace key "client_secret" in the credentials Secret`,
		},
		"AzureExpiredGrant": {
			reason:   "AADSTS700082 (expired through inactivity) needs a new consent.",
			provider: Dynamics, authType: OAuth2ClientCredentials, status: 400,
			body:     `{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`,
			wantKind: crmerr.Auth, wantCode: CodeInvalidGrant, wantReauth: true,
			wantMsg: `dynamics: token request: HTTP 400 invalid_grant: client credentials rejected (invalid_grant: AADSTS700082: The refresh token has expired due to inactivity.): replace keys "client_id" or "client_secret" in the credentials Secret`,
		},
		"ZohoInvalidCodeIn200": {
			reason:   "Zoho answers 200 with an error field.",
			provider: Zoho, authType: OAuth2RefreshToken, status: 200,
			body:     `{"error":"invalid_code"}`,
			wantKind: crmerr.Auth, wantCode: CodeInvalidGrant, wantReauth: true,
			wantMsg: `zoho: token request: HTTP 200 invalid_grant: refresh token rejected (invalid_code): replace key "refresh_token" in the credentials Secret`,
		},
		"PipedriveInvalidClient": {
			reason:   "invalid_client names the app's keys.",
			provider: Pipedrive, authType: OAuth2RefreshToken, status: 401,
			body:     `{"success":false,"error":"invalid_client","message":"Invalid client"}`,
			wantKind: crmerr.Auth, wantCode: CodeInvalidGrant, wantReauth: true,
			wantMsg: `pipedrive: token request: HTTP 401 invalid_grant: refresh token rejected (invalid_client: Invalid client): replace keys "client_id" or "client_secret" in the credentials Secret`,
		},
		"ServerError": {
			reason:   "5xx is Transient.",
			provider: Salesforce, authType: OAuth2RefreshToken, status: 502, body: `<html>bad gateway</html>`,
			wantKind: crmerr.Transient,
			wantMsg:  `salesforce: token request: HTTP 502: token endpoint unavailable`,
		},
		"RateLimited": {
			reason:   "429 is RateLimited with Retry-After honoured.",
			provider: HubSpot, authType: OAuth2RefreshToken, status: 429, header: http.Header{"Retry-After": {"7"}},
			body:     `{"status":"error","message":"You have reached your ten_secondly_rolling limit."}`,
			wantKind: crmerr.RateLimited, wantRetry: 7 * time.Second,
			wantMsg: `hubspot: token request: HTTP 429: You have reached your ten_secondly_rolling limit. (retry after 2026-11-02T08:00:07Z)`,
		},
		"ZohoTooManyRequests": {
			reason:   "Zoho's token endpoint throttles with a 400 Access Denied.",
			provider: Zoho, authType: OAuth2RefreshToken, status: 400,
			body:     `{"error":"Access Denied","error_description":"You have made too many requests continuously. Please try again after some time."}`,
			wantKind: crmerr.RateLimited, wantCode: "Access Denied", wantRetry: time.Minute,
			wantMsg: `zoho: token request: HTTP 400 Access Denied: You have made too many requests continuously. Please try again after some time. (retry after 2026-11-02T08:01:00Z)`,
		},
		"InvalidScope": {
			reason:   "A configuration error is Permanent, not a re-authorisation.",
			provider: Dynamics, authType: OAuth2ClientCredentials, status: 400,
			body:     `{"error":"invalid_scope","error_description":"AADSTS70011: The provided value for scope is not valid."}`,
			wantKind: crmerr.Permanent, wantCode: "invalid_scope",
			wantMsg: `dynamics: token request: HTTP 400 invalid_scope: AADSTS70011: The provided value for scope is not valid.: check the token URL, scopes and app settings of the connection`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			ts := newTokenServer(t, clock)
			ts.set(func(ts *tokenServer) {
				ts.fail = func(int, url.Values) (int, http.Header, string) { return tc.status, tc.header, tc.body }
			})
			spec := Spec{Provider: tc.provider, AuthType: tc.authType, TokenURL: ts.URL, Clock: clock}
			creds := refreshCreds()
			if tc.provider == Dynamics {
				spec.Scopes = []string{"https://acme.crm.dynamics.com/.default"}
			}
			src := mustSource(t, spec, creds, NewMemoryStore(nil))
			_, err := src.Token(context.Background())
			var ce *crmerr.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s\nwant a *crmerr.Error, got %T %v", tc.reason, err, err)
			}
			got := struct {
				Kind   crmerr.Kind
				Code   string
				Msg    string
				Reauth bool
				Retry  time.Duration
			}{ce.Kind, ce.Code, ce.Error(), IsReauthorizationRequired(err), 0}
			if !ce.RetryAt.IsZero() {
				got.Retry = ce.RetryAt.Sub(clock.Now())
			}
			want := got
			want.Kind, want.Code, want.Msg, want.Reauth, want.Retry = tc.wantKind, tc.wantCode, tc.wantMsg, tc.wantReauth, tc.wantRetry
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s\n-want, +got:\n%s", tc.reason, diff)
			}
			if tc.wantReauth {
				// No hot loop: a dead grant is never retried by this Source.
				clock.Advance(time.Hour)
				_, again := src.Token(context.Background())
				if ts.Calls() != 1 || !IsReauthorizationRequired(again) {
					t.Errorf("after a re-authorisation error the token endpoint must not be called again: %d requests, %v", ts.Calls(), again)
				}
			}
		})
	}
}

func TestTokenEndpointTimeoutIsTransient(t *testing.T) {
	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	ts.set(func(ts *tokenServer) { ts.delay = 300 * time.Millisecond })
	spec := refreshSpec(Salesforce, ts.URL, clock)
	spec.HTTPClient = &http.Client{Timeout: 30 * time.Millisecond}
	src := mustSource(t, spec, refreshCreds(), NewMemoryStore(nil))
	_, err := src.Token(context.Background())
	if !crmerr.Is(err, crmerr.Transient) || IsReauthorizationRequired(err) {
		t.Errorf("a timeout must be Transient, got %v", err)
	}
}

func TestReauthorizationErrorDescribe(t *testing.T) {
	re := &ReauthorizationError{Provider: Salesforce, AuthType: OAuth2RefreshToken, Keys: []string{KeyRefreshToken},
		VendorCode: "invalid_grant", Description: "expired access/refresh token"}
	want := `refresh token rejected (invalid_grant: expired access/refresh token): replace key "refresh_token" in Secret acme/sf-creds`
	if got := re.Describe("acme/sf-creds"); got != want {
		t.Errorf("Describe:\nwant %s\ngot  %s", want, got)
	}
}

func TestNewSourceRejectsBadConfiguration(t *testing.T) {
	creds := Credentials{KeyClientID: "id", KeyClientSecret: "secret"}
	cases := map[string]struct {
		reason string
		spec   Spec
		creds  Credentials
		store  TokenStore
	}{
		"SalesforceClientCredentialsWithoutMyDomain": {
			reason: "login.salesforce.com does not serve client credentials.",
			spec:   Spec{Provider: Salesforce, AuthType: OAuth2ClientCredentials},
			creds:  creds,
		},
		"DynamicsWithoutScope": {
			reason: "Azure AD needs the environment's .default scope.",
			spec:   Spec{Provider: Dynamics, AuthType: OAuth2ClientCredentials, TokenURL: "https://login.microsoftonline.com/t/oauth2/v2.0/token"},
			creds:  creds,
		},
		"RefreshTokenWithoutStore": {
			reason: "A rotated refresh token needs somewhere to go.",
			spec:   Spec{Provider: HubSpot, AuthType: OAuth2RefreshToken},
			creds:  refreshCreds(),
		},
		"Unsupported": {
			reason: "Zoho has no client credentials.",
			spec:   Spec{Provider: Zoho, AuthType: OAuth2ClientCredentials},
			creds:  creds,
			store:  NewMemoryStore(nil),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewSource(tc.spec, tc.creds, tc.store)
			if !crmerr.Is(err, crmerr.Permanent) {
				t.Errorf("%s\nwant a Permanent error, got %v", tc.reason, err)
			}
		})
	}
	_, err := NewSource(Spec{Provider: HubSpot, AuthType: OAuth2RefreshToken}, Credentials{}, NewMemoryStore(nil))
	var ce *CredentialsError
	if !errors.As(err, &ce) || len(ce.Missing) != 3 {
		t.Errorf("missing keys must come back as *CredentialsError naming all three, got %v", err)
	}
}

// Compile-time check that a Source is what the transport needs.
var _ interface {
	Token(context.Context) (*oauth2.Token, error)
	Invalidate(*oauth2.Token)
	SetAuthHeader(*http.Request, *oauth2.Token)
} = (*Source)(nil)
