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

// CRMConnectionReconciler reconciles CRMConnections: it authenticates to the CRM, keeps the access token
// fresh, identifies the account and tracks the API budget. This build does the generic part only and
// reports the domain work as not implemented.
type CRMConnectionReconciler struct {
	// Client defaults to the manager's client.
	Client client.Client
	// Recorder defaults to the manager's events.k8s.io recorder.
	Recorder events.EventRecorder

	loop *loop[*crmv1.CRMConnection]
}

// The credentials Secret is read and the token Secret (owned by the CRMConnection) is written by the
// token phases; events go through the events.k8s.io API.
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections/status,verbs=get;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one CRMConnection towards its spec and reports what it found in its status.
func (r *CRMConnectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.loop.reconcile(ctx, req)
}

// phases are the steps of a CRMConnection reconcile. Later builds replace the stand-in with: load the
// credentials Secret, refresh the token, identify the account, calibrate the rate budget.
func (r *CRMConnectionReconciler) phases() []phase[*crmv1.CRMConnection] {
	return []phase[*crmv1.CRMConnection]{
		notImplemented[*crmv1.CRMConnection]("token verification"),
	}
}

// SetupWithManager registers the reconciler with mgr.
func (r *CRMConnectionReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("crmsync-crmconnection")
	}
	r.loop = &loop[*crmv1.CRMConnection]{
		client:    r.Client,
		recorder:  r.Recorder,
		now:       time.Now,
		kind:      "CRMConnection",
		newObject: func() *crmv1.CRMConnection { return &crmv1.CRMConnection{} },
		status:    func(o *crmv1.CRMConnection) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(o *crmv1.CRMConnection) bool { return o.Spec.Suspend },
		phases:    r.phases(),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&crmv1.CRMConnection{}, reconcileTriggers()).
		Named("crmconnection").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}
