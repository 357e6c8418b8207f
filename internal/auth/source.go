// Package auth provides the token sources that authenticate crmsync to each CRM, their refresh
// scheduling, and the persistence of rotated refresh tokens.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// Defaults and bounds of a Source.
const (
	// DefaultSessionLifetime is the lifetime assumed for a token whose response carries no expires_in
	// (Salesforce: the org's session timeout, 2 h by default).
	DefaultSessionLifetime = 2 * time.Hour
	// DefaultHTTPTimeout bounds one token request when Spec.HTTPClient is nil.
	DefaultHTTPTimeout = 30 * time.Second
	// JWTAssertionLifetime is the exp of a JWT bearer assertion; Salesforce accepts at most 3 minutes.
	JWTAssertionLifetime = 3 * time.Minute
	// MinTokenAgeToInvalidate protects the token endpoint from a CRM that rejects every token: Invalidate
	// ignores a token issued less than this long ago, so a persistent 401 costs no extra refreshes.
	MinTokenAgeToInvalidate = 10 * time.Second

	flightTimeout  = 2 * time.Minute
	minFailureHold = time.Second
	maxFailureHold = time.Minute
	opPersist      = "persist rotated refresh token"
	opLoad         = "load cached token"
	opConfigure    = "configure authentication"
)

// Clock tells a Source the time. transport.Clock satisfies it.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Spec configures a Source.
type Spec struct {
	// Provider and AuthType pick the scheme, such as Salesforce and OAuth2RefreshToken.
	Provider, AuthType string
	// TokenURL is the token endpoint. Empty derives it from Provider and LoginURL (ResolveTokenURL with
	// only LoginURL set); Dynamics needs it resolved by the caller (ResolveTokenURL with the tenant).
	TokenURL string
	// LoginURL is the Salesforce login host, the audience of JWT bearer assertions. Empty means
	// https://login.salesforce.com.
	LoginURL string
	// Scopes are requested by client credentials grants; Dynamics needs DefaultScopes.
	Scopes []string
	// SessionLifetime is the lifetime of a token whose response has no expires_in (Salesforce). Zero means
	// DefaultSessionLifetime.
	SessionLifetime time.Duration
	// RefreshBefore is the least margin before expiry at which a token is refreshed (see RefreshTime).
	RefreshBefore time.Duration
	// HTTPClient sends the token requests. Nil means a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Clock is the time source of expiry and scheduling decisions. Nil means the system clock.
	Clock Clock
	// Logger receives the token lifecycle. It never receives a token, a secret or a credentials value.
	Logger logr.Logger
}

// Source hands out the access token of one connection and refreshes it. It is safe for concurrent use,
// and it is meant to be shared: one Source per connection, used by the controller and every sync, is what
// makes "one refresh at a time" hold.
//
// Contract:
//   - Token refreshes at most once at a time: concurrent callers whose token is due wait for the same
//     token request. The request runs detached from the caller's cancellation (bounded by its own
//     timeout), so a rotated refresh token is never lost to a caller giving up.
//   - The cached token is loaded from the TokenStore on first use and re-read before every refresh, so a
//     restart, or another Source instance, never refreshes with a stale refresh token. A cached token
//     whose CredentialsHash differs from the current credentials is ignored: the user re-authorised.
//   - Every new token is saved to the TokenStore before it is returned. When the refresh token rotated,
//     a failed Save holds the new access token back (the error is returned) and keeps the new refresh
//     token in memory until a later Save succeeds; without rotation a failed Save is logged and the token
//     is used.
//   - After a re-authorisation error (IsReauthorizationRequired) the Source never calls the token endpoint
//     again: build a new Source from the changed credentials. Other failures hold further requests back
//     for 1 s, doubling up to 1 min (a 429 for its Retry-After).
//   - Static tokens (PrivateAppToken, APIToken) never expire and are never refreshed.
type Source struct {
	spec    Spec
	scheme  scheme
	creds   Credentials
	hash    string
	store   TokenStore
	grant   func(ctx context.Context, refreshToken string) (*oauth2.Token, error)
	clock   Clock
	log     logr.Logger
	baseKey string

	mu       sync.Mutex
	loaded   bool
	cur      StoredToken // AccessToken is empty once invalidated
	pending  *StoredToken
	flight   *flight
	fatal    error
	lastErr  error
	hold     time.Time
	failures int
}

