package mapping

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // DST tests load zones by name on machines without a zoneinfo database

	"github.com/crmsync/crmsync/internal/connectors"
)

// TestMain runs every test with a local zone that observes DST, so that any accidental use of time.Local
// in a conversion shows up as a shifted date or time.
func TestMain(m *testing.M) {
	time.Local = mustZone("America/New_York")
	os.Exit(m.Run())
}

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// The custom fields of allTypes: one per canonical type, plus enums without a map.
const (
	xString   = "xString"
	xEmail    = "xEmail"
	xPhone    = "xPhone"
	xNumber   = "xNumber"
	xInteger  = "xInteger"
	xBoolean  = "xBoolean"
	xDate     = "xDate"
	xDateTime = "xDateTime"
	xEnum     = "xEnum"
	xMulti    = "xMulti"
	xCurrency = "xCurrency"
	xRef      = "xRef"
	xEnumPass = "xEnumPass"
)

var customTypes = map[string]Type{
	xString: TypeString, xEmail: TypeEmail, xPhone: TypePhone, xNumber: TypeNumber, xInteger: TypeInteger,
	xBoolean: TypeBoolean, xDate: TypeDate, xDateTime: TypeDateTime, xEnum: TypeEnum, xMulti: TypeMultiEnum,
	xCurrency: TypeCurrency, xRef: TypeReference, xEnumPass: TypeEnum,
}

// customRemote names a custom field the way each CRM names custom fields.
func customRemote(p Provider, name string) string {
	base := strings.ToLower(name[1:])
	switch p {
	case Salesforce:
		return "X_" + base + "__c"
	case Dynamics:
		if name == xRef {
			return "new_x" + base + "@accounts"
		}
		return "new_x" + base
	case Pipedrive:
		return fmt.Sprintf("%x", sha1.Sum([]byte(name))) // a 40-character field_code
	case Zoho:
		return "X_" + strings.ToUpper(base[:1]) + base[1:]
	}
	return "x_" + base
}

// tierValues is the enum map of xEnum and xMulti: string values for most CRMs, option ids for Dataverse
// and Pipedrive. "bronze" has a space to test values that are not identifiers.
func tierValues(p Provider) map[string]string {
	if p == Dynamics || p == Pipedrive {
		return map[string]string{"gold": "100000000", "silver": "100000001", "bronze": "100000002"}
	}
	return map[string]string{"gold": "Gold", "silver": "Silver", "bronze": "Bronze Tier"}
}

// allTypesSpec maps contacts with the defaults and one custom field of every type.
func allTypesSpec(p Provider) MappingSpec {
	spec := MappingSpec{Provider: string(p), Object: "contacts", InheritDefaults: true}
	for _, name := range []string{xString, xEmail, xPhone, xNumber, xInteger, xBoolean, xDate, xDateTime, xEnum, xMulti, xCurrency, xRef, xEnumPass} {
		fs := FieldSpec{Name: name, Type: string(customTypes[name]), RemoteName: customRemote(p, name)}
		if name == xEnum || name == xMulti {
			fs.Values = tierValues(p)
		}
		spec.Fields = append(spec.Fields, fs)
	}
	return spec
}

func mustCompile(t testing.TB, spec MappingSpec) *Mapping {
	t.Helper()
	m, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile(%s %s): %v", spec.Provider, spec.Object, err)
	}
	return m
}

func mustField(t testing.TB, m *Mapping, name string) Field {
	t.Helper()
	f, ok := m.Field(name)
	if !ok {
		t.Fatalf("%s %s mapping has no field %s", m.Provider(), m.Object(), name)
	}
	return f
}

// viaJSON sends remote fields through JSON as a connector would: marshal, then decode with UseNumber.
func viaJSON(t testing.TB, fields map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatalf("marshal %v: %v", fields, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return out
}

func record(fields map[string]any) connectors.Record { return connectors.Record{Fields: fields} }

func num(s string) json.Number { return json.Number(s) }

func date(y int, m time.Month, d int) Date { return Date{y, m, d} }

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}
