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
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
	sfemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

// dealStage is how the sales team's Salesforce stages map to the HubSpot portal's deal stages (internal
// values): the portal has no stage for Value Proposition, Perception Analysis or Negotiation/Review. The
// Salesforce mapping names every stage of the org, or the job would stall on the unmapped ones.
var dealStage = []struct {
	canonical, salesforce, hubspot string
}{
	{"prospecting", "Prospecting", "appointmentscheduled"},
	{"qualification", "Qualification", "qualifiedtobuy"},
	{"needsAnalysis", "Needs Analysis", "presentationscheduled"},
	{"decisionMakers", "Id. Decision Makers", "decisionmakerboughtin"},
	{"proposal", "Proposal/Price Quote", "contractsent"},
	{"closedWon", "Closed Won", "closedwon"},
	{"closedLost", "Closed Lost", "closedlost"},
	{"valueProposition", "Value Proposition", ""},
	{"perceptionAnalysis", "Perception Analysis", ""},
	{"negotiation", "Negotiation/Review", ""},
}

// regions are the options of the custom region field on both sides: Salesforce's Region__c picklist and
// the HubSpot portal's sales_region property.
var regions = []struct{ canonical, salesforce, hubspot string }{
	{"emea", "EMEA", "emea"}, {"americas", "Americas", "americas"}, {"apac", "APAC", "apac"},
}

func dealMappings() (sf, hs crmv1.FieldMappingSpec) {
	sfStages, hsStages := map[string]crmv1.RemoteValue{}, map[string]crmv1.RemoteValue{}
	for _, s := range dealStage {
		sfStages[s.canonical] = crmv1.RemoteValue(s.salesforce)
		if s.hubspot != "" {
			hsStages[s.canonical] = crmv1.RemoteValue(s.hubspot)
		}
	}
	sfRegions, hsRegions := map[string]crmv1.RemoteValue{}, map[string]crmv1.RemoteValue{}
	for _, r := range regions {
		sfRegions[r.canonical], hsRegions[r.canonical] = crmv1.RemoteValue(r.salesforce), crmv1.RemoteValue(r.hubspot)
	}
	// Salesforce opportunities field by field: the owner is left out, Salesforce users are not HubSpot
	// owners.
	sf = crmv1.FieldMappingSpec{Provider: crmv1.ProviderSalesforce, Object: crmv1.ObjectDeals, InheritDefaults: new(bool),
		Fields: []crmv1.FieldMappingField{
			{Name: "name", RemoteName: "Name", Type: crmv1.FieldString, Required: true},
			{Name: "amount", RemoteName: "Amount", Type: crmv1.FieldCurrency},
			{Name: "closeDate", RemoteName: "CloseDate", Type: crmv1.FieldDate, Required: true},
			{Name: "stage", RemoteName: "StageName", Type: crmv1.FieldEnum, Required: true, Values: sfStages},
			{Name: "region", RemoteName: "Region__c", Type: crmv1.FieldEnum, Values: sfRegions},
			{Name: "forecastScore", RemoteName: "Forecast_Score__c", Type: crmv1.FieldNumber},
		}}
	// HubSpot deals: the built-in mapping, the portal's stages and its two custom properties.
	hs = crmv1.FieldMappingSpec{Provider: crmv1.ProviderHubSpot, Object: crmv1.ObjectDeals,
		Fields: []crmv1.FieldMappingField{
			{Name: "stage", Values: hsStages},
			{Name: "region", RemoteName: "sales_region", Type: crmv1.FieldEnum, Values: hsRegions},
			{Name: "forecastScore", RemoteName: "forecast_score", Type: crmv1.FieldNumber},
		}}
	return sf, hs
}

// opportunity is what the test keeps of a Salesforce opportunity: its wire values.
type opportunity struct {
	id       string
	name     string
	stage    int // index in dealStage
	region   int // index in regions
	amount   float64
	close    string
	forecast float64
}

func (o opportunity) fields() map[string]any {
	return map[string]any{
		"Name": o.name, "StageName": dealStage[o.stage].salesforce, "Region__c": regions[o.region].salesforce,
		"Amount": o.amount, "CloseDate": o.close, "Forecast_Score__c": o.forecast,
	}
}

