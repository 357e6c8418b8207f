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
	"time"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// SyncJobReconciler reconciles SyncJobs: it schedules sync runs between the two endpoints and reports
// their progress. This build does the generic part only and reports the domain work as not implemented.
type SyncJobReconciler struct {
	// Client defaults to the manager's client.
	Client client.Client
	// Recorder defaults to the manager's events.k8s.io recorder.
	Recorder events.EventRecorder

	loop *loop[*crmv1.SyncJob]
}

// The Secret holding an SQL endpoint's DSN is read by the endpoint phases.
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=syncjobs,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=syncjobs/status,verbs=get;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=syncjobs/finalizers,verbs=update
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections;fieldmappings,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one SyncJob towards its spec and reports what it found in its status.
func (r *SyncJobReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.loop.reconcile(ctx, req)
}

// phases are the steps of a SyncJob reconcile. Later builds replace the stand-in with: resolve the
// endpoints, wait for their connections and mappings to be Ready, run the sync when due, and schedule
// the next run.
func (r *SyncJobReconciler) phases() []phase[*crmv1.SyncJob] {
	return []phase[*crmv1.SyncJob]{
		notImplemented[*crmv1.SyncJob]("syncing records"),
	}
}

// SetupWithManager registers the reconciler with mgr.
func (r *SyncJobReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("crmsync-syncjob")
	}
	r.loop = &loop[*crmv1.SyncJob]{
		client:    r.Client,
		recorder:  r.Recorder,
		now:       time.Now,
		kind:      "SyncJob",
		newObject: func() *crmv1.SyncJob { return &crmv1.SyncJob{} },
		status:    func(o *crmv1.SyncJob) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(o *crmv1.SyncJob) bool { return o.Spec.Suspend },
		phases:    r.phases(),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&crmv1.SyncJob{}, reconcileTriggers()).
		Named("syncjob").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}