type flight struct {
	done chan struct{}
	err  error
}

// NewSource returns a Source for spec. creds are the user's credentials Secret data; store persists the
// token and may be nil only for schemes without a refresh token (the cached access token is then lost on
// restart). It returns a *CredentialsError when creds lack or garble a key, and a Permanent *crmerr.Error
// for an unusable spec. It does no I/O.
func NewSource(spec Spec, creds Credentials, store TokenStore) (*Source, error) {
	sch, err := lookupScheme(spec.Provider, spec.AuthType)
	if err != nil {
		return nil, configError(spec.Provider, err)
	}
	if err := ValidateCredentials(spec.Provider, spec.AuthType, creds); err != nil {
		return nil, err
	}
	if spec.RefreshBefore < 0 || spec.SessionLifetime < 0 {
		return nil, configError(spec.Provider, errors.New("refreshBefore and sessionLifetime must not be negative"))
	}
	if spec.SessionLifetime == 0 {
		spec.SessionLifetime = DefaultSessionLifetime
	}
	if spec.Clock == nil {
		spec.Clock = systemClock{}
	}
	if spec.HTTPClient == nil {
		spec.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	trimmed := make(Credentials, len(creds))
	for k, v := range creds {
		trimmed[k] = strings.TrimSpace(v)
	}
	s := &Source{
		spec:    spec,
		scheme:  sch,
		creds:   trimmed,
		hash:    CredentialsHash(spec.Provider, spec.AuthType, creds),
		store:   store,
		clock:   spec.Clock,
		log:     spec.Logger.WithValues("provider", spec.Provider, "authType", spec.AuthType),
		baseKey: baseURLKey(spec.Provider),
	}
	if sch.static {
		typ := TokenTypeBearer
		if spec.AuthType == APIToken {
			typ = TokenTypeAPIToken
		}
		s.cur = StoredToken{AccessToken: trimmed[KeyToken], TokenType: typ, CredentialsHash: s.hash}
		s.loaded = true
		return s, nil
	}
	if err := s.configureGrant(); err != nil {
		return nil, configError(spec.Provider, err)
	}
	if s.store == nil {
		if spec.AuthType == OAuth2RefreshToken {
			return nil, configError(spec.Provider, errors.New("a TokenStore is required: a rotated refresh token must be persisted"))
		}
		s.store = NewMemoryStore(nil)
	}
	s.cur = StoredToken{RefreshToken: trimmed[KeyRefreshToken], TokenType: tokenType(spec.Provider), CredentialsHash: s.hash}
	return s, nil
}

func configError(provider string, err error) error {
	return &crmerr.Error{Kind: crmerr.Permanent, Provider: provider, Op: opConfigure, Err: err}
}

// Token returns an access token with at least ExpirySafety left, refreshing it first when it is due
// (RefreshTime has passed) or was invalidated. When a due refresh fails but the current token is still
// usable, Token returns the current token; Refresh reports the failure. Errors are *crmerr.Error: Auth
// (IsReauthorizationRequired tells whether a person must act), RateLimited, Transient or Permanent.
func (s *Source) Token(ctx context.Context) (*oauth2.Token, error) {
	return s.get(ctx, false)
}

// Refresh refreshes the token if it is due, missing or invalidated, and returns the error of that refresh
// even when the current token remains usable. A token that is not due is left alone, so calling Refresh
// at the time NextRefresh gave is cheap and idempotent. Static tokens return nil, or the rejection error
// after Invalidate.
func (s *Source) Refresh(ctx context.Context) error {
	_, err := s.get(ctx, true)
	return err
}

func (s *Source) get(ctx context.Context, strict bool) (*oauth2.Token, error) {
	s.mu.Lock()
	now := s.clock.Now()
	if s.scheme.static {
		defer s.mu.Unlock()
		if s.fatal != nil {
			return nil, s.fatal
		}
		return s.current(), nil
	}
	if strict && s.fatal != nil {
		defer s.mu.Unlock()
		return nil, s.fatal
	}
	if s.loaded && s.pending == nil && !s.due(now) {
		defer s.mu.Unlock()
		return s.current(), nil
	}
	f := s.flight
	if f == nil {
		if err := s.blocked(now); err != nil {
			defer s.mu.Unlock()
			if !strict && s.usable(now) {
				return s.current(), nil
			}
			return nil, err
		}
		f = &flight{done: make(chan struct{})}
		s.flight = f
		go s.fly(context.WithoutCancel(ctx), f)
	}
	s.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, &crmerr.Error{Kind: crmerr.Transient, Provider: s.spec.Provider, Op: opToken, Err: ctx.Err()}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now = s.clock.Now()
	switch {
	case f.err == nil && s.usable(now):
		return s.current(), nil
	case f.err == nil:
		return nil, &crmerr.Error{Kind: crmerr.Transient, Provider: s.spec.Provider, Op: opToken,
			Message: "the token endpoint issued a token that expires within " + ExpirySafety.String()}
	case !strict && s.usable(now):
		return s.current(), nil
	default:
		return nil, f.err
	}
}

// blocked returns why no token request may start now. s.mu is held.
func (s *Source) blocked(now time.Time) error {
	if s.fatal != nil {
		return s.fatal
	}
	if s.lastErr != nil && now.Before(s.hold) {
		return s.lastErr
	}
	return nil
}

// due reports whether the current token must be replaced. s.mu is held.
func (s *Source) due(now time.Time) bool {
	if s.cur.AccessToken == "" {
		return true
	}
	return !s.cur.Expiry.IsZero() && !now.Before(refreshDeadline(s.cur.IssuedAt, s.cur.Expiry, s.spec.RefreshBefore))
}

// usable reports whether the current token has at least ExpirySafety left. s.mu is held.
func (s *Source) usable(now time.Time) bool {
	return s.cur.AccessToken != "" && (s.cur.Expiry.IsZero() || now.Before(s.cur.Expiry.Add(-ExpirySafety)))
}

// current returns a copy of the current token, without its refresh token. s.mu is held.
func (s *Source) current() *oauth2.Token {
	t := &oauth2.Token{AccessToken: s.cur.AccessToken, TokenType: s.cur.TokenType, Expiry: s.cur.Expiry}
	if s.cur.BaseURL == "" {
		return t
	}
	return t.WithExtra(map[string]any{s.baseKey: s.cur.BaseURL})
}

// fly runs one token request on behalf of every caller waiting on f.
func (s *Source) fly(ctx context.Context, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, flightTimeout)
	defer cancel()
	err := s.refresh(ctx)

	s.mu.Lock()
	s.flight = nil
	f.err = err
	s.recordOutcome(err)
	s.mu.Unlock()
	close(f.done)
}

