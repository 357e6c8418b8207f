package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestRedactURL(t *testing.T) {
	cases := []struct{ reason, in, want string }{
		{"no query", "https://api.hubapi.com/crm/v3/objects/contacts", "https://api.hubapi.com/crm/v3/objects/contacts"},
		{"access token", "https://x.test/a?access_token=s3cr3t&limit=10", "https://x.test/a?access_token=REDACTED&limit=10"},
		{"legacy api keys", "https://x.test/a?hapikey=k&api_token=t&after=5", "https://x.test/a?after=5&api_token=REDACTED&hapikey=REDACTED"},
		{"client secret and code", "https://x.test/cb?code=c&client_secret=s&state=1", "https://x.test/cb?client_secret=REDACTED&code=REDACTED&state=1"},
		{"user info", "https://user:pass@x.test/a", "https://REDACTED@x.test/a"},
		{"unparsable", "http://[::1", "(unparsable URL)"},
	}
	for _, tc := range cases {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("%s: RedactURL(%q) = %q, want %q", tc.reason, tc.in, got, tc.want)
		}
	}
}

// failingTokens fails the way golang.org/x/oauth2 does, with the token endpoint's body in the error.
type failingTokens struct{ body string }

func (f failingTokens) Token(context.Context) (*oauth2.Token, error) {
	return nil, &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: 400},
		Body:             []byte(f.body),
		ErrorCode:        "invalid_grant",
		ErrorDescription: "expired access/refresh token",
	}
}

// TestNoSecretReachesErrorsOrHooks drives every failure path with credentials in the token, the query
// string and the request body, captures everything the client hands out (errors in every format, hook
// calls) and looks for the secrets.
func TestNoSecretReachesErrorsOrHooks(t *testing.T) {
	const (
		token       = "pat-na1-TOKENSECRET"
		querySecret = "QUERYSECRET"
		bodySecret  = "BODYSECRET"
	)
	var captured []string
	capture := func(err error) {
		if err == nil {
			return
		}
		captured = append(captured, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%v", errors.Unwrap(err)))
	}
	echo := func(status int) func(int, http.ResponseWriter, *http.Request) {
		return func(_ int, w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Echo", r.Header.Get("Authorization"))
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"status":"error","message":"you sent %s with %s and %s","category":"VALIDATION_ERROR"}`,
				r.Header.Get("Authorization"), r.URL.RawQuery, b)
		}
	}
	newClient := func(base string, tokens TokenSource) *Client {
		c, err := New(Config{Provider: "hubspot", BaseURL: base, Tokens: tokens, MaxAttempts: 2,
			BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
			Hooks: Hooks{OnCall: func(ci CallInfo) { captured = append(captured, fmt.Sprintf("%+v", ci)) }}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	req := Request{Op: "create contact", Method: "POST", Path: "/c?access_token=" + querySecret + "&client_secret=" + querySecret,
		Body: []byte(`{"client_secret":"` + bodySecret + `"}`), Idempotent: true}
	tokens := &rotatingTokens{tokens: []string{token, token}}

	for _, status := range []int{400, 401, 403, 429, 500} {
		srv, _ := countingServer(t, echo(status))
		_, err := newClient(srv.URL, tokens).Do(context.Background(), req)
		capture(err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	_, err = newClient(closed, tokens).Do(context.Background(), req)
	capture(err)

	slow, _ := countingServer(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a closed connection only after the body
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	_, err = newClient(slow.URL, tokens).Do(ctx, req)
	cancel()
	capture(err)

	_, err = newClient(slow.URL, failingTokens{body: `{"error":"invalid_grant","access_token":"` + token + `"}`}).Do(context.Background(), req)
	capture(err)

	if len(captured) < 20 {
		t.Fatalf("captured only %d texts; the scenarios did not run", len(captured))
	}
	for _, text := range captured {
		for _, secret := range []string{token, querySecret, bodySecret} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q leaked into %q", secret, text)
			}
		}
	}
}
