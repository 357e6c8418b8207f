// Package salesforce is a faithful fake of Salesforce's OAuth, REST, sObject Collections and Bulk API 2.0
// endpoints, written with net/http only, for tests, benchmarks, the demo and offline sandboxes.
package salesforce

import (
	"encoding/json"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Field describes one field of an emulated sObject. Custom fields end in "__c".
type Field struct {
	Name  string
	Label string
	// Type is Salesforce's describe type: id, string, textarea, picklist, multipicklist, boolean, int,
	// double, currency, percent, date, datetime, email, phone, url, reference.
	Type string
	// Length is the maximum length of text types (0: 255 for string-like types).
	Length int
	// Required fields must be present and non-empty on create (nillable=false, createable, not defaulted).
	Required bool
	// ReadOnly fields are neither createable nor updateable (system and formula fields).
	ReadOnly bool
	// Picklist holds the active values of a picklist or multipicklist field.
	Picklist []string
	// Restricted rejects values outside Picklist with INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST.
	Restricted bool
	// ExternalID marks an external id field usable for upsert; Unique rejects duplicates with DUPLICATE_VALUE.
	ExternalID bool
	Unique     bool
	// Defaulted fields get a value on create when none is given (defaultedOnCreate).
	Defaulted bool
}

// Options configure an emulated org. The zero value is a Developer Edition org with the defaults below.
type Options struct {
	// SessionLifetime is how long an access token lives (default 2h). Salesforce does not say so in the
	// token response (there is no expires_in): clients have to know.
	SessionLifetime time.Duration
	// RotateRefreshTokens makes every refresh return a new refresh token and kill the old one.
	RotateRefreshTokens bool
	// DailyAPILimit is the rolling 24 h API request allowance (default 15,000, Developer Edition).
	DailyAPILimit int
	// MaxLongRunning is how many requests may run longer than LongRunningThreshold (default 20 s) at once
	// (default 5, Developer Edition); further requests are refused with REQUEST_LIMIT_EXCEEDED.
	MaxLongRunning       int
	LongRunningThreshold time.Duration
	// APIVersions lists the versions served, oldest first (default v60.0..v66.0). Older versions answer
	// 410 GONE, as retired versions do; newer ones answer 404.
	APIVersions []string
	// CustomFields adds custom fields per object ("Contact", "Account", "Opportunity"). Nil installs the
	// defaults: Contact.Loyalty_Tier__c (restricted picklist) and External_Id__c (unique external id) on
	// all three objects. An empty non-nil map installs none.
	CustomFields map[string][]Field
	// Seed creates this many contacts (and a tenth as many accounts and opportunities) at start.
	Seed int
	// Clock is the org's clock (default time.Now). SetClockSkew shifts it.
	Clock func() time.Time
	// QueryBatchSize is the default page size of query results (default 2000).
	QueryBatchSize int
	// DeletedRetention is how long deleted records stay in the recycle bin and the delete log (default 15 days).
	DeletedRetention time.Duration
	// BulkProcessingDelay is how long (real time) a Bulk API 2.0 job stays queued and in progress after
	// UploadComplete (default 20ms each).
	BulkProcessingDelay time.Duration
	// BulkShuffleResults returns Bulk API 2.0 result rows in an order unrelated to the upload, which the
	// documentation allows (default false keeps input order within each result file).
	BulkShuffleResults bool
	// InstanceURL is the instance_url handed out in token responses; empty derives it from the request.
	InstanceURL string
	// LoginURL is the audience a JWT bearer assertion must name (default https://login.salesforce.com);
	// the emulator's own URL is accepted too.
	LoginURL string
	// RandSeed seeds fault injection and id generation (default 1).
	RandSeed int64
}

func (o Options) withDefaults() Options {
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 2 * time.Hour
	}
	if o.DailyAPILimit <= 0 {
		o.DailyAPILimit = 15000
	}
	if o.MaxLongRunning <= 0 {
		o.MaxLongRunning = 5
	}
	if o.LongRunningThreshold <= 0 {
		o.LongRunningThreshold = 20 * time.Second
	}
	if len(o.APIVersions) == 0 {
		for v := 60; v <= 66; v++ {
			o.APIVersions = append(o.APIVersions, "v"+strconv.Itoa(v)+".0")
		}
	}
	if o.CustomFields == nil {
		ext := Field{Name: "External_Id__c", Label: "External Id", Type: "string", Length: 255, ExternalID: true, Unique: true}
		o.CustomFields = map[string][]Field{
			"Contact": {
				{Name: "Loyalty_Tier__c", Label: "Loyalty Tier", Type: "picklist", Picklist: []string{"Bronze", "Silver", "Gold", "Platinum"}, Restricted: true},
				ext,
			},
			"Account":     {ext},
			"Opportunity": {ext},
		}
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.QueryBatchSize <= 0 {
		o.QueryBatchSize = 2000
	}
	if o.DeletedRetention <= 0 {
		o.DeletedRetention = 15 * 24 * time.Hour
	}
	if o.BulkProcessingDelay <= 0 {
		o.BulkProcessingDelay = 20 * time.Millisecond
	}
	if o.LoginURL == "" {
		o.LoginURL = "https://login.salesforce.com"
	}
	if o.RandSeed == 0 {
		o.RandSeed = 1
	}
	return o
}

// Faults are injected into API calls (not into token or admin calls). The zero value injects nothing.
type Faults struct {
	// ErrorRate is the fraction (0..1) of API calls answered with ErrorStatus (default 503) in Salesforce's
	// error shape.
	ErrorRate   float64 `json:"errorRate,omitempty"`
	ErrorStatus int     `json:"errorStatus,omitempty"`
	// HTMLErrors answers injected errors with an HTML maintenance page, as Salesforce's edge does.
	HTMLErrors bool `json:"htmlErrors,omitempty"`
	// Latency delays every API call.
	Latency time.Duration `json:"latency,omitempty"`
	// DropRate is the fraction of API calls whose connection is closed without an answer.
	DropRate float64 `json:"dropRate,omitempty"`
	// RateLimitNext answers the next N API calls with 403 REQUEST_LIMIT_EXCEEDED.
	RateLimitNext int `json:"rateLimitNext,omitempty"`
}

// Stats count what the emulator answered.
type Stats struct {
	// APICalls counts answered API calls (everything under /services/data/vXX.X/), including refused ones.
	APICalls int `json:"apiCalls"`
	// TokenCalls counts calls of the token endpoint.
	TokenCalls int `json:"tokenCalls"`
	// DailyUsage is the rolling 24 h usage reported in Sforce-Limit-Info.
	DailyUsage int `json:"dailyUsage"`
	// RateLimited counts REQUEST_LIMIT_EXCEEDED answers; Faults counts injected errors and drops.
	RateLimited int `json:"rateLimited"`
	Faults      int `json:"faults"`
	// ByRoute counts API calls per route, e.g. "PATCH /composite/sobjects" or "GET /jobs/ingest/{id}".
	ByRoute map[string]int `json:"byRoute"`
}

// Server is an emulated Salesforce org. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu        sync.Mutex
	rnd       *rand.Rand
	skew      time.Duration
	faults    Faults
	stats     Stats
	usage     usageWindow
	inflight  map[int64]time.Time
	reqSeq    int64
	idSeq     int64
	objects   map[string]*sobject
	sessions  map[string]*session
	refresh   map[string]bool
	locators  map[string]*locator
	jobs      map[string]*bulkJob
	deleteLog map[string][]deletedEntry
	purgedAt  map[string]time.Time
	creds     Credentials
}

