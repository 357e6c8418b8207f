// Package transport provides the rate-limited, retrying HTTP client that every connector uses.
package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// Client defaults.
const (
	DefaultMaxAttempts         = 5
	DefaultMaxRateLimitRetries = 8
	DefaultBaseBackoff         = 500 * time.Millisecond
	DefaultMaxBackoff          = 30 * time.Second
	DefaultMaxRetryWait        = 2 * time.Minute
	DefaultMaxBodyBytes        = 64 << 20
)

// TokenSource supplies the access token of each attempt. It is called before every attempt, so it must
// be cheap when its token is still valid (cache, refresh ahead of expiry).
type TokenSource interface {
	Token(ctx context.Context) (*oauth2.Token, error)
}

// Invalidator is optionally implemented by a TokenSource: Invalidate drops a token the CRM rejected so
// that the next Token call refreshes. Without it, a 401 is returned at once.
type Invalidator interface {
	Invalidate(bad *oauth2.Token)
}

// HeaderSetter is implemented by token sources whose tokens do not go in "Authorization: <type> <token>"
// (a Pipedrive API token travels in an x-api-token header); the client then lets the source set them.
type HeaderSetter interface {
	SetAuthHeader(r *http.Request, t *oauth2.Token)
}

// Classifier turns a response into a classified error, or nil for success. It sees every response, 2xx
// included (for vendors that report errors in a 2xx body). The client fills in the error's Provider, Op
// and Status when the classifier leaves them empty, and RetryAt from Retry-After. It must not copy
// headers or request data into the error.
type Classifier func(op string, status int, header http.Header, body []byte) *crmerr.Error

// CallInfo describes one HTTP attempt, for metrics. It carries no URL, query or header.
type CallInfo struct {
	Provider string
	Op       string
	Method   string
	// Status is 0 when no response arrived.
	Status int
	// Attempt counts from 1 within one Do call.
	Attempt  int
	Duration time.Duration
	// Err is the classified error of this attempt, nil on success.
	Err error
	// BudgetRemaining is the daily budget left after the call; -1 when unknown.
	BudgetRemaining int
}

// Hooks observe the client. They are called synchronously and must be fast.
type Hooks struct {
	// OnCall is called after every HTTP attempt (not when the budget refuses a call before sending).
	OnCall func(CallInfo)
}

// Config configures a Client. Only Provider is required.
type Config struct {
	// Provider names the CRM in errors and metrics ("hubspot").
	Provider string
	// BaseURL is joined with Request.Path when Request.URL is empty.
	BaseURL string
	// HTTPClient sends the requests; nil means a client tuned for API calls (dial and TLS timeouts, a
	// pool of keep-alive connections, a 5-minute overall timeout).
	HTTPClient *http.Client
	// Tokens sets "Authorization: <type> <token>" on every attempt; nil sends no Authorization header.
	Tokens TokenSource
	// Budget paces the calls; nil is unlimited. Share one Budget between all clients of a connection.
	Budget *Budget
	// Classify classifies responses; nil means DefaultClassify.
	Classify Classifier
	// MaxAttempts bounds the attempts that fail transiently (default 5).
	MaxAttempts int
	// MaxRateLimitRetries bounds the rate-limit answers that are waited out (default 8).
	MaxRateLimitRetries int
	// BaseBackoff and MaxBackoff shape the exponential backoff with full jitter: the n-th retry waits a
	// random time in [0, min(MaxBackoff, BaseBackoff*2^(n-1))]. Defaults 500 ms and 30 s.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryWait is the longest the client sleeps before one retry (a long Retry-After); a longer wait
	// returns a RateLimited error with RetryAt instead. Default 2 min.
	MaxRetryWait time.Duration
	// MaxBodyBytes caps a response body (default 64 MiB); a larger one is a Permanent error.
	MaxBodyBytes int64
	Hooks        Hooks
	// Clock is the time source for backoff and the budget; nil means SystemClock.
	Clock Clock
}

