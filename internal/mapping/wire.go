package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// wireFormat is how one field's value travels in a CRM's JSON.
type wireFormat uint8

const (
	wNone             wireFormat = iota
	wString                      // JSON string
	wEnumString                  // JSON string, translated by the enum map
	wEnumInt                     // JSON number (an option id), translated by the enum map
	wMultiJoined                 // JSON string of values joined by ';'
	wMultiCommaInts              // JSON string of option ids joined by ',' (Dataverse multi-select)
	wMultiArray                  // JSON array of strings
	wMultiIntArray               // JSON array of option ids
	wNumberString                // decimal in a JSON string
	wNumber                      // JSON number
	wIntegerString               // integer in a JSON string
	wInteger                     // JSON number without a fraction
	wBoolString                  // "true" or "false"
	wBool                        // JSON boolean
	wDateMillis                  // milliseconds of midnight UTC in a JSON string; "YYYY-MM-DD" is read too
	wDateFromDatetime            // a datetime property holding a date: written at midnight UTC, read as its UTC date
	wDate                        // "YYYY-MM-DD"
	wDatetime                    // ISO 8601 text in the CRM's layout
	wMoneyString                 // amount as a decimal in a JSON string
	wMoneyNumber                 // amount as a JSON number
	wMoneyObject                 // {"value": number, "currency": "EUR"}
	wRefString                   // id as a JSON string
	wRefInt                      // id as a JSON number
	wRefLookup                   // {"id": "...", "name": "..."}, written as {"id": "..."}
	wRefBind                     // read from _attr_value, written as "nav@odata.bind": "/set(id)"
	wListEntry                   // one entry of [{"value","primary","label"}]
)

// wireText describes each format for the documentation and error messages.
var wireText = map[wireFormat]string{
	wString:           "string",
	wEnumString:       "string via enum map",
	wEnumInt:          "option id (number) via enum map",
	wMultiJoined:      "values joined by `;`",
	wMultiCommaInts:   "option ids joined by `,`",
	wMultiArray:       "array of strings",
	wMultiIntArray:    "array of option ids",
	wNumberString:     "decimal string",
	wNumber:           "number",
	wIntegerString:    "integer string",
	wInteger:          "integer",
	wBoolString:       "\"true\"/\"false\"",
	wBool:             "boolean",
	wDateMillis:       "ms of midnight UTC (string)",
	wDateFromDatetime: "datetime at midnight UTC",
	wDate:             "YYYY-MM-DD",
	wDatetime:         "ISO 8601",
	wMoneyString:      "decimal string",
	wMoneyNumber:      "number",
	wMoneyObject:      "{value, currency}",
	wRefString:        "id string",
	wRefInt:           "id number",
	wRefLookup:        "{id, name} object",
	wRefBind:          "lookup (`@odata.bind`)",
	wListEntry:        "entry of [{value, primary, label}]",
}

// profile holds what differs between CRMs beyond field formats.
type profile struct {
	provider Provider
	title    string // for people: "HubSpot"
	noun     string // what the CRM calls a field: "property", "field", "column"
	// keepEmpty is true when the CRM stores "" distinctly from null in text fields.
	keepEmpty bool
	// null is the wire value that clears a field.
	null any
	// tsLayout and tsPrec render datetimes; the CRM keeps no more than tsPrec.
	tsLayout string
	tsPrec   time.Duration
	// defaultRemote is the remote type assumed for a custom field of each canonical type.
	defaultRemote map[Type]string
	// format picks the wire format of a canonical type stored in a remote type; wNone when they do not fit.
	format func(t Type, remoteType string) wireFormat
}

