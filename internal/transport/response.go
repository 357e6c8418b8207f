package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// DecodeJSON decodes the body into v. An empty body, a non-JSON content type (an HTML error page from a
// proxy), malformed or truncated JSON, or trailing data give a Transient *crmerr.Error with code
// MALFORMED_RESPONSE that names the provider, the operation and the status; the body itself is never
// copied into the error.
func (r *Response) DecodeJSON(v any) error {
	return r.decode(v, false)
}

// DecodeJSONStrict is DecodeJSON that also rejects fields v does not declare, with a Permanent error:
// use it where an unknown field means the API changed under us.
func (r *Response) DecodeJSONStrict(v any) error {
	return r.decode(v, true)
}

func (r *Response) decode(v any, strict bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || bytes.HasSuffix([]byte(mt), []byte("+json"))) {
			return r.malformed(crmerr.Transient, fmt.Sprintf("expected a JSON body, got %s", truncate(ct, 64)), nil)
		}
	}
	body := bytes.TrimSpace(r.Body)
	if len(body) == 0 {
		return r.malformed(crmerr.Transient, "empty response body", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if strict && isUnknownField(err) {
			return r.malformed(crmerr.Permanent, "unexpected response shape", err)
		}
		return r.malformed(crmerr.Transient, fmt.Sprintf("invalid JSON in a %d-byte body", len(r.Body)), err)
	}
	if dec.More() {
		return r.malformed(crmerr.Transient, "trailing data after the JSON body", nil)
	}
	return nil
}

func isUnknownField(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return !errors.As(err, &se) && !errors.As(err, &te) && bytes.Contains([]byte(err.Error()), []byte("unknown field"))
}

func (r *Response) malformed(kind crmerr.Kind, msg string, err error) *crmerr.Error {
	return &crmerr.Error{Kind: kind, Provider: r.provider, Op: r.op, Status: r.Status,
		Code: "MALFORMED_RESPONSE", Message: msg, Err: err}
}
