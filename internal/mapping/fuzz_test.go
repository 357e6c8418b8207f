package mapping

import (
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors"
)

// fuzzInput is the raw material one fuzz iteration turns into a valid canonical value for every field.
type fuzzInput struct {
	text   string
	digits string
	n      int64
	flag   bool
	sec    int64
	nsec   uint32
	pick   uint16
}

// The round-trip fuzz targets show, per CRM, that canonical → ToRemote → JSON → ToCanonical is the
// identity for every valid canonical value of every field of the contacts (defaults plus one custom field
// of every type) and deals mappings. Valid means representable in that CRM: datetimes at its precision,
// option ids for enums without a map, numeric ids where its ids are numbers, and no "" where it stores
// empty text as null.
func FuzzRoundTripHubSpot(f *testing.F)    { fuzzRoundTrip(f, HubSpot) }
func FuzzRoundTripSalesforce(f *testing.F) { fuzzRoundTrip(f, Salesforce) }
func FuzzRoundTripDynamics(f *testing.F)   { fuzzRoundTrip(f, Dynamics) }
func FuzzRoundTripPipedrive(f *testing.F)  { fuzzRoundTrip(f, Pipedrive) }
func FuzzRoundTripZoho(f *testing.F)       { fuzzRoundTrip(f, Zoho) }

func fuzzRoundTrip(f *testing.F, p Provider) {
	contacts := mustCompile(f, allTypesSpec(p))
	deals := mustCompile(f, MappingSpec{Provider: string(p), Object: string(connectors.Deals), InheritDefaults: true})
	f.Add("Ana", "1999", int64(42), true, int64(1779235200), uint32(0), uint16(0))
	f.Fuzz(func(t *testing.T, text, digits string, n int64, flag bool, sec int64, nsec uint32, pick uint16) {
		in := fuzzInput{text, digits, n, flag, sec, nsec, pick}
		for _, m := range []*Mapping{contacts, deals} {
			c := Canonical{}
			for i := range m.fields {
				fld := &m.fields[i]
				v := validValue(fld, in)
				if v == nil && fld.Required {
					v = validValue(fld, fuzzInput{text: "required", n: 1, pick: in.pick})
				}
				c[fld.Name] = v
				in.pick = in.pick*31 + 7 // vary choices between fields
			}
			remote, err := m.ToRemote(c, nil)
			if err != nil {
				t.Fatalf("%s %s ToRemote(%#v): %v", p, m.Object(), c, err)
			}
			back, err := m.ToCanonical(record(asStored(m, viaJSON(t, remote))))
			if err != nil {
				t.Fatalf("%s %s ToCanonical(%#v): %v", p, m.Object(), remote, err)
			}
			want := Canonical{}
			for i := range m.fields {
				if fld := &m.fields[i]; !fld.ReadOnly {
					want[fld.Name] = c[fld.Name]
				}
			}
			if diff := cmp.Diff(want, back); diff != "" {
				t.Fatalf("%s %s round trip through %#v: -want, +got:\n%s", p, m.Object(), remote, diff)
			}
			for name, v := range back {
				if ts, ok := v.(time.Time); ok && ts.Location() != time.UTC {
					t.Fatalf("%s %s: %s read back in %v, want UTC", p, m.Object(), name, ts.Location())
				}
			}
		}
	})
}

// asStored turns written fields into what the CRM answers on the next read: Dataverse stores
// "nav@odata.bind": "/set(id)" and reads it back as "_attr_value": "id".
func asStored(m *Mapping, remote map[string]any) map[string]any {
	for i := range m.fields {
		f := &m.fields[i]
		if f.format != wRefBind {
			continue
		}
		if v, ok := remote[f.writeKey]; ok {
			delete(remote, f.writeKey)
			if s, ok := v.(string); ok {
				v = strings.TrimSuffix(strings.TrimPrefix(s, "/"+f.bindSet+"("), ")")
			}
			remote[f.readKey] = v
		}
	}
	return remote
}

