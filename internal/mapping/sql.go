package mapping

import (
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
)

// SQL is the SQL table endpoint. It is not a CRM: its fields are the canonical fields themselves (the
// table's columns are named after them unless the SyncJob maps them), so it is compiled with ForSQL
// rather than from a FieldMapping, and it is not listed in Providers.
const SQL Provider = "sql"

func init() {
	profiles[SQL] = &profile{
		provider: SQL, title: "SQL table", noun: "column", keepEmpty: true,
		tsLayout: time.RFC3339Nano, tsPrec: time.Microsecond,
		defaultRemote: map[Type]string{
			TypeString: "string", TypeEmail: "email", TypePhone: "phone", TypeNumber: "number",
			TypeInteger: "integer", TypeBoolean: "boolean", TypeDate: "date", TypeDateTime: "datetime",
			TypeEnum: "enum", TypeMultiEnum: "multiEnum", TypeCurrency: "currency", TypeReference: "reference",
		},
		format: sqlFormat,
	}
	defaults[SQL] = map[connectors.Object]objectDefaults{}
	for _, o := range connectors.Objects {
		schema, err := SchemaOf(o)
		if err != nil {
			continue
		}
		od := objectDefaults{remoteObject: string(o)}
		for _, f := range SQLFields(schema) {
			od.fields = append(od.fields, defaultField{name: f.Name, remote: f.Name, remoteType: string(f.Type)})
		}
		defaults[SQL][o] = od
	}
}

// SQLFields are the canonical fields an SQL table holds: every writable field of the schema. Creation
// and modification times are left out; the table keeps its own updated_at.
func SQLFields(s Schema) []CanonicalField {
	var out []CanonicalField
	for _, f := range s.Fields {
		if !f.ReadOnly {
			out = append(out, f)
		}
	}
	return out
}

// ForSQL compiles the mapping of an SQL table that holds a canonical object. Records of the SQL endpoint
// are keyed by canonical field name, whatever the columns are called, and carry the values the sqltable
// connector reads (json.Number for numbers, "YYYY-MM-DD" dates, RFC 3339 datetimes, "a;b" multi-selects).
//
// extra adds fields outside the canonical schema: the custom fields of the CRM mapping at the other end of
// the job, each with its Name and canonical Type (other settings are ignored). Their columns are named
// after them, like the canonical fields', and they are writable.
func ForSQL(object connectors.Object, table string, extra []FieldSpec) (*Mapping, error) {
	spec := MappingSpec{Provider: string(SQL), Object: string(object), RemoteObject: table, InheritDefaults: true}
	for _, f := range extra {
		spec.Fields = append(spec.Fields, FieldSpec{Name: f.Name, RemoteName: f.Name, Type: f.Type})
	}
	return Compile(spec)
}

// CustomFields returns the fields of m outside the canonical schema as FieldSpecs for ForSQL: name and
// canonical type.
func (m *Mapping) CustomFields() []FieldSpec {
	var out []FieldSpec
	for _, f := range m.fields {
		if f.Custom {
			out = append(out, FieldSpec{Name: f.Name, Type: string(f.Type)})
		}
	}
	return out
}

// sqlFormat is the wire format of each canonical type in the sqltable connector's records.
func sqlFormat(t Type, _ string) wireFormat {
	switch t {
	case TypeString, TypeEmail, TypePhone:
		return wString
	case TypeReference:
		return wRefString
	case TypeEnum:
		return wEnumString
	case TypeMultiEnum:
		return wMultiJoined
	case TypeNumber:
		return wNumber
	case TypeInteger:
		return wInteger
	case TypeBoolean:
		return wBool
	case TypeDate:
		return wDate
	case TypeDateTime:
		return wDatetime
	case TypeCurrency:
		return wMoneyNumber
	default:
		return wNone
	}
}
