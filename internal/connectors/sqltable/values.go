package sqltable

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// kind is how crmsync treats a column's values on the wire.
type kind int

const (
	kindText      kind = iota // string
	kindNumeric               // json.Number (exact)
	kindInteger               // json.Number
	kindBoolean               // bool
	kindDate                  // "2006-01-02"
	kindTimestamp             // RFC 3339, UTC
	kindJSON                  // any JSON value
	kindMultiEnum             // "a;b;c" (Salesforce's multi-select wire form); []any is accepted on write
)

// kindOfFieldType maps a FieldSpec type (canonical or CRM type names) to a kind.
func kindOfFieldType(t string) (kind, error) {
	switch strings.ToLower(t) {
	case "", "string", "text", "textarea", "email", "phone", "url", "enum", "enumeration", "picklist", "reference", "id", "uuid":
		return kindText, nil
	case "number", "currency", "percent", "decimal", "double", "float", "numeric":
		return kindNumeric, nil
	case "integer", "int", "bigint":
		return kindInteger, nil
	case "boolean", "bool", "checkbox":
		return kindBoolean, nil
	case "date":
		return kindDate, nil
	case "datetime", "timestamp", "timestamptz":
		return kindTimestamp, nil
	case "json", "jsonb", "object":
		return kindJSON, nil
	case "multienum", "multipicklist", "multi_enum":
		return kindMultiEnum, nil
	}
	return 0, fmt.Errorf("unsupported field type %q: use string, email, phone, enum, reference, number, currency, "+
		"integer, boolean, date, datetime, multiEnum or json", t)
}

func (k kind) String() string {
	return [...]string{"text", "numeric", "integer", "boolean", "date", "timestamp", "json", "multiEnum"}[k]
}

// tsLayout is how crmsync writes timestamps into SQLite TEXT columns: fixed width, UTC, microseconds.
const tsLayout = "2006-01-02T15:04:05.000000Z"

var tsLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range tsLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp", s)
}

// fromDB converts a value read from the database (string, int64, float64, []byte, bool, time.Time or nil)
// to its wire form.
func fromDB(k kind, v any) any {
	if v == nil {
		return nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	switch k {
	case kindNumeric, kindInteger:
		switch x := v.(type) {
		case int64:
			return json.Number(strconv.FormatInt(x, 10))
		case float64:
			return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
		case string:
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return json.Number(x)
			}
			return x
		}
	case kindBoolean:
		switch x := v.(type) {
		case bool:
			return x
		case int64:
			return x != 0
		case float64:
			return x != 0
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b
			}
			return x
		}
	case kindDate:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.DateOnly)
		case string:
			if len(x) >= 10 {
				if _, err := time.Parse(time.DateOnly, x[:10]); err == nil {
					return x[:10]
				}
			}
			return x
		}
	case kindTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano)
		case string:
			if t, err := parseTime(x); err == nil {
				return t.Format(time.RFC3339Nano)
			}
			return x
		}
	case kindJSON:
		if s, ok := v.(string); ok {
			var out any
			if err := json.Unmarshal([]byte(s), &out); err == nil {
				return out
			}
			return s
		}
	}
	switch x := v.(type) {
	case string:
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

// toText converts a wire value to the text form that PostgreSQL casts to the column type (nil stays nil).
func toText(k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindJSON:
		if s, ok := v.(string); ok && json.Valid([]byte(s)) {
			return s, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case kindMultiEnum:
		if list, ok := v.([]any); ok {
			parts := make([]string, len(list))
			for i, p := range list {
				parts[i] = fmt.Sprint(p)
			}
			return strings.Join(parts, ";"), nil
		}
		if list, ok := v.([]string); ok {
			return strings.Join(list, ";"), nil
		}
	case kindTimestamp:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.RFC3339Nano), nil
		}
	case kindDate:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format(time.DateOnly), nil
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		if k == kindInteger && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10), nil
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case float32, int, int32, int64, uint, uint32, uint64:
		return fmt.Sprint(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case []any, map[string]any:
		if k != kindText {
			return nil, fmt.Errorf("a %T cannot be stored in a %s column", v, k)
		}
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	return nil, fmt.Errorf("a %T cannot be stored in a %s column", v, k)
}

// toSQLite converts a wire value to the value SQLite stores, validating what SQLite itself would not (its
// columns accept any type).
func toSQLite(k kind, v any) (any, error) {
	t, err := toText(k, v)
	if err != nil || t == nil {
		return t, err
	}
	s := t.(string)
	switch k {
	case kindNumeric:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", s)
		}
		return f, nil
	case kindInteger:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", s)
		}
		return i, nil
	case kindBoolean:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean", s)
		}
		if b {
			return int64(1), nil
		}
		return int64(0), nil
	case kindDate:
		d, err := parseTime(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date", s)
		}
		return d.Format(time.DateOnly), nil
	case kindTimestamp:
		ts, err := parseTime(s)
		if err != nil {
			return nil, err
		}
		return ts.Format(tsLayout), nil
	}
	return s, nil
}
