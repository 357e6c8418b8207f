package sqltable

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces secrets in DSNs and error messages.
const redacted = "xxxxx"

// secretKeys are connection parameters whose values are secrets.
var secretKeys = []string{"password", "sslpassword", "sslkey", "passfile"}

var keyValueSecret = regexp.MustCompile(`(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// RedactDSN returns dsn with every password replaced by "xxxxx", so that it can appear in an error, a log
// or a status message. It understands URL DSNs (postgres://user:pass@host/db?password=...), key=value
// DSNs (host=db password=...) and SQLite file names (which hold no secret and are returned unchanged, less
// any password parameter).
func RedactDSN(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			// Not parseable: keep only what precedes the user info.
			if i := strings.Index(dsn, "://"); i >= 0 {
				return dsn[:i+3] + redacted
			}
			return redacted
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), redacted)
			}
		}
		q := u.Query()
		changed := false
		for _, k := range secretKeys {
			if q.Has(k) {
				q.Set(k, redacted)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	if strings.Contains(dsn, "?") {
		base, query, _ := strings.Cut(dsn, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			return base + "?" + redacted
		}
		for _, k := range secretKeys {
			if q.Has(k) {
				q.Set(k, redacted)
			}
		}
		return base + "?" + q.Encode()
	}
	return keyValueSecret.ReplaceAllString(dsn, "${1}="+redacted)
}

// dsnPassword extracts the password of a DSN, so that it can be scrubbed from messages that might echo it.
func dsnPassword(dsn string) string {
	if strings.Contains(dsn, "://") {
		if u, err := url.Parse(dsn); err == nil {
			if p, ok := u.User.Password(); ok {
				return p
			}
			return u.Query().Get("password")
		}
		return ""
	}
	if m := keyValueSecret.FindStringSubmatch(dsn); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

// scrubbedError hides a secret from an error's message while keeping the chain for errors.Is/As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err with every occurrence of the DSN and its password removed from its message.
func scrub(err error, dsn, password string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	if dsn != "" {
		clean = strings.ReplaceAll(clean, dsn, RedactDSN(dsn))
	}
	if len(password) >= 3 {
		clean = strings.ReplaceAll(clean, password, redacted)
	}
	if clean == msg {
		return err
	}
	var se *scrubbedError
	if errors.As(err, &se) {
		return &scrubbedError{msg: clean, err: se.err}
	}
	return &scrubbedError{msg: clean, err: err}
}