// New returns an emulated org with opts applied and opts.Seed contacts created.
func New(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{
		opts:      opts,
		rnd:       rand.New(rand.NewSource(opts.RandSeed)),
		inflight:  map[int64]time.Time{},
		objects:   map[string]*sobject{},
		sessions:  map[string]*session{},
		refresh:   map[string]bool{},
		locators:  map[string]*locator{},
		jobs:      map[string]*bulkJob{},
		deleteLog: map[string][]deletedEntry{},
		purgedAt:  map[string]time.Time{},
		stats:     Stats{ByRoute: map[string]int{}},
	}
	s.creds = newCredentials()
	s.refresh[s.creds.RefreshToken] = true
	for _, name := range []string{"Account", "Contact", "Opportunity"} {
		s.objects[name] = newSObject(name, opts.CustomFields[name])
	}
	s.routes()
	if opts.Seed > 0 {
		s.Seed(opts.Seed)
	}
	return s
}

// now is the org's clock, skew included, truncated to the second as Salesforce stores datetimes.
func (s *Server) now() time.Time {
	return s.opts.Clock().Add(s.skew).UTC().Truncate(time.Second)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /services/oauth2/token", s.handleToken)
	m.HandleFunc("GET /services/oauth2/userinfo", s.handleUserInfo)
	m.HandleFunc("GET /services/data", s.handleVersions)
	m.HandleFunc("GET /services/data/{$}", s.handleVersions)
	m.HandleFunc("/services/data/{version}/{rest...}", s.handleAPI)
	m.HandleFunc("/_admin/", s.handleAdmin)
	s.mux = m
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().Format(http.TimeFormat))
	s.mux.ServeHTTP(w, r)
}

