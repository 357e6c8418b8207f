package sync

import "github.com/crmsync/crmsync/internal/mapping"

// FromMapping adapts a compiled FieldMapping to Mapper. Every mapped field is read, read-only ones
// included (values the CRM computes, such as creation dates or a deal's stage probability), so that they
// can flow to the other side and serve as the match key; read-only fields are never written.
func FromMapping(m *mapping.Mapping) Mapper { return compiled{m} }

type compiled struct{ *mapping.Mapping }

func (c compiled) Fields() []string {
	fs := c.Mapping.Fields()
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// ReadOnly reports whether the field is read-only in the mapping: ToRemote skips it.
func (c compiled) ReadOnly(field string) bool {
	f, ok := c.Field(field)
	return ok && f.ReadOnly
}

// ReadOnlyFields is implemented by a Mapper that reads fields it cannot write. The engine syncs such a
// field only from this side: it is left out of the fields owned by the other side, so neither writes nor
// fingerprints depend on a value this side cannot hold. A Mapper without it can write all its Fields.
type ReadOnlyFields interface {
	ReadOnly(field string) bool
}

// readOnly reports whether m cannot write field.
func readOnly(m Mapper, field string) bool {
	r, ok := m.(ReadOnlyFields)
	return ok && r.ReadOnly(field)
}
