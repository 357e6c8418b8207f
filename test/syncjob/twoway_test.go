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
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

// contactsOwners is the ownership of a realistic contacts job: marketing owns the contact in HubSpot
// (names, email, lifecycle stage, address: the default owner, Source), the application owns the phone
// number and the job title, which its users edit in their profile.
var contactsOwners = map[string]side{"phone": dbSide, "jobTitle": dbSide}

// contactsJob is the spec of a TwoWay job between the HubSpot connection "hubspot" and the application's
// table, matching by email regardless of case. Runs are requested by the test: the interval is long.
func contactsJob(table string, policy crmv1.DeletionPolicy) crmv1.SyncJobSpec {
	return crmv1.SyncJobSpec{
		Object: crmv1.ObjectContacts,
		Source: crmv1.Endpoint{
			ConnectionRef:   &crmv1.LocalObjectReference{Name: "hubspot"},
			FieldMappingRef: &crmv1.LocalObjectReference{Name: "hubspot-contacts"},
		},
		Destination:  sqlEndpoint("app-db", table),
		Direction:    crmv1.DirectionTwoWay,
		DefaultOwner: crmv1.SideSource,
		Fields: []crmv1.FieldOwnership{
			{Name: "phone", Owner: crmv1.SideDestination},
			{Name: "jobTitle", Owner: crmv1.SideDestination},
		},
		Match: crmv1.MatchSpec{Field: "email", CaseInsensitive: ptr.To(true)},
		Schedule: crmv1.ScheduleSpec{
			Interval: &metav1.Duration{Duration: time.Hour},
			Lookback: &metav1.Duration{Duration: time.Second},
		},
		Deletion: crmv1.DeletionSpec{Policy: policy},
	}
}

// connectContacts creates the HubSpot connection and contacts mapping, and the Secret with the
// application database's DSN, as an operator would before creating the job.
func connectContacts(e *env, h *hubspot, a *app, oauth bool) {
	spec, creds := h.privateAppConnection()
	if oauth {
		spec, creds = h.oauthConnection()
	}
	e.createConnection("hubspot", spec, creds)
	e.createMapping("hubspot-contacts", crmv1.FieldMappingSpec{Provider: crmv1.ProviderHubSpot, Object: crmv1.ObjectContacts})
	e.createSecret("app-db", map[string]string{"dsn": a.dsn})
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"}
	towns      = []string{"Leeds", "Lyon", "Porto", "Graz", "Gdańsk", "Malmö", "Zürich", "Cork"}
	stages     = []string{"subscriber", "lead", "marketingQualifiedLead", "salesQualifiedLead", "opportunity", "customer", "evangelist", "other"}
)

func pick[T any](rng *rand.Rand, list []T) T { return list[rng.IntN(len(list))] }

// appContact is a contact as the application creates it: no owner, no company, a canonical stage.
func appContact(rng *rand.Rand, email string) contact {
	return contact{
		"email":          email,
		"firstName":      pick(rng, firstNames),
		"lastName":       pick(rng, lastNames),
		"phone":          fmt.Sprintf("+44 20 7946 %04d", rng.IntN(10000)),
		"jobTitle":       pick(rng, []string{"Developer", "Support lead", "Founder", "Accountant"}),
		"city":           pick(rng, towns),
		"country":        pick(rng, []string{"United Kingdom", "France", "Portugal", "Austria"}),
		"lifecycleStage": pick(rng, stages),
	}
}

// caseVariant spells an email differently, as another system may have stored it.
func caseVariant(email string, n int) string {
	local, domain, _ := strings.Cut(email, "@")
	switch n % 3 {
	case 0:
		return strings.ToUpper(local[:1]) + local[1:] + "@" + strings.ToUpper(domain[:1]) + domain[1:]
	case 1:
		return strings.ToUpper(email)
	default:
		return email
	}
}