var profiles = map[Provider]*profile{
	HubSpot: {
		provider: HubSpot, title: "HubSpot", noun: "property", null: "",
		tsLayout: "2006-01-02T15:04:05.000Z", tsPrec: time.Millisecond,
		defaultRemote: map[Type]string{
			TypeString: "string", TypeEmail: "string", TypePhone: "phone_number", TypeNumber: "number",
			TypeInteger: "number", TypeBoolean: "bool", TypeDate: "date", TypeDateTime: "datetime",
			TypeEnum: "enumeration", TypeMultiEnum: "enumeration", TypeCurrency: "number", TypeReference: "string",
		},
		format: hubspotFormat,
	},
	Salesforce: {
		provider: Salesforce, title: "Salesforce", noun: "field",
		tsLayout: "2006-01-02T15:04:05.000-0700", tsPrec: time.Millisecond,
		defaultRemote: map[Type]string{
			TypeString: "string", TypeEmail: "email", TypePhone: "phone", TypeNumber: "double",
			TypeInteger: "int", TypeBoolean: "boolean", TypeDate: "date", TypeDateTime: "datetime",
			TypeEnum: "picklist", TypeMultiEnum: "multipicklist", TypeCurrency: "currency", TypeReference: "reference",
		},
		format: salesforceFormat,
	},
	Dynamics: {
		provider: Dynamics, title: "Dataverse", noun: "column",
		tsLayout: "2006-01-02T15:04:05Z07:00", tsPrec: time.Second,
		defaultRemote: map[Type]string{
			TypeString: "String", TypeEmail: "String", TypePhone: "String", TypeNumber: "Decimal",
			TypeInteger: "Integer", TypeBoolean: "Boolean", TypeDate: "DateTime", TypeDateTime: "DateTime",
			TypeEnum: "Picklist", TypeMultiEnum: "MultiSelectPicklist", TypeCurrency: "Money", TypeReference: "Lookup",
		},
		format: dynamicsFormat,
	},
	Pipedrive: {
		provider: Pipedrive, title: "Pipedrive", noun: "field", keepEmpty: true,
		tsLayout: "2006-01-02T15:04:05Z07:00", tsPrec: time.Second,
		defaultRemote: map[Type]string{
			TypeString: "varchar", TypeEmail: "varchar", TypePhone: "phone", TypeNumber: "double",
			TypeInteger: "int", TypeBoolean: "boolean", TypeDate: "date", TypeDateTime: "datetime",
			TypeEnum: "enum", TypeMultiEnum: "set", TypeCurrency: "monetary", TypeReference: "int",
		},
		format: pipedriveFormat,
	},
	Zoho: {
		provider: Zoho, title: "Zoho CRM", noun: "field",
		tsLayout: "2006-01-02T15:04:05-07:00", tsPrec: time.Second,
		defaultRemote: map[Type]string{
			TypeString: "text", TypeEmail: "email", TypePhone: "phone", TypeNumber: "double",
			TypeInteger: "integer", TypeBoolean: "boolean", TypeDate: "date", TypeDateTime: "datetime",
			TypeEnum: "picklist", TypeMultiEnum: "multiselectpicklist", TypeCurrency: "currency", TypeReference: "lookup",
		},
		format: zohoFormat,
	},
}

func in(s string, set ...string) bool { return slices.Contains(set, s) }

// hubspotFormat: every HubSpot value is a string. Types: bool, date, datetime, enumeration, number,
// phone_number, string.
func hubspotFormat(t Type, rt string) wireFormat {
	switch t {
	case TypeString, TypeEmail, TypePhone:
		if in(rt, "string", "phone_number", "enumeration") {
			return wString
		}
	case TypeReference:
		if in(rt, "string", "enumeration", "number") {
			return wRefString
		}
	case TypeEnum:
		if in(rt, "enumeration", "string") {
			return wEnumString
		}
	case TypeMultiEnum:
		if in(rt, "enumeration", "string") {
			return wMultiJoined
		}
	case TypeNumber:
		if rt == "number" {
			return wNumberString
		}
	case TypeInteger:
		if rt == "number" {
			return wIntegerString
		}
	case TypeCurrency:
		if rt == "number" {
			return wMoneyString
		}
	case TypeBoolean:
		if in(rt, "bool", "enumeration") {
			return wBoolString
		}
	case TypeDate:
		switch rt {
		case "date":
			return wDateMillis
		case "datetime":
			return wDateFromDatetime
		}
	case TypeDateTime:
		if rt == "datetime" {
			return wDatetime
		}
	}
	return wNone
}