// Request is one API call. The client never modifies it.
type Request struct {
	// Op says what the call does ("upsert contacts"); it appears in errors and metrics. Default:
	// "<METHOD> <Path>".
	Op     string
	Method string // default GET
	// Path is relative to Config.BaseURL and may carry a query string.
	Path string
	// URL wins over Path: an absolute URL, or a host-relative one ("/services/data/...") resolved against
	// BaseURL (Salesforce nextRecordsUrl). When Tokens is set, an absolute URL must be on BaseURL's host:
	// credentials are never sent elsewhere.
	URL    string
	Query  url.Values
	Header http.Header
	// Body is sent again on every retry. Content-Type defaults to application/json when Body is set.
	Body []byte
	// Idempotent marks the call as safe to resend after a transient failure. GET, HEAD, PUT, DELETE and
	// OPTIONS are idempotent regardless; POST and PATCH are resent only when this is true. Rate-limit
	// answers, a 401 refresh and failures to connect are always retried: the CRM did not act on them.
	Idempotent bool
}

// Response is a successful answer, body read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte

	provider, op string
}

// Client sends API calls within a budget, with retries and classified errors. It is safe for concurrent
// use.
type Client struct {
	provider    string
	base        *url.URL
	http        *http.Client
	tokens      TokenSource
	budget      *Budget
	classify    Classifier
	maxAttempts int
	maxRLRetry  int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	maxWait     time.Duration
	maxBody     int64
	hooks       Hooks
	clock       Clock
	jitter      func(limit time.Duration) time.Duration
}

// New returns a client; it fails only on an invalid Config.
func New(cfg Config) (*Client, error) {
	if cfg.Provider == "" {
		return nil, errors.New("transport: Config.Provider is required")
	}
	c := &Client{
		provider:    cfg.Provider,
		http:        cfg.HTTPClient,
		tokens:      cfg.Tokens,
		budget:      cfg.Budget,
		classify:    cfg.Classify,
		maxAttempts: orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		maxRLRetry:  orDefault(cfg.MaxRateLimitRetries, DefaultMaxRateLimitRetries),
		baseBackoff: orDefault(cfg.BaseBackoff, DefaultBaseBackoff),
		maxBackoff:  orDefault(cfg.MaxBackoff, DefaultMaxBackoff),
		maxWait:     orDefault(cfg.MaxRetryWait, DefaultMaxRetryWait),
		maxBody:     orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		hooks:       cfg.Hooks,
		clock:       cfg.Clock,
		jitter:      fullJitter,
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return nil, fmt.Errorf("transport: %s: BaseURL %q is not an absolute URL", cfg.Provider, RedactURL(cfg.BaseURL))
		}
		c.base = u
	}
	if c.http == nil {
		c.http = DefaultHTTPClient()
	}
	if c.classify == nil {
		c.classify = DefaultClassify
	}
	if c.clock == nil {
		c.clock = SystemClock
	}
	return c, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// DefaultHTTPClient returns the client used when Config.HTTPClient is nil.
func DefaultHTTPClient() *http.Client {
	t := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 3 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: t, Timeout: 5 * time.Minute}
}

// Budget returns the client's budget (nil when unlimited).
func (c *Client) Budget() *Budget { return c.budget }

// call is one Do call, prepared once for all its attempts.
type call struct {
	op, method string
	url        string
	req        *Request
	retryable  bool
}