// TestSalesforceDealsToHubSpotOneWay mirrors Salesforce opportunities into HubSpot deals: the stage through
// the FieldMappings' value maps, a custom picklist and a custom number into the portal's custom
// properties, checked field by field. An opportunity in a stage the portal lacks fails alone, is reported
// in status and events, and is created once its stage is fixed in Salesforce.
func TestSalesforceDealsToHubSpotOneWay(t *testing.T) {
	sf := newSalesforce(t, sfemu.Options{CustomFields: map[string][]sfemu.Field{
		"Opportunity": {
			{Name: "Region__c", Label: "Region", Type: "picklist", Picklist: []string{"EMEA", "Americas", "APAC"}, Restricted: true},
			{Name: "Forecast_Score__c", Label: "Forecast Score", Type: "double"},
		},
	}})
	h := newHubSpot(t, hsemu.Options{CustomProperties: []hsemu.CustomProperty{
		{Object: "deals", Name: "sales_region", Label: "Sales region", Type: hsemu.TypeEnumeration, FieldType: "select",
			Options: []hsemu.Option{{Label: "EMEA", Value: "emea"}, {Label: "Americas", Value: "americas"}, {Label: "APAC", Value: "apac"}}},
		{Object: "deals", Name: "forecast_score", Label: "Forecast score", Type: hsemu.TypeNumber},
	}})

	e := newEnv(t) // after the endpoints: its manager stops before they go

	opps := make([]opportunity, 0, 29)
	for i := range 28 {
		opps = append(opps, opportunity{
			name: fmt.Sprintf("Renewal %02d Globex", i), stage: i % 7, region: i % 3,
			amount: float64(1000*(i+1)) + 0.5, close: time.Date(2027, time.Month(1+i%12), 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly),
			forecast: float64(i) * 2.25,
		})
	}
	// Its stage has no HubSpot stage: it must fail alone, naming the value.
	opps = append(opps, opportunity{name: "Expansion Initech", stage: 7, region: 1, amount: 99_000, close: "2027-06-30", forecast: 7.5})
	const invalid = 28
	for i := range opps {
		id, err := sf.emu.Create("Opportunity", opps[i].fields())
		if err != nil {
			t.Fatalf("create opportunity %s: %v", opps[i].name, err)
		}
		opps[i].id = id
	}

	sfConn, sfCreds := sf.oauthConnection()
	e.createConnection("salesforce", sfConn, sfCreds)
	hsConn, hsCreds := h.oauthConnection()
	e.createConnection("hubspot", hsConn, hsCreds)
	sfMap, hsMap := dealMappings()
	e.createMapping("salesforce-deals", sfMap)
	e.createMapping("hubspot-deals", hsMap)
	job := e.createJob("deals", crmv1.SyncJobSpec{
		Object:      crmv1.ObjectDeals,
		Source:      crmv1.Endpoint{ConnectionRef: &crmv1.LocalObjectReference{Name: "salesforce"}, FieldMappingRef: &crmv1.LocalObjectReference{Name: "salesforce-deals"}},
		Destination: crmv1.Endpoint{ConnectionRef: &crmv1.LocalObjectReference{Name: "hubspot"}, FieldMappingRef: &crmv1.LocalObjectReference{Name: "hubspot-deals"}},
		Direction:   crmv1.DirectionOneWay,
		Match:       crmv1.MatchSpec{Field: "name"},
		Schedule:    crmv1.ScheduleSpec{Interval: &metav1.Duration{Duration: time.Hour}, Lookback: &metav1.Duration{Duration: time.Second}},
		Deletion:    crmv1.DeletionSpec{Policy: crmv1.DeletionArchive},
	})

	// The invalid opportunity failed alone: the job is Ready, not Synced, and says why.
	expectCondition(t, job, crmv1.ConditionReady, metav1.ConditionTrue, crmv1.ReasonSucceeded)
	expectCondition(t, job, crmv1.ConditionSynced, metav1.ConditionFalse, crmv1.ReasonRecordsFailed)
	if c := job.Status.LastRun.RecordCounters; c.Created != invalid || c.Failed != 1 || c.Updated != 0 || c.Deleted != 0 {
		t.Fatalf("first run: want %d deals created and 1 failed, got %+v; %s", invalid, c, describeJob(job))
	}
	if job.Status.FailedRecords != 1 || len(job.Status.RecentErrors) != 1 {
		t.Fatalf("first run: want the invalid opportunity as the one failed record with its error; %s", describeJob(job))
	}
	if msg := job.Status.RecentErrors[0]; !strings.Contains(msg, opps[invalid].id) || !strings.Contains(msg, "valueProposition") {
		t.Fatalf("the recent error must name the opportunity %s and the unmapped stage valueProposition, got %q", opps[invalid].id, msg)
	}
	e.expectEvents("deals", "SyncStarted", crmv1.ReasonRecordsFailed)
	expectDeals(t, h, opps[:invalid])

	// Sales moves deals along in Salesforce, and gives the invalid one a stage the portal has. Salesforce
	// stamps modifications in whole seconds, and the engine takes a change stamped no later than a record's
	// failure for the version that failed, which waits for its retry backoff: a person fixes a record
	// seconds after its error shows, so the edits wait for the second after the run to begin.
	finished := job.Status.LastRun.Finished.Time
	poll(t, 5*time.Second, "the second after the first run", func() error {
		if now := time.Now(); now.Before(finished.Add(time.Second)) {
			return fmt.Errorf("now is %s, the run finished at %s", now.Format(time.StampMilli), finished.Format(time.Stamp))
		}
		return nil
	})
	edits := []struct {
		reason string
		i      int
		edit   func(o *opportunity)
	}{
		{reason: "won", i: 3, edit: func(o *opportunity) { o.stage = 5 }},
		{reason: "lost", i: 4, edit: func(o *opportunity) { o.stage = 6 }},
		{reason: "a bigger deal", i: 5, edit: func(o *opportunity) { o.amount = 123_456.78 }},
		{reason: "moved to another region", i: 6, edit: func(o *opportunity) { o.region = (o.region + 1) % 3 }},
		{reason: "a new forecast and close date", i: 7, edit: func(o *opportunity) { o.forecast, o.close = 99.5, "2028-02-29" }},
		{reason: "a stage HubSpot has", i: invalid, edit: func(o *opportunity) { o.stage = 4 }},
	}
	for _, ed := range edits {
		ed.edit(&opps[ed.i])
		if err := sf.emu.Update("Opportunity", opps[ed.i].id, opps[ed.i].fields()); err != nil {
			t.Fatalf("edit opportunity %s (%s): %v", opps[ed.i].name, ed.reason, err)
		}
	}
	job = e.runSync("deals")
	expectCondition(t, job, crmv1.ConditionSynced, metav1.ConditionTrue, crmv1.ReasonSucceeded)
	if c := job.Status.LastRun.RecordCounters; c.Created != 1 || c.Updated != int64(len(edits)-1) || c.Failed != 0 {
		t.Fatalf("second run: want the fixed opportunity created and %d deals updated, got %+v", len(edits)-1, c)
	}
	if job.Status.FailedRecords != 0 {
		t.Fatalf("second run: the fixed record must leave the retry queue; %s", describeJob(job))
	}
	e.expectEvents("deals", "SyncSucceeded")
	expectDeals(t, h, opps)
	if want := int64(invalid + 1 + len(edits) - 1); job.Status.Totals.Created+job.Status.Totals.Updated != want {
		t.Fatalf("totals: want %d writes over both runs, got %+v", want, *job.Status.Totals)
	}
}

