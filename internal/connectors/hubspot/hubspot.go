// Package hubspot is the HubSpot connector: CRM search for change reads, batch writes, and the archived
// listing for deletes, behind the common connector contract.
package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// APIVersion is the CRM API version the connector speaks unless Config.APIVersion overrides it: the
// numeric v3 paths (/crm/v3/objects/...), supported by HubSpot until September 2027.
const APIVersion = "v3"

// Provider is the connector's provider name.
const Provider = "hubspot"

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// HubSpot's limits that shape the connector.
const (
	// MaxBatch is the most inputs one batch call takes.
	MaxBatch = 100
	// MaxSearchPage is the largest search page; MaxListPage the largest list page.
	MaxSearchPage = 200
	MaxListPage   = 100
	// SearchResultCap is how deep one search query may page.
	SearchResultCap = 10_000
	// DefaultSearchPerSecond is the search endpoints' own limit (their answers carry no rate-limit
	// headers, so the budget cannot learn it).
	DefaultSearchPerSecond = 5
	// ArchiveRetention is how long HubSpot keeps archived records restorable and listed.
	ArchiveRetention = 90 * 24 * time.Hour
)

var _ connectors.Connector = (*Connector)(nil)

// Config configures a Connector.
type Config struct {
	// BaseURL is the API host; empty means https://api.hubapi.com.
	BaseURL string
	// APIVersion overrides the pinned APIVersion: "v3", or a date-based version such as "2026-03"
	// (/crm/objects/2026-03/...).
	APIVersion string
	// Tokens supplies access tokens (an OAuth refresh-token source or a static private app token).
	// Required. When it implements transport.Invalidator, a 401 refreshes the token once and retries.
	Tokens transport.TokenSource
	// Budget paces every call of the connection; share one between all users of a connection. Nil means
	// a budget private to this connector with HubSpot's Free/Starter limits (100 per 10 s, 250,000 a
	// day), calibrated by the X-HubSpot-RateLimit-* headers.
	Budget *transport.Budget
	// HTTPClient sends the requests; nil uses transport.DefaultHTTPClient.
	HTTPClient *http.Client
	// Clock is the time source of retries and pacing; nil is the system clock.
	Clock transport.Clock
	// SearchPerSecond paces the search endpoints (default 5); a negative value disables the pacing.
	SearchPerSecond int
	// RequiredFields lists, per object, the properties that must be present on create, which the
	// properties API does not say. Nil means HubSpot's: deals need dealname and dealstage.
	RequiredFields map[string][]string
	// DailyResetLocation is the account's time zone, where the DAILY limit resets at midnight; nil is UTC.
	DailyResetLocation *time.Location
	// Transport tunables; zero values use the transport's defaults.
	MaxAttempts             int
	BaseBackoff, MaxBackoff time.Duration
	MaxRetryWait            time.Duration
	Hooks                   transport.Hooks
}

// Connector is one HubSpot portal behind the connector contract. It is safe for concurrent use.
type Connector struct {
	cfg      Config
	client   *transport.Client
	clock    transport.Clock
	objects  string // "/crm/v3/objects"
	props    string // "/crm/v3/properties"
	required map[string][]string
	search   *pacer

	mu       sync.Mutex
	describe map[string]connectors.ObjectMeta
	closed   bool
}

var dateVersion = regexp.MustCompile(`^\d{4}-\d{2}$`)

