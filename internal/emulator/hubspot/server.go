// Package hubspot is a fake HubSpot CRM API server, faithful to the vendor's documented shapes and limits,
// for tests, benchmarks, demos and offline sandboxes.
//
// It imports nothing of crmsync: it stands for the outside world. See docs/emulators.md for the admin API.
package hubspot

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Owner is a HubSpot user that records can be assigned to (hubspot_owner_id).
type Owner struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Options configure a Server. The zero value is a Free/Starter portal with HubSpot's documented limits.
// A negative limit disables it.
type Options struct {
	// AccessTokenLifetime is how long an OAuth access token lives; default 30 min (expires_in 1800).
	AccessTokenLifetime time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token; the old one dies at once.
	RotateRefreshTokens bool

	// BurstLimit requests per BurstWindow (rolling), default 100 per 10 s: the TEN_SECONDLY_ROLLING policy.
	BurstLimit  int
	BurstWindow time.Duration
	// DailyLimit is the DAILY policy, default 250,000; the day starts at midnight in TimeZone.
	DailyLimit int
	// SearchPerSecond limits the search endpoints (default 5 a second). Search answers carry no
	// rate-limit headers and do not count against the burst window.
	SearchPerSecond int
	// SearchResultCap is how deep a search may page, default 10,000 results: past it search answers 400.
	SearchResultCap int
	// SearchLag hides a written record from search for this long, as HubSpot's index lags behind writes.
	SearchLag time.Duration

	// CustomProperties are added to the standard properties of their objects.
	CustomProperties []CustomProperty
	// RequiredProperties are enforced on create, per object. nil means HubSpot's defaults (deals need
	// dealname and dealstage); an empty non-nil map requires nothing.
	RequiredProperties map[string][]string
	// Owners are the valid values of hubspot_owner_id; default three owners 101, 102, 103.
	Owners []Owner

	// Seed creates this many contacts, companies and deals at start, with timestamps one second apart
	// ending now.
	Seed int
	// Clock is the server's time source; default time.Now. SetClockSkew shifts it.
	Clock func() time.Time
	// RandSeed seeds the fault injector, id steps, result shuffling and generated data; default 1.
	RandSeed uint64

	// PortalID and TimeZone describe the account (GET /account-info/v3/details); defaults 24681357 and
	// US/Eastern.
	PortalID int
	TimeZone string

	// OrderedBatchResults returns batch results in input order. HubSpot does not promise any order, so by
	// default they are shuffled.
	OrderedBatchResults bool
	// MultiStatusConflicts reports a duplicate email in a multi-status batch create (every input carries an
	// objectWriteTraceId) as a per-input CONFLICT error in a 207. By default the whole batch fails with
	// 409, as HubSpot does.
	MultiStatusConflicts bool
}

func (o Options) withDefaults() Options {
	if o.AccessTokenLifetime == 0 {
		o.AccessTokenLifetime = 30 * time.Minute
	}
	if o.BurstLimit == 0 {
		o.BurstLimit = 100
	}
	if o.BurstWindow <= 0 {
		o.BurstWindow = 10 * time.Second
	}
	if o.DailyLimit == 0 {
		o.DailyLimit = 250_000
	}
	if o.SearchPerSecond == 0 {
		o.SearchPerSecond = 5
	}
	if o.SearchResultCap <= 0 {
		o.SearchResultCap = 10_000
	}
	if o.RequiredProperties == nil {
		o.RequiredProperties = map[string][]string{"deals": {"dealname", "dealstage"}}
	}
	if len(o.Owners) == 0 {
		o.Owners = []Owner{
			{ID: "101", Name: "Ada Lovelace", Email: "ada@example.com"},
			{ID: "102", Name: "Grace Hopper", Email: "grace@example.com"},
			{ID: "103", Name: "Alan Turing", Email: "alan@example.com"},
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.RandSeed == 0 {
		o.RandSeed = 1
	}
	if o.PortalID == 0 {
		o.PortalID = 24681357
	}
	if o.TimeZone == "" {
		o.TimeZone = "US/Eastern"
	}
	return o
}

// Server is the fake HubSpot. It is an http.Handler; its exported methods are the admin controls a test
// uses to act as a person in HubSpot's UI and as the network. All methods are safe for concurrent use.
type Server struct {
	opts    Options
	api     *http.ServeMux
	admin   *http.ServeMux
	created int64 // server time at creation, ms

	idMu  sync.Mutex // guards idRng, for correlation ids, so that errors can be written under mu
	idRng *rand.Rand

	mu      sync.Mutex // guards the fields below
	rng     *rand.Rand
	skew    time.Duration
	objects map[string]*objectStore
	defs    map[string]*objectDef
	nextID  int64
	faults  Faults
	stats   Stats
	auth    authState
	limits  limiter
}

// New returns a server with opts' limits and, when opts.Seed > 0, seeded records.
func New(opts Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		opts:    o,
		rng:     newRand(o.RandSeed, 1),
		idRng:   newRand(o.RandSeed, 2),
		objects: map[string]*objectStore{},
		nextID:  30_100_000_000 + int64(o.RandSeed%1000)*1000,
		stats:   newStats(),
	}
	s.defs = buildObjects(&o)
	for name, d := range s.defs {
		s.objects[name] = newObjectStore(d)
	}
	s.created = s.nowMS()
	s.auth = newAuthState(s.rng)
	s.limits = newLimiter(o)
	s.routes()
	if o.Seed > 0 {
		for _, obj := range []string{"contacts", "companies", "deals"} {
			if _, err := s.Seed(obj, o.Seed); err != nil {
				panic(err) // unreachable: the objects are built in
			}
		}
	}
	return s
}

func (s *Server) routes() {
	s.api = http.NewServeMux()
	s.api.HandleFunc("GET /crm/v3/objects/{object}", s.handleList)
	s.api.HandleFunc("POST /crm/v3/objects/{object}", s.handleCreate)
	s.api.HandleFunc("GET /crm/v3/objects/{object}/{id}", s.handleGet)
	s.api.HandleFunc("PATCH /crm/v3/objects/{object}/{id}", s.handleUpdate)
	s.api.HandleFunc("DELETE /crm/v3/objects/{object}/{id}", s.handleArchive)
	s.api.HandleFunc("POST /crm/v3/objects/{object}/search", s.handleSearch)
	s.api.HandleFunc("POST /crm/v3/objects/{object}/batch/{op}", s.handleBatch)
	s.api.HandleFunc("GET /crm/v3/properties/{object}", s.handleProperties)
	s.api.HandleFunc("POST /crm/v3/properties/{object}", s.handleCreateProperty)
	s.api.HandleFunc("GET /crm/v3/properties/{object}/{name}", s.handleProperty)
	s.api.HandleFunc("GET /account-info/v3/details", s.handleAccountInfo)
	s.admin = s.adminRoutes()
}

// ServeHTTP routes OAuth token calls, admin calls (/_admin/) and API calls. API calls pass through fault
// injection, authentication and rate limiting, in that order.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_admin" || strings.HasPrefix(r.URL.Path, "/_admin/"):
		s.admin.ServeHTTP(w, r)
	case r.URL.Path == "/oauth/v1/token":
		s.handleToken(w, r)
	default:
		s.serveAPI(w, r)
	}
}

