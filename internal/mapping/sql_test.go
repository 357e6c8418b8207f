package mapping

import (
	"testing"

	"github.com/crmsync/crmsync/internal/connectors"
)

func TestForSQLCustomFields(t *testing.T) {
	crm, err := Compile(MappingSpec{Provider: string(HubSpot), Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
		{Name: "leadScore", RemoteName: "lead_score", Type: "integer"},
		{Name: "tier", RemoteName: "tier", Type: "enum", Values: map[string]string{"gold": "GOLD"}},
		{Name: "signedUp", RemoteName: "signed_up", Type: "date", ReadOnly: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	extra := crm.CustomFields()
	if len(extra) != 3 || extra[0].Name != "leadScore" || extra[0].Type != "integer" {
		t.Fatalf("CustomFields = %+v", extra)
	}
	m, err := ForSQL(connectors.Contacts, "contacts", extra)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range extra {
		f, ok := m.Field(e.Name)
		if !ok || !f.Custom || f.ReadOnly || f.RemoteName != e.Name || string(f.Type) != e.Type {
			t.Errorf("SQL field %s = %+v, %v: want a writable custom field named after it, type %s", e.Name, f, ok, e.Type)
		}
	}
	if _, ok := m.Field("email"); !ok {
		t.Error("the canonical fields are gone")
	}
	c := Canonical{"email": "a@x.io", "leadScore": int64(42), "tier": "gold", "signedUp": Date{Year: 2026, Month: 3, Day: 1}}
	remote, err := m.ToRemote(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := m.ToCanonical(connectors.Record{ID: "1", Fields: remote})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c {
		if back[k] != v {
			t.Errorf("%s: round trip %v (%T) -> %v -> %v (%T)", k, v, v, remote[k], back[k], back[k])
		}
	}
	if _, err := ForSQL(connectors.Contacts, "contacts", []FieldSpec{{Name: "bad", Type: "nope"}}); err == nil {
		t.Error("an extra field of an unknown type compiled")
	}
}
