// Package mapping defines the canonical schemas and converts records between canonical form and each CRM's field names and wire values.
package mapping

import (
	"fmt"
	"slices"

	"github.com/crmsync/crmsync/internal/connectors"
)

// Type is a canonical field type. It decides the Go type of the field's canonical value (see Canonical).
type Type string

// The canonical types.
const (
	TypeString    Type = "string"    // string
	TypeEmail     Type = "email"     // string
	TypePhone     Type = "phone"     // string
	TypeNumber    Type = "number"    // Decimal
	TypeInteger   Type = "integer"   // int64
	TypeBoolean   Type = "boolean"   // bool
	TypeDate      Type = "date"      // Date
	TypeDateTime  Type = "datetime"  // time.Time in UTC
	TypeEnum      Type = "enum"      // string (a canonical enum value)
	TypeMultiEnum Type = "multiEnum" // []string, sorted, without duplicates, never empty
	TypeCurrency  Type = "currency"  // Money
	TypeReference Type = "reference" // string (the id of a record in the same CRM)
)

// Types lists every canonical type in a stable order.
var Types = []Type{
	TypeString, TypeEmail, TypePhone, TypeNumber, TypeInteger, TypeBoolean,
	TypeDate, TypeDateTime, TypeEnum, TypeMultiEnum, TypeCurrency, TypeReference,
}

// Valid reports whether t is a known canonical type.
func (t Type) Valid() bool { return slices.Contains(Types, t) }

// stringValued reports whether the canonical value of t is a Go string.
func (t Type) stringValued() bool {
	switch t {
	case TypeString, TypeEmail, TypePhone, TypeEnum, TypeReference:
		return true
	}
	return false
}

// Provider names a CRM, exactly as connectors.Connector.Provider returns it.
type Provider string

// The supported CRMs.
const (
	HubSpot    Provider = "hubspot"
	Salesforce Provider = "salesforce"
	Dynamics   Provider = "dynamics"
	Pipedrive  Provider = "pipedrive"
	Zoho       Provider = "zoho"
)

// Providers lists the supported CRMs in a stable order.
var Providers = []Provider{HubSpot, Salesforce, Dynamics, Pipedrive, Zoho}

// Valid reports whether p is a supported CRM.
func (p Provider) Valid() bool { return slices.Contains(Providers, p) }

// Canonical is one record in canonical form: canonical field name -> canonical value.
//
// The Go type of a value is fixed by the field's Type: string for string, email, phone, enum and
// reference; Decimal for number; int64 for integer; bool for boolean; Date for date; time.Time (location
// UTC) for datetime; []string (sorted, no duplicates, non-empty) for multiEnum; Money for currency.
//
// A key with a nil value is null: the field is known to be empty, and writing it clears the remote field.
// An absent key is unknown: the field was not read, and writing leaves the remote field untouched.
type Canonical map[string]any

// CanonicalField describes one field of a canonical schema.
type CanonicalField struct {
	Name        string
	Type        Type
	Description string
	// ReadOnly fields (creation and modification times) are maintained by the CRMs and never written.
	ReadOnly bool
}

// Schema is the canonical schema of one object.
type Schema struct {
	Object connectors.Object
	Fields []CanonicalField
}

// Field returns the named canonical field.
func (s Schema) Field(name string) (CanonicalField, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return CanonicalField{}, false
}

// SchemaOf returns the canonical schema of object.
func SchemaOf(object connectors.Object) (Schema, error) {
	s, ok := schemas[object]
	if !ok {
		return Schema{}, fmt.Errorf("unknown object %q: want one of contacts, companies, deals", object)
	}
	return s, nil
}
