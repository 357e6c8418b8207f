package mapping

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// readCase converts one wire value of one field to canonical form. field is a canonical field of the
// allTypes contacts mapping, or "deals.<name>" / "companies.<name>" of the default mapping.
type readCase struct {
	reason string
	field  string
	wire   any
	want   any
	err    string // a substring of the InvalidRecord error; empty when none is expected
}

// writeCase converts one canonical value to the remote fields of a write.
type writeCase struct {
	reason string
	field  string
	value  any
	want   map[string]any
	err    string
}

func mappingFor(t *testing.T, p Provider, field string) (*Mapping, string) {
	t.Helper()
	if obj, name, ok := strings.Cut(field, "."); ok {
		m, err := Default(p, connectors.Object(obj))
		if err != nil {
			t.Fatal(err)
		}
		return m, name
	}
	return mustCompile(t, allTypesSpec(p)), field
}

func runReadCases(t *testing.T, p Provider, cases []readCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			m, name := mappingFor(t, p, tc.field)
			f := mustField(t, m, name)
			got, err := m.ToCanonical(record(map[string]any{f.ReadKey(): tc.wire}))
			checkErr(t, err, tc.err)
			if tc.err != "" {
				if _, present := got[name]; present {
					t.Errorf("ToCanonical(...): field %s present after an error, want absent", name)
				}
				return
			}
			v, present := got[name]
			if !present {
				t.Fatalf("ToCanonical(...): field %s absent, want %v", name, tc.want)
			}
			if diff := cmp.Diff(tc.want, v); diff != "" {
				t.Errorf("ToCanonical(%#v): -want, +got:\n%s", tc.wire, diff)
			}
			if ts, ok := v.(time.Time); ok && ts.Location() != time.UTC {
				t.Errorf("ToCanonical(%#v): location %v, want UTC", tc.wire, ts.Location())
			}
		})
	}
}

