package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Decimal is an exact decimal number in canonical text: an optional minus sign, the integer digits without
// leading zeros, and, only when there is a fraction, a point and the fraction digits without trailing zeros.
// Examples: "0", "-12.5", "123456789012345678901234567890.000000001". There is no exponent and no "-0",
// so two Decimals are equal exactly when their strings are. The empty Decimal is not a number.
type Decimal string

// maxDecimalDigits bounds the digits of a Decimal, so that "1e999999999" cannot exhaust memory.
const maxDecimalDigits = 1000

var errNotDecimal = errors.New("not a decimal number")

// ParseDecimal parses a decimal number: an optional sign, digits with an optional point, and an optional
// exponent ("1.50", "+7", ".5", "1e21", "-0.0"). Surrounding spaces are ignored. NaN, infinities, hex and
// numbers with more than 1000 digits are rejected.
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	if isCanonicalDecimal(s) {
		return Decimal(s), nil
	}
	neg := false
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > maxDecimalDigits || e < -maxDecimalDigits {
			return "", errNotDecimal
		}
		exp = e
	}
	intPart, frac, hasPoint := strings.Cut(mant, ".")
	if (intPart == "" && frac == "") || !allDigits(intPart) || !allDigits(frac) || (hasPoint && strings.Contains(frac, ".")) {
		return "", errNotDecimal
	}
	d, err := buildDecimal(neg, intPart+frac, len(intPart)+exp)
	if err != nil {
		return "", err
	}
	return d, nil
}

// MustDecimal is ParseDecimal for constants in code and tests; it panics on a malformed number.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(fmt.Sprintf("mapping.MustDecimal(%q): %v", s, err))
	}
	return d
}

// String returns the canonical text.
func (d Decimal) String() string { return string(d) }

// IsInteger reports whether d has no fraction.
func (d Decimal) IsInteger() bool { return d != "" && !strings.Contains(string(d), ".") }

// Shift returns d multiplied by 10^n, exactly.
func (d Decimal) Shift(n int) Decimal {
	if n == 0 || d == "0" || d == "" {
		return d
	}
	s, neg := string(d), false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	out, err := buildDecimal(neg, intPart+frac, len(intPart)+n)
	if err != nil {
		return d
	}
	return out
}

// buildDecimal renders sign, digits and the position of the point (the number of digits before it, which
// may be negative or beyond len(digits)) in canonical form.
func buildDecimal(neg bool, digits string, point int) (Decimal, error) {
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	digits, point = digits[lead:], point-lead
	digits = strings.TrimRight(digits, "0")
	if digits == "" {
		return "0", nil
	}
	width := max(point, len(digits)) - min(point, 0)
	if width > maxDecimalDigits {
		return "", fmt.Errorf("%w: more than %d digits", errNotDecimal, maxDecimalDigits)
	}
	var b strings.Builder
	b.Grow(width + 3)
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return Decimal(b.String()), nil
}

// isCanonicalDecimal reports whether s is already in canonical form (the common case, checked without
// allocating).
func isCanonicalDecimal(s string) bool {
	if s == "" || len(s) > maxDecimalDigits {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "0" {
			return false
		}
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') {
		return false
	}
	if !hasPoint {
		return true
	}
	return frac != "" && allDigits(frac) && frac[len(frac)-1] != '0'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Money is an amount of money. Currency is the ISO 4217 code when the CRM carries it inside the value
// (Pipedrive monetary fields); it is empty where the CRM keeps the code in a separate field, which is mapped
// on its own (deals.currency).
type Money struct {
	Amount   Decimal
	Currency string
}

func (m Money) String() string {
	if m.Currency == "" {
		return string(m.Amount)
	}
	return string(m.Amount) + " " + m.Currency
}

// Date is a calendar date without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses "YYYY-MM-DD" (a four-digit year, 0001 to 9999).
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", s)
	}
	y, ok1 := atoiFixed(s[0:4])
	m, ok2 := atoiFixed(s[5:7])
	d, ok3 := atoiFixed(s[8:10])
	date := Date{y, time.Month(m), d}
	if !ok1 || !ok2 || !ok3 || !date.IsValid() {
		return Date{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", s)
	}
	return date, nil
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsValid reports whether d is a real day between 0001-01-01 and 9999-12-31.
func (d Date) IsValid() bool {
	return d.Year >= 1 && d.Year <= 9999 && d.Month >= 1 && d.Month <= 12 && d.Day >= 1 && d.Day <= daysIn(d.Year, d.Month)
}

// Time returns midnight UTC at the start of d.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// String returns "YYYY-MM-DD".
func (d Date) String() string { return string(d.appendText(make([]byte, 0, 10))) }

// MarshalText renders "YYYY-MM-DD".
func (d Date) MarshalText() ([]byte, error) { return d.appendText(nil), nil }

// UnmarshalText parses "YYYY-MM-DD".
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Date) appendText(b []byte) []byte {
	b = appendInt(b, d.Year, 4)
	b = append(b, '-')
	b = appendInt(b, int(d.Month), 2)
	b = append(b, '-')
	return appendInt(b, d.Day, 2)
}

func appendInt(b []byte, v, width int) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var buf [20]byte
	i := len(buf)
	for v >= 10 || width > 1 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	i--
	buf[i] = byte('0' + v)
	return append(b, buf[i:]...)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// atoiFixed parses a run of ASCII digits.
func atoiFixed(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// ParseTimestamp parses an ISO 8601 timestamp as the CRMs send it and returns it in UTC:
// "YYYY-MM-DDTHH:MM:SS", optional fraction (up to nanoseconds), and a zone of "Z", "±HH:MM" or "±HHMM"
// ("2026-05-20T20:49:32.000+0000", "2026-10-15T10:30:00+05:30", "2019-10-30T03:30:17.883Z").
// A timestamp without a zone is rejected: guessing one shifts data by hours.
func ParseTimestamp(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("%q is not a timestamp (want ISO 8601 with a zone, e.g. 2026-05-20T20:49:32Z)", s)
	}
	if len(s) < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return bad()
	}
	date, err := ParseDate(s[:10])
	if err != nil {
		return bad()
	}
	hh, ok1 := atoiFixed(s[11:13])
	mm, ok2 := atoiFixed(s[14:16])
	ss, ok3 := atoiFixed(s[17:19])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return bad()
	}
	rest, nsec := s[19:], 0
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		digits := rest[1:i]
		if digits == "" || len(digits) > 9 {
			return bad()
		}
		nsec, _ = atoiFixed(digits)
		for range 9 - len(digits) {
			nsec *= 10
		}
		rest = rest[i:]
	}
	offset := 0
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		offset, ok1 = zoneOffset(rest[1:3], rest[4:6])
	case len(rest) == 5 && (rest[0] == '+' || rest[0] == '-'):
		offset, ok1 = zoneOffset(rest[1:3], rest[3:5])
	default:
		return bad()
	}
	if !ok1 {
		return bad()
	}
	if rest[0] == '-' {
		offset = -offset
	}
	t := time.Date(date.Year, date.Month, date.Day, hh, mm, ss, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), nil
}

func zoneOffset(h, m string) (int, bool) {
	hh, ok1 := atoiFixed(h)
	mm, ok2 := atoiFixed(m)
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	return hh*3600 + mm*60, true
}
