package hubspot

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// window is a rolling request window.
type window struct {
	max  int
	span time.Duration
	hits []time.Time
}

// take admits a request at now when the window has room, and reports the room left after it.
func (w *window) take(now time.Time) (ok bool, remaining int) {
	cut := now.Add(-w.span)
	i := 0
	for i < len(w.hits) && !w.hits[i].After(cut) {
		i++
	}
	w.hits = w.hits[i:]
	if len(w.hits) >= w.max {
		return false, 0
	}
	w.hits = append(w.hits, now)
	return true, w.max - len(w.hits)
}

// limiter applies HubSpot's policies. It runs on the unskewed clock: skew fakes the CRM's timestamps,
// not the passage of time. It is guarded by Server.mu.
type limiter struct {
	burst    *window // nil when unlimited
	search   *window
	daily    int // < 0: unlimited
	dayUsed  int
	dayStart time.Time
	loc      *time.Location
}

func newLimiter(o Options) limiter {
	l := limiter{daily: o.DailyLimit, loc: time.UTC}
	if loc, err := time.LoadLocation(o.TimeZone); err == nil {
		l.loc = loc
	}
	if o.BurstLimit > 0 {
		l.burst = &window{max: o.BurstLimit, span: o.BurstWindow}
	}
	if o.SearchPerSecond > 0 {
		l.search = &window{max: o.SearchPerSecond, span: time.Second}
	}
	return l
}

// verdict is the outcome of a rate-limit check.
type verdict struct {
	policy         string // "" when admitted
	burstRemaining int
	dailyRemaining int
}

func (l *limiter) check(now time.Time, search bool) verdict {
	y, m, d := now.In(l.loc).Date()
	if day := time.Date(y, m, d, 0, 0, 0, 0, l.loc); !day.Equal(l.dayStart) {
		l.dayStart, l.dayUsed = day, 0
	}
	v := verdict{burstRemaining: -1, dailyRemaining: -1}
	if l.daily >= 0 && l.dayUsed >= l.daily {
		v.policy, v.dailyRemaining = "DAILY", 0
		return v
	}
	if search {
		if l.search != nil {
			if ok, _ := l.search.take(now); !ok {
				v.policy = "SECONDLY"
				return v
			}
		}
	} else if l.burst != nil {
		ok, rem := l.burst.take(now)
		v.burstRemaining = rem
		if !ok {
			v.policy = "TEN_SECONDLY_ROLLING"
			if l.daily >= 0 {
				v.dailyRemaining = l.daily - l.dayUsed
			}
			return v
		}
	}
	l.dayUsed++
	if l.daily >= 0 {
		v.dailyRemaining = l.daily - l.dayUsed
	}
	return v
}

// peek reports the room left without admitting a request, for a 429 that no policy caused (an injected
// one): the burst window reads as full, the daily count as it is.
func (l *limiter) peek() verdict {
	v := verdict{burstRemaining: 0, dailyRemaining: -1}
	if l.daily >= 0 {
		v.dailyRemaining = max(l.daily-l.dayUsed, 0)
	}
	return v
}

// setRateHeaders writes HubSpot's X-HubSpot-RateLimit-* headers.
func (s *Server) setRateHeaders(h http.Header, v verdict) {
	if s.opts.BurstLimit > 0 {
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.BurstLimit))
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(v.burstRemaining, 0)))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.BurstWindow.Milliseconds(), 10))
	}
	if s.opts.DailyLimit > 0 {
		h.Set("X-HubSpot-RateLimit-Daily", strconv.Itoa(s.opts.DailyLimit))
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", strconv.Itoa(max(v.dailyRemaining, 0)))
	}
}

// writeRateLimited writes the 429 of a policy, exactly as HubSpot words it.
func (s *Server) writeRateLimited(w http.ResponseWriter, policy string) {
	msg := map[string]string{
		"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
		"DAILY":                "You have reached your daily limit.",
		"SECONDLY":             "You have reached your secondly limit.",
	}[policy]
	s.writeError(w, http.StatusTooManyRequests, apiError{Message: msg, ErrorType: "RATE_LIMIT", PolicyName: policy})
}

// Faults are injected into API calls (never into token or admin calls). The zero value injects nothing.
type Faults struct {
	// ErrorRate is the fraction (0..1) of API calls answered with ErrorStatus (default 503).
	ErrorRate   float64 `json:"errorRate,omitempty"`
	ErrorStatus int     `json:"errorStatus,omitempty"`
	// HTMLErrors answers injected errors with an HTML page, as a proxy in front of HubSpot does, instead
	// of HubSpot's JSON error body.
	HTMLErrors bool `json:"htmlErrors,omitempty"`
	// RateLimitNext answers the next N API calls with the TEN_SECONDLY_ROLLING 429, headers included.
	RateLimitNext int `json:"rateLimitNext,omitempty"`
	// Latency delays every API call.
	Latency time.Duration `json:"latency,omitempty"`
	// DropRate is the fraction of API calls whose connection is closed without an answer.
	DropRate float64 `json:"dropRate,omitempty"`
}

