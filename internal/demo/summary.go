package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// JobResult is one SyncJob at the end of the run.
type JobResult struct {
	Name, Flow    string
	Ready, Synced string // condition statuses: True, False or -
	// FirstSync is the job's totals when its first sync finished; nil when none did.
	FirstSync *crmv1.RecordCounters
	// FirstSyncFailed is status.failedRecords after the first sync; ExpectedFailures the records that
	// are invalid on purpose.
	FirstSyncFailed, ExpectedFailures int64
	Totals                            crmv1.RecordCounters
	FailedRecords                     int64
	// Message is the Ready condition's message when the job is not Ready.
	Message string
	// FirstSyncErrors are the job's status.recentErrors after its first sync: why records failed.
	FirstSyncErrors []string
}

// ConnectionResult is one CRMConnection at the end of the run.
type ConnectionResult struct {
	Name, Provider, Account, Ready string
	BudgetUsed, BudgetLimit        int64
	TokenExpiresAt                 time.Time
	Message                        string
}

// summarize collects the result. A run is failed when a SyncJob never finished a sync, more records
// failed than the ones invalid on purpose, a connection is not Ready, a check failed or did not finish,
// or the two sides do not hold what the seeded data says they must.
func (d *demo) summarize(snap *snapshot) *Summary {
	s := &Summary{Expected: d.exp, Elapsed: time.Since(d.started).Round(time.Second)}
	if snap == nil {
		s.Problems = append(s.Problems, "the demo's objects could not be read from the API server")
		return s
	}
	var lastFirst time.Duration
	for _, name := range d.manifests.names("SyncJob") {
		r := JobResult{Name: name, ExpectedFailures: d.expectedFailures(name), Ready: "-", Synced: "-"}
		if j := snap.job(name); j != nil {
			r.Flow = flow(j)
			r.Ready = conditionStatus(j.Status.Conditions, crmv1.ConditionReady)
			r.Synced = conditionStatus(j.Status.Conditions, crmv1.ConditionSynced)
			if j.Status.Totals != nil {
				r.Totals = *j.Status.Totals
			}
			r.FailedRecords = j.Status.FailedRecords
			if r.Ready != "True" {
				reason, msg := conditionReason(j.Status.Conditions, crmv1.ConditionReady)
				r.Message = strings.TrimSpace(reason + ": " + msg)
			}
		}
		if f := d.watch.first[name]; f != nil {
			t := f.totals
			r.FirstSync, r.FirstSyncFailed, r.FirstSyncErrors = &t, f.failed, f.errors
			lastFirst = max(lastFirst, f.after)
			if f.failed > r.ExpectedFailures {
				example := ""
				if len(r.FirstSyncErrors) > 0 {
					example = "; for example " + r.FirstSyncErrors[0]
				}
				s.Problems = append(s.Problems, fmt.Sprintf("SyncJob %s: %d records failed in its first sync, %d were expected to%s",
					name, f.failed, r.ExpectedFailures, example))
			}
		} else {
			s.Problems = append(s.Problems, fmt.Sprintf("SyncJob %s did not finish a sync (Ready=%s %s)", name, r.Ready, r.Message))
		}
		s.Jobs = append(s.Jobs, r)
	}
	if len(d.watch.first) == len(s.Jobs) {
		s.FirstSync = lastFirst
	}
	for _, name := range d.manifests.names("CRMConnection") {
		r := ConnectionResult{Name: name, Ready: "-"}
		if c := snap.conn(name); c != nil {
			r.Provider, r.Account = string(c.Spec.Provider), account(c)
			r.Ready = conditionStatus(c.Status.Conditions, crmv1.ConditionReady)
			if rl := c.Status.RateLimit; rl != nil {
				r.BudgetUsed, r.BudgetLimit = rl.Used, rl.Limit
			}
			if c.Status.TokenExpiresAt != nil {
				r.TokenExpiresAt = c.Status.TokenExpiresAt.Time
			}
			if r.Ready != "True" {
				reason, msg := conditionReason(c.Status.Conditions, crmv1.ConditionReady)
				r.Message = strings.TrimSpace(reason + ": " + msg)
			}
		}
		if r.Ready != "True" {
			s.Problems = append(s.Problems, fmt.Sprintf("CRMConnection %s is not Ready (%s)", name, r.Message))
		}
		s.Connections = append(s.Connections, r)
	}
	for _, c := range d.watch.checks {
		s.Checks = append(s.Checks, c.Check)
		switch {
		case !c.done:
			s.Problems = append(s.Problems, fmt.Sprintf("check %q did not finish", c.Name))
		case !c.Passed:
			s.Problems = append(s.Problems, c.Line)
		}
	}
	s.Final = d.holdings()
	if d.opts.Once && len(d.watch.first) == len(s.Jobs) {
		want := Holdings{HubSpotContacts: d.exp.HubSpotContacts, AppContacts: d.exp.AppContacts, HubSpotDeals: d.exp.HubSpotDeals}
		if s.Final != want {
			s.Problems = append(s.Problems, fmt.Sprintf("the two sides do not hold what the seeded data says: HubSpot has %d contacts and %d deals, the app database %d contacts; expected %d, %d and %d",
				s.Final.HubSpotContacts, s.Final.HubSpotDeals, s.Final.AppContacts, want.HubSpotContacts, want.HubSpotDeals, want.AppContacts))
		}
	}
	if d.opts.Once && !d.watch.finished() {
		why := "the --timeout passed"
		switch {
		case d.interrupted:
			why = "interrupted"
		case len(d.watch.stalled) > 0:
			why = "an object is Stalled: it needs a person to fix it"
		}
		s.Problems = append(s.Problems, fmt.Sprintf("stopped after %s, before the first syncs and checks were done: %s", s.Elapsed, why))
	}
	return s
}