// salesforceFormat follows the describe types: string, textarea, picklist, multipicklist, boolean, int,
// double, currency, percent, date, datetime, email, phone, url, id, reference.
func salesforceFormat(t Type, rt string) wireFormat {
	switch t {
	case TypeString, TypeEmail, TypePhone:
		if in(rt, "string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring") {
			return wString
		}
	case TypeReference:
		if in(rt, "reference", "id", "string") {
			return wRefString
		}
	case TypeEnum:
		if in(rt, "picklist", "combobox", "string") {
			return wEnumString
		}
	case TypeMultiEnum:
		if rt == "multipicklist" {
			return wMultiJoined
		}
	case TypeNumber:
		if in(rt, "double", "percent", "currency", "int", "long") {
			return wNumber
		}
	case TypeInteger:
		if in(rt, "int", "long", "double") {
			return wInteger
		}
	case TypeCurrency:
		if in(rt, "currency", "double") {
			return wMoneyNumber
		}
	case TypeBoolean:
		if rt == "boolean" {
			return wBool
		}
	case TypeDate:
		if rt == "date" {
			return wDate
		}
	case TypeDateTime:
		if rt == "datetime" {
			return wDatetime
		}
	}
	return wNone
}

// dynamicsFormat follows Dataverse attribute types.
func dynamicsFormat(t Type, rt string) wireFormat {
	switch t {
	case TypeString, TypeEmail, TypePhone:
		if in(rt, "String", "Memo") {
			return wString
		}
	case TypeReference:
		switch rt {
		case "Lookup", "Owner", "Customer":
			return wRefBind
		case "Uniqueidentifier", "String":
			return wRefString
		}
	case TypeEnum:
		if in(rt, "Picklist", "State", "Status") {
			return wEnumInt
		}
	case TypeMultiEnum:
		if rt == "MultiSelectPicklist" {
			return wMultiCommaInts
		}
	case TypeNumber:
		if in(rt, "Decimal", "Double", "Money", "Integer", "BigInt") {
			return wNumber
		}
	case TypeInteger:
		if in(rt, "Integer", "BigInt") {
			return wInteger
		}
	case TypeCurrency:
		if in(rt, "Money", "Decimal") {
			return wMoneyNumber
		}
	case TypeBoolean:
		if rt == "Boolean" {
			return wBool
		}
	case TypeDate:
		if in(rt, "DateTime", "DateOnly") {
			return wDate
		}
	case TypeDateTime:
		if rt == "DateTime" {
			return wDatetime
		}
	}
	return wNone
}

// pipedriveFormat follows Pipedrive v2 field_type values.
func pipedriveFormat(t Type, rt string) wireFormat {
	switch t {
	case TypeString, TypeEmail, TypePhone:
		if in(rt, "varchar", "varchar_auto", "text", "phone", "address") {
			return wString
		}
	case TypeReference:
		if in(rt, "int", "org", "people", "user") {
			return wRefInt
		}
	case TypeEnum:
		if in(rt, "enum", "stage", "int") {
			return wEnumInt
		}
	case TypeMultiEnum:
		if rt == "set" {
			return wMultiIntArray
		}
	case TypeNumber:
		if in(rt, "double", "int", "monetary") {
			return wNumber
		}
	case TypeInteger:
		if in(rt, "int", "double") {
			return wInteger
		}
	case TypeCurrency:
		switch rt {
		case "monetary":
			return wMoneyObject
		case "double":
			return wMoneyNumber
		}
	case TypeBoolean:
		if rt == "boolean" {
			return wBool
		}
	case TypeDate:
		if rt == "date" {
			return wDate
		}
	case TypeDateTime:
		if rt == "datetime" {
			return wDatetime
		}
	}
	return wNone
}

