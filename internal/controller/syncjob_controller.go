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

package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/mapping"
	"github.com/crmsync/crmsync/internal/state"
	syncengine "github.com/crmsync/crmsync/internal/sync"
)

// Indexes of SyncJobs by the objects they reference, so that a change of a CRMConnection, FieldMapping
// or Secret reconciles exactly the jobs that use it.
const (
	jobConnectionIndex = "syncjob.connections"
	jobMappingIndex    = "syncjob.fieldMappings"
	jobSecretIndex     = "syncjob.secrets"
)

// liveValidationTTL is how long the CRM's field metadata is trusted between checks of a job's mappings.
const liveValidationTTL = 10 * time.Minute

// SyncJobReconciler reconciles SyncJobs: it resolves both endpoints, checks the mappings against the
// live CRM, and runs the sync engine on the job's schedule. Runs happen inside Reconcile, so the
// controller's worker count bounds how many jobs sync at once, a slow CRM occupies one worker only, and a
// job never runs twice at the same time.
type SyncJobReconciler struct {
	// Client defaults to the manager's client.
	Client client.Client
	// Recorder defaults to the manager's events.k8s.io recorder.
	Recorder events.EventRecorder
	// Connections holds the live connections that the CRMConnection controller maintains.
	Connections *connections.Registry
	// Store is the durable sync state. Required.
	Store state.Store
	// SQLiteDir holds the application databases of SQLite endpoints that name no Secret.
	SQLiteDir string
	// Metrics records runs; nil records nothing.
	Metrics *SyncMetrics
	// Now is the clock of schedules and status times; defaults to time.Now.
	Now func() time.Time

	// pendingRuns holds the jobs whose requested run had to wait for a dependency (in memory: a restart
	// runs every job anyway, as its first reconcile finds it due or schedules it).
	pendingRuns  sync.Map
	engine       *syncengine.Engine
	validator    *mapping.LiveValidator
	sqlEndpoints sqlEndpointCache
	initOnce     sync.Once
	loop         *loop[*crmv1.SyncJob]
}

// +kubebuilder:rbac:groups=crm.crmsync.io,resources=syncjobs,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=syncjobs/status,verbs=get;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=syncjobs/finalizers,verbs=update
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections,verbs=get;list;watch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one SyncJob towards its spec: it runs a sync when one is due and reports it in status.
// A reconciler built by hand needs Client, Connections and Store set.
func (r *SyncJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.initOnce.Do(r.init)
	return r.loop.reconcile(ctx, req)
}

func (r *SyncJobReconciler) init() {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Connections == nil {
		r.Connections = &connections.Registry{}
	}
	r.engine = syncengine.New(r.Store, syncengine.Options{})
	r.validator = mapping.NewLiveValidator(liveValidationTTL, r.Now)
	r.loop = &loop[*crmv1.SyncJob]{
		client:    r.Client,
		recorder:  r.Recorder,
		now:       r.Now,
		kind:      "SyncJob",
		newObject: func() *crmv1.SyncJob { return &crmv1.SyncJob{} },
		status:    func(o *crmv1.SyncJob) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(o *crmv1.SyncJob) bool { return o.Spec.Suspend },
		phases:    []phase[*crmv1.SyncJob]{r.sync},
		cleanups:  []cleanup[*crmv1.SyncJob]{r.forgetState},
	}
}

// SetupWithManager registers the reconciler with mgr. opts.MaxConcurrentSyncs sizes the worker pool.
func (r *SyncJobReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("crmsync-syncjob")
	}
	if r.Connections == nil {
		r.Connections = opts.Connections
	}
	if r.Store == nil {
		r.Store = opts.StateStore
	}
	if r.Store == nil {
		return fmt.Errorf("the SyncJob controller needs a state store (Options.StateStore)")
	}
	if r.SQLiteDir == "" {
		r.SQLiteDir = opts.SQLiteDir
	}
	if r.Metrics == nil {
		r.Metrics = opts.SyncMetrics
	}
	r.initOnce.Do(r.init)
	if err := r.index(mgr); err != nil {
		return err
	}
	workers := opts.MaxConcurrentSyncs
	if workers <= 0 {
		workers = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&crmv1.SyncJob{}, reconcileTriggers()).
		Watches(&crmv1.CRMConnection{}, handler.EnqueueRequestsFromMapFunc(r.jobsUsing(jobConnectionIndex))).
		Watches(&crmv1.FieldMapping{}, handler.EnqueueRequestsFromMapFunc(r.jobsUsing(jobMappingIndex))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.jobsUsing(jobSecretIndex))).
		Named("syncjob").
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// index registers the reference indexes of SyncJobs.
func (r *SyncJobReconciler) index(mgr ctrl.Manager) error {
	refs := map[string]func(crmv1.Endpoint) string{
		jobConnectionIndex: func(e crmv1.Endpoint) string { return refName(e.ConnectionRef) },
		jobMappingIndex:    func(e crmv1.Endpoint) string { return refName(e.FieldMappingRef) },
		jobSecretIndex: func(e crmv1.Endpoint) string {
			if e.SQL == nil || e.SQL.SecretRef == nil {
				return ""
			}
			return e.SQL.SecretRef.Name
		},
	}
	for name, ref := range refs {
		err := mgr.GetFieldIndexer().IndexField(context.Background(), &crmv1.SyncJob{}, name, func(o client.Object) []string {
			job := o.(*crmv1.SyncJob)
			var out []string
			for _, e := range []crmv1.Endpoint{job.Spec.Source, job.Spec.Destination} {
				if n := ref(e); n != "" {
					out = append(out, n)
				}
			}
			return out
		})
		if err != nil {
			return fmt.Errorf("index SyncJobs by %s: %w", name, err)
		}
	}
	return nil
}

func refName(ref *crmv1.LocalObjectReference) string {
	if ref == nil {
		return ""
	}
	return ref.Name
}

// jobsUsing maps a referenced object to the SyncJobs of its namespace that name it.
func (r *SyncJobReconciler) jobsUsing(index string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list crmv1.SyncJobList
		if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{index: o.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, j := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: j.Namespace, Name: j.Name}})
		}
		return reqs
	}
}

// forgetState deletes a deleted job's links, retry queue and history, and releases its hold on SQL
// change logs. It is idempotent.
func (r *SyncJobReconciler) forgetState(ctx context.Context, s *scope[*crmv1.SyncJob]) error {
	job := s.obj
	for role, ep := range map[string]crmv1.Endpoint{"source": job.Spec.Source, "destination": job.Spec.Destination} {
		if ep.SQL != nil {
			// Opening the endpoint registers it in the cache, so that forget can release its consumer.
			_, _ = r.resolveSQL(ctx, job, ep.SQL, role)
		}
	}
	r.pendingRuns.Delete(jobKey(job))
	if err := r.sqlEndpoints.forget(ctx, jobKey(job), true); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "release SQL change log consumer", "syncjob", jobKey(job))
	}
	return r.Store.DeleteJob(ctx, jobKey(job))
}
