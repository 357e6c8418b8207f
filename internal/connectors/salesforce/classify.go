package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// DailyLimitRetry is how long the connector waits after Salesforce refuses a call because the org's
// rolling 24 h quota is spent. Salesforce sends no Retry-After, and the window rolls, so an hour is a
// conservative guess at when enough old calls have aged out.
const DailyLimitRetry = time.Hour

// apiError is one element of Salesforce's REST error array.
type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields"`
}

var invalidRecordCodes = map[string]bool{
	"REQUIRED_FIELD_MISSING": true, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": true, "DUPLICATE_VALUE": true,
	"STRING_TOO_LONG": true, "INVALID_EMAIL_ADDRESS": true, "FIELD_CUSTOM_VALIDATION_EXCEPTION": true,
	"INVALID_TYPE_ON_FIELD_IN_RECORD": true, "FIELD_INTEGRITY_EXCEPTION": true, "INVALID_FIELD_FOR_INSERT_UPDATE": true,
	"MALFORMED_ID": true, "INVALID_CROSS_REFERENCE_KEY": true, "ENTITY_IS_DELETED": true, "DUPLICATE_EXTERNAL_ID": true,
	"DUPLICATES_DETECTED": true, "NUMBER_OUTSIDE_VALID_RANGE": true, "MISSING_ARGUMENT": true,
	"CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY": true, "FIELD_FILTER_VALIDATION_EXCEPTION": true, "INVALID_ID_FIELD": true,
}

var permanentCodes = map[string]bool{
	"MALFORMED_QUERY": true, "INVALID_FIELD": true, "INVALID_TYPE": true, "NOT_FOUND": true,
	"INVALID_QUERY_FILTER_OPERATOR": true, "INSUFFICIENT_ACCESS_OR_READONLY": true, "INSUFFICIENT_ACCESS": true,
	"API_DISABLED_FOR_ORG": true, "API_CURRENTLY_DISABLED": true, "FUNCTIONALITY_NOT_ENABLED": true,
	"INVALID_REPLICATION_DATE": true, "INVALIDENTITY": true, "INVALIDJOB": true, "JSON_PARSER_ERROR": true,
	"EXCEEDED_ID_LIMIT": true, "METHOD_NOT_ALLOWED": true,
}

var transientCodes = map[string]bool{
	"UNABLE_TO_LOCK_ROW": true, "SERVER_UNAVAILABLE": true, "UNKNOWN_EXCEPTION": true,
	"INVALID_QUERY_LOCATOR": true, "QUERY_TIMEOUT": true, "ALL_OR_NONE_OPERATION_ROLLED_BACK": true,
}

var duplicateField = regexp.MustCompile(`duplicate value found: (\S+) duplicates`)

// fieldOf names the field an error is about: the first of fields, or the one a DUPLICATE_VALUE message
// names.
func fieldOf(code, message string, fields []string) string {
	if len(fields) > 0 {
		return fields[0]
	}
	if code == "DUPLICATE_VALUE" {
		if m := duplicateField.FindStringSubmatch(message); m != nil {
			return m[1]
		}
	}
	return ""
}

// kindOfCode classifies a Salesforce error code; ok is false for codes it does not know.
func kindOfCode(code string) (crmerr.Kind, bool) {
	switch {
	case code == "REQUEST_LIMIT_EXCEEDED":
		return crmerr.RateLimited, true
	case code == "INVALID_SESSION_ID" || code == "invalid_grant" || code == "invalid_client" || code == "invalid_client_id" || code == "INVALID_AUTH_HEADER":
		return crmerr.Auth, true
	case invalidRecordCodes[code]:
		return crmerr.InvalidRecord, true
	case permanentCodes[code]:
		return crmerr.Permanent, true
	case transientCodes[code]:
		return crmerr.Transient, true
	}
	return crmerr.Transient, false
}

// recordError turns one SaveResult error into the classified error of that record.
func recordError(op string, e apiError) *crmerr.Error {
	kind, ok := kindOfCode(e.ErrorCode)
	if !ok {
		kind = crmerr.InvalidRecord
	}
	return &crmerr.Error{Kind: kind, Provider: Provider, Op: op, Code: e.ErrorCode,
		Field: fieldOf(e.ErrorCode, e.Message, e.Fields), Message: e.Message}
}

