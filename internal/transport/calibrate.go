package transport

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// BudgetState is what one response's headers say about the vendor's limits. Observe starts from
// "nothing reported" (zero limits and windows, -1 counts, zero times) and applies only what a
// Calibrator filled in.
type BudgetState struct {
	// BurstLimit requests per BurstWindow; BurstRemaining of them are left in the current window.
	BurstLimit     int
	BurstWindow    time.Duration
	BurstRemaining int
	// DailyLimit is the daily quota; DailyUsed or DailyRemaining tells how much of it is spent
	// (org-wide, other integrations included).
	DailyLimit     int
	DailyUsed      int
	DailyRemaining int
	// DailyResetsAt is when the daily window ends, where the vendor says so.
	DailyResetsAt time.Time
	// PauseUntil stops every request until then.
	PauseUntil time.Time
}

func unreported() BudgetState {
	return BudgetState{BurstRemaining: -1, DailyUsed: -1, DailyRemaining: -1}
}

// Calibrator reads one vendor's usage headers into s. It must leave alone what the headers do not
// report, so that several calibrators can run on one response.
type Calibrator func(h http.Header, s *BudgetState)

// DefaultCalibrators understand every vendor whose headers are known; each reads only its own headers.
var DefaultCalibrators = []Calibrator{CalibrateSalesforce, CalibrateHubSpot, CalibrateDynamics, CalibrateZoho}

// CalibrateSalesforce reads `Sforce-Limit-Info: api-usage=18/15000`, the org-wide usage of the rolling
// 24 h request quota.
func CalibrateSalesforce(h http.Header, s *BudgetState) {
	v := h.Get("Sforce-Limit-Info")
	if v == "" {
		return
	}
	for _, part := range strings.Split(v, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(key, "api-usage") {
			continue
		}
		usedS, limitS, ok := strings.Cut(val, "/")
		used, err1 := strconv.Atoi(strings.TrimSpace(usedS))
		limit, err2 := strconv.Atoi(strings.TrimSpace(limitS))
		if ok && err1 == nil && err2 == nil && used >= 0 && limit > 0 {
			s.DailyUsed, s.DailyLimit = used, limit
		}
	}
}

// CalibrateHubSpot reads X-HubSpot-RateLimit-Max, -Remaining and -Interval-Milliseconds (the rolling
// burst window) and -Daily and -Daily-Remaining.
func CalibrateHubSpot(h http.Header, s *BudgetState) {
	if n, ok := headerInt(h, "X-Hubspot-Ratelimit-Max"); ok && n > 0 {
		s.BurstLimit = n
	}
	if n, ok := headerInt(h, "X-Hubspot-Ratelimit-Remaining"); ok && n >= 0 {
		s.BurstRemaining = n
	}
	if n, ok := headerInt(h, "X-Hubspot-Ratelimit-Interval-Milliseconds"); ok && n > 0 {
		s.BurstWindow = time.Duration(n) * time.Millisecond
	}
	if n, ok := headerInt(h, "X-Hubspot-Ratelimit-Daily"); ok && n > 0 {
		s.DailyLimit = n
	}
	if n, ok := headerInt(h, "X-Hubspot-Ratelimit-Daily-Remaining"); ok && n >= 0 {
		s.DailyRemaining = n
	}
}

// CalibrateDynamics reads x-ms-ratelimit-burst-remaining-xrm-requests, the requests left in Dataverse's
// 5-minute sliding window (its limit, 6000, comes from BudgetConfig).
func CalibrateDynamics(h http.Header, s *BudgetState) {
	if n, ok := headerInt(h, "X-Ms-Ratelimit-Burst-Remaining-Xrm-Requests"); ok && n >= 0 {
		s.BurstRemaining = n
	}
}

// CalibrateZoho reads X-API-CREDITS-REMAINING, which Zoho sends once half of the daily credits are spent
// (its limit comes from BudgetConfig).
func CalibrateZoho(h http.Header, s *BudgetState) {
	if n, ok := headerInt(h, "X-Api-Credits-Remaining"); ok && n >= 0 {
		s.DailyRemaining = n
	}
}

func headerInt(h http.Header, key string) (int, bool) {
	v := h.Get(key)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}
