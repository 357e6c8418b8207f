package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	syncengine "github.com/crmsync/crmsync/internal/sync"
)

const (
	defaultSyncInterval       = 5 * time.Minute
	defaultLookback           = 2 * time.Minute
	defaultFullResyncInterval = 24 * time.Hour
	// dependencyRetry is how soon a job whose CRMConnection or FieldMapping is not ready looks again; the
	// watches usually wake it earlier.
	dependencyRetry = 15 * time.Second
	// progressInterval bounds how often a running sync writes its progress to status.
	progressInterval = 2 * time.Second
)

type jobScope = scope[*crmv1.SyncJob]

// sync is the one phase of a SyncJob: when a run is due it resolves both endpoints, validates the
// mappings against the live CRMs, runs the engine and records the result.
func (r *SyncJobReconciler) sync(ctx context.Context, s *jobScope) (phaseResult, error) {
	if wait, due := r.due(s); !due {
		// Between runs the conditions stay as the last run left them.
		s.obj.Status.NextSyncTime = metaTime(r.Now().Add(wait))
		return phaseResult{requeueAfter: wait, stop: true}, nil
	}
	src, dst, err := r.resolve(ctx, s)
	if errors.Is(err, errDependencyNotReady) {
		if s.requested {
			r.pendingRuns.Store(jobKey(s.obj), true) // run as soon as the dependency is ready
		}
		// A pending request stays pending: the next reconcile that finds the dependencies ready runs.
		s.markRetrying(crmv1.ReasonDependencyNotReady, fmt.Sprintf("%s: %v", s.name(), err))
		return phaseResult{requeueAfter: dependencyRetry, stop: true}, nil
	} else if err != nil {
		return phaseResult{}, err
	}
	if err := r.validateLive(ctx, s, src, dst); err != nil {
		return phaseResult{}, err
	}
	r.pendingRuns.Delete(jobKey(s.obj))
	return r.run(ctx, s, src, dst)
}

// due says whether a run should start now, or how long until the next one.
func (r *SyncJobReconciler) due(s *jobScope) (time.Duration, bool) {
	st := s.obj.Status
	if _, pending := r.pendingRuns.Load(jobKey(s.obj)); pending {
		return 0, true
	}
	if s.requested || st.LastSyncTime == nil || s.status.ObservedGeneration != s.obj.Generation {
		return 0, true
	}
	if st.LastSuccessfulSyncTime == nil || st.LastSuccessfulSyncTime.Before(st.LastSyncTime) {
		// The last run failed: retry at the time it set (the budget's reset for a rate limit), whatever
		// else wakes the job meanwhile.
		if st.NextSyncTime == nil {
			return 0, true
		}
		wait := st.NextSyncTime.Sub(r.Now())
		return wait, wait <= 0
	}
	wait := st.LastSyncTime.Add(interval(s.obj)).Sub(r.Now())
	return withJitter(wait), wait <= 0
}

func (r *SyncJobReconciler) resolve(ctx context.Context, s *jobScope) (*endpoint, *endpoint, error) {
	src, err := r.resolveEndpoint(ctx, s.obj, s.obj.Spec.Source, "source")
	if err != nil {
		return nil, nil, err
	}
	dst, err := r.resolveEndpoint(ctx, s.obj, s.obj.Spec.Destination, "destination")
	if err != nil {
		return nil, nil, err
	}
	return src, dst, nil
}

// validateLive checks each CRM endpoint's mapping against the CRM's live field metadata (cached for
// liveValidationTTL). Problems stall the job with the complete list: only a person can fix them.
func (r *SyncJobReconciler) validateLive(ctx context.Context, s *jobScope, eps ...*endpoint) error {
	var problems []string
	for _, ep := range eps {
		if ep.connection == nil {
			continue
		}
		written := r.writtenInto(s.obj, ep.role)
		found, err := r.validator.Validate(ctx, ep.connection.Key.String(), ep.connector.Describe, ep.mapping, written)
		if err != nil {
			return fmt.Errorf("describe %s %s for validation: %w", ep.role, ep.object, err)
		}
		for _, p := range found {
			problems = append(problems, fmt.Sprintf("%s (%s %s): %s", ep.role, ep.connection.Provider, ep.object, p.String()))
		}
	}
	if len(problems) > 0 {
		return stall(crmv1.ReasonInvalidConfiguration, fmt.Errorf("the field mappings do not fit the live CRM: %s", strings.Join(problems, "; ")))
	}
	return nil
}

// writtenInto reports which canonical fields crmsync writes into the endpoint with the given role.
func (r *SyncJobReconciler) writtenInto(job *crmv1.SyncJob, role string) func(string) bool {
	owners := ownersOf(job)
	return func(field string) bool {
		owner := owners.of(field)
		if job.Spec.Direction != crmv1.DirectionTwoWay {
			owner = syncengine.Source
		}
		return (role == "destination") == (owner == syncengine.Source)
	}
}

type ownership struct {
	fields map[string]syncengine.Owner
	def    syncengine.Owner
}