// zohoFormat follows Zoho CRM data_type values.
func zohoFormat(t Type, rt string) wireFormat {
	switch t {
	case TypeString, TypeEmail, TypePhone:
		if in(rt, "text", "textarea", "email", "phone", "website", "picklist", "autonumber") {
			return wString
		}
	case TypeReference:
		switch rt {
		case "lookup", "ownerlookup":
			return wRefLookup
		case "text", "bigint":
			return wRefString
		}
	case TypeEnum:
		if rt == "picklist" {
			return wEnumString
		}
	case TypeMultiEnum:
		if rt == "multiselectpicklist" {
			return wMultiArray
		}
	case TypeNumber:
		if in(rt, "double", "decimal", "currency", "percent", "integer", "bigint") {
			return wNumber
		}
	case TypeInteger:
		if in(rt, "integer", "bigint") {
			return wInteger
		}
	case TypeCurrency:
		if in(rt, "currency", "double", "decimal") {
			return wMoneyNumber
		}
	case TypeBoolean:
		if rt == "boolean" {
			return wBool
		}
	case TypeDate:
		if rt == "date" {
			return wDate
		}
	case TypeDateTime:
		if rt == "datetime" {
			return wDatetime
		}
	}
	return wNone
}

// --- reading -----------------------------------------------------------------------------------------

// decode turns a wire value into the canonical value of f. v is never absent here; nil means null.
func (f *Field) decode(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if s, ok := v.(string); ok && s == "" && !(f.format == wString && f.prof.keepEmpty) {
		return nil, nil
	}
	switch f.format {
	case wString:
		return decodeString(v)
	case wRefString, wRefBind:
		if _, ok := v.(string); ok {
			return v, nil
		}
		return decodeString(v)
	case wEnumString:
		s, ok := v.(string)
		if !ok {
			return nil, wrongWire(v, "a string")
		}
		return f.enumFromRemote(s)
	case wEnumInt:
		n, err := wireInt(v, "an option id")
		if err != nil {
			return nil, err
		}
		return f.enumFromRemoteInt(n)
	case wMultiJoined, wMultiCommaInts, wMultiArray, wMultiIntArray:
		return f.decodeMulti(v)
	case wNumberString, wNumber:
		d, err := wireDecimal(v)
		if err != nil {
			return nil, err
		}
		return d.Shift(f.scale), nil
	case wIntegerString, wInteger:
		return wireInt(v, "an integer")
	case wBoolString, wBool:
		return wireBool(v)
	case wDateMillis, wDateFromDatetime, wDate:
		return f.decodeDate(v)
	case wDatetime:
		return f.decodeDatetime(v)
	case wMoneyString, wMoneyNumber:
		d, err := wireDecimal(v)
		if err != nil {
			return nil, err
		}
		return Money{Amount: d}, nil
	case wMoneyObject:
		return decodeMoneyObject(v)
	case wRefInt:
		return decodeRefInt(v)
	case wRefLookup:
		return decodeLookup(v)
	case wListEntry:
		return f.decodeListEntry(v)
	}
	return nil, fmt.Errorf("no wire format")
}

