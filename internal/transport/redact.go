package transport

import (
	"errors"
	"net/url"
	"strings"
)

const redacted = "REDACTED"

// sensitiveParts are substrings of query parameter names whose values are never shown.
var sensitiveParts = []string{"token", "secret", "password", "passwd", "apikey", "api_key", "signature", "code", "auth", "credential", "session", "key"}

// SensitiveName reports whether a query parameter (or form field) named name may carry a credential:
// access_token, api_token, client_secret, hapikey, code, signature, ...
func SensitiveName(name string) bool {
	n := strings.ToLower(name)
	for _, p := range sensitiveParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// RedactURL returns raw with user info and the values of sensitive query parameters replaced by
// REDACTED. A string that does not parse as a URL is reduced to a placeholder.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return redactURL(u)
}

func redactURL(u *url.URL) string {
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return u.String()
	}
	c := *u
	if c.User != nil {
		c.User = url.User(redacted)
	}
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = redacted
		} else {
			for k, vs := range q {
				if SensitiveName(k) {
					for i := range vs {
						vs[i] = redacted
					}
				}
			}
			c.RawQuery = q.Encode()
		}
	}
	return c.String()
}

// redactErr replaces the URL inside a *url.Error (which net/http puts into every transport error) by its
// redacted form.
func redactErr(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	return &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
}

// scrub removes every occurrence of secret from s.
func scrub(s, secret string) string {
	if secret == "" || !strings.Contains(s, secret) {
		return s
	}
	return strings.ReplaceAll(s, secret, redacted)
}
