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
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

// TestCrashMidInitialSyncConverges stops the manager in the middle of a job's first sync: HubSpot
// performs a batch write whose answer never arrives, because the manager's context is cancelled while
// the call is open, as when the process is killed between a write and its bookkeeping. A new manager on
// the same state store must finish the sync with no duplicate on either side and both sides equal to
// the model, and a run after that must write nothing.
func TestCrashMidInitialSyncConverges(t *testing.T) {
	tests := []struct {
		reason  string
		crashAt int64 // the HubSpot write call of the run that crashes it
	}{
		{reason: "crash while the first batch updates the people both sides had: the table's copies of " +
			"HubSpot's people are written and linked, HubSpot's updates are half done", crashAt: 3},
		{reason: "crash while the application's people are created in HubSpot: a batch of creates is " +
			"performed but never acknowledged, so it has no links", crashAt: 7},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("write%d", tc.crashAt), func(t *testing.T) {
			t.Log(tc.reason)
			testCrash(t, tc.crashAt)
		})
	}
}

func testCrash(t *testing.T, crashAt int64) {
	const (
		perSide = 2000
		overlap = 400
	)
	h := newHubSpot(t, hsemu.Options{RandSeed: 3})
	a := newApp(t)
	e := newEnv(t) // after the endpoints: its manager stops before they go
	rng := rand.New(rand.NewPCG(5, 8))
	m := &model{owners: contactsOwners}

	if _, err := h.emu.Seed("contacts", perSide); err != nil {
		t.Fatalf("seed HubSpot: %v", err)
	}
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
	connectContacts(e, h, a, true)

	crashed := h.crashAfterWrite(crashAt, e.crash)
	started := time.Now()
	e.createJobNoWait("contacts", contactsJob("contacts", crmv1.DeletionIgnore))
	poll(t, 2*time.Minute, "the crash in the first run", func() error {
		if !crashed() {
			return fmt.Errorf("%d HubSpot write calls so far", h.writes.Load())
		}
		return nil
	})
	crashedAt := time.Since(started)
	e.stop()
	t.Logf("crashed %s into the run; the manager stopped %s later", crashedAt.Round(time.Millisecond), (time.Since(started) - crashedAt).Round(time.Millisecond))
	h.onWrite.Store(nil)

	// The run never finished: its progress is still in status, and nothing else of it.
	job := e.job("contacts")
	if p := job.Status.Progress; p == nil || p.EstimatedTotal == 0 {
		t.Fatalf("at the crash, status.progress must show the run in flight, got %+v", p)
	}
	if job.Status.LastSyncTime != nil || job.Status.Cursors != nil {
		t.Fatalf("the crashed run must not have recorded a result; %s", describeJob(job))
	}
	t.Logf("crashed at HubSpot write call %d with progress %+v", crashAt, *job.Status.Progress)
	crmBefore, _ := hubspotView(t, h)
	dbBefore, _ := tableView(t, a, "contacts")
	t.Logf("at the crash: %d HubSpot contacts, %d rows (of %d people)", len(crmBefore.recs), len(dbBefore.recs), len(m.people))

	// A new process, with the same state store, runs the job at once: it has never finished a run.
	e.start()
	restarted := time.Now()
	job = e.awaitFirstSync("contacts")
	t.Logf("the restarted manager completed the sync in %s: %+v", time.Since(restarted).Round(time.Millisecond), job.Status.LastRun.RecordCounters)
	expectCondition(t, job, crmv1.ConditionSynced, metav1.ConditionTrue, crmv1.ReasonSucceeded)
	if job.Status.Progress != nil || job.Status.FailedRecords != 0 {
		t.Fatalf("after the restart the sync must complete without failures or leftover progress; %s; progress %+v",
			describeJob(job), job.Status.Progress)
	}
	expectConverged(t, "after the restart", m, h, a, "contacts")

	writes, sum := h.writes.Load(), a.checksum("contacts")
	job = e.runSync("contacts")
	if c := job.Status.LastRun.RecordCounters; c.Created != 0 || c.Updated != 0 || c.Deleted != 0 || h.writes.Load() != writes || a.checksum("contacts") != sum {
		t.Fatalf("a run without changes after the recovery must write nothing, got %+v", c)
	}
}
