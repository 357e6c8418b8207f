package mapping

import (
	"fmt"
	"testing"

	"github.com/crmsync/crmsync/internal/connectors"
)

const benchFields = 50

// benchMapping returns a 50-field contacts mapping (defaults, one custom field of every type, and more
// custom fields of mixed types) and a record of it as read from the CRM's JSON.
func benchMapping(b *testing.B, p Provider) (*Mapping, connectors.Record, Canonical) {
	spec := allTypesSpec(p)
	base := mustCompile(b, spec).Len()
	mixed := []Type{TypeString, TypeNumber, TypeInteger, TypeBoolean, TypeDate, TypeDateTime, TypeEnum, TypeCurrency, TypeReference, TypeEmail}
	for i := 0; base+i < benchFields; i++ {
		t := mixed[i%len(mixed)]
		name := fmt.Sprintf("extra%02d", i)
		remote := customRemote(p, "x"+name)
		if p == Dynamics && t == TypeReference {
			remote = "new_" + name + "@accounts"
		}
		fs := FieldSpec{Name: name, Type: string(t), RemoteName: remote}
		if t == TypeEnum {
			fs.Values = tierValues(p)
		}
		spec.Fields = append(spec.Fields, fs)
	}
	m := mustCompile(b, spec)
	if m.Len() != benchFields {
		b.Fatalf("%s mapping has %d fields, want %d", p, m.Len(), benchFields)
	}
	in := fuzzInput{text: "Zoë Lima", digits: "1234567.89", n: 4242, flag: true, sec: 1779235200, nsec: 123000000, pick: 5}
	c := Canonical{}
	for i := range m.fields {
		f := &m.fields[i]
		c[f.Name] = validValue(f, in)
	}
	remote, err := m.ToRemote(c, nil)
	if err != nil {
		b.Fatal(err)
	}
	stored := asStored(m, viaJSON(b, remote))
	for _, f := range m.fields { // read-only fields are not written; give them what the CRM would send
		if f.ReadOnly {
			w, err := f.encode(c[f.Name])
			if err != nil {
				b.Fatal(err)
			}
			stored[f.readKey] = w
		}
	}
	rec := connectors.Record{ID: "1", Fields: viaJSON(b, stored)}
	if got, err := m.ToCanonical(rec); err != nil || len(got) != benchFields {
		b.Fatalf("ToCanonical: %d fields, %v", len(got), err)
	}
	return m, rec, c
}

// BenchmarkToCanonical converts one 50-field record per op; conversions/s counts fields on one core.
func BenchmarkToCanonical(b *testing.B) {
	for _, p := range Providers {
		b.Run(string(p), func(b *testing.B) {
			m, rec, _ := benchMapping(b, p)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.ToCanonical(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchFields*b.N)/b.Elapsed().Seconds(), "conversions/s")
		})
	}
}

// BenchmarkToRemote converts one 50-field canonical record per op.
func BenchmarkToRemote(b *testing.B) {
	for _, p := range Providers {
		b.Run(string(p), func(b *testing.B) {
			m, _, c := benchMapping(b, p)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.ToRemote(c, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchFields*b.N)/b.Elapsed().Seconds(), "conversions/s")
		})
	}
}
