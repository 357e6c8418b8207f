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
)

// secretRefIndex indexes CRMConnections by the name of their credentials Secret, so that a change of the
// Secret reconciles exactly the connections that use it.
const secretRefIndex = "spec.auth.secretRef.name"

// CRMConnectionReconciler reconciles CRMConnections: it reads the credentials Secret, keeps the access
// token fresh (one refresh at a time, rotated tokens persisted before use), identifies the account,
// watches the API version and reports the API budget.
type CRMConnectionReconciler struct {
	// Client defaults to the manager's client.
	Client client.Client
	// APIReader reads the token Secret uncached; defaults to the manager's API reader.
	APIReader client.Reader
	// Recorder defaults to the manager's events.k8s.io recorder.
	Recorder events.EventRecorder
	// Connections holds the live connection of every CRMConnection; SyncJobs take theirs from it.
	Connections *connections.Registry
	// Now is the clock of status times; defaults to time.Now.
	Now func() time.Time

	initOnce sync.Once
	loop     *loop[*crmv1.CRMConnection]
}

// The credentials Secret is read and the token Secret (owned by the CRMConnection) is written by the
// token phases; events go through the events.k8s.io API.
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections/status,verbs=get;patch
// +kubebuilder:rbac:groups=crm.crmsync.io,resources=crmconnections/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one CRMConnection towards its spec and reports what it found in its status.
// A reconciler built by hand (tests driving Reconcile with a fake clock) needs Client, APIReader and
// Connections set; SetupWithManager fills them from the manager.
func (r *CRMConnectionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.initOnce.Do(r.init)
	return r.loop.reconcile(ctx, req)
}

// init completes the defaults and builds the reconcile loop.
func (r *CRMConnectionReconciler) init() {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Connections == nil {
		r.Connections = &connections.Registry{}
	}
	r.loop = &loop[*crmv1.CRMConnection]{
		client:    r.Client,
		recorder:  r.Recorder,
		now:       r.Now,
		kind:      "CRMConnection",
		newObject: func() *crmv1.CRMConnection { return &crmv1.CRMConnection{} },
		status:    func(o *crmv1.CRMConnection) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(o *crmv1.CRMConnection) bool { return o.Spec.Suspend },
		phases:    r.phases(),
		cleanups:  []cleanup[*crmv1.CRMConnection]{r.forget},
	}
}

// phases are the steps of a CRMConnection reconcile; see crmconnection_phases.go.
func (r *CRMConnectionReconciler) phases() []phase[*crmv1.CRMConnection] {
	return []phase[*crmv1.CRMConnection]{r.connect, r.refreshToken, r.identify, r.checkAPIVersion, r.reportBudget}
}

// forget drops the live connection of a deleted CRMConnection. Its token Secret is garbage-collected
// through its owner reference.
func (r *CRMConnectionReconciler) forget(_ context.Context, s *scope[*crmv1.CRMConnection]) error {
	r.Connections.Remove(types.NamespacedName{Namespace: s.obj.Namespace, Name: s.obj.Name})
	return nil
}

// SetupWithManager registers the reconciler with mgr.
func (r *CRMConnectionReconciler) SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder("crmsync-crmconnection")
	}
	if r.Connections == nil {
		r.Connections = opts.Connections
	}
	r.initOnce.Do(r.init)
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &crmv1.CRMConnection{}, secretRefIndex, func(o client.Object) []string {
		return []string{o.(*crmv1.CRMConnection).Spec.Auth.SecretRef.Name}
	})
	if err != nil {
		return err
	}
	if err := mgr.Add(&budgetFlusher{client: r.Client, connections: r.Connections}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&crmv1.CRMConnection{}, reconcileTriggers()).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.connectionsUsingSecret)).
		Named("crmconnection").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
}

// connectionsUsingSecret maps a credentials Secret to the CRMConnections in its namespace that use it, so
// that fixing a Secret takes effect within seconds.
func (r *CRMConnectionReconciler) connectionsUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list crmv1.CRMConnectionList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretRefIndex: o.GetName()}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, c := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}})
	}
	return reqs
}