// New returns a connector. It makes no call.
func New(cfg Config) (*Connector, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("hubspot: Config.Tokens is required")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Clock == nil {
		cfg.Clock = transport.SystemClock
	}
	if cfg.DailyResetLocation == nil {
		cfg.DailyResetLocation = time.UTC
	}
	c := &Connector{cfg: cfg, clock: cfg.Clock, describe: map[string]connectors.ObjectMeta{}}
	switch v := cfg.APIVersion; {
	case v == "" || v == "v3":
		c.objects, c.props = "/crm/v3/objects", "/crm/v3/properties"
	case dateVersion.MatchString(v):
		c.objects, c.props = "/crm/objects/"+v, "/crm/properties/"+v
	default:
		return nil, fmt.Errorf("hubspot: unsupported API version %q: use v3 or a date-based version such as 2026-03", v)
	}
	c.required = cfg.RequiredFields
	if c.required == nil {
		c.required = map[string][]string{"deals": {"dealname", "dealstage"}}
	}
	budget := cfg.Budget
	if budget == nil {
		budget = transport.NewBudget(transport.BudgetConfig{Provider: Provider, BurstRequests: 100, BurstWindow: 10 * time.Second,
			DailyRequests: 250_000}, cfg.Clock)
	}
	perSecond := cfg.SearchPerSecond
	if perSecond == 0 {
		perSecond = DefaultSearchPerSecond
	}
	c.search = newPacer(perSecond, time.Second, cfg.Clock)
	client, err := transport.New(transport.Config{
		Provider:     Provider,
		BaseURL:      cfg.BaseURL,
		HTTPClient:   cfg.HTTPClient,
		Tokens:       cfg.Tokens,
		Budget:       budget,
		Classify:     c.classify,
		MaxAttempts:  cfg.MaxAttempts,
		BaseBackoff:  cfg.BaseBackoff,
		MaxBackoff:   cfg.MaxBackoff,
		MaxRetryWait: cfg.MaxRetryWait,
		Hooks:        cfg.Hooks,
		Clock:        cfg.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("hubspot: %w", err)
	}
	c.client = client
	return c, nil
}

// Provider returns "hubspot".
func (c *Connector) Provider() string { return Provider }

// Capabilities describe HubSpot's batch sizes and its archived listing.
func (c *Connector) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{
		DefaultObjects: map[connectors.Object]string{
			connectors.Contacts:  "contacts",
			connectors.Companies: "companies",
			connectors.Deals:     "deals",
		},
		MaxPageSize:        MaxSearchPage,
		MaxReadBatch:       MaxBatch,
		MaxWriteBatch:      MaxBatch,
		MaxDeleteBatch:     MaxBatch,
		UpsertByExternalID: true,
		DeleteDetection:    connectors.DeletesByListing,
		DeletedRetention:   ArchiveRetention,
		Webhooks:           true,
	}
}

// Close marks the connector closed; later calls fail. It is safe to call more than once.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *Connector) checkOpen(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return crmerr.New(crmerr.Permanent, Provider, op, "connector is closed")
	}
	return nil
}

// objectPath returns the path of an object, escaped, or an error for an empty name.
func (c *Connector) objectPath(op, object string) (string, error) {
	if strings.TrimSpace(object) == "" || strings.ContainsAny(object, "/?#") {
		return "", crmerr.New(crmerr.Permanent, Provider, op, fmt.Sprintf("invalid object name %q", object))
	}
	return c.objects + "/" + url.PathEscape(object), nil
}

// modifiedProperty is the last-modified property searched on: contacts have lastmodifieddate, every other
// object hs_lastmodifieddate.
func modifiedProperty(object string) string {
	switch strings.ToLower(object) {
	case "contacts", "contact", "0-1":
		return "lastmodifieddate"
	}
	return "hs_lastmodifieddate"
}

func isContacts(object string) bool { return modifiedProperty(object) == "lastmodifieddate" }

// pacer admits at most n calls per rolling window. Like the transport's budget, it counts a call from
// its completion, not its start: the CRM counts arrivals, which come before completions, so it can never
// see more than n in a window.
type pacer struct {
	n      int
	window time.Duration
	clock  transport.Clock

	mu      sync.Mutex
	done    []time.Time // completion times within the last window, oldest first
	pending int
}

func newPacer(n int, window time.Duration, clock transport.Clock) *pacer {
	return &pacer{n: n, window: window, clock: clock}
}

// acquire blocks until a call may start and returns the function to call when it has completed.
func (p *pacer) acquire(ctx context.Context) (release func(), err error) {
	if p.n <= 0 {
		return func() {}, nil
	}
	for {
		p.mu.Lock()
		now := p.clock.Now()
		cut := now.Add(-p.window)
		i := 0
		for i < len(p.done) && !p.done[i].After(cut) {
			i++
		}
		p.done = p.done[i:]
		if len(p.done)+p.pending < p.n {
			p.pending++
			p.mu.Unlock()
			var once sync.Once
			return func() { once.Do(p.release) }, nil
		}
		wait := 10 * time.Millisecond // every slot is in flight: poll for a completion
		if len(p.done) > 0 {
			wait = p.done[0].Add(p.window).Sub(now) + time.Millisecond
		}
		p.mu.Unlock()
		if err := p.clock.Sleep(ctx, wait); err != nil {
			return nil, crmerr.Wrap(crmerr.Transient, Provider, "wait for the search rate limit", err)
		}
	}
}

func (p *pacer) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending--
	now := p.clock.Now()
	i := len(p.done)
	for i > 0 && p.done[i-1].After(now) {
		i--
	}
	p.done = slices.Insert(p.done, i, now)
}