// expectDeals checks every HubSpot deal against the opportunities, field by field: one deal per
// opportunity and no other.
func expectDeals(t *testing.T, h *hubspot, opps []opportunity) {
	t.Helper()
	deals := h.liveRecords(t, "deals")
	byName := map[string]hsemu.Record{}
	var problems []string
	for _, d := range deals {
		name := d.Properties["dealname"]
		if _, dup := byName[name]; dup {
			problems = append(problems, "two deals named "+name)
		}
		byName[name] = d
	}
	if len(deals) != len(opps) {
		problems = append(problems, fmt.Sprintf("HubSpot has %d deals, want %d", len(deals), len(opps)))
	}
	for _, o := range opps {
		d, ok := byName[o.name]
		if !ok {
			problems = append(problems, "no deal for opportunity "+o.name)
			continue
		}
		p := d.Properties
		check := func(prop, got, want string) {
			if got != want {
				problems = append(problems, fmt.Sprintf("deal %s (%s): %s is %q, want %q", d.ID, o.name, prop, got, want))
			}
		}
		check("dealstage", p["dealstage"], dealStage[o.stage].hubspot)
		check("sales_region", p["sales_region"], regions[o.region].hubspot)
		check("amount", number(p["amount"]), number(strconv.FormatFloat(o.amount, 'f', -1, 64)))
		check("forecast_score", number(p["forecast_score"]), number(strconv.FormatFloat(o.forecast, 'f', -1, 64)))
		check("closedate", day(p["closedate"]), o.close)
	}
	if len(problems) > 0 {
		t.Fatalf("HubSpot deals do not mirror the opportunities:\n%s", strings.Join(problems, "\n"))
	}
}

// number normalises a decimal for comparison: 1000.50 and 1000.5 are equal.
func number(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "not a number: " + s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// day reads a HubSpot datetime as the UTC date it falls on.
func day(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "not a datetime: " + s
	}
	return t.UTC().Format(time.DateOnly)
}
