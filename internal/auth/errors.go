package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// CodeInvalidGrant is the crmerr.Error Code of every error that needs a person to re-authorise, whatever
// the vendor called it (invalid_grant, invalid_client, BAD_REFRESH_TOKEN, invalid_code, AADSTS70008, ...).
const CodeInvalidGrant = "invalid_grant"

// opToken is the crmerr.Error Op of token endpoint failures.
const opToken = "token request"

// defaultRateLimitWait is the retry time of a 429 from a token endpoint that sends no Retry-After.
const defaultRateLimitWait = time.Minute

// ReauthorizationError says that the CRM refused the credentials for good: retrying cannot help, a person
// must replace Keys in the credentials Secret. It is wrapped in a *crmerr.Error of Kind Auth and Code
// CodeInvalidGrant.
type ReauthorizationError struct {
	Provider, AuthType string
	// Keys are the credentials Secret keys to replace.
	Keys []string
	// VendorCode and Description are what the CRM said (scrubbed of secrets), when it said anything.
	VendorCode  string
	Description string
}

// Error reads like `refresh token rejected (invalid_grant: expired access/refresh token): replace key
// "refresh_token" in the credentials Secret`.
func (e *ReauthorizationError) Error() string { return e.Describe("") }

// Describe is Error, naming the Secret ("namespace/name") instead of "the credentials Secret".
func (e *ReauthorizationError) Describe(secret string) string {
	var b strings.Builder
	b.WriteString(e.what())
	if e.VendorCode != "" || e.Description != "" {
		b.WriteString(" (")
		b.WriteString(e.VendorCode)
		if e.VendorCode != "" && e.Description != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Description)
		b.WriteString(")")
	}
	word := "key"
	if len(e.Keys) > 1 {
		word = "keys"
	}
	where := "the credentials Secret"
	if secret != "" {
		where = "Secret " + secret
	}
	fmt.Fprintf(&b, ": replace %s %s in %s", word, quoteJoin(e.Keys, "or"), where)
	return b.String()
}

func (e *ReauthorizationError) what() string {
	switch e.AuthType {
	case OAuth2RefreshToken:
		return "refresh token rejected"
	case JWTBearer:
		return "JWT bearer assertion rejected"
	case OAuth2ClientCredentials:
		return "client credentials rejected"
	case PrivateAppToken:
		return "private app token rejected"
	case APIToken:
		return "API token rejected"
	}
	return "credentials rejected"
}

// IsReauthorizationRequired reports whether err means a person must re-authorise (replace keys of the
// credentials Secret): retrying with the same credentials cannot succeed.
func IsReauthorizationRequired(err error) bool {
	var re *ReauthorizationError
	return errors.As(err, &re)
}

// tokenErrorBody is the union of the vendors' token error bodies.
type tokenErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Status           string `json:"status"`  // HubSpot: BAD_REFRESH_TOKEN
	Message          string `json:"message"` // HubSpot, Pipedrive
}

var (
	aadstsCode = regexp.MustCompile(`AADSTS(\d+)`)
	// Azure AD codes that name the key to replace more precisely than the OAuth error does.
	aadstsKeys = map[string][]string{
		"7000215": {KeyClientSecret}, // invalid client secret
		"7000222": {KeyClientSecret}, // expired client secret
		"700016":  {KeyClientID},     // application not found in the tenant
	}
	grantCodes  = []string{"invalid_grant", "invalid_code", "bad_refresh_token", "expired_token", "invalid_token", "access_denied", "bad_auth_code"}
	clientCodes = []string{"invalid_client", "unauthorized_client", "invalid_client_secret", "bad_client_id", "bad_client_secret"}
)

// classifyRetrieveError turns a token endpoint answer into a classified error. secrets are scrubbed from
// anything the vendor said; the raw body is never copied.
func classifyRetrieveError(provider, authType string, re *oauth2.RetrieveError, now time.Time, scrub func(string) string) *crmerr.Error {
	status := 0
	var header http.Header
	if re.Response != nil {
		status = re.Response.StatusCode
		header = re.Response.Header
	}
	var body tokenErrorBody
	_ = json.Unmarshal(re.Body, &body)
	if strings.EqualFold(body.Status, "error") {
		body.Status = "" // HubSpot's envelope, not a code
	}
	code := firstNonEmpty(re.ErrorCode, body.Error, body.Status)
	desc := scrub(truncate(firstNonEmpty(re.ErrorDescription, body.ErrorDescription, body.Message), 300))
	code = scrub(truncate(code, 80))
	e := &crmerr.Error{Provider: provider, Op: opToken, Status: status}
	lower := strings.ToLower(code)
	switch {
	case status == http.StatusTooManyRequests || strings.Contains(strings.ToLower(desc), "too many requests"):
		e.Kind, e.Code, e.Message = crmerr.RateLimited, code, firstNonEmpty(desc, "token endpoint rate limit")
		e.RetryAt = retryAfter(header, now)
	case status >= 500 || status == http.StatusRequestTimeout:
		e.Kind, e.Code, e.Message = crmerr.Transient, code, firstNonEmpty(desc, "token endpoint unavailable")
	default:
		keys := reauthKeys(authType, lower, desc)
		if keys == nil && (status == http.StatusUnauthorized || status == http.StatusForbidden) {
			keys = clientKeys(authType)
		}
		if keys != nil {
			ra := &ReauthorizationError{Provider: provider, AuthType: authType, Keys: keys, VendorCode: code, Description: desc}
			e.Kind, e.Code, e.Message, e.Err = crmerr.Auth, CodeInvalidGrant, ra.Error(), ra
			return e
		}
		e.Kind, e.Code = crmerr.Permanent, code
		e.Message = firstNonEmpty(desc, "token endpoint refused the request") + ": check the token URL, scopes and app settings of the connection"
	}
	return e
}

// reauthKeys returns the credentials keys to replace for a vendor code that means the credentials are dead,
// or nil when the code means something else.
func reauthKeys(authType, code, desc string) []string {
	if m := aadstsCode.FindStringSubmatch(desc); m != nil {
		if keys, ok := aadstsKeys[m[1]]; ok {
			return keys
		}
	}
	switch {
	case slices.Contains(grantCodes, code):
		return grantKeys(authType)
	case slices.Contains(clientCodes, code):
		return clientKeys(authType)
	}
	return nil
}

func grantKeys(authType string) []string {
	switch authType {
	case OAuth2RefreshToken:
		return []string{KeyRefreshToken}
	case JWTBearer:
		return []string{KeyUsername, KeyPrivateKey}
	case OAuth2ClientCredentials:
		return []string{KeyClientID, KeyClientSecret}
	}
	return []string{KeyToken}
}

func clientKeys(authType string) []string {
	switch authType {
	case JWTBearer:
		return []string{KeyClientID, KeyPrivateKey}
	case PrivateAppToken, APIToken:
		return []string{KeyToken}
	}
	return []string{KeyClientID, KeyClientSecret}
}

// retryAfter reads Retry-After (seconds or an HTTP date), defaulting to defaultRateLimitWait.
func retryAfter(h http.Header, now time.Time) time.Time {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil {
		return t
	}
	return now.Add(defaultRateLimitWait)
}

// scrubbedError carries an error whose text had secrets removed; errors.Is and As still see the cause.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// redactor replaces every occurrence of its secrets with [REDACTED].
type redactor []string

func (r redactor) scrub(s string) string {
	for _, v := range r {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return s
}

func (r redactor) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbedError{msg: r.scrub(err.Error()), cause: err}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
