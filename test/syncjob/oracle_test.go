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
	"fmt"
	"sort"
	"strings"
	"testing"

	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

// side is one end of a contacts job in the model: the CRM (the job's source) or the application's table
// (its destination).
type side int

const (
	crmSide side = iota
	dbSide
)

func (s side) String() string { return [...]string{"HubSpot", "PostgreSQL"}[s] }

// lifecycleToCanonical is HubSpot's lifecycle stage (internal value) as a canonical value, written down
// here from HubSpot's documentation rather than taken from the mapping under test.
var lifecycleToCanonical = map[string]string{
	"subscriber": "subscriber", "lead": "lead", "marketingqualifiedlead": "marketingQualifiedLead",
	"salesqualifiedlead": "salesQualifiedLead", "opportunity": "opportunity", "customer": "customer",
	"evangelist": "evangelist", "other": "other",
}

func lifecycleToHubSpot(canonical string) string {
	for hs, c := range lifecycleToCanonical {
		if c == canonical {
			return hs
		}
	}
	panic("no HubSpot lifecycle stage for " + canonical)
}

// hubspotContactProps are HubSpot's names of the synced contact fields.
var hubspotContactProps = map[string]string{
	"email": "email", "firstName": "firstname", "lastName": "lastname", "phone": "phone", "mobilePhone": "mobilephone",
	"jobTitle": "jobtitle", "company": "company", "companyId": "associatedcompanyid", "lifecycleStage": "lifecyclestage",
	"ownerId": "hubspot_owner_id", "street": "address", "city": "city", "state": "state", "postalCode": "zip",
	"country": "country",
}

// fromHubSpot reads a HubSpot contact as canonical contact fields.
func fromHubSpot(r hsemu.Record) contact {
	c := contact{}
	for f, p := range hubspotContactProps {
		v := r.Properties[p]
		if f == "lifecycleStage" && v != "" {
			if cv, ok := lifecycleToCanonical[v]; ok {
				v = cv
			} else {
				v = "unknown HubSpot stage " + v
			}
		}
		c[f] = v
	}
	return c
}

// toHubSpot writes canonical contact fields as HubSpot properties.
func toHubSpot(c contact) map[string]string {
	out := map[string]string{}
	for f, v := range c {
		if f == "lifecycleStage" && v != "" {
			v = lifecycleToHubSpot(v)
		}
		out[hubspotContactProps[f]] = v
	}
	return out
}

// model is the oracle of a TwoWay contacts job: for every person, the value each synced field must have
// on both sides. It knows only the job's rules as a user reads them: a record seen on one side is copied
// whole to the other, records with the same email (ignoring case) are one person, and for each field the
// owner's value wins, whatever the other side did.
type model struct {
	owners map[string]side
	people []contact
	// ownerEdits counts the edits the model kept: each must be on both sides after the next run.
	ownerEdits int
}

func (m *model) owner(field string) side {
	if s, ok := m.owners[field]; ok {
		return s
	}
	return crmSide // the job's defaultOwner: Source
}

// add records a person seen on one side only: the other side gets a copy.
func (m *model) add(c contact) int {
	want := contact{}
	for _, f := range contactFields {
		want[f] = c[f]
	}
	m.people = append(m.people, want)
	return len(m.people) - 1
}

// addPair records a person that both sides hold: each field takes its owner's value, empty or not.
func (m *model) addPair(crm, db contact) int {
	want := contact{}
	for _, f := range contactFields {
		if m.owner(f) == crmSide {
			want[f] = crm[f]
		} else {
			want[f] = db[f]
		}
	}
	m.people = append(m.people, want)
	return len(m.people) - 1
}

// edit records that side s set field of person i to value: only the owner's edits stick.
func (m *model) edit(i int, s side, field, value string) {
	if m.owner(field) == s {
		m.people[i][field] = value
		m.ownerEdits++
	}
}

func key(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// view is one side's records, indexed by match key.
type view struct {
	side  side
	byKey map[string]string // lower-cased email -> record id
	recs  map[string]contact
}

func newView(s side, recs map[string]contact) (*view, []string) {
	v := &view{side: s, byKey: map[string]string{}, recs: recs}
	var problems []string
	ids := make([]string, 0, len(recs))
	for id := range recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := key(recs[id]["email"])
		if k == "" {
			problems = append(problems, fmt.Sprintf("%s record %s has no email: %v", s, id, recs[id]))
			continue
		}
		if other, dup := v.byKey[k]; dup {
			problems = append(problems, fmt.Sprintf("duplicate on %s: records %s and %s both have email %s", s, other, id, k))
			continue
		}
		v.byKey[k] = id
	}
	return v, problems
}

func hubspotView(t *testing.T, h *hubspot) (*view, []string) {
	t.Helper()
	recs := map[string]contact{}
	for _, r := range h.liveRecords(t, "contacts") {
		recs[r.ID] = fromHubSpot(r)
	}
	return newView(crmSide, recs)
}

func tableView(t *testing.T, a *app, table string) (*view, []string) {
	t.Helper()
	recs := map[string]contact{}
	for _, r := range a.liveContacts(table) {
		recs[r.id] = r.fields
	}
	return newView(dbSide, recs)
}

// id returns the id of person i on a side.
func (v *view) id(t *testing.T, m *model, i int) string {
	t.Helper()
	id, ok := v.byKey[key(m.people[i]["email"])]
	if !ok {
		t.Fatalf("%s has no record for person %d (%s)", v.side, i, m.people[i]["email"])
	}
	return id
}

// expectConverged compares both sides with the model and fails the test with the differences: records
// the model does not know (duplicates or strays), people missing on a side, and every field whose value
// is not the owner's (a lost update or an overwritten one). It returns both views for the next edits.
func expectConverged(t *testing.T, label string, m *model, h *hubspot, a *app, table string) (crm, db *view) {
	t.Helper()
	crm, p1 := hubspotView(t, h)
	db, p2 := tableView(t, a, table)
	problems := append(p1, p2...)
	lost := 0
	for _, v := range []*view{crm, db} {
		if len(v.recs) != len(m.people) {
			problems = append(problems, fmt.Sprintf("%s holds %d records, want %d", v.side, len(v.recs), len(m.people)))
		}
		for i, want := range m.people {
			id, ok := v.byKey[key(want["email"])]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s has no record for person %d (%s)", v.side, i, want["email"]))
				continue
			}
			got := v.recs[id]
			for _, f := range contactFields {
				if got[f] != want[f] {
					lost++
					problems = append(problems, fmt.Sprintf("%s record %s (person %d): %s is %q, want %q (owned by %s)",
						v.side, id, i, f, got[f], want[f], m.owner(f)))
				}
			}
		}
	}
	if len(problems) > 0 {
		shown := problems[:min(len(problems), 25)]
		t.Fatalf("%s: both sides must equal the model of %d people; %d problems (%d wrong fields), first %d:\n%s",
			label, len(m.people), len(problems), lost, len(shown), strings.Join(shown, "\n"))
	}
	return crm, db
}