// recordOutcome updates the failure hold after a flight. s.mu is held.
func (s *Source) recordOutcome(err error) {
	if err == nil {
		s.lastErr, s.failures, s.hold = nil, 0, time.Time{}
		return
	}
	s.lastErr = err
	if IsReauthorizationRequired(err) {
		s.fatal = err
		s.log.Error(err, "Credentials rejected: a person must re-authorise and update the credentials Secret")
		return
	}
	s.failures++
	wait := min(minFailureHold<<min(s.failures-1, 10), maxFailureHold)
	now := s.clock.Now()
	if at, ok := crmerr.RetryAt(err); ok && at.After(now.Add(wait)) {
		wait = at.Sub(now)
	}
	s.hold = now.Add(wait)
	s.log.Error(err, "Token refresh failed", "retryIn", wait)
}

// refresh persists a pending rotated token, re-reads the store, and asks the token endpoint for a new
// token if the current one is still due. It runs in one flight at a time.
func (s *Source) refresh(ctx context.Context) error {
	if err := s.persistPending(ctx); err != nil {
		return err
	}
	if err := s.reload(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	due, used := s.due(s.clock.Now()), s.cur.RefreshToken
	s.mu.Unlock()
	if !due {
		return nil
	}
	return s.exchange(ctx, used)
}

func (s *Source) persistPending(ctx context.Context) error {
	s.mu.Lock()
	p := s.pending
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := s.store.Save(ctx, *p); err != nil {
		return s.persistError(err, *p)
	}
	s.mu.Lock()
	s.cur, s.pending = *p, nil
	s.mu.Unlock()
	s.log.Info("Persisted the rotated refresh token", "expiry", p.Expiry)
	return nil
}

// reload adopts the stored token when it belongs to the current credentials and is newer than ours.
func (s *Source) reload(ctx context.Context) error {
	st, err := s.store.Load(ctx)
	if err != nil {
		return &crmerr.Error{Kind: crmerr.Transient, Provider: s.spec.Provider, Op: opLoad,
			Message: "the token Secret could not be read; no token request is made without it, since it may hold a rotated refresh token",
			Err:     s.redactor().wrap(err)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	first := !s.loaded
	s.loaded = true
	switch {
	case st == nil:
	case st.CredentialsHash != s.hash:
		if first {
			s.log.Info("Ignoring the cached token: the credentials Secret changed since it was issued")
		}
	case first || st.IssuedAt.After(s.cur.IssuedAt):
		if st.RefreshToken == "" {
			st.RefreshToken = s.cur.RefreshToken
		}
		if st.TokenType == "" {
			st.TokenType = tokenType(s.spec.Provider)
		}
		s.cur = *st
		s.log.V(1).Info("Using the cached token", "issuedAt", st.IssuedAt, "expiry", st.Expiry)
	}
	return nil
}

// exchange asks the token endpoint for a new token and persists it before adopting it.
func (s *Source) exchange(ctx context.Context, used string) error {
	start, realStart := s.clock.Now(), time.Now()
	s.log.V(1).Info("Requesting a new access token")
	tok, err := s.grant(context.WithValue(ctx, oauth2.HTTPClient, s.spec.HTTPClient), used)
	if err != nil {
		return s.classify(err, start)
	}
	st := s.stored(tok, used, start, realStart)
	rotated := st.RefreshToken != used
	if err := s.store.Save(ctx, st); err != nil {
		if rotated {
			s.mu.Lock()
			s.pending = &st
			s.mu.Unlock()
			return s.persistError(err, st)
		}
		s.log.Info("Could not cache the new access token; using it anyway", "error", s.redactor(st.AccessToken).scrub(err.Error()))
	}
	s.mu.Lock()
	s.cur = st
	s.mu.Unlock()
	s.log.Info("Access token refreshed", "expiry", st.Expiry, "rotated", rotated)
	return nil
}

// stored turns a token response into what is persisted and used.
func (s *Source) stored(tok *oauth2.Token, used string, start, realStart time.Time) StoredToken {
	rt := tok.RefreshToken
	if rt == "" {
		rt = used
	}
	s.mu.Lock()
	base := s.cur.BaseURL
	s.mu.Unlock()
	if v, ok := tok.Extra(s.baseKey).(string); ok && v != "" {
		base = strings.TrimSuffix(v, "/")
	}
	return StoredToken{
		AccessToken:     tok.AccessToken,
		RefreshToken:    rt,
		TokenType:       tokenType(s.spec.Provider),
		IssuedAt:        start,
		Expiry:          start.Add(s.lifetime(tok, realStart)),
		BaseURL:         base,
		CredentialsHash: s.hash,
	}
}

// lifetime reads expires_in from the response, whichever way the oauth2 flow kept it, and falls back to
// the configured session lifetime (Salesforce sends none).
func (s *Source) lifetime(tok *oauth2.Token, realStart time.Time) time.Duration {
	if v := seconds(tok.Extra("expires_in_sec")); s.spec.Provider == Zoho && v > 0 {
		return v
	}
	if tok.ExpiresIn > 0 {
		return time.Duration(tok.ExpiresIn) * time.Second
	}
	if v := seconds(tok.Extra("expires_in")); v > 0 {
		return v
	}
	if !tok.Expiry.IsZero() {
		if d := tok.Expiry.Sub(realStart).Round(time.Second); d > 0 {
			return d
		}
	}
	return s.spec.SessionLifetime
}

func seconds(v any) time.Duration {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case string:
		f, _ = strconv.ParseFloat(x, 64)
	}
	return time.Duration(f * float64(time.Second))
}

func (s *Source) classify(err error, now time.Time) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return classifyRetrieveError(s.spec.Provider, s.spec.AuthType, re, now, s.redactor().scrub)
	}
	return &crmerr.Error{Kind: crmerr.Transient, Provider: s.spec.Provider, Op: opToken, Err: s.redactor().wrap(err)}
}