// Do sends req until it succeeds, fails permanently, or runs out of attempts, and returns the response
// of a successful call (as decided by the Classifier). Every error is a *crmerr.Error naming the
// provider, req.Op and the HTTP status; a RateLimited one carries RetryAt. Do waits for the budget
// before each attempt, refreshes the token once on a 401, waits out rate-limit answers (honouring
// Retry-After, and pausing the whole budget), and retries transient failures only when req is
// idempotent. It never sleeps past ctx's deadline, MaxRetryWait or the budget's MaxWait.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	cl, cerr := c.prepare(&req)
	if cerr != nil {
		return nil, cerr
	}
	refreshed := false
	transient, limited := 0, 0
	for attempt := 1; ; attempt++ {
		o := c.attempt(ctx, cl, attempt)
		if o.err == nil {
			return o.resp, nil
		}
		e := o.err
		if ctx.Err() != nil || o.refused {
			return nil, e
		}
		var delay time.Duration
		switch {
		case e.Status == http.StatusUnauthorized && !refreshed && o.token != nil && c.canInvalidate():
			refreshed = true
			c.tokens.(Invalidator).Invalidate(o.token)
			continue
		case e.Kind == crmerr.RateLimited:
			limited++
			delay = max(c.backoff(limited), o.retryAfter)
			if !e.RetryAt.IsZero() {
				delay = max(delay, e.RetryAt.Sub(c.clock.Now()))
			}
			at := c.clock.Now().Add(delay)
			if at.After(e.RetryAt) {
				e.RetryAt = at
			}
			c.budget.PauseUntil(at)
			if limited > c.maxRLRetry || delay > c.maxWait {
				return nil, e
			}
		case e.Kind == crmerr.Transient && (cl.retryable || !o.sent):
			transient++
			if transient >= c.maxAttempts {
				return nil, e
			}
			delay = c.backoff(transient)
		default:
			return nil, e
		}
		if dl, ok := ctx.Deadline(); ok && delay >= time.Until(dl) {
			return nil, e
		}
		if c.clock.Sleep(ctx, delay) != nil {
			return nil, e
		}
	}
}

func (c *Client) canInvalidate() bool {
	_, ok := c.tokens.(Invalidator)
	return ok
}

// backoff is the full-jitter delay before the n-th retry (n >= 1).
func (c *Client) backoff(n int) time.Duration {
	limit := c.maxBackoff
	if n-1 < 32 {
		if d := c.baseBackoff << (n - 1); d > 0 && d < limit {
			limit = d
		}
	}
	return c.jitter(limit)
}

func fullJitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

func (c *Client) prepare(req *Request) (*call, *crmerr.Error) {
	cl := &call{req: req, method: strings.ToUpper(req.Method)}
	if cl.method == "" {
		cl.method = http.MethodGet
	}
	cl.op = req.Op
	if cl.op == "" {
		cl.op = cl.method + " " + req.Path
	}
	switch cl.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		cl.retryable = true
	default:
		cl.retryable = req.Idempotent
	}
	u, err := c.resolve(req)
	if err != nil {
		return nil, &crmerr.Error{Kind: crmerr.Permanent, Provider: c.provider, Op: cl.op, Message: err.Error()}
	}
	cl.url = u.String()
	return cl, nil
}

func (c *Client) resolve(req *Request) (*url.URL, error) {
	var u *url.URL
	switch {
	case req.URL != "":
		ref, err := url.Parse(req.URL)
		if err != nil {
			return nil, fmt.Errorf("invalid request URL %s", RedactURL(req.URL))
		}
		if !ref.IsAbs() {
			if c.base == nil || !strings.HasPrefix(req.URL, "/") {
				return nil, fmt.Errorf("request URL %s is neither absolute nor host-relative", RedactURL(req.URL))
			}
			ref = c.base.ResolveReference(ref)
		}
		if c.tokens != nil && c.base != nil && (ref.Scheme != c.base.Scheme || ref.Host != c.base.Host) {
			return nil, fmt.Errorf("refusing to send credentials to %s://%s: it is not the configured host %s", ref.Scheme, ref.Host, c.base.Host)
		}
		u = ref
	case c.base != nil:
		ref, err := url.Parse(req.Path)
		if err != nil {
			return nil, fmt.Errorf("invalid request path %s", RedactURL(req.Path))
		}
		if ref.IsAbs() || ref.Host != "" {
			return nil, errors.New("request Path must be relative to BaseURL; use Request.URL for absolute URLs")
		}
		joined := *c.base
		joined.Path = strings.TrimRight(c.base.Path, "/") + "/" + strings.TrimLeft(ref.Path, "/")
		joined.RawPath = ""
		joined.RawQuery = ref.RawQuery
		u = &joined
	default:
		return nil, errors.New("request has no URL and the client has no BaseURL")
	}
	if len(req.Query) > 0 {
		if u.RawQuery == "" {
			u.RawQuery = req.Query.Encode()
		} else {
			u.RawQuery += "&" + req.Query.Encode()
		}
	}
	return u, nil
}

