package mapping

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDecimal(t *testing.T) {
	cases := []struct {
		reason string
		in     string
		want   Decimal
		err    bool
	}{
		{reason: "canonical text is kept", in: "-12.5", want: "-12.5"},
		{reason: "zero", in: "0", want: "0"},
		{reason: "negative zero is zero", in: "-0.000", want: "0"},
		{reason: "a plus sign is dropped", in: "+7", want: "7"},
		{reason: "leading zeros are dropped", in: "007.50", want: "7.5"},
		{reason: "a bare fraction gets its zero", in: ".5", want: "0.5"},
		{reason: "a trailing point", in: "5.", want: "5"},
		{reason: "surrounding spaces", in: " 1.0 ", want: "1"},
		{reason: "positive exponent", in: "1.25e3", want: "1250"},
		{reason: "negative exponent", in: "125E-5", want: "0.00125"},
		{reason: "exponent with sign", in: "-1e+2", want: "-100"},
		{reason: "very large", in: "123456789012345678901234567890123456789.987654321", want: "123456789012345678901234567890123456789.987654321"},
		{reason: "very small", in: "1e-30", want: Decimal("0." + strings.Repeat("0", 29) + "1")},
		{reason: "empty", in: "", err: true},
		{reason: "a lone point", in: ".", err: true},
		{reason: "a sign alone", in: "-", err: true},
		{reason: "two points", in: "1.2.3", err: true},
		{reason: "a comma", in: "1,5", err: true},
		{reason: "NaN", in: "NaN", err: true},
		{reason: "infinity", in: "Infinity", err: true},
		{reason: "hex", in: "0x10", err: true},
		{reason: "an exponent without digits", in: "1e", err: true},
		{reason: "too many digits to hold", in: "1e1001", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			got, err := ParseDecimal(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseDecimal(%q): error %v, want error %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Errorf("ParseDecimal(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDecimalShift(t *testing.T) {
	cases := []struct {
		reason string
		in     Decimal
		n      int
		want   Decimal
	}{
		{reason: "fraction to percent", in: "0.125", n: 2, want: "12.5"},
		{reason: "percent to fraction", in: "12.5", n: -2, want: "0.125"},
		{reason: "whole to fraction", in: "20", n: -2, want: "0.2"},
		{reason: "negative", in: "-0.5", n: 3, want: "-500"},
		{reason: "zero stays zero", in: "0", n: 5, want: "0"},
		{reason: "no shift", in: "1.5", n: 0, want: "1.5"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			if got := tc.in.Shift(tc.n); got != tc.want {
				t.Errorf("%q.Shift(%d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	cases := []struct {
		reason string
		in     string
		want   time.Time
		err    bool
	}{
		{reason: "UTC with Z", in: "2026-05-20T20:49:32Z", want: utc(2026, 5, 20, 20, 49, 32, 0)},
		{reason: "Salesforce's +0000 with ms", in: "2026-05-20T20:49:32.000+0000", want: utc(2026, 5, 20, 20, 49, 32, 0)},
		{reason: "Zoho's +05:30", in: "2026-10-15T10:30:00+05:30", want: utc(2026, 10, 15, 5, 0, 0, 0)},
		{reason: "nanoseconds", in: "2026-01-01T00:00:00.123456789Z", want: utc(2026, 1, 1, 0, 0, 0, 123456789)},
		{reason: "an offset crossing midnight and a year", in: "2026-12-31T23:30:00-01:00", want: utc(2027, 1, 1, 0, 30, 0, 0)},
		{reason: "before New York springs forward", in: nyBeforeSpring, want: utc(2026, 3, 8, 6, 59, 59, 0)},
		{reason: "after New York springs forward: one second later", in: nyAfterSpring, want: utc(2026, 3, 8, 7, 0, 0, 0)},
		{reason: "the first 01:30 of the fall-back night", in: nyFallEDT, want: utc(2026, 11, 1, 5, 30, 0, 0)},
		{reason: "the second 01:30 of the fall-back night", in: nyFallEST, want: utc(2026, 11, 1, 6, 30, 0, 0)},
		{reason: "no zone", in: "2026-05-20T20:49:32", err: true},
		{reason: "a space instead of T", in: "2026-05-20 20:49:32Z", err: true},
		{reason: "hour 24", in: "2026-05-20T24:00:00Z", err: true},
		{reason: "a leap second", in: "2016-12-31T23:59:60Z", err: true},
		{reason: "February 30", in: "2026-02-30T00:00:00Z", err: true},
		{reason: "more than nanoseconds", in: "2026-01-01T00:00:00.1234567891Z", err: true},
		{reason: "an empty fraction", in: "2026-01-01T00:00:00.Z", err: true},
		{reason: "a malformed zone", in: "2026-01-01T00:00:00+5", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			got, err := ParseTimestamp(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseTimestamp(%q): error %v, want error %v", tc.in, err, tc.err)
			}
			if tc.err {
				return
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("ParseTimestamp(%q) = %v, want %v in UTC", tc.in, got, tc.want)
			}
		})
	}
}

func TestDate(t *testing.T) {
	cases := []struct {
		reason string
		in     string
		want   Date
		err    bool
	}{
		{reason: "a date", in: "2026-03-08", want: date(2026, 3, 8)},
		{reason: "the first year", in: "0001-01-01", want: date(1, 1, 1)},
		{reason: "the last day", in: "9999-12-31", want: date(9999, 12, 31)},
		{reason: "a leap day", in: "2000-02-29", want: date(2000, 2, 29)},
		{reason: "not a leap year", in: "1900-02-29", err: true},
		{reason: "month 13", in: "2026-13-01", err: true},
		{reason: "year 0", in: "0000-01-01", err: true},
		{reason: "a short year", in: "26-03-08", err: true},
		{reason: "a timestamp", in: "2026-03-08T00:00:00Z", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			got, err := ParseDate(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseDate(%q): error %v, want error %v", tc.in, err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseDate(%q): -want, +got:\n%s", tc.in, diff)
			}
			if !tc.err && got.String() != tc.in {
				t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
			}
		})
	}
	if got := DateOf(time.Date(2026, 3, 8, 23, 30, 0, 0, mustZone("America/New_York"))); got != date(2026, 3, 8) {
		t.Errorf("DateOf uses the time's own zone: got %v, want 2026-03-08", got)
	}
}
