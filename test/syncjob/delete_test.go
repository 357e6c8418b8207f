/*
Copyright 2026 The crmsync Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package syncjob

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

// deleteEffect is what a policy does to the counterpart of a deleted record, and to their link.
type deleteEffect int

const (
	removed  deleteEffect = iota // the row is deleted / the contact archived; the link is forgotten
	archived                     // the row is soft-deleted (deleted_at); the link is forgotten
	ignored                      // the counterpart is left as it is; the link is kept
)

// TestDeletePolicies deletes records on each side of a TwoWay job, one policy per job: a contact archived
// in HubSpot's UI (CRM to SQL), and a row the application deletes and one it soft-deletes (SQL to CRM).
// The job creates its table itself. Each policy must have its effect on the other side and on the link,
// and leave everyone else alone.
func TestDeletePolicies(t *testing.T) {
	tests := []struct {
		reason string
		policy crmv1.DeletionPolicy
		// inTable is what happens to the row of a contact archived in HubSpot; inCRM to the contact of a
		// row the application deleted.
		inTable, inCRM deleteEffect
	}{
		{reason: "Propagate deletes the row and archives the contact (HubSpot's delete); links are forgotten",
			policy: crmv1.DeletionPropagate, inTable: removed, inCRM: removed},
		{reason: "Archive soft-deletes the row through deleted_at and archives the contact; links are forgotten",
			policy: crmv1.DeletionArchive, inTable: archived, inCRM: removed},
		{reason: "Ignore leaves both counterparts alone, keeps the links, and syncs nothing more through them",
			policy: crmv1.DeletionIgnore, inTable: ignored, inCRM: ignored},
	}
	for _, tc := range tests {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Log(tc.reason)
			testDeletePolicy(t, tc.policy, tc.inTable, tc.inCRM)
		})
	}
}

func testDeletePolicy(t *testing.T, policy crmv1.DeletionPolicy, inTable, inCRM deleteEffect) {
	h := newHubSpot(t, hsemu.Options{})
	a := newApp(t)
	e := newEnv(t) // after the endpoints: its manager stops before they go
	rng := rand.New(rand.NewPCG(3, uint64(len(policy))))
	const table = "app_contacts"
	jobKey := e.ns + "/contacts"

	// Four people in HubSpot; the job creates the table and copies them there. Then the application
	// adds four people of its own.
	for k := range 4 {
		if _, err := h.emu.Create("contacts", toHubSpot(appContact(rng, fmt.Sprintf("crm.%d@example.com", k)))); err != nil {
			t.Fatalf("create a HubSpot contact: %v", err)
		}
	}
	connectContacts(e, h, a, false)
	e.createJob("contacts", contactsJob(table, policy))
	if !a.tableExists(table) {
		t.Fatalf("createTable: the job did not create table %s", table)
	}
	var rows []contact
	for k := range 4 {
		rows = append(rows, appContact(rng, fmt.Sprintf("app.%d@example.org", k)))
	}
	a.insertContacts(table, rows)
	job := e.runSync("contacts")
	if c := job.Status.LastRun.RecordCounters; c.Created != 4 || c.Failed != 0 {
		t.Fatalf("the application's people must be copied to HubSpot, got %+v", c)
	}

	// Who is who on each side, and their links.
	crmID, dbID := map[string]string{}, map[string]string{}
	for _, r := range h.liveRecords(t, "contacts") {
		crmID[key(r.Properties["email"])] = r.ID
	}
	for _, r := range a.liveContacts(table) {
		dbID[key(r.fields["email"])] = r.id
	}
	if len(crmID) != 8 || len(dbID) != 8 {
		t.Fatalf("want the 8 people on both sides, got %d in HubSpot and %d in the table", len(crmID), len(dbID))
	}
	links := func() map[string]bool {
		t.Helper()
		ids := make([]string, 0, len(crmID))
		for _, id := range crmID {
			ids = append(ids, id)
		}
		found, err := e.store().LookupBySource(context.Background(), jobKey, ids)
		if err != nil {
			t.Fatalf("read links: %v", err)
		}
		out := map[string]bool{}
		for email, id := range crmID {
			if l, ok := found[id]; ok {
				if l.DestID != dbID[email] {
					t.Fatalf("the link of %s pairs HubSpot %s with row %s, want row %s", email, id, l.DestID, dbID[email])
				}
				out[email] = true
			}
		}
		return out
	}
	if got := links(); len(got) != 8 {
		t.Fatalf("want a link for each of the 8 people, got %d", len(got))
	}
	tableBefore := a.contacts(table)

	// A marketer deletes one contact in HubSpot (CRM to SQL); the application deletes one row and
	// soft-deletes another (SQL to CRM).
	crmDeleted, dbDeleted, dbSoftDeleted := "crm.1@example.com", "app.1@example.org", "crm.2@example.com"
	if err := h.emu.Archive("contacts", crmID[crmDeleted]); err != nil {
		t.Fatalf("archive a HubSpot contact: %v", err)
	}
	a.exec("DELETE FROM "+table+" WHERE id = $1", dbID[dbDeleted])
	a.exec("UPDATE "+table+" SET deleted_at = now() WHERE id = $1", dbID[dbSoftDeleted])
	job = e.runSync("contacts")
	wantDeleted := int64(3)
	if policy == crmv1.DeletionIgnore {
		wantDeleted = 0
	}
	if c := job.Status.LastRun.RecordCounters; c.Deleted != wantDeleted || c.Created != 0 || c.Failed != 0 {
		t.Fatalf("want %d counterparts deleted and nothing created or failed, got %+v", wantDeleted, c)
	}
	expectCondition(t, job, crmv1.ConditionSynced, metav1.ConditionTrue, crmv1.ReasonSucceeded)

	// CRM to SQL: the row of the archived contact.
	rowsAfter := a.contacts(table)
	row, present := rowsAfter[dbID[crmDeleted]]
	switch inTable {
	case removed:
		if present {
			t.Errorf("%s: the row of the contact archived in HubSpot must be deleted, it is still there", policy)
		}
	case archived:
		if !present || !row.deleted {
			t.Errorf("%s: the row of the contact archived in HubSpot must be kept with deleted_at set (present %t)", policy, present)
		}
	case ignored:
		if !present || row.deleted || fmt.Sprint(row.fields) != fmt.Sprint(tableBefore[row.id].fields) {
			t.Errorf("%s: the row of the contact archived in HubSpot must be left as it was (present %t, deleted %t)", policy, present, row.deleted)
		}
	}
	// SQL to CRM: the contacts of the deleted and the soft-deleted row.
	for _, email := range []string{dbDeleted, dbSoftDeleted} {
		rec, ok := h.emu.Record("contacts", crmID[email])
		if !ok {
			t.Fatalf("HubSpot lost contact %s entirely", crmID[email])
		}
		if want := inCRM == removed; rec.Archived != want {
			t.Errorf("%s: the contact of %s, whose row the application deleted: archived is %t, want %t", policy, email, rec.Archived, want)
		}
	}
	// The links of the three, and nobody else's.
	got := links()
	for email := range crmID {
		deleted := email == crmDeleted || email == dbDeleted || email == dbSoftDeleted
		if want := !deleted || policy == crmv1.DeletionIgnore; got[email] != want {
			t.Errorf("%s: link of %s: present %t, want %t", policy, email, got[email], want)
		}
	}
	// Everyone else is untouched on both sides.
	for email, id := range dbID {
		if email == crmDeleted || email == dbDeleted || email == dbSoftDeleted {
			continue
		}
		if r := rowsAfter[id]; r.deleted || fmt.Sprint(r.fields) != fmt.Sprint(tableBefore[id].fields) {
			t.Errorf("%s: the row of %s changed", policy, email)
		}
		if rec, _ := h.emu.Record("contacts", crmID[email]); rec.Archived {
			t.Errorf("%s: the contact of %s was archived", policy, email)
		}
	}
	if t.Failed() {
		return
	}

	// Later changes of the survivors go nowhere under Ignore (the link is marked), and nothing is ever
	// recreated under any policy: the application edits the phone (its field) of the row whose contact
	// was archived, and a marketer renames the contact whose row was deleted.
	writes := h.writes.Load()
	if inTable != removed {
		a.updateContact(table, dbID[crmDeleted], contact{"phone": "+44 20 7946 0000"})
	}
	if inCRM == ignored {
		if err := h.emu.Update("contacts", crmID[dbDeleted], map[string]string{"firstname": "Renamed"}); err != nil {
			t.Fatalf("edit a HubSpot contact: %v", err)
		}
	}
	sum := a.checksum(table)
	job = e.runSync("contacts")
	if c := job.Status.LastRun.RecordCounters; c.Created != 0 || c.Updated != 0 || c.Deleted != 0 || c.Failed != 0 {
		t.Fatalf("%s: changes of deleted records' survivors must write nothing, got %+v", policy, c)
	}
	if h.writes.Load() != writes {
		t.Fatalf("%s: a survivor's change was written to HubSpot", policy)
	}
	if a.checksum(table) != sum {
		t.Fatalf("%s: a survivor's change was written to the table", policy)
	}
	if n := len(h.liveRecords(t, "contacts")); n != map[bool]int{true: 7, false: 5}[inCRM == ignored] {
		t.Fatalf("%s: HubSpot holds %d live contacts", policy, n)
	}
}
