package sync_test

import (
	"testing"

	"github.com/crmsync/crmsync/internal/mapping"
	"github.com/crmsync/crmsync/internal/sync"
)

// readOnlyDealsEnv is a OneWay Salesforce → HubSpot deals job with the default mappings plus a custom
// field sourceRef, read-only in Salesforce (Legacy_Id__c) and writable in HubSpot (sf_id), which is the
// match key. HubSpot's probability (hs_deal_stage_probability) is read-only.
func readOnlyDealsEnv(t *testing.T) *env {
	t.Helper()
	compile := func(spec mapping.MappingSpec) sync.Mapper {
		m, err := mapping.Compile(spec)
		if err != nil {
			t.Fatal(err)
		}
		return sync.FromMapping(m)
	}
	src := compile(mapping.MappingSpec{Provider: "salesforce", Object: "deals", InheritDefaults: true,
		Fields: []mapping.FieldSpec{{Name: "sourceRef", RemoteName: "Legacy_Id__c", Type: "string", ReadOnly: true}}})
	dst := compile(mapping.MappingSpec{Provider: "hubspot", Object: "deals", InheritDefaults: true,
		Fields: []mapping.FieldSpec{{Name: "sourceRef", RemoteName: "sf_id", Type: "string"}}})
	e := newEnv(t, envOptions{direction: sync.OneWay})
	e.job.Source = sync.Side{Connector: e.job.Source.Connector, Object: "Opportunity", Mapper: src}
	e.job.Dest = sync.Side{Connector: e.job.Dest.Connector, Object: "deals", Mapper: dst}
	e.job.Match = sync.Match{Field: "sourceRef"}
	return e
}

func TestReadOnlySourceFieldFlows(t *testing.T) {
	e := readOnlyDealsEnv(t)
	id, err := e.src.Create("Opportunity", map[string]any{"Name": "Big deal", "Legacy_Id__c": "L-1", "Probability": 20.0})
	if err != nil {
		t.Fatal(err)
	}
	res := e.run(t)
	if c := res.Counters; c.Created != 1 || c.Failed != 0 {
		t.Fatalf("first run: %+v, errors %v; want 1 created", c, res.Errors)
	}
	snap := e.dst.Snapshot("deals")
	if len(snap) != 1 {
		t.Fatalf("destination has %d deals, want 1", len(snap))
	}
	for _, rec := range snap {
		if rec["sf_id"] != "L-1" || rec["dealname"] != "Big deal" {
			t.Errorf("destination deal %v: want sf_id L-1 (from read-only Legacy_Id__c) and dealname", rec)
		}
		if _, ok := rec["hs_deal_stage_probability"]; ok {
			t.Errorf("read-only hs_deal_stage_probability was written: %v", rec)
		}
	}
	// The echo of the create, and a later run, must write nothing although the probability differs.
	for i := range 2 {
		if c := e.run(t).Counters; c.Created+c.Updated+c.Deleted+c.Failed != 0 {
			t.Fatalf("run %d after the create: %+v, want no writes", i+2, c)
		}
	}
	// A change of the read-only source field is copied.
	if err := e.src.Update("Opportunity", id, map[string]any{"Legacy_Id__c": "L-2"}); err != nil {
		t.Fatal(err)
	}
	if c := e.run(t).Counters; c.Updated != 1 {
		t.Fatalf("after the source edit: %+v, want 1 update", c)
	}
	for _, rec := range e.dst.Snapshot("deals") {
		if rec["sf_id"] != "L-2" {
			t.Errorf("sf_id = %v, want L-2", rec["sf_id"])
		}
	}
	if n := e.settle(t, 3); n != 1 {
		t.Errorf("needed %d runs to settle, want 1", n)
	}
}

func TestReadOnlyMatchKey(t *testing.T) {
	e := readOnlyDealsEnv(t)
	// A deal made by hand in HubSpot with the Salesforce id: it must be linked, not duplicated.
	if _, err := e.dst.Create("deals", map[string]any{"dealname": "old name", "sf_id": "L-7"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.src.Create("Opportunity", map[string]any{"Name": "New name", "Legacy_Id__c": "L-7"}); err != nil {
		t.Fatal(err)
	}
	res := e.run(t)
	if c := res.Counters; c.Created != 0 || c.Updated != 1 || c.Failed != 0 {
		t.Fatalf("first run: %+v, errors %v; want the hand-made deal matched and updated", c, res.Errors)
	}
	snap := e.dst.Snapshot("deals")
	if len(snap) != 1 {
		t.Fatalf("destination has %d deals, want 1", len(snap))
	}
	for _, rec := range snap {
		if rec["dealname"] != "New name" {
			t.Errorf("dealname = %v, want New name", rec["dealname"])
		}
	}
	if n := e.settle(t, 3); n != 1 {
		t.Errorf("needed %d runs to settle, want 1", n)
	}
}

// TestReadOnlyOwnership checks the TwoWay owner of a field read-only on one side.
func TestReadOnlyOwnership(t *testing.T) {
	e := readOnlyDealsEnv(t)
	e.job.Direction = sync.TwoWay
	e.job.DefaultOwner = sync.Destination
	if _, err := e.src.Create("Opportunity", map[string]any{"Name": "D", "Legacy_Id__c": "L-9"}); err != nil {
		t.Fatal(err)
	}
	// sourceRef cannot be written in Salesforce, so the source owns it despite the default owner.
	if c := e.run(t).Counters; c.Created != 1 {
		t.Fatalf("first run: %+v, want 1 created", c)
	}
	for _, rec := range e.dst.Snapshot("deals") {
		if rec["sf_id"] != "L-9" {
			t.Errorf("sf_id = %v, want L-9", rec["sf_id"])
		}
	}
	e.settle(t, 3)
	e.job.Owners = map[string]sync.Owner{"sourceRef": sync.Destination}
	if _, err := e.engine.Run(t.Context(), e.job, nil); err == nil {
		t.Error("owning a field by the side whose counterpart cannot write it: no error")
	}
}
