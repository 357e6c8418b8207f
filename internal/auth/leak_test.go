package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// captureLogger returns a logger that records every line at every verbosity.
func captureLogger() (logr.Logger, func() string) {
	var mu sync.Mutex
	var b strings.Builder
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&b, "%s %s\n", prefix, args)
	}, funcr.Options{Verbosity: 10, LogCaller: funcr.None})
	return log, func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
}

// TestNoSecretInLogsOrErrors pushes a full lifecycle (refresh, rotation, a failed save, an outage, an
// invalidated token, a restart, a revoked grant that the CRM echoes back, a JWT key and a rejected
// static token) through a logger that records everything, and checks that no secret value appears in
// any log line or error string.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	log, logged := captureLogger()
	_, keyPEM := testRSAKey(t)
	ctx := context.Background()
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%v|%+v|%#v", err, err, err))
		}
	}

	clock := newFakeClock()
	ts := newTokenServer(t, clock)
	creds := refreshCreds()
	ts.set(func(ts *tokenServer) {
		ts.rotate = true
		ts.extra = map[string]any{"instance_url": "https://acme.my.salesforce.com"}
	})
	store := newFlakyStore(nil)
	spec := refreshSpec(Salesforce, ts.URL, clock)
	spec.Logger = log

	// Refresh with rotation.
	src := mustSource(t, spec, creds, store)
	_, err := src.Token(ctx)
	note(err)
	if err != nil {
		t.Fatal(err)
	}
	// A rotation whose save fails, then succeeds.
	clock.Advance(5 * time.Minute)
	store.setErrs(nil, errStoreDown)
	_, err = src.Token(ctx)
	note(err)
	store.setErrs(nil, nil)
	clock.Advance(2 * time.Second)
	_, err = src.Token(ctx)
	note(err)
	// An outage.
	ts.set(func(ts *tokenServer) {
		ts.fail = func(int, url.Values) (int, http.Header, string) { return 503, nil, `{"error":"server_error"}` }
	})
	clock.Advance(time.Hour)
	_, err = src.Token(ctx)
	note(err)
	ts.set(func(ts *tokenServer) { ts.fail = nil })
	clock.Advance(time.Minute)
	tok, err := src.Token(ctx)
	note(err)
	// The CRM rejects the access token; the next use refreshes.
	clock.Advance(time.Minute)
	src.Invalidate(tok)
	_, err = src.Token(ctx)
	note(err)
	// A restart reads the rotated token back.
	restarted := mustSource(t, spec, creds, store)
	_, err = restarted.Token(ctx)
	note(err)
	// The grant is revoked, and the CRM's error echoes the refresh token and the client secret.
	ts.set(func(ts *tokenServer) {
		ts.fail = func(_ int, form url.Values) (int, http.Header, string) {
			return 400, nil, fmt.Sprintf(`{"error":"invalid_grant","error_description":"refresh token %s of client %s:%s was revoked"}`,
				form.Get("refresh_token"), form.Get("client_id"), form.Get("client_secret"))
		}
	})
	clock.Advance(time.Hour)
	_, err = restarted.Token(ctx)
	note(err)
	if !IsReauthorizationRequired(err) {
		t.Fatalf("want a re-authorisation error, got %v", err)
	}
	note(restarted.Refresh(ctx))
	note(restarted.Err())

	// A JWT bearer source whose assertion is refused, and a static token that is rejected.
	jwtSpec := Spec{Provider: Salesforce, AuthType: JWTBearer, TokenURL: ts.URL, Clock: clock, Logger: log}
	jwtCreds := Credentials{KeyClientID: "3MVG9-id", KeyUsername: "u@acme.example", KeyPrivateKey: keyPEM}
	jwtSrc := mustSource(t, jwtSpec, jwtCreds, nil)
	_, err = jwtSrc.Token(ctx)
	note(err)
	staticCreds := Credentials{KeyToken: "pat-SECRET-eu1-abcdef"}
	static := mustSource(t, Spec{Provider: HubSpot, AuthType: PrivateAppToken, Clock: clock, Logger: log}, staticCreds, nil)
	st, _ := static.Token(ctx)
	static.Invalidate(st)
	_, err = static.Token(ctx)
	note(err)

	// A Source, its credentials and a stored token printed by mistake.
	saved, _ := store.Load(ctx)
	errs = append(errs, fmt.Sprintf("%v %+v %#v %v %#v %v %#v", src, src, src, creds, creds, saved, *saved))
	log.Info("printing by mistake", "creds", creds, "stored", saved)

	secrets := []string{creds[KeyClientSecret], creds[KeyRefreshToken], staticCreds[KeyToken]}
	ts.mu.Lock()
	secrets = append(secrets, ts.usedRTs...)
	ts.mu.Unlock()
	secrets = append(secrets, ts.issuedTokens()...)
	secrets = append(secrets, saved.RefreshToken)
	for _, line := range strings.Split(keyPEM, "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	if len(ts.issuedTokens()) < 4 {
		t.Fatalf("the lifecycle issued only %d tokens; it must exercise rotation and refresh", len(ts.issuedTokens()))
	}

	out := logged()
	for _, want := range []string{"Access token refreshed", `"rotated"=true`, "Persisted the rotated refresh token", "Token refresh failed", "Credentials rejected", "Static token rejected"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q: the lifecycle was not exercised", want)
		}
	}
	haystack := out + "\n" + strings.Join(errs, "\n")
	for _, s := range secrets {
		if s != "" && strings.Contains(haystack, s) {
			t.Errorf("secret value %.12s... appears in logs or errors", s)
		}
	}
	if !strings.Contains(haystack, "was revoked") || !strings.Contains(haystack, "[REDACTED]") {
		t.Errorf("the CRM's echo of the refresh token must be reported with the secret scrubbed out")
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("log:\n%s\nerrors:\n%s", out, strings.Join(errs, "\n"))
	}
}