func (o ownership) of(field string) syncengine.Owner {
	if owner, ok := o.fields[field]; ok {
		return owner
	}
	return o.def
}

func ownersOf(job *crmv1.SyncJob) ownership {
	o := ownership{fields: map[string]syncengine.Owner{}, def: ownerOf(job.Spec.DefaultOwner)}
	for _, f := range job.Spec.Fields {
		o.fields[f.Name] = ownerOf(f.Owner)
	}
	return o
}

func ownerOf(s crmv1.Side) syncengine.Owner {
	if s == crmv1.SideDestination {
		return syncengine.Destination
	}
	return syncengine.Source
}

// run performs one engine run and records it. The cursors the engine returns are saved even when it
// fails: they never pass uncommitted work.
func (r *SyncJobReconciler) run(ctx context.Context, s *jobScope, src, dst *endpoint) (phaseResult, error) {
	job := r.engineJob(s, src, dst)
	r.event(s, corev1.EventTypeNormal, "SyncStarted", "sync of %s started (full reconciliation: %t)", s.obj.Spec.Object, job.FullResync)
	progress := r.progressReporter(ctx, s)
	res, err := r.engine.Run(ctx, job, progress.report)
	progress.stop()
	r.recordRun(ctx, s, res, err)
	if err != nil {
		r.event(s, corev1.EventTypeWarning, "SyncFailed", "sync failed after %d records: %v", res.Counters.Read, err)
		s.obj.Status.NextSyncTime = metaTime(r.Now().Add(failedRunRetry(err, interval(s.obj), r.Now())))
		return phaseResult{}, fmt.Errorf("sync run: %w", err)
	}
	wait := withJitter(interval(s.obj))
	s.obj.Status.NextSyncTime = metaTime(r.Now().Add(wait))
	return phaseResult{requeueAfter: wait}, nil
}

// engineJob translates the SyncJob spec into the engine's job.
func (r *SyncJobReconciler) engineJob(s *jobScope, src, dst *endpoint) syncengine.Job {
	spec, st := s.obj.Spec, s.obj.Status
	o := ownersOf(s.obj)
	job := syncengine.Job{
		Name:         jobKey(s.obj),
		Source:       side(src, cursor(st.Cursors, true)),
		Dest:         side(dst, cursor(st.Cursors, false)),
		Direction:    syncengine.OneWay,
		Owners:       o.fields,
		DefaultOwner: o.def,
		Match:        syncengine.Match{Field: matchField(s.obj), CaseInsensitive: spec.Match.CaseInsensitive == nil || *spec.Match.CaseInsensitive},
		Lookback:     durationOr(spec.Schedule.Lookback, defaultLookback),
		DeletePolicy: deletePolicy(spec.Deletion.Policy),
		FullResync:   st.LastFullResyncTime == nil || r.Now().Sub(st.LastFullResyncTime.Time) >= durationOr(spec.Schedule.FullResyncInterval, defaultFullResyncInterval),
		Clock:        clockFunc(r.Now),
	}
	if spec.Direction == crmv1.DirectionTwoWay {
		job.Direction = syncengine.TwoWay
	}
	return job
}

// failedRunRetry is how long a failed run waits before the next attempt: until the budget resets after a
// rate limit, else a minute (or the interval, when shorter).
func failedRunRetry(err error, every time.Duration, now time.Time) time.Duration {
	if at, ok := crmerr.RetryAt(err); ok {
		return max(at.Sub(now), time.Second)
	}
	return min(every, time.Minute)
}

func side(ep *endpoint, c connectors.Cursor) syncengine.Side {
	return syncengine.Side{Connector: ep.connector, Object: ep.object, Mapper: syncengine.FromMapping(ep.mapping), Cursor: c, UpsertKey: ep.upsertKey}
}

func cursor(c *crmv1.SyncCursors, source bool) connectors.Cursor {
	switch {
	case c == nil:
		return ""
	case source:
		return connectors.Cursor(c.Source)
	default:
		return connectors.Cursor(c.Destination)
	}
}

func deletePolicy(p crmv1.DeletionPolicy) syncengine.DeletePolicy {
	switch p {
	case crmv1.DeletionPropagate:
		return syncengine.Propagate
	case crmv1.DeletionArchive:
		return syncengine.Archive
	default:
		return syncengine.Ignore
	}
}

