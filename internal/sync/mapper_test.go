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
	for _, f := range m.Fields() {
		if got := slices.Contains(fields, f.Name); got == f.ReadOnly {
			t.Errorf("field %s (read-only %v) synced = %v: only writable fields are synced", f.Name, f.ReadOnly, got)
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
