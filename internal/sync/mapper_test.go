package sync_test

import (
	"slices"
	"testing"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/mapping"
	"github.com/crmsync/crmsync/internal/sync"
)

func TestFromMapping(t *testing.T) {
	m, err := mapping.Default(mapping.HubSpot, connectors.Contacts)
	if err != nil {
		t.Fatal(err)
	}
	mp := sync.FromMapping(m)
	fields := mp.Fields()
	ro := mp.(sync.ReadOnlyFields)
	for _, f := range m.Fields() {
		if !slices.Contains(fields, f.Name) {
			t.Errorf("field %s (read-only %v) is not read: every mapped field is", f.Name, f.ReadOnly)
		}
		if got := ro.ReadOnly(f.Name); got != f.ReadOnly {
			t.Errorf("ReadOnly(%s) = %v, want %v", f.Name, got, f.ReadOnly)
		}
	}
	c := sync.Canonical{}
	for _, f := range fields {
		if f == "email" {
			c[f] = "a@x.io"
		}
	}
	remote, err := mp.ToRemote(c, []string{"email"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := mp.ToCanonical(connectors.Record{ID: "1", Fields: remote})
	if err != nil || back["email"] != "a@x.io" {
		t.Errorf("round trip of email = %v, %v", back["email"], err)
	}
}
