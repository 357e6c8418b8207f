package sync

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/mapping"
)

func TestFingerprint(t *testing.T) {
	at := time.Date(2026, 5, 20, 20, 49, 32, 0, time.UTC)
	cases := map[string]struct {
		reason    string
		a, b      Canonical
		fa, fb    []string
		wantEqual bool
	}{
		"NullEmptyAbsent": {
			reason: "Null, the empty string and an absent field all mean no value.",
			a:      Canonical{"x": nil, "y": ""}, b: Canonical{},
			fa: []string{"x", "y"}, fb: []string{"x", "y"}, wantEqual: true,
		},
		"NumbersByValue": {
			reason: "A number's Go type does not matter, only its value.",
			a:      Canonical{"i": int64(5), "f": 2.5, "d": mapping.Decimal("100")},
			b:      Canonical{"i": json.Number("5.0"), "f": mapping.Decimal("2.5"), "d": float64(100)},
			fa:     []string{"d", "f", "i"}, fb: []string{"d", "f", "i"}, wantEqual: true,
		},
		"TimeZones": {
			reason: "The same instant in two zones is the same value.",
			a:      Canonical{"t": at}, b: Canonical{"t": at.In(time.FixedZone("x", 5*3600))},
			fa: []string{"t"}, fb: []string{"t"}, wantEqual: true,
		},
		"FieldOrder": {
			reason: "The order of the field list does not matter.",
			a:      Canonical{"a": "1", "b": "2"}, b: Canonical{"a": "1", "b": "2"},
			fa: []string{"a", "b"}, fb: []string{"b", "a"}, wantEqual: true,
		},
		"UnlistedFields": {
			reason: "Fields outside the list do not count.",
			a:      Canonical{"a": "1", "z": "x"}, b: Canonical{"a": "1", "z": "y"},
			fa: []string{"a"}, fb: []string{"a"}, wantEqual: true,
		},
		"DifferentValue": {
			reason: "A changed value changes the fingerprint.",
			a:      Canonical{"a": "1"}, b: Canonical{"a": "2"},
			fa: []string{"a"}, fb: []string{"a"},
		},
		"StringIsNotNumber": {
			reason: "A string that looks like a number is still a string.",
			a:      Canonical{"a": "5"}, b: Canonical{"a": int64(5)},
			fa: []string{"a"}, fb: []string{"a"},
		},
		"FieldBoundaries": {
			reason: "Values cannot bleed into the next field.",
			a:      Canonical{"a": "x", "b": "yz"}, b: Canonical{"a": "xy", "b": "z"},
			fa: []string{"a", "b"}, fb: []string{"a", "b"},
		},
		"CaseMatters": {
			reason: "Values are compared exactly; only the match key ignores case.",
			a:      Canonical{"a": "Ann"}, b: Canonical{"a": "ann"},
			fa: []string{"a"}, fb: []string{"a"},
		},
		"Lists": {
			reason: "Multi-enum values are compared element by element.",
			a:      Canonical{"m": []string{"a", "b"}}, b: Canonical{"m": []string{"ab"}},
			fa: []string{"m"}, fb: []string{"m"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fa, fb := Fingerprint(tc.a, tc.fa), Fingerprint(tc.b, tc.fb)
			if len(fa) != FingerprintSize {
				t.Fatalf("fingerprint has %d bytes, want %d", len(fa), FingerprintSize)
			}
			if got := sameFP(fa, fb); got != tc.wantEqual {
				t.Errorf("%s\nequal = %v, want %v", tc.reason, got, tc.wantEqual)
			}
		})
	}
}

// TestFingerprintIsStable pins the encoding: fingerprints are stored, and a change of encoding would make
// every linked record look changed once.
func TestFingerprintIsStable(t *testing.T) {
	c := Canonical{
		"email": "a@x.io", "score": int64(7), "amount": mapping.Money{Amount: "1.5", Currency: "EUR"},
		"born": mapping.Date{Year: 1990, Month: 2, Day: 3}, "tags": []string{"a", "b"}, "vip": true,
		"at": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "none": nil,
	}
	fields := []string{"amount", "at", "born", "email", "none", "score", "tags", "vip"}
	const want = "8952825b496171512c7b06fb25631e54"
	if got := hex.EncodeToString(Fingerprint(c, fields)); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}

func TestMatchKey(t *testing.T) {
	cases := map[string]struct {
		reason          string
		a, b            any
		caseInsensitive bool
		wantEqual       bool
	}{
		"CaseInsensitive": {reason: "Lower-cased when asked.", a: "Ann@X.io", b: "ann@x.IO", caseInsensitive: true, wantEqual: true},
		"CaseSensitive":   {reason: "Exact otherwise.", a: "Ann@X.io", b: "ann@x.io"},
		"Spaces":          {reason: "Surrounding spaces are not part of the key.", a: " a@x.io ", b: "a@x.io", wantEqual: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := matchKey(tc.a, tc.caseInsensitive) == matchKey(tc.b, tc.caseInsensitive); got != tc.wantEqual {
				t.Errorf("%s\nequal = %v, want %v", tc.reason, got, tc.wantEqual)
			}
		})
	}
	for _, empty := range []any{nil, "", "  "} {
		if k := matchKey(empty, true); k != "" {
			t.Errorf("matchKey(%q) = %q, want no key", empty, k)
		}
	}
}