// limitUsage reads Sforce-Limit-Info's api-usage; ok is false when absent.
func limitUsage(h http.Header) (used, limit int, ok bool) {
	for _, part := range strings.Split(h.Get("Sforce-Limit-Info"), ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || !strings.EqualFold(k, "api-usage") {
			continue
		}
		u, l, found := strings.Cut(v, "/")
		a, err1 := strconv.Atoi(strings.TrimSpace(u))
		b, err2 := strconv.Atoi(strings.TrimSpace(l))
		if found && err1 == nil && err2 == nil {
			return a, b, true
		}
	}
	return 0, 0, false
}

// Classifier returns the transport Classifier for Salesforce's REST API at version (for the 410 message).
//
//   - 403 REQUEST_LIMIT_EXCEEDED is RateLimited. When Sforce-Limit-Info shows the daily quota spent,
//     RetryAt is DailyLimitRetry ahead (Salesforce sends no Retry-After); otherwise (concurrent long
//     requests, a transient refusal) RetryAt is left to the transport's backoff.
//   - 401 INVALID_SESSION_ID is Auth (the transport refreshes once).
//   - Record-level codes (REQUIRED_FIELD_MISSING, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, DUPLICATE_VALUE,
//     ...) are InvalidRecord with Field.
//   - 410 is Permanent: the API version is retired.
//   - MALFORMED_QUERY, INVALID_FIELD and other configuration errors are Permanent.
//   - 5xx is Transient. A body that is not Salesforce's JSON (an HTML page, a truncated body) is classified
//     by status and says what came back, without copying it.
func Classifier(version string) transport.Classifier {
	return func(op string, status int, h http.Header, body []byte) *crmerr.Error {
		if status >= 200 && status < 300 {
			return nil
		}
		e := &crmerr.Error{Provider: Provider, Op: op, Status: status}
		if status == http.StatusGone {
			e.Kind, e.Code = crmerr.Permanent, "GONE"
			e.Message = "API version " + version + " retired: set spec.apiVersion to a supported version"
			return e
		}
		errs, parsed := parseErrors(h, body)
		if !parsed {
			// Without Salesforce's code there is no telling a bad record from a bad request: only the
			// status kinds that need no code stand; other 4xx stop for a person to look.
			e.Kind = transport.KindForStatus(status)
			if e.Kind == crmerr.InvalidRecord || status == http.StatusForbidden {
				e.Kind = crmerr.Permanent
			}
			e.Code = "MALFORMED_RESPONSE"
			e.Message = describeBody(h, body) + " instead of Salesforce's JSON error"
			return e
		}
		first := errs[0]
		e.Code, e.Message = first.ErrorCode, first.Message
		kind, known := kindOfCode(first.ErrorCode)
		if !known {
			kind = transport.KindForStatus(status)
			if status == http.StatusBadRequest || status == http.StatusForbidden || status == http.StatusNotFound {
				kind = crmerr.Permanent
			}
		}
		e.Kind = kind
		switch kind {
		case crmerr.InvalidRecord:
			e.Field = fieldOf(first.ErrorCode, first.Message, first.Fields)
		case crmerr.RateLimited:
			if used, limit, ok := limitUsage(h); ok && used >= limit && strings.Contains(first.Message, "TotalRequests") {
				e.RetryAt = time.Now().Add(DailyLimitRetry)
				e.Message += fmt.Sprintf(" (daily API requests %d/%d; Salesforce resets them over a rolling 24 h)", used, limit)
			}
		case crmerr.Auth:
			if status == http.StatusUnauthorized {
				e.Message = "session expired or invalid (401 INVALID_SESSION_ID): refresh the token, or re-authorise the connected app if refreshing fails"
			}
		}
		return e
	}
}

// parseErrors reads Salesforce's error array, or an OAuth error object.
func parseErrors(h http.Header, body []byte) ([]apiError, bool) {
	if ct := h.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return nil, false
		}
	}
	body = bytes.TrimSpace(body)
	var errs []apiError
	if json.Unmarshal(body, &errs) == nil && len(errs) > 0 && errs[0].ErrorCode != "" {
		return errs, true
	}
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &oe) == nil && oe.Error != "" {
		return []apiError{{ErrorCode: oe.Error, Message: oe.Description}}, true
	}
	return nil, false
}

func describeBody(h http.Header, body []byte) string {
	ct := h.Get("Content-Type")
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return "an empty body"
	case strings.Contains(ct, "html") || bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")):
		return "an HTML page"
	default:
		return fmt.Sprintf("a %d-byte %s body", len(body), orUnknown(ct))
	}
}

func orUnknown(ct string) string {
	if ct == "" {
		return "untyped"
	}
	return ct
}
