package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// snapshot is the demo's objects as the API server reports them at one moment.
type snapshot struct {
	at    time.Time
	jobs  []crmv1.SyncJob
	conns []crmv1.CRMConnection
}

func (d *demo) observe(ctx context.Context) (*snapshot, error) {
	s := &snapshot{at: time.Now()}
	var jobs crmv1.SyncJobList
	if err := d.client.List(ctx, &jobs, client.InNamespace(d.manifests.namespace)); err != nil {
		return nil, err
	}
	var conns crmv1.CRMConnectionList
	if err := d.client.List(ctx, &conns, client.InNamespace(d.manifests.namespace)); err != nil {
		return nil, err
	}
	s.jobs, s.conns = jobs.Items, conns.Items
	return s, nil
}

func (s *snapshot) job(name string) *crmv1.SyncJob {
	for i := range s.jobs {
		if s.jobs[i].Name == name {
			return &s.jobs[i]
		}
	}
	return nil
}

func (s *snapshot) conn(name string) *crmv1.CRMConnection {
	for i := range s.conns {
		if s.conns[i].Name == name {
			return &s.conns[i]
		}
	}
	return nil
}

// The demo's objects, as config/samples/demo names them.
const (
	contactsJob = "hubspot-contacts-app"
	dealsJob    = "salesforce-deals-hubspot"
	hubspotConn = "hubspot"
)

// expectedFailures is how many records of each job are invalid on purpose.
func (d *demo) expectedFailures(job string) int64 {
	switch job {
	case contactsJob:
		return d.exp.ContactsFailed
	case dealsJob:
		return d.exp.DealsFailed
	}
	return 0
}