// TestHubSpotContactsPostgresTwoWay syncs 5,000 HubSpot contacts and 5,000 rows of the application's
// PostgreSQL table, 1,000 of them the same people, through a real CRMConnection, FieldMapping and SyncJob.
// Then both sides are edited at random for ten rounds, a run after each, with the same fields edited on
// both sides now and then; after every run both sides must equal the model, in which each field's owner
// wins. A run with nothing to do must write nothing.
func TestHubSpotContactsPostgresTwoWay(t *testing.T) {
	const (
		perSide = 5000
		overlap = 1000
		rounds  = 10
	)
	h := newHubSpot(t, hsemu.Options{RandSeed: 7})
	a := newApp(t)
	e := newEnv(t) // after the endpoints: its manager stops before they go
	rng := rand.New(rand.NewPCG(7, 11))
	m := &model{owners: contactsOwners}

	// HubSpot's contacts, entered over time by marketing.
	if _, err := h.emu.Seed("contacts", perSide); err != nil {
		t.Fatalf("seed HubSpot: %v", err)
	}
	// The application's users: the first 1,000 are HubSpot contacts too, their emails spelled in other
	// cases on some, and with values of their own in every field.
	var rows []contact
	for i, r := range h.liveRecords(t, "contacts") {
		c := fromHubSpot(r)
		if i >= overlap {
			m.add(c)
			continue
		}
		db := appContact(rng, caseVariant(c["email"], i))
		rows = append(rows, db)
		m.addPair(c, db)
	}
	for i := range perSide - overlap {
		db := appContact(rng, fmt.Sprintf("app.user.%d@example.org", i))
		rows = append(rows, db)
		m.add(db)
	}
	a.createContactsTable("contacts")
	a.insertContacts("contacts", rows)

	connectContacts(e, h, a, false)
	started := time.Now()
	job := e.createJob("contacts", contactsJob("contacts", crmv1.DeletionIgnore))
	t.Logf("initial sync of %d HubSpot contacts and %d rows (%d people) took %s: %+v",
		perSide, perSide, len(m.people), time.Since(started).Round(time.Millisecond), job.Status.LastRun.RecordCounters)

	expectCondition(t, job, crmv1.ConditionReady, metav1.ConditionTrue, crmv1.ReasonSucceeded)
	expectCondition(t, job, crmv1.ConditionSynced, metav1.ConditionTrue, crmv1.ReasonSucceeded)
	run := job.Status.LastRun.RecordCounters
	if want := int64(2 * (perSide - overlap)); run.Created != want || run.Failed != 0 || run.Deleted != 0 || run.Read < 2*perSide {
		t.Fatalf("initial run: want %d created (each side's own people copied to the other), none failed or deleted, "+
			"at least %d read; got %+v", want, 2*perSide, run)
	}
	if job.Status.Totals == nil || *job.Status.Totals != run {
		t.Fatalf("after the first run the totals must equal its counters %+v, got %+v", run, job.Status.Totals)
	}
	if job.Status.FailedRecords != 0 || len(job.Status.RecentErrors) != 0 || job.Status.Progress != nil {
		t.Fatalf("initial run: want no failed records, errors or progress left; %s; progress %+v", describeJob(job), job.Status.Progress)
	}
	if job.Status.LastSuccessfulSyncTime == nil || job.Status.LastFullResyncTime == nil || job.Status.Cursors == nil ||
		job.Status.Cursors.Source == "" || job.Status.Cursors.Destination == "" {
		t.Fatalf("initial run: want sync times and both cursors in status, got %+v", job.Status)
	}
	e.expectEvents("contacts", "SyncStarted", "SyncSucceeded")
	crm, db := expectConverged(t, "after the initial sync", m, h, a, "contacts")

	editable := []string{"firstName", "lastName", "city", "lifecycleStage", "phone", "jobTitle", "email"}
	var conflicts int64
	for round := 1; round <= rounds; round++ {
		bothSides := 0
		for k, i := range rng.Perm(len(m.people))[:400] {
			field := editable[rng.IntN(len(editable)-1)]
			if k%40 == 0 {
				field = "email"
			}
			crmID, dbID := crm.id(t, m, i), db.id(t, m, i)
			switch {
			case k < 150:
				editCRM(t, h, m, crmID, i, field, editValue(field, crmSide, round, k))
			case k < 300:
				editDB(t, a, m, dbID, i, field, editValue(field, dbSide, round, k))
			default:
				// The same field on both sides in one round: the owner's edit must win.
				editCRM(t, h, m, crmID, i, field, editValue(field, crmSide, round, k))
				editDB(t, a, m, dbID, i, field, editValue(field, dbSide, round, k))
				bothSides++
			}
		}
		createPeople(t, h, a, m, rng, round)

		before := job.Status.Totals.Conflicts
		job = e.runSync("contacts")
		conflicts += job.Status.Totals.Conflicts - before
		if job.Status.LastRun.Failed != 0 {
			t.Fatalf("round %d: no record may fail; %s", round, describeJob(job))
		}
		if job.Status.LastRun.Conflicts < int64(bothSides/2) {
			t.Fatalf("round %d: %d records had a field edited on both sides, but only %d conflicts were counted",
				round, bothSides, job.Status.LastRun.Conflicts)
		}
		crm, db = expectConverged(t, fmt.Sprintf("after round %d", round), m, h, a, "contacts")
	}
	expectCondition(t, job, crmv1.ConditionSynced, metav1.ConditionTrue, crmv1.ReasonSucceeded)
	e.expectEvents("contacts", "ConflictsResolved")
	t.Logf("after %d rounds: %d people, %d owner edits all kept on both sides, %d conflicts resolved, totals %+v",
		rounds, len(m.people), m.ownerEdits, conflicts, *job.Status.Totals)

	// Nothing changed: a run reads the echoes of its own writes and writes nothing, on either side.
	writes, emuWrites, sum := h.writes.Load(), h.writeCalls(), a.checksum("contacts")
	job = e.runSync("contacts")
	if c := job.Status.LastRun.RecordCounters; c.Created != 0 || c.Updated != 0 || c.Deleted != 0 || c.Failed != 0 {
		t.Fatalf("a run without changes must write nothing, got %+v", c)
	}
	if got, emu := h.writes.Load(), h.writeCalls(); got != writes || emu != emuWrites {
		t.Fatalf("a run without changes made %d write calls to HubSpot (%d by the emulator's statistics)", got-writes, emu-emuWrites)
	}
	if got := a.checksum("contacts"); got != sum {
		t.Fatalf("a run without changes changed the application's table")
	}
	expectConverged(t, "after a run without changes", m, h, a, "contacts")
}