// outcome is the result of one attempt.
type outcome struct {
	resp       *Response
	err        *crmerr.Error
	token      *oauth2.Token
	retryAfter time.Duration
	sent       bool // the CRM may have received the request
	refused    bool // the budget or the token source refused: do not retry here
}

func (c *Client) attempt(ctx context.Context, cl *call, attempt int) outcome {
	var tok *oauth2.Token
	if c.tokens != nil {
		t, err := c.tokens.Token(ctx)
		if err != nil {
			return outcome{err: c.tokenError(cl.op, err), refused: true}
		}
		tok = t
	}
	release, err := c.budget.Acquire(ctx)
	if err != nil {
		e := asClassified(err, crmerr.RateLimited)
		c.fill(e, cl.op, 0)
		return outcome{err: e, refused: true}
	}
	o := c.send(ctx, cl, tok, release, attempt)
	o.token = tok
	if o.err != nil && tok != nil {
		scrubError(o.err, tok.AccessToken)
	}
	if c.hooks.OnCall != nil {
		info := o.info
		info.BudgetRemaining = c.budget.remaining()
		if o.err != nil {
			info.Err = o.err
		}
		c.hooks.OnCall(info)
	}
	return o.outcome
}

type sent struct {
	outcome
	info CallInfo
}

func (c *Client) send(ctx context.Context, cl *call, tok *oauth2.Token, release func(), attempt int) sent {
	start := c.clock.Now()
	info := CallInfo{Provider: c.provider, Op: cl.op, Method: cl.method, Attempt: attempt}
	hreq, err := c.newHTTPRequest(ctx, cl, tok)
	if err != nil {
		release()
		e := &crmerr.Error{Kind: crmerr.Permanent, Message: "cannot build request", Err: redactErr(err)}
		c.fill(e, cl.op, 0)
		return sent{outcome: outcome{err: e, refused: true}, info: info}
	}
	hresp, err := c.http.Do(hreq)
	if err != nil {
		release()
		info.Duration = c.clock.Now().Sub(start)
		return sent{outcome: outcome{err: c.networkError(ctx, cl.op, err), sent: !isDialError(err)}, info: info}
	}
	body, readErr := readCapped(hresp.Body, c.maxBody)
	hresp.Body.Close()
	release()
	now := c.clock.Now()
	info.Status = hresp.StatusCode
	info.Duration = now.Sub(start)
	o := outcome{sent: true, retryAfter: RetryAfter(hresp.Header, now)}
	switch {
	case errors.Is(readErr, errBodyTooLarge):
		o.err = &crmerr.Error{Kind: crmerr.Permanent, Code: "BODY_TOO_LARGE",
			Message: fmt.Sprintf("response body exceeds %d bytes", c.maxBody)}
	case readErr != nil:
		o.err = &crmerr.Error{Kind: crmerr.Transient, Code: "TRUNCATED_BODY",
			Message: "response body cut short", Err: redactErr(readErr)}
	default:
		o.err = c.classifyResponse(cl.op, hresp.StatusCode, hresp.Header, body)
	}
	c.budget.observe(hresp.Header, start, o.err != nil && o.err.Kind == crmerr.RateLimited)
	if o.err != nil {
		c.fill(o.err, cl.op, hresp.StatusCode)
		if o.err.Kind == crmerr.RateLimited && o.err.RetryAt.IsZero() && o.retryAfter > 0 {
			o.err.RetryAt = now.Add(o.retryAfter)
		}
		return sent{outcome: o, info: info}
	}
	o.resp = &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: body, provider: c.provider, op: cl.op}
	return sent{outcome: o, info: info}
}