func interval(job *crmv1.SyncJob) time.Duration {
	return durationOr(job.Spec.Schedule.Interval, defaultSyncInterval)
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil || d.Duration <= 0 {
		return def
	}
	return d.Duration
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// recordRun writes what a run did into status, conditions, events and metrics.
func (r *SyncJobReconciler) recordRun(ctx context.Context, s *jobScope, res syncengine.Result, runErr error) {
	st := &s.obj.Status
	finished := r.Now()
	st.Cursors = &crmv1.SyncCursors{Source: string(res.SourceCursor), Destination: string(res.DestCursor)}
	counters := recordCounters(res.Counters)
	st.LastRun = &crmv1.RunStats{Started: metaTime(res.Started), Finished: metaTime(finished), RecordCounters: counters}
	st.Totals = addCounters(st.Totals, counters)
	st.LastSyncTime = metaTime(finished)
	st.Progress = nil
	if pending, dead, err := r.Store.CountRetries(ctx, jobKey(s.obj)); err == nil {
		st.FailedRecords = pending + dead
	}
	// A run that retried nothing new keeps the errors of the records that still fail, so that status
	// always says why failedRecords is not zero.
	if errs := recentErrors(res.Errors); len(errs) > 0 || st.FailedRecords == 0 {
		st.RecentErrors = errs
	}
	r.Metrics.observeRun(s.obj, res, runErr, finished.Sub(res.Started))
	if res.Counters.Conflicts > 0 {
		r.event(s, corev1.EventTypeNormal, "ConflictsResolved", "%d fields changed on both sides; the owner's value won%s", res.Counters.Conflicts, conflictExample(res))
	}
	if runErr != nil {
		return
	}
	st.LastSuccessfulSyncTime = metaTime(finished)
	if res.Reconciled {
		st.LastFullResyncTime = metaTime(finished)
	}
	r.markSynced(s, counters, st.FailedRecords)
}

// markSynced sets Synced and Ready after a run that completed. Failed records do not make the job
// unready: they wait in the retry queue and are reported, and everything else was synced.
func (r *SyncJobReconciler) markSynced(s *jobScope, c crmv1.RecordCounters, failed int64) {
	summary := fmt.Sprintf("read %d, created %d, updated %d, deleted %d, skipped %d, failed %d", c.Read, c.Created, c.Updated, c.Deleted, c.Skipped, c.Failed)
	if failed > 0 {
		msg := fmt.Sprintf("%d records fail and wait in the retry queue (see status.recentErrors); last run: %s", failed, summary)
		s.setCondition(crmv1.ConditionSynced, metav1.ConditionFalse, crmv1.ReasonRecordsFailed, msg)
		r.event(s, corev1.EventTypeWarning, crmv1.ReasonRecordsFailed, "%s", msg)
	} else {
		s.setCondition(crmv1.ConditionSynced, metav1.ConditionTrue, crmv1.ReasonSucceeded, "last run: "+summary)
		r.event(s, corev1.EventTypeNormal, "SyncSucceeded", "last run: %s", summary)
	}
	s.markReady(fmt.Sprintf("%s synced: %s", s.name(), summary))
}

func recordCounters(c syncengine.Counters) crmv1.RecordCounters {
	return crmv1.RecordCounters{Read: c.Read, Created: c.Created, Updated: c.Updated, Deleted: c.Deleted,
		Skipped: c.Skipped, Failed: c.Failed, Conflicts: c.Conflicts, APICalls: c.APICalls}
}

func addCounters(total *crmv1.RecordCounters, c crmv1.RecordCounters) *crmv1.RecordCounters {
	t := crmv1.RecordCounters{}
	if total != nil {
		t = *total
	}
	t.Read += c.Read
	t.Created += c.Created
	t.Updated += c.Updated
	t.Deleted += c.Deleted
	t.Skipped += c.Skipped
	t.Failed += c.Failed
	t.Conflicts += c.Conflicts
	t.APICalls += c.APICalls
	return &t
}

func recentErrors(errs []syncengine.RecordError) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, truncate(fmt.Sprintf("%s record %s: %s", e.Side, e.ID, e.Err)))
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func conflictExample(res syncengine.Result) string {
	if len(res.Conflicts) == 0 {
		return ""
	}
	c := res.Conflicts[0]
	return fmt.Sprintf(" (e.g. field %s of source record %s: %s won)", c.Field, c.SourceID, c.Winner)
}

func (r *SyncJobReconciler) event(s *jobScope, eventType, reason, format string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(s.obj, nil, eventType, reason, "Sync", format, args...)
	}
}

// progressReporter writes a running sync's progress into status.progress at most every
// progressInterval, so that `kubectl get` shows an initial sync advancing.
type progressReporter struct {
	r    *SyncJobReconciler
	ctx  context.Context
	job  *crmv1.SyncJob
	mu   sync.Mutex
	last time.Time
	done bool
}

func (r *SyncJobReconciler) progressReporter(ctx context.Context, s *jobScope) *progressReporter {
	return &progressReporter{r: r, ctx: ctx, job: s.obj.DeepCopy()}
}

func (p *progressReporter) report(pr syncengine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.r.Now()
	if p.done || now.Sub(p.last) < progressInterval {
		return
	}
	p.last = now
	before := p.job.DeepCopy()
	p.job.Status.Progress = &crmv1.SyncProgress{Done: pr.Done, EstimatedTotal: pr.Total}
	_ = p.r.Client.Status().Patch(p.ctx, p.job, client.MergeFrom(before))
}

// stop ends the reports and removes the progress they wrote: the reconcile's own status patch is computed
// against the job as it was before the run, so it would not remove it.
func (p *progressReporter) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.job.Status.Progress == nil {
		return
	}
	before := p.job.DeepCopy()
	p.job.Status.Progress = nil
	_ = p.r.Client.Status().Patch(p.ctx, p.job, client.MergeFrom(before))
}