// holdings counts what each side holds now.
func (d *demo) holdings() Holdings {
	var h Holdings
	if recs, err := d.hub.Records("contacts"); err == nil {
		for _, r := range recs {
			if !r.Archived {
				h.HubSpotContacts++
			}
		}
	}
	if recs, err := d.hub.Records("deals"); err == nil {
		for _, r := range recs {
			if !r.Archived {
				h.HubSpotDeals++
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.AppContacts, _ = d.app.count(ctx)
	return h
}

// printSummary prints the result of a --once run.
func (d *demo) printSummary(s *Summary) {
	d.say("")
	if s.FirstSync > 0 {
		d.say("Summary after %s; every SyncJob finished its first sync within %s of being applied:", short(s.Elapsed), short(s.FirstSync))
	} else {
		d.say("Summary after %s:", short(s.Elapsed))
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, j := range s.Jobs {
		if j.FirstSync == nil {
			fmt.Fprintf(tw, "  %s\t%s\tno sync finished: Ready=%s %s\n", j.Name, j.Flow, j.Ready, oneLine(j.Message, 120))
			continue
		}
		t := j.FirstSync
		fmt.Fprintf(tw, "  %s\t%s\tread %d\tcreated %d\tupdated %d\tfailed %d (%d on purpose)\n",
			j.Name, j.Flow, t.Read, t.Created, t.Updated, j.FirstSyncFailed, j.ExpectedFailures)
	}
	tw.Flush()
	for _, j := range s.Jobs {
		for _, e := range j.FirstSyncErrors {
			fmt.Fprintf(&b, "    %s\n", oneLine(e, 150))
		}
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range s.Connections {
		ready := "Ready"
		if c.Ready != "True" {
			ready = "NOT Ready: " + oneLine(c.Message, 80)
		}
		token := ""
		if !c.TokenExpiresAt.IsZero() {
			token = ", token valid until " + clock(c.TokenExpiresAt)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d of %d calls today%s\n", c.Name, c.Account, ready, c.BudgetUsed, c.BudgetLimit, token)
	}
	tw.Flush()
	fmt.Fprint(d.out, b.String())
	held := "as expected"
	if want := (Holdings{HubSpotContacts: s.Expected.HubSpotContacts, AppContacts: s.Expected.AppContacts, HubSpotDeals: s.Expected.HubSpotDeals}); s.Final != want {
		held = fmt.Sprintf("expected %d, %d and %d", want.HubSpotContacts, want.HubSpotDeals, want.AppContacts)
	}
	d.say("  data: HubSpot holds %d contacts and %d deals, the app database %d contacts, %s",
		s.Final.HubSpotContacts, s.Final.HubSpotDeals, s.Final.AppContacts, held)
	passed := 0
	for _, c := range s.Checks {
		if c.Passed {
			passed++
		}
	}
	d.say("  checks: %d of %d passed", passed, len(s.Checks))
	if s.OK() {
		d.say("Result: OK. The only failed records are the ones invalid on purpose; they wait in the retry queue.")
		return
	}
	d.say("Result: FAILED")
	for _, p := range s.Problems {
		d.say("  - %s", p)
	}
	if d.opts.Keep || d.opts.WorkDir != "" {
		d.say("The manager's log is %s.", filepath.Join(d.work, "manager.log"))
	} else {
		d.say("Rerun with --keep to keep the work directory with the manager's log.")
	}
}