func (c *Client) classifyResponse(op string, status int, h http.Header, body []byte) *crmerr.Error {
	e := c.classify(op, status, h, body)
	if status == http.StatusTooManyRequests && (e == nil || e.Kind != crmerr.RateLimited) {
		if e == nil {
			code, msg := VendorMessage(body)
			e = &crmerr.Error{Code: code, Message: msg}
		}
		e.Kind = crmerr.RateLimited
	}
	return e
}

func (c *Client) newHTTPRequest(ctx context.Context, cl *call, tok *oauth2.Token) (*http.Request, error) {
	var body io.Reader
	if cl.req.Body != nil {
		body = bytes.NewReader(cl.req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range cl.req.Header {
		hreq.Header[k] = vs
	}
	if hreq.Header.Get("Accept") == "" {
		hreq.Header.Set("Accept", "application/json")
	}
	if cl.req.Body != nil && hreq.Header.Get("Content-Type") == "" {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", "crmsync")
	}
	if tok != nil {
		if hs, ok := c.tokens.(HeaderSetter); ok {
			hs.SetAuthHeader(hreq, tok)
		} else {
			hreq.Header.Set("Authorization", tok.Type()+" "+tok.AccessToken)
		}
	}
	return hreq, nil
}

// fill completes a classified error with what the client knows.
func (c *Client) fill(e *crmerr.Error, op string, status int) {
	if e.Provider == "" {
		e.Provider = c.provider
	}
	if e.Op == "" {
		e.Op = op
	}
	if e.Status == 0 {
		e.Status = status
	}
}

func (c *Client) networkError(ctx context.Context, op string, err error) *crmerr.Error {
	e := &crmerr.Error{Kind: crmerr.Transient, Provider: c.provider, Op: op, Err: redactErr(err)}
	switch {
	case ctx.Err() != nil:
		e.Message = "gave up: " + ctx.Err().Error()
	case isDialError(err):
		e.Message = "cannot connect"
	default:
		e.Message = "request failed"
	}
	return e
}

func (c *Client) tokenError(op string, err error) *crmerr.Error {
	var ce *crmerr.Error
	if errors.As(err, &ce) {
		out := *ce
		c.fill(&out, op, 0)
		return &out
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		kind := crmerr.Auth
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
			if status >= 500 || status == http.StatusTooManyRequests {
				kind = crmerr.Transient
			}
		}
		// RetrieveError's own text carries the token endpoint's body: keep only its code and description.
		return &crmerr.Error{Kind: kind, Provider: c.provider, Op: op, Status: status, Code: re.ErrorCode,
			Message: "cannot get an access token: " + truncate(re.ErrorDescription, maxMessageLen)}
	}
	return &crmerr.Error{Kind: crmerr.Transient, Provider: c.provider, Op: op,
		Message: "cannot get an access token", Err: redactErr(err)}
}

func asClassified(err error, kind crmerr.Kind) *crmerr.Error {
	var ce *crmerr.Error
	if errors.As(err, &ce) {
		return ce
	}
	return &crmerr.Error{Kind: kind, Err: err}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// scrubError removes secret from everything an error prints.
func scrubError(e *crmerr.Error, secret string) {
	if secret == "" {
		return
	}
	e.Message = scrub(e.Message, secret)
	e.Code = scrub(e.Code, secret)
	e.Field = scrub(e.Field, secret)
	if e.Err != nil && strings.Contains(e.Err.Error(), secret) {
		e.Err = errors.New(scrub(e.Err.Error(), secret))
	}
}

var errBodyTooLarge = errors.New("response body too large")

func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}