// SetFaults replaces the injected faults; Faults{} clears them.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// CurrentFaults returns the injected faults (RateLimitNext counts down as it fires).
func (s *Server) CurrentFaults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetClockSkew makes the server's clock run skew ahead of (positive) or behind the configured clock. It
// moves every timestamp the server stamps from now on, and token expiry.
func (s *Server) SetClockSkew(skew time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew = skew
}

// Stats count what the server answered.
type Stats struct {
	// APICalls counts API requests answered, whatever the status: not token calls, admin calls or dropped
	// connections.
	APICalls    int `json:"apiCalls"`
	SearchCalls int `json:"searchCalls"`
	TokenCalls  int `json:"tokenCalls"`
	// RateLimited counts 429 answers (real and injected).
	RateLimited int `json:"rateLimited"`
	// Injected counts injected error answers; Dropped counts dropped connections.
	Injected int `json:"injected"`
	Dropped  int `json:"dropped"`
	// ByStatus and ByRoute break APICalls down ("POST /crm/v3/objects/{object}/batch/{op}").
	ByStatus map[int]int    `json:"byStatus"`
	ByRoute  map[string]int `json:"byRoute"`
}

func newStats() Stats { return Stats{ByStatus: map[int]int{}, ByRoute: map[string]int{}} }

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.ByStatus = make(map[int]int, len(s.stats.ByStatus))
	for k, v := range s.stats.ByStatus {
		c.ByStatus[k] = v
	}
	c.ByRoute = make(map[string]int, len(s.stats.ByRoute))
	for k, v := range s.stats.ByRoute {
		c.ByRoute[k] = v
	}
	return c
}

// APICalls returns Stats().APICalls.
func (s *Server) APICalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.APICalls
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
}

// statusWriter records the status an API handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveAPI runs one API call through faults, authentication and rate limits, then its handler.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	f := s.faults
	drop := f.DropRate > 0 && s.rng.Float64() < f.DropRate
	s.mu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if drop && s.drop(w) {
		return
	}
	_, pattern := s.api.Handler(r)
	search := r.Method == http.MethodPost && strings.HasSuffix(pattern, "/search")
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.stats.APICalls++
		if search {
			s.stats.SearchCalls++
		}
		if sw.status == http.StatusTooManyRequests {
			s.stats.RateLimited++
		}
		s.stats.ByStatus[sw.status]++
		if pattern == "" {
			pattern = r.Method + " (unknown route)"
		}
		s.stats.ByRoute[pattern]++
		s.mu.Unlock()
	}()
	if !s.authorize(sw, r) {
		return
	}

	s.mu.Lock()
	forced429 := s.faults.RateLimitNext > 0
	if forced429 {
		s.faults.RateLimitNext--
	}
	injected := !forced429 && f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate
	if injected {
		s.stats.Injected++
	}
	var v verdict
	if !forced429 && !injected {
		v = s.limits.check(s.opts.Clock(), search)
	}
	s.mu.Unlock()

	switch {
	case forced429:
		s.mu.Lock()
		v := s.limits.peek()
		s.mu.Unlock()
		s.setRateHeaders(sw.Header(), v)
		s.writeRateLimited(sw, "TEN_SECONDLY_ROLLING")
		return
	case injected:
		s.writeInjected(sw, f)
		return
	case v.policy != "":
		if !search {
			s.setRateHeaders(sw.Header(), v)
		}
		s.writeRateLimited(sw, v.policy)
		return
	}
	if !search {
		s.setRateHeaders(sw.Header(), v)
	}
	s.api.ServeHTTP(sw, r)
}

// drop closes the client's connection without an answer. It reports false when the connection cannot be
// hijacked (HTTP/2), in which case the call is served normally.
func (s *Server) drop(w http.ResponseWriter) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	s.mu.Lock()
	s.stats.Dropped++
	s.mu.Unlock()
	return true
}

func (s *Server) writeInjected(w http.ResponseWriter, f Faults) {
	status := f.ErrorStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	if f.HTMLErrors {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<!DOCTYPE html>\n<html><head><title>" + strconv.Itoa(status) + " " + http.StatusText(status) +
			"</title></head><body><h1>" + http.StatusText(status) + "</h1><p>The upstream server is temporarily unavailable.</p></body></html>\n"))
		return
	}
	category := "INTERNAL_ERROR"
	if status < 500 {
		category = "VALIDATION_ERROR"
	}
	s.writeError(w, status, apiError{Message: "internal error", Category: category})
}
