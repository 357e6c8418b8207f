package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/mapping"
)

// FingerprintSize is the length of a fingerprint in bytes.
const FingerprintSize = 16

// Fingerprint returns a deterministic digest of the given canonical fields of c: SHA-256 over the fields in
// sorted order, each as its name and a type-stable encoding of its value, truncated to FingerprintSize
// bytes. Null, absent and the empty string are equal; numbers are compared by value whatever their Go type.
// The fingerprint of no fields is nil.
func Fingerprint(c Canonical, fields []string) []byte {
	if len(fields) == 0 {
		return nil
	}
	if !slices.IsSorted(fields) {
		fields = slices.Sorted(slices.Values(fields))
	}
	var buf []byte
	for _, f := range fields {
		buf = appendString(buf, f)
		buf = appendValue(buf, c[f])
	}
	sum := sha256.Sum256(buf)
	return sum[:FingerprintSize]
}

// gone marks, in place of a fingerprint, the side of a link whose record was deleted under the Ignore
// policy. It cannot equal a real fingerprint, whose length differs.
var gone = []byte("deleted")

func isGone(fp []byte) bool { return bytes.Equal(fp, gone) }

func sameFP(a, b []byte) bool { return bytes.Equal(a, b) }

// sameValue reports whether two canonical values are equal under the fingerprint's encoding.
func sameValue(a, b any) bool {
	return bytes.Equal(appendValue(nil, a), appendValue(nil, b))
}

// matchKey returns the normalised match key of v as a hex digest, or "" when v is empty.
func matchKey(v any, caseInsensitive bool) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = x
	default:
		s = string(appendValue(nil, v))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if caseInsensitive {
		s = strings.ToLower(s)
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:FingerprintSize])
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendValue appends a tag byte and an unambiguous encoding of a canonical (or plain wire) value.
func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'z')
	case string:
		if x == "" {
			return append(b, 'z')
		}
		return appendString(append(b, 's'), x)
	case bool:
		if x {
			return append(b, 'b', 1)
		}
		return append(b, 'b', 0)
	case mapping.Decimal:
		return appendString(append(b, 'n'), string(x))
	case int:
		return appendString(append(b, 'n'), strconv.FormatInt(int64(x), 10))
	case int32:
		return appendString(append(b, 'n'), strconv.FormatInt(int64(x), 10))
	case int64:
		return appendString(append(b, 'n'), strconv.FormatInt(x, 10))
	case float64:
		return appendString(append(b, 'n'), floatText(x))
	case json.Number:
		return appendString(append(b, 'n'), numberText(string(x)))
	case time.Time:
		return appendString(append(b, 't'), x.UTC().Format(time.RFC3339Nano))
	case mapping.Date:
		return appendString(append(b, 'd'), x.String())
	case mapping.Money:
		return appendString(appendString(append(b, 'm'), string(x.Amount)), x.Currency)
	case []string:
		b = binary.AppendUvarint(append(b, 'l'), uint64(len(x)))
		for _, s := range x {
			b = appendValue(b, s)
		}
		return b
	case []any:
		b = binary.AppendUvarint(append(b, 'l'), uint64(len(x)))
		for _, e := range x {
			b = appendValue(b, e)
		}
		return b
	case map[string]any:
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range x {
				if !yield(k) {
					return
				}
			}
		})
		b = binary.AppendUvarint(append(b, 'o'), uint64(len(keys)))
		for _, k := range keys {
			b = appendValue(appendString(b, k), x[k])
		}
		return b
	default:
		return appendString(append(b, 'x'), fmt.Sprintf("%T:%v", v, v))
	}
}

// floatText renders a float as canonical decimal text, the same as mapping.Decimal for the same number.
func floatText(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return numberText(strconv.FormatFloat(f, 'g', -1, 64))
}

// numberText renders a number's text as canonical decimal text when it parses, else as it is.
func numberText(s string) string {
	if d, err := mapping.ParseDecimal(s); err == nil {
		return string(d)
	}
	return s
}

// display renders a canonical value for a person, e.g. in a conflict.
func display(v any) string {
	const limit = 200
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		s = x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		s = x.String()
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}