func decodeString(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return string(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return nil, wrongWire(v, "a string")
}

func (f *Field) enumFromRemote(s string) (any, error) {
	if f.rev == nil {
		return s, nil
	}
	if c, ok := f.rev[s]; ok {
		return c, nil
	}
	return nil, f.unmappedRemote(s)
}

func (f *Field) enumFromRemoteInt(n int64) (any, error) {
	if f.revInt == nil {
		return strconv.FormatInt(n, 10), nil
	}
	if c, ok := f.revInt[n]; ok {
		return c, nil
	}
	return nil, f.unmappedRemote(strconv.FormatInt(n, 10))
}

func (f *Field) unmappedRemote(s string) error {
	return fmt.Errorf("%s value %q is not in the enum map of %s; add it to spec.fields[%s].values",
		f.prof.noun, s, f.Name, f.Name)
}

func (f *Field) decodeMulti(v any) (any, error) {
	var out []string
	add := func(p string) error {
		var c any
		var err error
		if f.intOptions() {
			n, perr := wireInt(p, "an option id")
			if perr != nil {
				return perr
			}
			c, err = f.enumFromRemoteInt(n)
		} else {
			c, err = f.enumFromRemote(p)
		}
		if err != nil {
			return err
		}
		out = append(out, c.(string))
		return nil
	}
	switch f.format {
	case wMultiJoined, wMultiCommaInts:
		s, ok := v.(string)
		if !ok {
			return nil, wrongWire(v, "a string")
		}
		sep := ";"
		if f.format == wMultiCommaInts {
			sep = ","
		}
		for p := range strings.SplitSeq(s, sep) {
			if p = strings.TrimSpace(p); p != "" {
				if err := add(p); err != nil {
					return nil, err
				}
			}
		}
	default:
		arr, ok := v.([]any)
		if !ok {
			return nil, wrongWire(v, "an array")
		}
		out = make([]string, 0, len(arr))
		for _, e := range arr {
			if f.format == wMultiIntArray {
				n, err := wireInt(e, "an option id")
				if err != nil {
					return nil, err
				}
				c, err := f.enumFromRemoteInt(n)
				if err != nil {
					return nil, err
				}
				out = append(out, c.(string))
				continue
			}
			s, ok := e.(string)
			if !ok {
				return nil, wrongWire(e, "an array of strings")
			}
			if err := add(s); err != nil {
				return nil, err
			}
		}
	}
	return normalizeSet(out), nil
}

// intOptions reports whether f's enum values travel as integer option ids.
func (f *Field) intOptions() bool {
	return f.format == wEnumInt || f.format == wMultiCommaInts || f.format == wMultiIntArray
}

// normalizeSet sorts and deduplicates a multiEnum value; an empty set is null.
func normalizeSet(s []string) any {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}

func (f *Field) decodeDate(v any) (any, error) {
	s, isString := v.(string)
	if f.format != wDate && (!isString || looksLikeMillis(s)) {
		ms, err := wireInt(v, "milliseconds or a date")
		if err != nil {
			return nil, err
		}
		t := time.UnixMilli(ms).UTC()
		if f.format == wDateMillis && !isMidnight(t) {
			return nil, fmt.Errorf("%d ms is %s, not midnight UTC as a date %s must be", ms, t.Format(time.RFC3339Nano), f.prof.noun)
		}
		return DateOf(t), nil
	}
	if !isString {
		return nil, wrongWire(v, "a date string")
	}
	if len(s) == 10 {
		return ParseDate(s)
	}
	t, err := ParseTimestamp(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither YYYY-MM-DD nor a timestamp", s)
	}
	if f.format != wDateFromDatetime && !isMidnight(t) {
		return nil, fmt.Errorf("%q is not midnight UTC, so it is not a date", s)
	}
	return DateOf(t), nil
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

func looksLikeMillis(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && allDigits(s)
}

func (f *Field) decodeDatetime(v any) (any, error) {
	s, isString := v.(string)
	if f.prof.provider == HubSpot && (!isString || looksLikeMillis(s)) {
		ms, err := wireInt(v, "milliseconds or a timestamp")
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	if !isString {
		return nil, wrongWire(v, "a timestamp string")
	}
	return ParseTimestamp(s)
}

func decodeMoneyObject(v any) (any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		d, err := wireDecimal(v)
		if err != nil {
			return nil, err
		}
		return Money{Amount: d}, nil
	}
	amount := obj["value"]
	if amount == nil || amount == "" {
		return nil, nil
	}
	d, err := wireDecimal(amount)
	if err != nil {
		return nil, err
	}
	m := Money{Amount: d}
	if c, ok := obj["currency"].(string); ok {
		m.Currency = c
	}
	return m, nil
}

func decodeRefInt(v any) (any, error) {
	if obj, ok := v.(map[string]any); ok {
		for _, k := range []string{"value", "id"} {
			if inner, ok := obj[k]; ok {
				if inner == nil {
					return nil, nil
				}
				return decodeRefInt(inner)
			}
		}
		return nil, wrongWire(v, "an id")
	}
	n, err := wireInt(v, "an id")
	if err != nil {
		return nil, err
	}
	return strconv.FormatInt(n, 10), nil
}

func decodeLookup(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return v, nil
	case map[string]any:
		id := x["id"]
		if id == nil || id == "" {
			return nil, nil
		}
		return decodeString(id)
	}
	return nil, wrongWire(v, "a lookup object {id, name}")
}

func (f *Field) decodeListEntry(v any) (any, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, wrongWire(v, "an array of {value, primary, label}")
	}
	for _, e := range arr {
		entry, ok := e.(map[string]any)
		if !ok {
			return nil, wrongWire(e, "an entry {value, primary, label}")
		}
		if !f.selects(entry) {
			continue
		}
		switch val := entry["value"].(type) {
		case nil:
			return nil, nil
		case string:
			if val == "" {
				return nil, nil
			}
			return val, nil
		default:
			return nil, wrongWire(val, "a string value")
		}
	}
	return nil, nil
}