// editValue is a new value of field as side s writes it in a round.
func editValue(field string, s side, round, k int) string {
	tag := [...]string{"hs", "app"}[s]
	switch field {
	case "phone":
		return fmt.Sprintf("+1 %d 555 %02d%02d", 617+int(s), round, k%100)
	case "lifecycleStage":
		return stages[(round+k+int(s))%len(stages)]
	case "email":
		return fmt.Sprintf("%s.r%d.%d@example.net", tag, round, k)
	default:
		return fmt.Sprintf("%s-%s-r%d-%d", field, tag, round, k)
	}
}

// editCRM edits person i in HubSpot as a marketer in its UI would.
func editCRM(t *testing.T, h *hubspot, m *model, id string, i int, field, value string) {
	t.Helper()
	if err := h.emu.Update("contacts", id, toHubSpot(contact{field: value})); err != nil {
		t.Fatalf("edit HubSpot contact %s: %v", id, err)
	}
	m.edit(i, crmSide, field, value)
}

// editDB edits person i in the application's table with plain SQL.
func editDB(t *testing.T, a *app, m *model, id string, i int, field, value string) {
	t.Helper()
	a.updateContact("contacts", id, contact{field: value})
	m.edit(i, dbSide, field, value)
}

// createPeople adds people in a round: some in HubSpot only, some in the application only, and some in
// both at once, their emails in different cases.
func createPeople(t *testing.T, h *hubspot, a *app, m *model, rng *rand.Rand, round int) {
	t.Helper()
	var rows []contact
	for k := range 20 {
		c := appContact(rng, fmt.Sprintf("new.hs.r%d.%d@example.com", round, k))
		if _, err := h.emu.Create("contacts", toHubSpot(c)); err != nil {
			t.Fatalf("create a HubSpot contact: %v", err)
		}
		m.add(c)
		db := appContact(rng, fmt.Sprintf("new.app.r%d.%d@example.org", round, k))
		rows = append(rows, db)
		m.add(db)
	}
	for k := range 5 {
		email := fmt.Sprintf("both.r%d.%d@example.com", round, k)
		c := appContact(rng, caseVariant(email, k+1))
		delete(c, "country") // HubSpot owns the country and has none: the application's is cleared
		if _, err := h.emu.Create("contacts", toHubSpot(c)); err != nil {
			t.Fatalf("create a HubSpot contact: %v", err)
		}
		db := appContact(rng, email)
		rows = append(rows, db)
		m.addPair(c, db)
	}
	a.insertContacts("contacts", rows)
}