func (s *Source) persistError(err error, st StoredToken) error {
	e := &crmerr.Error{Kind: crmerr.Transient, Provider: s.spec.Provider, Op: opPersist,
		Message: "the token Secret could not be written; the new access token is held back until it is",
		Err:     s.redactor(st.AccessToken, st.RefreshToken).wrap(err)}
	return e
}

// redactor lists every secret this Source knows, plus extra.
func (s *Source) redactor(extra ...string) redactor {
	r := redactor(extra)
	for _, k := range secretKeys {
		r = append(r, s.creds[k])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r = append(r, s.cur.AccessToken, s.cur.RefreshToken)
	if s.pending != nil {
		r = append(r, s.pending.AccessToken, s.pending.RefreshToken)
	}
	return r
}

// Invalidate drops bad, a token the CRM rejected (HTTP 401), so that the next Token call refreshes once.
// It does nothing when bad is no longer the current token (another caller already refreshed) or was
// issued less than MinTokenAgeToInvalidate ago. For a static token, which cannot be refreshed, it makes
// Token and Refresh return a re-authorisation error until a new Source is built from changed credentials.
func (s *Source) Invalidate(bad *oauth2.Token) {
	if bad == nil || bad.AccessToken == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.AccessToken != bad.AccessToken {
		return
	}
	if s.scheme.static {
		if s.fatal == nil {
			ra := &ReauthorizationError{Provider: s.spec.Provider, AuthType: s.spec.AuthType, Keys: []string{KeyToken},
				Description: "the CRM answered 401 Unauthorized"}
			s.fatal = &crmerr.Error{Kind: crmerr.Auth, Provider: s.spec.Provider, Op: "authenticate",
				Status: http.StatusUnauthorized, Code: CodeInvalidGrant, Message: ra.Error(), Err: ra}
			s.log.Error(s.fatal, "Static token rejected")
		}
		return
	}
	if age := s.clock.Now().Sub(s.cur.IssuedAt); age < MinTokenAgeToInvalidate {
		s.log.Info("Ignoring the rejection of a token issued moments ago", "age", age)
		return
	}
	s.cur.AccessToken = ""
	s.log.Info("Access token rejected by the CRM; the next use refreshes it")
}

// SetAuthHeader puts t on r the way this Source's CRM expects (see the package-level SetAuthHeader).
// Transports that accept any token source can detect it with an interface assertion.
func (s *Source) SetAuthHeader(r *http.Request, t *oauth2.Token) { SetAuthHeader(r, t) }

// Expiry returns when the current token expires; zero for static tokens and before the first token.
func (s *Source) Expiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.Expiry
}

// LastRefresh returns when the current token was issued (by this process or, after a restart, by the
// one that cached it); zero for static tokens and before the first token.
func (s *Source) LastRefresh() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.IssuedAt
}

// BaseURL returns the API base URL the token endpoint gave (Salesforce instance_url, Pipedrive and Zoho
// api_domain), or "" when it gave none.
func (s *Source) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.BaseURL
}

// NextRefresh returns how long until the current token should be refreshed (see NextRefresh); Never for
// static tokens, 0 when there is no token yet.
func (s *Source) NextRefresh(jitter func() float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scheme.static {
		return Never
	}
	if s.cur.AccessToken == "" {
		return 0
	}
	return NextRefresh(s.clock.Now(), s.cur.IssuedAt, s.cur.Expiry, s.spec.RefreshBefore, jitter)
}

// Err returns the error of the last token request (or the rejection of a static token), nil after a
// success.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != nil {
		return s.fatal
	}
	return s.lastErr
}

// String names the Source without revealing anything secret.
func (s *Source) String() string {
	return fmt.Sprintf("auth.Source(%s %s)", s.spec.Provider, s.spec.AuthType)
}

// GoString is String, so that %#v does not dump the credentials.
func (s *Source) GoString() string { return s.String() }