// validValue derives a valid canonical value of f from the fuzz input, or nil.
func validValue(f *Field, in fuzzInput) any {
	text := strings.ToValidUTF8(in.text, "\uFFFD")
	switch f.Type {
	case TypeString, TypeEmail, TypePhone:
		if text == "" && (!f.prof.keepEmpty || f.format == wListEntry) {
			return nil
		}
		return text
	case TypeReference:
		switch f.format {
		case wRefInt:
			return strconv.FormatInt(in.n, 10)
		case wRefBind:
			return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", uint32(in.n), uint16(in.sec), uint16(in.n>>32), in.pick, uint64(in.sec)>>16&0xffffffffffff)
		}
		if text == "" {
			return nil
		}
		return text
	case TypeEnum:
		if len(f.fwdWire) > 0 {
			keys := slices.Sorted(maps.Keys(f.fwdWire))
			return keys[int(in.pick)%len(keys)]
		}
		if f.intOptions() {
			return strconv.FormatInt(in.n, 10)
		}
		if text == "" {
			return nil
		}
		return text
	case TypeMultiEnum:
		keys := slices.Sorted(maps.Keys(f.fwdWire))
		var set []string
		for i, k := range keys {
			if in.pick&(1<<i) != 0 {
				set = append(set, k)
			}
		}
		if set == nil {
			return nil
		}
		return set
	case TypeNumber:
		d := fuzzDecimal(in)
		if f.intOnly {
			d = Decimal(strconv.FormatInt(in.n, 10))
		}
		return d
	case TypeCurrency:
		m := Money{Amount: fuzzDecimal(in)}
		if f.intOnly {
			m.Amount = Decimal(strconv.FormatInt(in.n, 10))
		}
		if f.format == wMoneyObject {
			m.Currency = []string{"EUR", "USD", "JPY", "BHD"}[in.pick%4]
		}
		return m
	case TypeInteger:
		return in.n
	case TypeBoolean:
		return in.flag
	case TypeDate:
		days := uint64(in.sec) % 3652059 // 0001-01-01 .. 9999-12-31
		return DateOf(time.Date(1, 1, 1+int(days), 0, 0, 0, 0, time.UTC))
	case TypeDateTime:
		const first, last = -62135596800, 253402300799 // 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z
		s := first + int64(uint64(in.sec)%uint64(last-first+1))
		return time.Unix(s, int64(in.nsec%1e9)).UTC().Truncate(f.prof.tsPrec)
	}
	panic("no fuzz value for type " + string(f.Type))
}

// fuzzDecimal builds an exact decimal of up to 60 digits from the input's digits.
func fuzzDecimal(in fuzzInput) Decimal {
	var b strings.Builder
	for _, r := range in.digits {
		if r >= '0' && r <= '9' && b.Len() < 60 {
			b.WriteRune(r)
		}
	}
	digits := b.String()
	if digits == "" {
		digits = strconv.FormatUint(uint64(in.n)%1e12, 10)
	}
	point := int(in.pick) % (len(digits) + 1)
	s := digits[:point] + "." + digits[point:]
	if in.flag {
		s = "-" + s
	}
	return MustDecimal(s)
}

// FuzzParseDecimal checks that a parsed Decimal has the value of its input and is a fixed point.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "1.50", "+7", ".5", "5.", "1e3", "1.25E-7", "123456789012345678901234567890.5", "1e400", "abc", "1..2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		if !isCanonicalDecimal(string(d)) {
			t.Fatalf("ParseDecimal(%q) = %q, not canonical", s, d)
		}
		if again, err := ParseDecimal(string(d)); err != nil || again != d {
			t.Fatalf("ParseDecimal(%q) = %q, %v; want %q unchanged", d, again, err, d)
		}
		want, ok := new(big.Rat).SetString(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "+")))
		got, ok2 := new(big.Rat).SetString(string(d))
		if !ok || !ok2 || want.Cmp(got) != 0 {
			t.Fatalf("ParseDecimal(%q) = %q: value differs (big.Rat ok=%v,%v)", s, d, ok, ok2)
		}
	})
}

// FuzzParseTimestamp checks the timestamp parser against time.Parse on the layouts both accept.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2026-05-20T20:49:32Z", "2026-05-20T20:49:32.000+0000", "2026-10-15T10:30:00+05:30", "2026-11-01T01:30:00-05:00", "0001-01-01T00:00:00.123456789Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTimestamp(%q) location %v, want UTC", s, got.Location())
		}
		want, err := time.Parse("2006-01-02T15:04:05.999999999Z07:00", s)
		if err != nil {
			want, err = time.Parse("2006-01-02T15:04:05.999999999Z0700", s)
		}
		if err == nil && !want.Equal(got) {
			t.Fatalf("ParseTimestamp(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}