// selects reports whether a Pipedrive emails/phones entry is the one f maps: the primary entry, or the
// first non-primary entry with f's label.
func (f *Field) selects(entry map[string]any) bool {
	primary, _ := entry["primary"].(bool)
	if f.selector == "" {
		return primary
	}
	label, _ := entry["label"].(string)
	return !primary && label == f.selector
}

// wireDecimal reads a number from JSON (json.Number or float64) or from a decimal string.
func wireDecimal(v any) (Decimal, error) {
	switch x := v.(type) {
	case string:
		d, err := ParseDecimal(x)
		if err != nil {
			return "", fmt.Errorf("%q is not a number", truncate(x))
		}
		return d, nil
	case json.Number:
		d, err := ParseDecimal(string(x))
		if err != nil {
			return "", fmt.Errorf("%q is not a number", truncate(string(x)))
		}
		return d, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("%v is not a number", x)
		}
		return ParseDecimal(strconv.FormatFloat(x, 'f', -1, 64))
	case int:
		return Decimal(strconv.Itoa(x)), nil
	case int64:
		return Decimal(strconv.FormatInt(x, 10)), nil
	}
	return "", wrongWire(v, "a number")
}

// maxExactFloat is 2^53: every integer below it has an exact float64, and a float64 at or beyond it may
// be the rounding of another integer.
const maxExactFloat = 1 << 53

// wireInt reads an integer from JSON or from an integer string. A float64 from 2^53 on is rejected: it
// may have lost digits, so the connector must decode with json.Decoder.UseNumber.
func wireInt(v any, what string) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("%v is not %s", x, what)
		}
		if math.Abs(x) >= maxExactFloat {
			return 0, fmt.Errorf("%v arrived as a float64 beyond 2^53 and may have lost digits (decode JSON with UseNumber)", x)
		}
		return int64(x), nil
	case json.Number:
		return parseInt(string(x), what)
	case string:
		return parseInt(x, what)
	}
	return 0, wrongWire(v, what)
}

func parseInt(s, what string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	d, err := ParseDecimal(s)
	if err != nil || !d.IsInteger() {
		return 0, fmt.Errorf("%q is not %s", truncate(s), what)
	}
	n, err := strconv.ParseInt(string(d), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of the 64-bit integer range", truncate(s))
	}
	return n, nil
}

func wireBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return v, nil
	case string:
		switch {
		case strings.EqualFold(x, "true"):
			return true, nil
		case strings.EqualFold(x, "false"):
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean (want \"true\" or \"false\")", truncate(x))
	}
	return nil, wrongWire(v, "a boolean")
}

func wrongWire(v any, want string) error {
	return fmt.Errorf("got %s, want %s", jsonKind(v), want)
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", truncate(x))
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case float64, json.Number, int, int64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("Go %T", v)
}

func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// --- writing -----------------------------------------------------------------------------------------

// encode turns a canonical value of f into its wire value. v is never absent here; nil means null.
// wRefBind and wListEntry are written by the caller, which knows the other keys.
func (f *Field) encode(v any) (any, error) {
	if v == nil {
		return f.prof.null, nil
	}
	switch f.format {
	case wString, wRefString:
		s, ok := v.(string)
		if !ok {
			return nil, wrongCanonical(v, "string")
		}
		if s == "" && (f.format == wRefString || !f.prof.keepEmpty) {
			return f.prof.null, nil
		}
		return v, nil
	case wEnumString, wEnumInt:
		s, ok := v.(string)
		if !ok {
			return nil, wrongCanonical(v, "string")
		}
		if s == "" {
			return f.prof.null, nil
		}
		return f.enumToRemote(s)
	case wMultiJoined, wMultiCommaInts, wMultiArray, wMultiIntArray:
		return f.encodeMulti(v)
	case wNumberString, wNumber:
		d, ok := v.(Decimal)
		if !ok {
			return nil, wrongCanonical(v, "mapping.Decimal")
		}
		return f.encodeDecimal(d)
	case wIntegerString, wInteger:
		n, ok := canonicalInt(v)
		if !ok {
			return nil, wrongCanonical(v, "int64")
		}
		s := strconv.FormatInt(n, 10)
		if f.format == wIntegerString {
			return s, nil
		}
		return json.Number(s), nil
	case wBoolString, wBool:
		b, ok := v.(bool)
		if !ok {
			return nil, wrongCanonical(v, "bool")
		}
		if f.format == wBool {
			return v, nil
		}
		return strconv.FormatBool(b), nil
	case wDateMillis, wDateFromDatetime, wDate:
		d, ok := v.(Date)
		if !ok {
			return nil, wrongCanonical(v, "mapping.Date")
		}
		if !d.IsValid() {
			return nil, fmt.Errorf("%d-%02d-%02d is not a date between 0001-01-01 and 9999-12-31", d.Year, d.Month, d.Day)
		}
		if f.format == wDate {
			return d.String(), nil
		}
		return strconv.FormatInt(d.Time().UnixMilli(), 10), nil
	case wDatetime:
		t, ok := v.(time.Time)
		if !ok {
			return nil, wrongCanonical(v, "time.Time")
		}
		return f.encodeDatetime(t)
	case wMoneyString, wMoneyNumber, wMoneyObject:
		m, ok := v.(Money)
		if !ok {
			return nil, wrongCanonical(v, "mapping.Money")
		}
		return f.encodeMoney(m)
	case wRefInt:
		s, ok := v.(string)
		if !ok {
			return nil, wrongCanonical(v, "string")
		}
		if s == "" {
			return nil, nil
		}
		if _, err := strconv.ParseInt(s, 10, 64); err != nil || !isCanonicalDecimal(s) {
			return nil, fmt.Errorf("id %q is not an integer, as %s ids are", truncate(s), f.prof.title)
		}
		return json.Number(s), nil
	case wRefLookup:
		s, ok := v.(string)
		if !ok {
			return nil, wrongCanonical(v, "string")
		}
		if s == "" {
			return nil, nil
		}
		return map[string]any{"id": s}, nil
	}
	return nil, fmt.Errorf("no wire format")
}

func canonicalInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

func (f *Field) enumToRemote(s string) (any, error) {
	if f.fwdWire != nil {
		if w, ok := f.fwdWire[s]; ok {
			return w, nil
		}
		return nil, fmt.Errorf("value %q of %s is not in its enum map; add it to spec.fields[%s].values", truncate(s), f.Name, f.Name)
	}
	if f.intOptions() {
		if _, err := strconv.ParseInt(s, 10, 64); err != nil || !isCanonicalDecimal(s) {
			return nil, fmt.Errorf("value %q of %s is not an option id and the field has no enum map", truncate(s), f.Name)
		}
		return json.Number(s), nil
	}
	return s, nil
}

func (f *Field) encodeMulti(v any) (any, error) {
	set, ok := v.([]string)
	if !ok {
		return nil, wrongCanonical(v, "[]string")
	}
	if len(set) == 0 {
		return f.prof.null, nil
	}
	remote := make([]string, len(set))
	for i, s := range set {
		w, err := f.enumToRemote(s)
		if err != nil {
			return nil, err
		}
		switch x := w.(type) {
		case string:
			remote[i] = x
		case json.Number:
			remote[i] = string(x)
		}
		if f.format == wMultiJoined && strings.Contains(remote[i], ";") {
			return nil, fmt.Errorf("value %q contains ';', which %s uses to separate values", truncate(remote[i]), f.prof.title)
		}
	}
	switch f.format {
	case wMultiJoined:
		return strings.Join(remote, ";"), nil
	case wMultiCommaInts:
		return strings.Join(remote, ","), nil
	case wMultiArray:
		out := make([]any, len(remote))
		for i, s := range remote {
			out[i] = s
		}
		return out, nil
	default:
		out := make([]any, len(remote))
		for i, s := range remote {
			out[i] = json.Number(s)
		}
		return out, nil
	}
}

func (f *Field) encodeDecimal(d Decimal) (any, error) {
	if !isCanonicalDecimal(string(d)) {
		return nil, fmt.Errorf("%q is not a canonical Decimal (use mapping.ParseDecimal)", truncate(string(d)))
	}
	d = d.Shift(-f.scale)
	if f.intOnly && !d.IsInteger() {
		return nil, fmt.Errorf("%s has a fraction, but %s %s is an integer %s", d, f.prof.title, f.RemoteName, f.prof.noun)
	}
	if f.format == wNumberString {
		return string(d), nil
	}
	return json.Number(d), nil
}

func (f *Field) encodeMoney(m Money) (any, error) {
	if !isCanonicalDecimal(string(m.Amount)) {
		return nil, fmt.Errorf("amount %q is not a canonical Decimal (use mapping.ParseDecimal)", truncate(string(m.Amount)))
	}
	switch f.format {
	case wMoneyString:
		return string(m.Amount), nil
	case wMoneyNumber:
		return json.Number(m.Amount), nil
	}
	obj := map[string]any{"value": json.Number(m.Amount)}
	if m.Currency != "" {
		obj["currency"] = m.Currency
	}
	return obj, nil
}

func (f *Field) encodeDatetime(t time.Time) (any, error) {
	t = t.UTC().Truncate(f.prof.tsPrec)
	if y := t.Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("%s is outside the years 0001 to 9999", t.Format(time.RFC3339))
	}
	return t.Format(f.prof.tsLayout), nil
}

// encodeBind renders a Dataverse lookup id for "nav@odata.bind".
func (f *Field) encodeBind(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, wrongCanonical(v, "string")
	}
	if s == "" {
		return nil, nil
	}
	if !isGUID(s) {
		return nil, fmt.Errorf("id %q is not a GUID, as Dataverse ids are", truncate(s))
	}
	return "/" + f.bindSet + "(" + s + ")", nil
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func wrongCanonical(v any, want string) error {
	return fmt.Errorf("canonical value is %T, want %s", v, want)
}
