package sync

import "github.com/crmsync/crmsync/internal/mapping"

// FromMapping adapts a compiled FieldMapping to Mapper. Its writable fields are synced; read-only ones
// (creation and modification times) are not.
func FromMapping(m *mapping.Mapping) Mapper { return compiled{m} }

type compiled struct{ *mapping.Mapping }

func (c compiled) Fields() []string {
	var out []string
	for _, f := range c.Mapping.Fields() {
		if !f.ReadOnly {
			out = append(out, f.Name)
		}
	}
	return out
}