func runWriteCases(t *testing.T, p Provider, cases []writeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			m, name := mappingFor(t, p, tc.field)
			got, err := m.ToRemote(Canonical{name: tc.value}, nil)
			checkErr(t, err, tc.err)
			if tc.err != "" {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ToRemote(%s=%#v): -want, +got:\n%s", name, tc.value, diff)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	case want != "" && !crmerr.Is(err, crmerr.InvalidRecord):
		t.Fatalf("error %q is %v, want InvalidRecord", err, crmerr.KindOf(err))
	}
}

const unicodeText = "Zoë Łódź-Ångström 山田 🚀 \u200d"

// Wall-clock times on either side of DST changes, each with its offset. New York springs forward on
// 2026-03-08 at 02:00 EST and falls back on 2026-11-01 at 02:00 EDT; Paris springs forward on 2026-03-29.
var (
	nyBeforeSpring = "2026-03-08T01:59:59-05:00" // 06:59:59Z
	nyAfterSpring  = "2026-03-08T03:00:00-04:00" // 07:00:00Z, one second later
	nyFallEDT      = "2026-11-01T01:30:00-04:00" // 05:30Z, the first 01:30
	nyFallEST      = "2026-11-01T01:30:00-05:00" // 06:30Z, the second 01:30
)

func TestHubSpotRead(t *testing.T) {
	runReadCases(t, HubSpot, []readCase{
		{reason: "text keeps unicode", field: xString, wire: unicodeText, want: unicodeText},
		{reason: "an empty string is null: HubSpot clears a property by setting it to \"\"", field: xString, wire: "", want: nil},
		{reason: "null is null", field: xString, wire: nil, want: nil},
		{reason: "default email property", field: "email", wire: "ana@example.com", want: "ana@example.com"},
		{reason: "numbers are decimal strings, normalized", field: xNumber, wire: "12.50", want: Decimal("12.5")},
		{reason: "very large numbers stay exact", field: xNumber, wire: "123456789012345678901234567890.123456789", want: Decimal("123456789012345678901234567890.123456789")},
		{reason: "exponents are expanded", field: xNumber, wire: "1.5e3", want: Decimal("1500")},
		{reason: "an empty number is null", field: xNumber, wire: "", want: nil},
		{reason: "a malformed number names the value", field: xNumber, wire: "12,5", err: `"12,5" is not a number`},
		{reason: "integers are strings", field: xInteger, wire: "-42", want: int64(-42)},
		{reason: "the largest int64", field: xInteger, wire: "9223372036854775807", want: int64(9223372036854775807)},
		{reason: "beyond int64 is refused, not wrapped", field: xInteger, wire: "9223372036854775808", err: "out of the 64-bit integer range"},
		{reason: "an integral decimal is an integer", field: xInteger, wire: "7.0", want: int64(7)},
		{reason: "a fraction is not an integer", field: xInteger, wire: "7.5", err: `"7.5" is not an integer`},
		{reason: "booleans are \"true\"", field: xBoolean, wire: "true", want: true},
		{reason: "booleans are \"false\"", field: xBoolean, wire: "false", want: false},
		{reason: "an empty boolean is null, not false", field: xBoolean, wire: "", want: nil},
		{reason: "a boolean must be true or false", field: xBoolean, wire: "yes", err: `"yes" is not a boolean`},
		{reason: "dates are midnight UTC in ms, on a DST day in New York too", field: xDate, wire: "1772928000000", want: date(2026, 3, 8)},
		{reason: "dates before 1970 are negative ms", field: xDate, wire: "-14256000000", want: date(1969, 7, 20)},
		{reason: "dates are also read as YYYY-MM-DD", field: xDate, wire: "2026-03-29", want: date(2026, 3, 29)},
		{reason: "a date that is not midnight UTC is refused rather than shifted", field: xDate, wire: "1772910000000", err: "not midnight UTC"},
		{reason: "an impossible date is refused", field: xDate, wire: "2026-02-29", err: "is not a date"},
		{reason: "datetimes in ISO 8601", field: xDateTime, wire: "2019-10-30T03:30:17.883Z", want: utc(2019, 10, 30, 3, 30, 17, 883000000)},
		{reason: "datetimes in ms", field: xDateTime, wire: "1572406217883", want: utc(2019, 10, 30, 3, 30, 17, 883000000)},
		{reason: "an offset is converted to UTC", field: xDateTime, wire: "2026-03-29T03:30:00+02:00", want: utc(2026, 3, 29, 1, 30, 0, 0)},
		{reason: "a timestamp without a zone is refused", field: xDateTime, wire: "2026-05-20T20:49:32", err: "is not a timestamp"},
		{reason: "enum values go through the map", field: xEnum, wire: "Bronze Tier", want: "bronze"},
		{reason: "an unmapped enum value names the field and the value", field: xEnum, wire: "Platinum", err: `field xEnum: property value "Platinum" is not in the enum map of xEnum`},
		{reason: "an enum without a map passes values through", field: xEnumPass, wire: "anything at all", want: "anything at all"},
		{reason: "multi-select values are split on ';', sorted and deduplicated", field: xMulti, wire: "Silver;Gold;Silver", want: []string{"gold", "silver"}},
		{reason: "empty parts of a multi-select are skipped", field: xMulti, wire: ";Gold;", want: []string{"gold"}},
		{reason: "an empty multi-select is null", field: xMulti, wire: "", want: nil},
		{reason: "one unmapped value fails the whole multi-select", field: xMulti, wire: "Gold;Nope", err: `"Nope"`},
		{reason: "currency keeps cents exactly", field: xCurrency, wire: "1234567.89", want: Money{Amount: "1234567.89"}},
		{reason: "currency trailing zeros are dropped", field: xCurrency, wire: "0.10", want: Money{Amount: "0.1"}},
		{reason: "references are ids", field: xRef, wire: "512", want: "512"},
		{reason: "lifecycle stages are translated", field: "lifecycleStage", wire: "marketingqualifiedlead", want: "marketingQualifiedLead"},
		{reason: "associatedcompanyid is a number property holding an id", field: "companyId", wire: "9876543210", want: "9876543210"},
		{reason: "deal stages of the default pipeline", field: "deals.stage", wire: "closedwon", want: "closedWon"},
		{reason: "a stage of another pipeline fails", field: "deals.stage", wire: "1234567", err: `"1234567"`},
		{reason: "stage probability is a fraction, canonical is percent", field: "deals.probability", wire: "0.125", want: Decimal("12.5")},
		{reason: "closedate is a datetime property; its UTC date is the close date", field: "deals.closeDate", wire: "2026-05-20T22:15:00Z", want: date(2026, 5, 20)},
		{reason: "closedate in ms", field: "deals.closeDate", wire: "1779235200000", want: date(2026, 5, 20)},
		{reason: "deal amount", field: "deals.amount", wire: "250000.00", want: Money{Amount: "250000"}},
		{reason: "company employees", field: "companies.employees", wire: "1200", want: int64(1200)},
	})
}

func TestHubSpotWrite(t *testing.T) {
	runWriteCases(t, HubSpot, []writeCase{
		{reason: "text", field: xString, value: unicodeText, want: map[string]any{"x_string": unicodeText}},
		{reason: "null clears the property with \"\"", field: xString, value: nil, want: map[string]any{"x_string": ""}},
		{reason: "an empty string clears too", field: xString, value: "", want: map[string]any{"x_string": ""}},
		{reason: "numbers as decimal strings", field: xNumber, value: MustDecimal("-0.000001"), want: map[string]any{"x_number": "-0.000001"}},
		{reason: "a float is not a canonical number", field: xNumber, value: 12.5, err: "want mapping.Decimal"},
		{reason: "a non-canonical Decimal is refused", field: xNumber, value: Decimal("1e3"), err: "not a canonical Decimal"},
		{reason: "integers", field: xInteger, value: int64(-9223372036854775808), want: map[string]any{"x_integer": "-9223372036854775808"}},
		{reason: "booleans", field: xBoolean, value: false, want: map[string]any{"x_boolean": "false"}},
		{reason: "dates as ms of midnight UTC, whatever the local DST", field: xDate, value: date(2026, 3, 8), want: map[string]any{"x_date": "1772928000000"}},
		{reason: "an invalid Date is refused", field: xDate, value: date(2026, 2, 30), err: "is not a date"},
		{reason: "datetimes in UTC with ms", field: xDateTime, value: time.Date(2026, 3, 29, 3, 30, 0, 123456789, mustZone("Europe/Paris")), want: map[string]any{"x_datetime": "2026-03-29T01:30:00.123Z"}},
		{reason: "enum values through the map", field: xEnum, value: "bronze", want: map[string]any{"x_enum": "Bronze Tier"}},
		{reason: "an unmapped canonical value names field and value", field: xEnum, value: "platinum", err: `value "platinum" of xEnum is not in its enum map`},
		{reason: "multi-select joined with ';'", field: xMulti, value: []string{"gold", "silver"}, want: map[string]any{"x_multi": "Gold;Silver"}},
		{reason: "an empty set clears", field: xMulti, value: []string{}, want: map[string]any{"x_multi": ""}},
		{reason: "a pass-through enum value is written as it is", field: "deals.pipeline", value: "a;b", want: map[string]any{"pipeline": "a;b"}},
		{reason: "currency", field: xCurrency, value: Money{Amount: "19.99", Currency: "EUR"}, want: map[string]any{"x_currency": "19.99"}},
		{reason: "references", field: "ownerId", value: "31415", want: map[string]any{"hubspot_owner_id": "31415"}},
		{reason: "read-only fields are never written", field: "createdAt", value: utc(2026, 1, 1, 0, 0, 0, 0), want: map[string]any{}},
		{reason: "derived probability is read-only", field: "deals.probability", value: MustDecimal("20"), want: map[string]any{}},
		{reason: "close date at midnight UTC", field: "deals.closeDate", value: date(2026, 11, 1), want: map[string]any{"closedate": "1793491200000"}},
		{reason: "deal stage", field: "deals.stage", value: "negotiation", want: map[string]any{"dealstage": "contractsent"}},
		{reason: "a stage the default pipeline lacks", field: "deals.stage", value: "valueProposition", err: `"valueProposition"`},
	})
}

func TestSalesforceRead(t *testing.T) {
	runReadCases(t, Salesforce, []readCase{
		{reason: "text keeps unicode", field: xString, wire: unicodeText, want: unicodeText},
		{reason: "Salesforce stores empty text as null", field: xString, wire: "", want: nil},
		{reason: "null", field: "lastName", wire: nil, want: nil},
		{reason: "email", field: "email", wire: "ana@example.com", want: "ana@example.com"},
		{reason: "json.Number keeps every digit", field: xNumber, wire: num("12345678901234567890.12345"), want: Decimal("12345678901234567890.12345")},
		{reason: "float64 uses the shortest exact text", field: xNumber, wire: 0.1, want: Decimal("0.1")},
		{reason: "large float64 without exponent", field: xNumber, wire: 1e21, want: Decimal("1000000000000000000000")},
		{reason: "exponent form", field: xNumber, wire: num("1E+2"), want: Decimal("100")},
		{reason: "negative zero is zero", field: xNumber, wire: num("-0.0"), want: Decimal("0")},
		{reason: "integers", field: xInteger, wire: num("42"), want: int64(42)},
		{reason: "integral float64", field: xInteger, wire: float64(42), want: int64(42)},
		{reason: "a float64 beyond 2^53 may have lost digits", field: xInteger, wire: 9007199254740993.0, err: "beyond 2^53"},
		{reason: "booleans", field: xBoolean, wire: true, want: true},
		{reason: "a number is not a boolean", field: xBoolean, wire: num("1"), err: "got number 1, want a boolean"},
		{reason: "dates", field: xDate, wire: "2026-03-08", want: date(2026, 3, 8)},
		{reason: "a leap day", field: xDate, wire: "2028-02-29", want: date(2028, 2, 29)},
		{reason: "not a leap year", field: xDate, wire: "2026-02-29", err: "is not a date"},
		{reason: "datetimes in Salesforce format", field: xDateTime, wire: "2026-05-20T20:49:32.000+0000", want: utc(2026, 5, 20, 20, 49, 32, 0)},
		{reason: "just before the New York spring change", field: xDateTime, wire: strings.Replace(nyBeforeSpring, "-05:00", "-0500", 1), want: utc(2026, 3, 8, 6, 59, 59, 0)},
		{reason: "just after it, one second later", field: xDateTime, wire: strings.Replace(nyAfterSpring, "-04:00", "-0400", 1), want: utc(2026, 3, 8, 7, 0, 0, 0)},
		{reason: "picklist values through the map", field: xEnum, wire: "Gold", want: "gold"},
		{reason: "picklist values are case-sensitive", field: xEnum, wire: "gold", err: `"gold"`},
		{reason: "multipicklist joined with ';'", field: xMulti, wire: "Bronze Tier;Gold", want: []string{"bronze", "gold"}},
		{reason: "currency keeps cents", field: xCurrency, wire: num("1234567890123.45"), want: Money{Amount: "1234567890123.45"}},
		{reason: "currency from float64 keeps its shortest text", field: xCurrency, wire: 19.99, want: Money{Amount: "19.99"}},
		{reason: "references", field: "companyId", wire: "0015g00000XyZ12AAB", want: "0015g00000XyZ12AAB"},
		{reason: "stage labels", field: "deals.stage", wire: "Id. Decision Makers", want: "decisionMakers"},
		{reason: "a custom stage fails", field: "deals.stage", wire: "Legal Review", err: `field value "Legal Review" is not in the enum map of stage`},
		{reason: "percent probability", field: "deals.probability", wire: num("75"), want: Decimal("75")},
		{reason: "employees", field: "companies.employees", wire: num("250"), want: int64(250)},
	})
}

func TestSalesforceWrite(t *testing.T) {
	runWriteCases(t, Salesforce, []writeCase{
		{reason: "text", field: xString, value: unicodeText, want: map[string]any{"X_string__c": unicodeText}},
		{reason: "empty text is written as null", field: xString, value: "", want: map[string]any{"X_string__c": nil}},
		{reason: "null", field: "firstName", value: nil, want: map[string]any{"FirstName": nil}},
		{reason: "a required field cannot be cleared", field: "lastName", value: nil, err: "lastName is required by Salesforce"},
		{reason: "numbers as exact JSON numbers", field: xNumber, value: MustDecimal("12345678901234567890.000000000000000001"), want: map[string]any{"X_number__c": num("12345678901234567890.000000000000000001")}},
		{reason: "integers", field: xInteger, value: int64(7), want: map[string]any{"X_integer__c": num("7")}},
		{reason: "int is accepted for integers", field: xInteger, value: 7, want: map[string]any{"X_integer__c": num("7")}},
		{reason: "booleans", field: xBoolean, value: true, want: map[string]any{"X_boolean__c": true}},
		{reason: "dates", field: xDate, value: date(1, 1, 1), want: map[string]any{"X_date__c": "0001-01-01"}},
		{reason: "datetimes in Salesforce format, UTC, ms", field: xDateTime, value: time.Date(2026, 11, 1, 1, 30, 0, 999999999, mustZone("America/New_York")), want: map[string]any{"X_datetime__c": "2026-11-01T05:30:00.999+0000"}},
		{reason: "the second 01:30 of the fall-back night is an hour later", field: xDateTime, value: time.Date(2026, 11, 1, 1, 30, 0, 0, time.FixedZone("EST", -5*3600)), want: map[string]any{"X_datetime__c": "2026-11-01T06:30:00.000+0000"}},
		{reason: "a year beyond 9999 cannot be written", field: xDateTime, value: utc(10000, 1, 1, 0, 0, 0, 0), err: "outside the years"},
		{reason: "multipicklist", field: xMulti, value: []string{"bronze", "silver"}, want: map[string]any{"X_multi__c": "Bronze Tier;Silver"}},
		{reason: "currency as an exact number", field: xCurrency, value: Money{Amount: "0.01"}, want: map[string]any{"X_currency__c": num("0.01")}},
		{reason: "stage", field: "deals.stage", value: "closedWon", want: map[string]any{"StageName": "Closed Won"}},
		{reason: "a stage Salesforce lacks", field: "deals.stage", value: "closedLostToCompetition", err: `"closedLostToCompetition"`},
		{reason: "close date", field: "deals.closeDate", value: date(2026, 12, 31), want: map[string]any{"CloseDate": "2026-12-31"}},
		{reason: "the computed name is read-only", field: "fullName", value: "Ana Lima", want: map[string]any{}},
		{reason: "references", field: "ownerId", value: "0055g00000AbCdEAAZ", want: map[string]any{"OwnerId": "0055g00000AbCdEAAZ"}},
		{reason: "an empty reference clears", field: "companyId", value: "", want: map[string]any{"AccountId": nil}},
	})
}

const (
	guid1 = "7f3e2a10-1b2c-4d5e-8f90-a1b2c3d4e5f6"
	guid2 = "00000000-0000-0000-0000-00000000000A"
)

func TestDynamicsRead(t *testing.T) {
	runReadCases(t, Dynamics, []readCase{
		{reason: "text", field: xString, wire: unicodeText, want: unicodeText},
		{reason: "empty text is null", field: "firstName", wire: "", want: nil},
		{reason: "option-set integers through the map", field: xEnum, wire: num("100000002"), want: "bronze"},
		{reason: "option-set integers as float64", field: xEnum, wire: float64(100000001), want: "silver"},
		{reason: "an unmapped option names the value", field: xEnum, wire: num("100000009"), err: `"100000009"`},
		{reason: "an option without a map passes through as text", field: xEnumPass, wire: num("3"), want: "3"},
		{reason: "multi-select option sets are ids joined with ','", field: xMulti, wire: "100000002,100000000", want: []string{"bronze", "gold"}},
		{reason: "a multi-select id must be a number", field: xMulti, wire: "100000002,x", err: `"x" is not an option id`},
		{reason: "lookups are read from _attr_value", field: xRef, wire: guid1, want: guid1},
		{reason: "an empty lookup is null", field: "companyId", wire: nil, want: nil},
		{reason: "date-only columns", field: xDate, wire: "2026-03-29", want: date(2026, 3, 29)},
		{reason: "date-only columns sent as midnight UTC", field: xDate, wire: "2026-03-29T00:00:00Z", want: date(2026, 3, 29)},
		{reason: "a date column holding a time is refused", field: xDate, wire: "2026-03-29T02:00:00Z", err: "not midnight UTC"},
		{reason: "datetimes", field: xDateTime, wire: "2026-05-20T20:49:32Z", want: utc(2026, 5, 20, 20, 49, 32, 0)},
		{reason: "money", field: xCurrency, wire: num("99999999999999.9999"), want: Money{Amount: "99999999999999.9999"}},
		{reason: "decimal", field: xNumber, wire: num("0.0000000001"), want: Decimal("0.0000000001")},
		{reason: "sales stage option", field: "deals.stage", wire: num("2"), want: "proposal"},
		{reason: "close probability", field: "deals.probability", wire: num("40"), want: Decimal("40")},
		{reason: "owner", field: "ownerId", wire: guid2, want: guid2},
		{reason: "integers", field: xInteger, wire: num("-2147483648"), want: int64(-2147483648)},
		{reason: "booleans", field: xBoolean, wire: false, want: false},
		{reason: "employees", field: "companies.employees", wire: num("12000"), want: int64(12000)},
	})
}

func TestDynamicsWrite(t *testing.T) {
	runWriteCases(t, Dynamics, []writeCase{
		{reason: "lookups are written through @odata.bind", field: xRef, value: guid1, want: map[string]any{"new_xref@odata.bind": "/accounts(" + guid1 + ")"}},
		{reason: "customer lookups use their navigation property", field: "companyId", value: guid1, want: map[string]any{"parentcustomerid_account@odata.bind": "/accounts(" + guid1 + ")"}},
		{reason: "owners bind to systemusers", field: "ownerId", value: guid2, want: map[string]any{"ownerid@odata.bind": "/systemusers(" + guid2 + ")"}},
		{reason: "a null lookup is disassociated", field: "companyId", value: nil, want: map[string]any{"parentcustomerid_account@odata.bind": nil}},
		{reason: "an id that is not a GUID cannot reach the URL", field: xRef, value: "x)/evil(", err: "is not a GUID"},
		{reason: "option ids as numbers", field: xEnum, value: "gold", want: map[string]any{"new_xenum": num("100000000")}},
		{reason: "multi-select as ids joined with ','", field: xMulti, value: []string{"gold", "silver"}, want: map[string]any{"new_xmulti": "100000000,100000001"}},
		{reason: "a pass-through option must be an id", field: xEnumPass, value: "three", err: "not an option id"},
		{reason: "datetimes in UTC, whole seconds", field: xDateTime, value: time.Date(2026, 3, 8, 3, 0, 0, 900000000, mustZone("America/New_York")), want: map[string]any{"new_xdatetime": "2026-03-08T07:00:00Z"}},
		{reason: "dates", field: "deals.closeDate", value: date(2026, 3, 8), want: map[string]any{"estimatedclosedate": "2026-03-08"}},
		{reason: "money as a number", field: "deals.amount", value: Money{Amount: "1000000000.01"}, want: map[string]any{"estimatedvalue": num("1000000000.01")}},
		{reason: "integer columns refuse fractions", field: "deals.probability", value: MustDecimal("12.5"), err: "is an integer column"},
		{reason: "integer columns take whole numbers", field: "deals.probability", value: MustDecimal("25"), want: map[string]any{"closeprobability": num("25")}},
		{reason: "stage", field: "deals.stage", value: "negotiation", want: map[string]any{"salesstage": num("3")}},
		{reason: "won is a state, not a stage, in Dataverse", field: "deals.stage", value: "closedWon", err: `"closedWon"`},
		{reason: "text", field: "jobTitle", value: unicodeText, want: map[string]any{"jobtitle": unicodeText}},
		{reason: "empty text is written as null", field: "jobTitle", value: "", want: map[string]any{"jobtitle": nil}},
		{reason: "integers", field: xInteger, value: int64(2147483647), want: map[string]any{"new_xinteger": num("2147483647")}},
		{reason: "booleans", field: xBoolean, value: true, want: map[string]any{"new_xboolean": true}},
		{reason: "decimals keep every digit", field: xNumber, value: MustDecimal("-98765432109876543210.0123456789"), want: map[string]any{"new_xnumber": num("-98765432109876543210.0123456789")}},
	})
}

func TestPipedriveRead(t *testing.T) {
	emails := []any{
		map[string]any{"value": "old@example.com", "primary": false, "label": "home"},
		map[string]any{"value": "ana@example.com", "primary": true, "label": "work"},
	}
	phones := []any{
		map[string]any{"value": "+1 555 0100", "primary": true, "label": "work"},
		map[string]any{"value": "+1 555 0199", "primary": false, "label": "mobile"},
	}
	runReadCases(t, Pipedrive, []readCase{
		{reason: "the primary email entry", field: "email", wire: emails, want: "ana@example.com"},
		{reason: "no primary entry is null", field: "email", wire: []any{map[string]any{"value": "x@example.com", "primary": false}}, want: nil},
		{reason: "an empty array is null", field: "email", wire: []any{}, want: nil},
		{reason: "an empty primary entry is null", field: "phone", wire: []any{map[string]any{"value": "", "primary": true}}, want: nil},
		{reason: "the primary phone", field: "phone", wire: phones, want: "+1 555 0100"},
		{reason: "the mobile phone by label", field: "mobilePhone", wire: phones, want: "+1 555 0199"},
		{reason: "entries must be objects", field: "email", wire: []any{"ana@example.com"}, err: "want an entry"},
		{reason: "Pipedrive keeps empty text distinct from null", field: "firstName", wire: "", want: ""},
		{reason: "text", field: xString, wire: unicodeText, want: unicodeText},
		{reason: "enum option ids", field: xEnum, wire: num("100000001"), want: "silver"},
		{reason: "set values are arrays of ids", field: xMulti, wire: []any{num("100000001"), num("100000000")}, want: []string{"gold", "silver"}},
		{reason: "an empty set is null", field: xMulti, wire: []any{}, want: nil},
		{reason: "monetary values carry their currency", field: xCurrency, wire: map[string]any{"value": num("1234.56"), "currency": "EUR"}, want: Money{Amount: "1234.56", Currency: "EUR"}},
		{reason: "a monetary value without an amount is null", field: xCurrency, wire: map[string]any{"value": nil, "currency": "EUR"}, want: nil},
		{reason: "org ids are numbers", field: "companyId", wire: num("42"), want: "42"},
		{reason: "an org given as an object", field: "companyId", wire: map[string]any{"value": num("42"), "name": "Acme"}, want: "42"},
		{reason: "datetimes", field: "createdAt", wire: "2021-01-01T00:00:00Z", want: utc(2021, 1, 1, 0, 0, 0, 0)},
		{reason: "dates", field: xDate, wire: "2026-11-01", want: date(2026, 11, 1)},
		{reason: "the deal value is a plain number", field: "deals.amount", wire: num("99.99"), want: Money{Amount: "99.99"}},
		{reason: "the deal currency", field: "deals.currency", wire: "JPY", want: "JPY"},
		{reason: "stage ids", field: "deals.stage", wire: num("4"), want: "proposal"},
		{reason: "a stage of another pipeline fails", field: "deals.stage", wire: num("17"), err: `"17"`},
		{reason: "pipeline ids pass through", field: "deals.pipeline", wire: num("3"), want: "3"},
		{reason: "numbers", field: xNumber, wire: num("3.14159265358979323846264338327950288"), want: Decimal("3.14159265358979323846264338327950288")},
		{reason: "integers", field: xInteger, wire: num("-7"), want: int64(-7)},
		{reason: "booleans", field: xBoolean, wire: true, want: true},
		{reason: "probability", field: "deals.probability", wire: num("62.5"), want: Decimal("62.5")},
	})
}

func TestPipedriveWrite(t *testing.T) {
	runWriteCases(t, Pipedrive, []writeCase{
		{reason: "a primary email entry", field: "email", value: "ana@example.com", want: map[string]any{"emails": []any{map[string]any{"value": "ana@example.com", "primary": true, "label": "work"}}}},
		{reason: "a labelled phone entry", field: "mobilePhone", value: "+1 555 0199", want: map[string]any{"phones": []any{map[string]any{"value": "+1 555 0199", "primary": false, "label": "mobile"}}}},
		{reason: "null removes the entry", field: "email", value: nil, want: map[string]any{"emails": []any{}}},
		{reason: "empty text is kept", field: "firstName", value: "", want: map[string]any{"first_name": ""}},
		{reason: "text", field: xString, value: unicodeText, want: map[string]any{customRemote(Pipedrive, xString): unicodeText}},
		{reason: "enum ids", field: xEnum, value: "bronze", want: map[string]any{customRemote(Pipedrive, xEnum): num("100000002")}},
		{reason: "sets as arrays of ids", field: xMulti, value: []string{"bronze", "gold"}, want: map[string]any{customRemote(Pipedrive, xMulti): []any{num("100000002"), num("100000000")}}},
		{reason: "monetary objects", field: xCurrency, value: Money{Amount: "1234.56", Currency: "EUR"}, want: map[string]any{customRemote(Pipedrive, xCurrency): map[string]any{"value": num("1234.56"), "currency": "EUR"}}},
		{reason: "org ids are numbers", field: "companyId", value: "42", want: map[string]any{"org_id": num("42")}},
		{reason: "an id that is not a number", field: "companyId", value: "acme", err: "is not an integer"},
		{reason: "the deal value is a plain number", field: "deals.amount", value: Money{Amount: "99.99"}, want: map[string]any{"value": num("99.99")}},
		{reason: "stage ids", field: "deals.stage", value: "proposal", want: map[string]any{"stage_id": num("4")}},
		{reason: "dates", field: "deals.closeDate", value: date(2026, 3, 29), want: map[string]any{"expected_close_date": "2026-03-29"}},
		{reason: "the person name is required", field: "fullName", value: nil, err: "required by Pipedrive"},
		{reason: "numbers", field: xNumber, value: MustDecimal("0.5"), want: map[string]any{customRemote(Pipedrive, xNumber): num("0.5")}},
		{reason: "integers", field: xInteger, value: int64(99), want: map[string]any{customRemote(Pipedrive, xInteger): num("99")}},
		{reason: "booleans", field: xBoolean, value: false, want: map[string]any{customRemote(Pipedrive, xBoolean): false}},
		{reason: "datetimes in UTC, whole seconds", field: xDateTime, value: time.Date(2026, 3, 29, 3, 0, 0, 500, mustZone("Europe/Paris")), want: map[string]any{customRemote(Pipedrive, xDateTime): "2026-03-29T01:00:00Z"}},
		{reason: "monetary without a currency sends only the value", field: xCurrency, value: Money{Amount: "5"}, want: map[string]any{customRemote(Pipedrive, xCurrency): map[string]any{"value": num("5")}}},
	})
}

func TestPipedriveEntriesMerge(t *testing.T) {
	m := mustCompile(t, MappingSpec{Provider: "pipedrive", Object: "contacts", InheritDefaults: true})
	current := map[string]any{"phones": []any{
		map[string]any{"value": "+1 555 0100", "primary": true, "label": "work"},
		map[string]any{"value": "+1 555 0111", "primary": false, "label": "home"},
		map[string]any{"value": "+1 555 0199", "primary": false, "label": "mobile"},
	}}
	cases := []struct {
		reason string
		canon  Canonical
		fields []string
		want   any
	}{
		{
			reason: "changing the primary phone keeps the home and mobile entries",
			canon:  Canonical{"phone": "+1 555 0200"},
			want: []any{
				map[string]any{"value": "+1 555 0200", "primary": true, "label": "work"},
				map[string]any{"value": "+1 555 0111", "primary": false, "label": "home"},
				map[string]any{"value": "+1 555 0199", "primary": false, "label": "mobile"},
			},
		},
		{
			reason: "clearing the mobile phone removes only its entry",
			canon:  Canonical{"phone": "+1 555 0100", "mobilePhone": nil},
			want: []any{
				map[string]any{"value": "+1 555 0100", "primary": true, "label": "work"},
				map[string]any{"value": "+1 555 0111", "primary": false, "label": "home"},
			},
		},
		{
			reason: "only the fields named are written",
			canon:  Canonical{"phone": "+1 555 0300", "mobilePhone": "+1 555 0301"},
			fields: []string{"mobilePhone"},
			want: []any{
				map[string]any{"value": "+1 555 0100", "primary": true, "label": "work"},
				map[string]any{"value": "+1 555 0111", "primary": false, "label": "home"},
				map[string]any{"value": "+1 555 0301", "primary": false, "label": "mobile"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			before := viaJSON(t, current)
			got, err := m.ToRemoteOver(tc.canon, tc.fields, current)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got["phones"]); diff != "" {
				t.Errorf("phones: -want, +got:\n%s", diff)
			}
			if diff := cmp.Diff(before, viaJSON(t, current)); diff != "" {
				t.Errorf("ToRemoteOver modified current: -before, +after:\n%s", diff)
			}
		})
	}
}

func TestZohoRead(t *testing.T) {
	runReadCases(t, Zoho, []readCase{
		{reason: "text", field: xString, wire: unicodeText, want: unicodeText},
		{reason: "empty text is null", field: "lastName", wire: "", want: nil},
		{reason: "lookups are objects; the id is the reference", field: "companyId", wire: map[string]any{"name": "Acme", "id": "4876876000000624001"}, want: "4876876000000624001"},
		{reason: "owner lookups carry an email too", field: "ownerId", wire: map[string]any{"name": "Ana", "id": "4876876000000225013", "email": "ana@example.com"}, want: "4876876000000225013"},
		{reason: "a lookup without an id is null", field: "companyId", wire: map[string]any{"name": nil, "id": nil}, want: nil},
		{reason: "a lookup id as a bare string", field: xRef, wire: "4876876000000624001", want: "4876876000000624001"},
		{reason: "picklists through the map", field: xEnum, wire: "Silver", want: "silver"},
		{reason: "multiselect arrays", field: xMulti, wire: []any{"Silver", "Bronze Tier"}, want: []string{"bronze", "silver"}},
		{reason: "multiselect arrays hold strings", field: xMulti, wire: []any{num("1")}, err: "want an array of strings"},
		{reason: "datetimes in the user's zone become UTC", field: xDateTime, wire: "2026-10-15T10:30:00+05:30", want: utc(2026, 10, 15, 5, 0, 0, 0)},
		{reason: "a half-hour negative offset", field: xDateTime, wire: "2026-10-15T10:30:00-03:30", want: utc(2026, 10, 15, 14, 0, 0, 0)},
		{reason: "the first 01:30 of a fall-back night", field: xDateTime, wire: nyFallEDT, want: utc(2026, 11, 1, 5, 30, 0, 0)},
		{reason: "the second 01:30 of a fall-back night", field: xDateTime, wire: nyFallEST, want: utc(2026, 11, 1, 6, 30, 0, 0)},
		{reason: "dates", field: xDate, wire: "2026-03-08", want: date(2026, 3, 8)},
		{reason: "bigint values as strings keep every digit", field: xInteger, wire: "9007199254740993", want: int64(9007199254740993)},
		{reason: "currency", field: xCurrency, wire: num("12.30"), want: Money{Amount: "12.3"}},
		{reason: "stage", field: "deals.stage", wire: "Closed-Lost to Competition", want: "closedLostToCompetition"},
		{reason: "integer probability", field: "deals.probability", wire: num("10"), want: Decimal("10")},
		{reason: "booleans", field: xBoolean, wire: true, want: true},
		{reason: "an empty lookup object is null", field: "ownerId", wire: nil, want: nil},
	})
}

func TestZohoWrite(t *testing.T) {
	runWriteCases(t, Zoho, []writeCase{
		{reason: "lookups are written as {id}", field: "companyId", value: "4876876000000624001", want: map[string]any{"Account_Name": map[string]any{"id": "4876876000000624001"}}},
		{reason: "a null lookup", field: "ownerId", value: nil, want: map[string]any{"Owner": nil}},
		{reason: "datetimes with +00:00", field: xDateTime, value: time.Date(2026, 10, 15, 10, 30, 0, 0, time.FixedZone("IST", 19800)), want: map[string]any{"X_Datetime": "2026-10-15T05:00:00+00:00"}},
		{reason: "multiselect arrays", field: xMulti, value: []string{"bronze", "silver"}, want: map[string]any{"X_Multi": []any{"Bronze Tier", "Silver"}}},
		{reason: "picklists", field: "deals.stage", value: "closedLost", want: map[string]any{"Stage": "Closed Lost"}},
		{reason: "text with unicode", field: "lastName", value: unicodeText, want: map[string]any{"Last_Name": unicodeText}},
		{reason: "integer probability refuses fractions", field: "deals.probability", value: MustDecimal("33.3"), err: "is an integer field"},
		{reason: "currency", field: "deals.amount", value: Money{Amount: "0.05"}, want: map[string]any{"Amount": num("0.05")}},
		{reason: "booleans", field: xBoolean, value: true, want: map[string]any{"X_Boolean": true}},
		{reason: "integers", field: xInteger, value: int64(9007199254740993), want: map[string]any{"X_Integer": num("9007199254740993")}},
		{reason: "dates", field: "deals.closeDate", value: date(2026, 2, 28), want: map[string]any{"Closing_Date": "2026-02-28"}},
		{reason: "empty text is written as null", field: "firstName", value: "", want: map[string]any{"First_Name": nil}},
	})
}

func TestToCanonicalCollectsEveryError(t *testing.T) {
	m := mustCompile(t, allTypesSpec(HubSpot))
	got, err := m.ToCanonical(record(map[string]any{
		"email": "ana@example.com", "x_enum": "Platinum", "x_number": "abc", "x_boolean": "true", "unmapped": "x",
	}))
	if err == nil {
		t.Fatal("no error for two bad fields")
	}
	for _, want := range []string{`"Platinum"`, `"abc"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if !crmerr.Is(err, crmerr.InvalidRecord) {
		t.Errorf("error kind %v, want InvalidRecord", crmerr.KindOf(err))
	}
	want := Canonical{"email": "ana@example.com", "xBoolean": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the fields that converted: -want, +got:\n%s", diff)
	}
}

func TestToRemoteUnknownField(t *testing.T) {
	m := mustCompile(t, allTypesSpec(Salesforce))
	_, err := m.ToRemote(Canonical{"email": "a@example.com"}, []string{"email", "nickname"})
	if !crmerr.Is(err, crmerr.Permanent) || !strings.Contains(err.Error(), "field nickname is not in the Salesforce mapping") {
		t.Errorf("ToRemote with an unknown field: %v, want a Permanent error naming it", err)
	}
}

func TestCheckCreate(t *testing.T) {
	m := mustCompile(t, MappingSpec{Provider: "salesforce", Object: "deals", InheritDefaults: true})
	err := m.CheckCreate(Canonical{"name": "Big deal", "stage": nil})
	if !crmerr.Is(err, crmerr.InvalidRecord) || !strings.Contains(err.Error(), "stage, closeDate") {
		t.Errorf("CheckCreate: %v, want InvalidRecord naming stage and closeDate", err)
	}
	if err := m.CheckCreate(Canonical{"name": "x", "stage": "qualification", "closeDate": date(2026, 1, 1)}); err != nil {
		t.Errorf("CheckCreate of a complete deal: %v", err)
	}
}