// sfError is one element of Salesforce's REST error array.
type sfError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeRaw(w http.ResponseWriter, status int, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	writeJSON(w, status, []sfError{{Message: msg, ErrorCode: code, Fields: fields}})
}

// versionLabel names the release of an API version: 60.0 is Spring '24, 61.0 Summer '24, 62.0 Winter '25.
func versionLabel(v int) string {
	idx := v - 60
	k := idx / 3
	r := idx % 3
	if r < 0 {
		r += 3
		k--
	}
	switch r {
	case 0:
		return "Spring '" + strconv.Itoa(24+k)
	case 1:
		return "Summer '" + strconv.Itoa(24+k)
	default:
		return "Winter '" + strconv.Itoa(25+k)
	}
}

func versionNumber(v string) (int, bool) {
	if !strings.HasPrefix(v, "v") || !strings.HasSuffix(v, ".0") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(v, "v"), ".0"))
	return n, err == nil
}

type versionInfo struct {
	Label   string `json:"label"`
	URL     string `json:"url"`
	Version string `json:"version"`
}

func (s *Server) handleVersions(w http.ResponseWriter, r *http.Request) {
	var out []versionInfo
	for _, v := range s.opts.APIVersions {
		n, _ := versionNumber(v)
		out = append(out, versionInfo{Label: versionLabel(n), URL: "/services/data/" + v, Version: strings.TrimPrefix(v, "v")})
	}
	writeJSON(w, http.StatusOK, out)
}

// checkVersion answers 410 for versions older than the oldest served and 404 for unknown ones.
func (s *Server) checkVersion(w http.ResponseWriter, v string) bool {
	for _, have := range s.opts.APIVersions {
		if have == v {
			return true
		}
	}
	n, ok := versionNumber(v)
	oldest, _ := versionNumber(s.opts.APIVersions[0])
	if ok && n < oldest {
		writeErr(w, http.StatusGone, "GONE", "API version "+strings.TrimPrefix(v, "v")+" has been retired and is no longer available. Use a supported version.")
		return false
	}
	writeErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	return false
}

// usageWindow counts API calls per minute over a rolling 24 h.
type usageWindow struct {
	minutes [1440]int
	stamps  [1440]int64
}

func (u *usageWindow) add(t time.Time) {
	m := t.Unix() / 60
	i := m % 1440
	if u.stamps[i] != m {
		u.stamps[i] = m
		u.minutes[i] = 0
	}
	u.minutes[i]++
}

func (u *usageWindow) total(t time.Time) int {
	m := t.Unix() / 60
	n := 0
	for i := range u.minutes {
		if u.stamps[i] > m-1440 && u.stamps[i] <= m {
			n += u.minutes[i]
		}
	}
	return n
}
