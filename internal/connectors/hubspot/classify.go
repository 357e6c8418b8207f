package hubspot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// errorBody is HubSpot's error shape; every field is optional.
type errorBody struct {
	Status     string              `json:"status"`
	Message    string              `json:"message"`
	Category   string              `json:"category"`
	ErrorType  string              `json:"errorType"`
	PolicyName string              `json:"policyName"`
	Context    map[string][]string `json:"context"`
	Errors     []struct {
		Message string              `json:"message"`
		Code    string              `json:"code"`
		Context map[string][]string `json:"context"`
	} `json:"errors"`
}

// code is the most specific vendor code of the body: the policy of a 429, the category, or the status
// of the OAuth endpoint's errors.
func (b *errorBody) code() string {
	switch {
	case b.PolicyName != "":
		return b.PolicyName
	case b.Category != "":
		return b.Category
	case b.Status != "" && b.Status != "error":
		return b.Status
	}
	return b.ErrorType
}

// field is the first property an error names.
func (b *errorBody) field() string {
	for _, e := range b.Errors {
		if names := e.Context["propertyName"]; len(names) > 0 {
			return names[0]
		}
	}
	if names := b.Context["propertyName"]; len(names) > 0 {
		return names[0]
	}
	return ""
}

// detailCode is the first per-property code (INVALID_OPTION, READ_ONLY_VALUE, ...).
func (b *errorBody) detailCode() string {
	for _, e := range b.Errors {
		if e.Code != "" {
			return e.Code
		}
	}
	return ""
}

// parseErrorBody reads a JSON error body; ok=false when the body is not JSON (an HTML page from a proxy,
// a truncated body).
func parseErrorBody(header http.Header, body []byte) (errorBody, bool) {
	var b errorBody
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return b, false
	}
	if ct := header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && !strings.Contains(mt, "json") {
			return b, false
		}
	}
	if json.Unmarshal(trimmed, &b) != nil {
		return errorBody{}, false
	}
	return b, true
}

// describeBody says what a body that is not HubSpot's JSON looks like, without copying it.
func describeBody(header http.Header, body []byte) string {
	ct := header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return "an empty body (" + ct + ")"
	}
	return fmt.Sprintf("a %d-byte body that is not HubSpot's JSON error (%s)", len(body), ct)
}

// writeOps are the operations whose 400 and 409 answers reject records rather than the request.
var writeOps = []string{"create ", "update ", "upsert "}

func isWriteOp(op string) bool {
	for _, p := range writeOps {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// classify is the transport Classifier for HubSpot. 2xx is success (207 included: the connector reads its
// per-input errors). 429 is RateLimited (TEN_SECONDLY_ROLLING and the search SECONDLY retry after a
// second, DAILY at the next midnight of the account); 401 is Auth; 400 VALIDATION_ERROR and 409 CONFLICT
// are InvalidRecord for writes and Permanent for reads; 403 and 404 are Permanent; 408, 423 and 5xx are
// Transient. A body that is not HubSpot's JSON keeps the status's classification.
func (c *Connector) classify(op string, status int, header http.Header, body []byte) *crmerr.Error {
	if status >= 200 && status < 300 {
		return nil
	}
	b, isJSON := parseErrorBody(header, body)
	e := &crmerr.Error{Provider: Provider, Op: op, Status: status, Code: b.code(), Message: b.Message}
	if !isJSON {
		e.Message = "HubSpot answered with " + describeBody(header, body)
	}
	now := c.clock.Now()
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind = crmerr.RateLimited
		if e.Code == "" {
			e.Code = "RATE_LIMIT"
		}
		switch b.PolicyName {
		case "DAILY":
			e.RetryAt = nextMidnight(now, c.cfg.DailyResetLocation)
			e.Message += " The daily API limit resets at midnight in the account's time zone."
		default:
			e.RetryAt = now.Add(time.Second)
		}
	case status == http.StatusUnauthorized:
		e.Kind = crmerr.Auth
		e.Message = strings.TrimSpace(e.Message + " Refresh the token; if that fails, re-authorise the app or replace the private app token.")
	case status == http.StatusBadRequest || status == http.StatusConflict || status == http.StatusUnprocessableEntity:
		if isWriteOp(op) {
			e.Kind = crmerr.InvalidRecord
			e.Field = b.field()
			if d := b.detailCode(); d != "" && e.Code == "VALIDATION_ERROR" {
				e.Code = d
			}
		} else {
			e.Kind = crmerr.Permanent
		}
	case status == http.StatusRequestTimeout || status == http.StatusLocked || status == http.StatusTooEarly || status >= 500:
		e.Kind = crmerr.Transient
	case status == http.StatusForbidden:
		e.Kind = crmerr.Permanent
		e.Message = strings.TrimSpace(e.Message + " The token lacks a scope this call needs: grant it in the app's settings and re-authorise.")
	default:
		e.Kind = transport.KindForStatus(status)
		if e.Kind == crmerr.InvalidRecord || e.Kind == crmerr.Auth {
			e.Kind = crmerr.Permanent
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

func nextMidnight(now time.Time, loc *time.Location) time.Time {
	t := now.In(loc)
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// malformed is the error of a 2xx answer whose body cannot be used. It never copies the body.
func malformed(kind crmerr.Kind, op string, status int, format string, args ...any) *crmerr.Error {
	return &crmerr.Error{Kind: kind, Provider: Provider, Op: op, Status: status, Code: "MALFORMED_RESPONSE", Message: fmt.Sprintf(format, args...)}
}