// now is the server's clock (with skew), truncated to the millisecond as HubSpot's timestamps are.
func (s *Server) now() time.Time {
	s.mu.Lock()
	skew := s.skew
	s.mu.Unlock()
	return s.opts.Clock().Add(skew).Truncate(time.Millisecond)
}

func (s *Server) nowMS() int64 { return s.now().UnixMilli() }

// nowLocked is now() for callers that hold s.mu.
func (s *Server) nowLocked() int64 {
	return s.opts.Clock().Add(s.skew).UnixMilli()
}

// newRand returns a ChaCha8 generator seeded from seed and a stream number, so that small seeds (1, 2,
// ...) still give well-spread sequences.
func newRand(seed, stream uint64) *rand.Rand {
	var key [32]byte
	x := seed ^ stream*0x9e3779b97f4a7c15
	for i := 0; i < 4; i++ {
		x += 0x9e3779b97f4a7c15 // splitmix64
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		for j := 0; j < 8; j++ {
			key[i*8+j] = byte(z >> (8 * j))
		}
	}
	return rand.New(rand.NewChaCha8(key))
}

// newIDLocked returns the next record id: increasing, with small gaps as in a real portal.
func (s *Server) newIDLocked() int64 {
	s.nextID += 1 + int64(s.rng.IntN(3))
	return s.nextID
}

func (s *Server) uuid() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return uuidFrom(s.idRng)
}

// objectDef resolves the {object} path value ("contacts", "contact", "0-1", ...) or answers 400.
func (s *Server) objectDef(w http.ResponseWriter, r *http.Request) (*objectDef, bool) {
	name := canonicalObject(r.PathValue("object"))
	if d, ok := s.defs[name]; ok {
		return d, true
	}
	s.badRequest(w, "Unable to infer object type from: %s", r.PathValue("object"))
	return nil, false
}

func canonicalObject(name string) string {
	switch strings.ToLower(name) {
	case "contacts", "contact", "0-1":
		return "contacts"
	case "companies", "company", "0-2":
		return "companies"
	case "deals", "deal", "0-3":
		return "deals"
	}
	return name
}

// handleAccountInfo answers GET /account-info/v3/details.
func (s *Server) handleAccountInfo(w http.ResponseWriter, _ *http.Request) {
	offset := 0
	if loc, err := time.LoadLocation(s.opts.TimeZone); err == nil {
		_, offset = s.now().In(loc).Zone()
	}
	sign := "+"
	abs := offset
	if offset < 0 {
		sign, abs = "-", -offset
	}
	s.writeJSON(w, http.StatusOK, map[string]any{
		"portalId":              s.opts.PortalID,
		"accountType":           "STANDARD",
		"timeZone":              s.opts.TimeZone,
		"companyCurrency":       "USD",
		"additionalCurrencies":  []string{},
		"utcOffset":             fmt.Sprintf("%s%02d:%02d", sign, abs/3600, abs%3600/60),
		"utcOffsetMilliseconds": offset * 1000,
		"uiDomain":              "app.hubspot.com",
		"dataHostingLocation":   "na1",
	})
}
