package transport

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// maxMessageLen caps a vendor message copied into an error.
const maxMessageLen = 512

// DefaultClassify is the Classifier used when Config.Classify is nil, and a fallback for vendor
// classifiers: 2xx and 304 are success; 429 RateLimited; 401 and 403 Auth; 400, 409 and 422 InvalidRecord;
// 408 and 5xx Transient; any other status Permanent. The vendor's code and message are taken from the
// common JSON error shapes. The client fills in Provider, and RetryAt from Retry-After.
func DefaultClassify(op string, status int, _ http.Header, body []byte) *crmerr.Error {
	if status >= 200 && status < 300 || status == http.StatusNotModified {
		return nil
	}
	code, msg := VendorMessage(body)
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &crmerr.Error{Kind: KindForStatus(status), Op: op, Status: status, Code: code, Message: msg}
}

// KindForStatus is the generic classification of a non-success HTTP status.
func KindForStatus(status int) crmerr.Kind {
	switch {
	case status == http.StatusTooManyRequests:
		return crmerr.RateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return crmerr.Auth
	case status == http.StatusBadRequest || status == http.StatusConflict || status == http.StatusUnprocessableEntity:
		return crmerr.InvalidRecord
	case status == http.StatusRequestTimeout || status >= 500 || status < 200:
		return crmerr.Transient
	default:
		return crmerr.Permanent
	}
}

// VendorMessage extracts an error code and message from the JSON error bodies CRMs send:
// {"message","errorCode"|"code"|"category"}, {"error":"...","error_description":"..."},
// {"error":{"code","message"}} and Salesforce's [{"message","errorCode"}]. A body that is not JSON gives
// empty strings. The message is cut to 512 bytes.
func VendorMessage(body []byte) (code, message string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || (body[0] != '{' && body[0] != '[') {
		return "", ""
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "", ""
	}
	if list, ok := v.([]any); ok {
		if len(list) == 0 {
			return "", ""
		}
		v = list[0]
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return "", ""
	}
	if inner, ok := obj["error"].(map[string]any); ok {
		obj = inner
	}
	code = firstString(obj, "errorCode", "code", "error", "category", "errorType")
	message = firstString(obj, "message", "error_description", "error_info", "Message")
	return truncate(code, 128), truncate(message, maxMessageLen)
}

func firstString(obj map[string]any, keys ...string) string {
	for _, k := range keys {
		switch v := obj[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// RetryAfter parses a Retry-After header, in seconds or as an HTTP date, relative to now. It returns 0
// when the header is absent, malformed or in the past.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(365*24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
