// Package crmerr defines the classified errors that connectors, the transport and token sources share.
package crmerr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind tells a caller what to do about an error.
type Kind int

const (
	// Transient errors (5xx, timeouts, dropped connections) are safe to retry with backoff.
	Transient Kind = iota
	// RateLimited errors mean the CRM or our own budget refused the call; retry after RetryAt.
	RateLimited
	// Auth errors mean the token was rejected; refresh it, and if that fails the user must re-authorise.
	Auth
	// InvalidRecord errors are permanent for one record (a rejected picklist value, a missing required
	// field, a duplicate). Other records in the same batch are unaffected.
	InvalidRecord
	// Permanent errors are configuration problems (unknown object, missing permission, retired API
	// version): stop and report to a person.
	Permanent
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "Transient"
	case RateLimited:
		return "RateLimited"
	case Auth:
		return "Auth"
	case InvalidRecord:
		return "InvalidRecord"
	case Permanent:
		return "Permanent"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// Error is a classified error. Its message names the CRM, the operation and, where there was one, the
// HTTP status and the vendor's error code. It never contains a token or a secret.
type Error struct {
	Kind     Kind
	Provider string // "hubspot", "salesforce", "sqltable", ...
	Op       string // what we were doing: "upsert contacts", "refresh token", ...
	Status   int    // HTTP status, 0 when there was no response
	Code     string // vendor error code: "REQUIRED_FIELD_MISSING", "VALIDATION_ERROR", ...
	Field    string // the offending remote field, for InvalidRecord errors, when known
	Message  string // the vendor's message or our description, for a person
	RetryAt  time.Time
	Err      error // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	if e.Op != "" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil && (e.Message == "" || !strings.Contains(e.Message, e.Err.Error())) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Kind == RateLimited && !e.RetryAt.IsZero() {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns a classified error.
func New(kind Kind, provider, op, message string) *Error {
	return &Error{Kind: kind, Provider: provider, Op: op, Message: message}
}

// Wrap classifies err. When err is already classified, its kind is kept unless it is the zero value.
func Wrap(kind Kind, provider, op string, err error) *Error {
	return &Error{Kind: kind, Provider: provider, Op: op, Err: err}
}

// KindOf returns the kind of err. Unclassified errors are Transient: retrying is the safe default, and
// bounded retries turn a persistent one into a reported failure. A cancelled context is Transient too.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}

// Is reports whether err is classified as kind.
func Is(err error, kind Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == kind
}

// RetryAt returns when a RateLimited error may be retried, and whether err is RateLimited at all.
func RetryAt(err error) (time.Time, bool) {
	var e *Error
	if errors.As(err, &e) && e.Kind == RateLimited {
		return e.RetryAt, true
	}
	return time.Time{}, false
}
