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

// FieldMappingReconciler reconciles FieldMappings: it resolves the mapping against the built-in defaults
// and the CRM's live field metadata. This build does the generic part only and reports the domain work
// as not implemented.
type FieldMappingReconciler struct {
	// Client defaults to the manager's client.
	Client client.Client
	// Recorder defaults to the manager's events.k8s.io recorder.
	Recorder events.EventRecorder

	loop *loop[*crmv1.FieldMapping]
}

// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings/status,verbs=get;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=fieldmappings/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one FieldMapping towards its spec and reports what it found in its status.
func (r *FieldMappingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.loop.reconcile(ctx, req)
}

// phases are the steps of a FieldMapping reconcile. Later builds replace the stand-in with: compile the
// mapping over the defaults, then check it against the CRM's field metadata.
func (r *FieldMappingReconciler) phases() []phase[*crmv1.FieldMapping] {
	return []phase[*crmv1.FieldMapping]{
		notImplemented[*crmv1.FieldMapping]("field resolution against the CRM's metadata"),
	}
}

// SetupWithManager registers the reconciler with mgr.
func (r *FieldMappingReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("crmsync-fieldmapping")
	}
	r.loop = &loop[*crmv1.FieldMapping]{
		client:    r.Client,
		recorder:  r.Recorder,
		now:       time.Now,
		kind:      "FieldMapping",
		newObject: func() *crmv1.FieldMapping { return &crmv1.FieldMapping{} },
		status:    func(o *crmv1.FieldMapping) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(*crmv1.FieldMapping) bool { return false },
		phases:    r.phases(),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&crmv1.FieldMapping{}, reconcileTriggers()).
		Named("fieldmapping").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}