// run shows the sync until ctx ends or, with Once, until it is done, and returns the summary.
func (d *demo) run(ctx context.Context) *Summary {
	d.watch = newWatcher(d)
	if !d.opts.Once {
		d.printTryIt()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var last *snapshot
loop:
	for {
		snap, err := d.observe(ctx)
		if err == nil {
			last = snap
			d.watch.step(ctx, snap)
			d.screen.table(d.tableLines(snap), d.plainLines(snap))
			if d.opts.Once && (d.watch.finished() || d.watch.stuck(snap)) {
				break
			}
		} else if ctx.Err() == nil {
			d.screen.event(fmt.Sprintf("! cannot read the demo's objects: %v", err))
		}
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
	}
	d.screen.done()
	d.interrupted = errors.Is(ctx.Err(), context.Canceled)
	sum := d.summarize(last)
	if d.opts.Once {
		d.printSummary(sum)
	}
	return sum
}

func (d *demo) printTryIt() {
	ns := d.manifests.namespace
	d.say("While it runs, look around with kubectl:")
	if d.kubeconfig != "" {
		d.say("  export KUBECONFIG=%s", d.kubeconfig)
	}
	d.say("  kubectl get crmsync -n %s", ns)
	d.say("  kubectl describe syncjob %s -n %s", contactsJob, ns)
	d.say("  kubectl get crmconnection %s -n %s -o yaml", hubspotConn, ns)
	d.say("  kubectl get events -n %s --sort-by=.metadata.creationTimestamp", ns)
	d.say("Change a record yourself and watch it travel (within the jobs' 30s interval):")
	if k, ok := d.hubIDs[overlapIndex(3)]; ok {
		d.say("  curl -X PATCH %s/_admin/records/contacts/%s -d '{\"properties\":{\"city\":\"Lisbon\"}}'", d.hubEmu.url, k)
	}
	d.say("  sqlite3 %s \"UPDATE contacts SET phone = '+1 555 0100' WHERE email = '%s'\"", d.app.path, personAt(overlapIndex(3)).email)
	d.say("Press Ctrl-C to stop; everything started is shut down.")
	d.say("")
}

// watcher follows the run: it notices first syncs and runs the checks, each reported in one line.
type watcher struct {
	d      *demo
	first  map[string]*firstSync
	checks []*check
	// stalled is when each object was first seen Stalled, by kind/name.
	stalled map[string]time.Time
}

// stallPatience is how long a --once run waits for a Stalled object to recover before it gives up:
// Stalled means that only a person can fix it.
const stallPatience = 20 * time.Second

// stuck reports whether an object has been Stalled for stallPatience.
func (w *watcher) stuck(snap *snapshot) bool {
	now := map[string]bool{}
	for i := range snap.jobs {
		if conditionStatus(snap.jobs[i].Status.Conditions, crmv1.ConditionStalled) == "True" {
			now["SyncJob/"+snap.jobs[i].Name] = true
		}
	}
	for i := range snap.conns {
		if conditionStatus(snap.conns[i].Status.Conditions, crmv1.ConditionStalled) == "True" {
			now["CRMConnection/"+snap.conns[i].Name] = true
		}
	}
	for k := range w.stalled {
		if !now[k] {
			delete(w.stalled, k)
		}
	}
	for k := range now {
		since, ok := w.stalled[k]
		if !ok {
			w.stalled[k] = snap.at
			continue
		}
		if snap.at.Sub(since) >= stallPatience {
			return true
		}
	}
	return false
}

type firstSync struct {
	after  time.Duration
	totals crmv1.RecordCounters
	failed int64
	errors []string
}

func newWatcher(d *demo) *watcher {
	w := &watcher{d: d, first: map[string]*firstSync{}, stalled: map[string]time.Time{}}
	w.checks = []*check{d.appToHubSpotCheck(), d.hubSpotToAppCheck(), d.tokenCheck(), d.rateLimitCheck()}
	return w
}

// allFirstSyncs reports whether every SyncJob of the demo finished a sync.
func (w *watcher) allFirstSyncs() bool {
	for _, name := range w.d.manifests.names("SyncJob") {
		if w.first[name] == nil {
			return false
		}
	}
	return true
}

func (w *watcher) finished() bool {
	if !w.allFirstSyncs() {
		return false
	}
	for _, c := range w.checks {
		if !c.done {
			return false
		}
	}
	return true
}

func (w *watcher) step(ctx context.Context, snap *snapshot) {
	for i := range snap.jobs {
		j := &snap.jobs[i]
		if w.first[j.Name] != nil || j.Status.LastSuccessfulSyncTime == nil {
			continue
		}
		f := &firstSync{after: snap.at.Sub(w.d.applied).Round(time.Second), failed: j.Status.FailedRecords, errors: j.Status.RecentErrors}
		if j.Status.Totals != nil {
			f.totals = *j.Status.Totals
		}
		w.first[j.Name] = f
		t := f.totals
		w.d.screen.event(fmt.Sprintf("✓ %s: first sync done %s after apply: read %d, created %d, updated %d, failed %d%s",
			j.Name, short(f.after), t.Read, t.Created, t.Updated, f.failed, w.d.failureNote(j.Name, f.failed)))
	}
	for _, c := range w.checks {
		if !c.done {
			c.poll(ctx, snap, w)
		}
	}
}

// failureNote explains failed records: the intentionally invalid ones are expected.
func (d *demo) failureNote(job string, failed int64) string {
	want := d.expectedFailures(job)
	switch {
	case failed == 0:
		return ""
	case failed == want && job == contactsJob:
		return fmt.Sprintf(" (the %d invalid app rows, as expected)", failed)
	case failed == want:
		return fmt.Sprintf(" (the %d deals in stages HubSpot lacks, as expected)", failed)
	default:
		return fmt.Sprintf(" (%d expected)", want)
	}
}

func conditionStatus(conds []metav1.Condition, t string) string {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return string(c.Status)
	}
	return "-"
}

func conditionReason(conds []metav1.Condition, t string) (string, string) {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return c.Reason, c.Message
	}
	return "", ""
}

// flow describes a SyncJob's endpoints, like "hubspot <-> app DB (contacts)".
func flow(j *crmv1.SyncJob) string {
	arrow := "->"
	if j.Spec.Direction == crmv1.DirectionTwoWay {
		arrow = "<->"
	}
	return fmt.Sprintf("%s %s %s %s", endpointName(j.Spec.Source), arrow, endpointName(j.Spec.Destination), j.Spec.Object)
}

func endpointName(e crmv1.Endpoint) string {
	switch {
	case e.ConnectionRef != nil:
		return e.ConnectionRef.Name
	case e.SQL != nil:
		return "app DB"
	}
	return "?"
}

func short(d time.Duration) string {
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// human writes a round duration the way people say it: 2m, 10s.
func human(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return d.String()
}

func clock(t time.Time) string { return t.Local().Format("15:04:05") }

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len([]rune(s)) > n {
		return string([]rune(s)[:n-1]) + "…"
	}
	return s
}
