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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// scope carries one reconcile of one object through its phases. Phases read the object and record what
// they found through the mark and set methods; the loop patches the status once at the end.
type scope[P client.Object] struct {
	obj    P
	status *crmv1.ReconcileStatus
	kind   string

	// stalled and rateLimited say whether this reconcile set those conditions; when false the loop
	// removes them, because both are present only while true.
	stalled     bool
	rateLimited bool
	// requested is true when the reconcile-request annotation asks for work not handled yet ("run now").
	requested bool
}

// name identifies the object in condition messages and events, like "CRMConnection acme/hubspot".
func (s *scope[P]) name() string {
	return fmt.Sprintf("%s %s/%s", s.kind, s.obj.GetNamespace(), s.obj.GetName())
}

// phaseResult is what a phase decided about the rest of the reconcile.
type phaseResult struct {
	// requeueAfter asks for another reconcile after this long; the shortest request of all phases wins.
	requeueAfter time.Duration
	// stop skips the remaining phases. The phase that stops must have set Ready.
	stop bool
}

// phase is one step of a reconcile. A phase that returns an error ends the reconcile; the loop reports
// the error in the conditions according to its kind (see fail).
type phase[P client.Object] func(ctx context.Context, s *scope[P]) (phaseResult, error)

// cleanup runs while an object is being deleted, before its finalizer is removed. It must be idempotent:
// a failed cleanup runs again on the next reconcile.
type cleanup[P client.Object] func(ctx context.Context, s *scope[P]) error

// loop is the reconcile shape every crmsync kind shares: get, finalizer, deferred status patch, reconcile
// request, suspend, then the kind's phases in order.
type loop[P client.Object] struct {
	client   client.Client
	recorder events.EventRecorder
	now      func() time.Time

	kind      string
	newObject func() P
	status    func(P) *crmv1.ReconcileStatus
	suspended func(P) bool
	phases    []phase[P]
	cleanups  []cleanup[P]
}

// reconcile runs one reconcile of the object named by req.
func (l *loop[P]) reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	obj := l.newObject()
	if err := l.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, l.finalize(ctx, l.newScope(obj))
	}
	if err := l.ensureFinalizer(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}

	s := l.newScope(obj)
	before := obj.DeepCopyObject().(P)
	defer func() { retErr = l.finishStatus(ctx, s, before, retErr) }()

	if requested, ok := obj.GetAnnotations()[crmv1.ReconcileRequestAnnotation]; ok {
		s.requested = requested != s.status.LastHandledReconcileAt
		s.status.LastHandledReconcileAt = requested
	}
	if l.suspended(obj) {
		s.markNotReady(crmv1.ReasonSuspended, fmt.Sprintf("%s is suspended: set spec.suspend to false to resume", s.name()))
		return ctrl.Result{}, nil
	}
	return l.runPhases(ctx, s)
}

func (l *loop[P]) newScope(obj P) *scope[P] {
	return &scope[P]{obj: obj, status: l.status(obj), kind: l.kind}
}

// runPhases runs the phases in order until one stops or fails. When all of them complete the object is
// Ready.
func (l *loop[P]) runPhases(ctx context.Context, s *scope[P]) (ctrl.Result, error) {
	var requeue time.Duration
	for _, p := range l.phases {
		res, err := p(ctx, s)
		if err != nil {
			return l.fail(s, err)
		}
		requeue = shortest(requeue, res.requeueAfter)
		if res.stop {
			return ctrl.Result{RequeueAfter: withJitter(requeue)}, nil
		}
	}
	s.markReady(fmt.Sprintf("%s is ready", s.name()))
	return ctrl.Result{RequeueAfter: withJitter(requeue)}, nil
}

// ensureFinalizer adds the crmsync finalizer with an optimistic-lock patch, so that a finalizer another
// controller added at the same time is never lost.
func (l *loop[P]) ensureFinalizer(ctx context.Context, obj P) error {
	if controllerutil.ContainsFinalizer(obj, crmv1.Finalizer) {
		return nil
	}
	before := obj.DeepCopyObject().(P)
	controllerutil.AddFinalizer(obj, crmv1.Finalizer)
	if err := l.client.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("add finalizer to %s %s/%s: %w", l.kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// finalize runs the cleanups of an object being deleted, then removes the finalizer so that the API
// server can delete it.
func (l *loop[P]) finalize(ctx context.Context, s *scope[P]) error {
	if !controllerutil.ContainsFinalizer(s.obj, crmv1.Finalizer) {
		return nil
	}
	for _, c := range l.cleanups {
		if err := c(ctx, s); err != nil {
			return fmt.Errorf("clean up %s before deletion: %w", s.name(), err)
		}
	}
	before := s.obj.DeepCopyObject().(P)
	controllerutil.RemoveFinalizer(s.obj, crmv1.Finalizer)
	err := l.client.Patch(ctx, s.obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer from %s: %w", s.name(), err)
	}
	return nil
}

// reconcileTriggers lets through the changes that need a reconcile: spec changes (generation, which
// deletion bumps too) and annotation changes (the reconcile request). Status-only updates, including
// the controller's own patches, do not trigger one.
func reconcileTriggers() builder.Predicates {
	return builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))
}

func shortest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	default:
		return min(a, b)
	}
}
