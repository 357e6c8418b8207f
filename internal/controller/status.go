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
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// maxMessageLength bounds condition messages and event notes; the API server rejects longer ones.
const maxMessageLength = 1024

// setCondition sets one condition, stamped with the object's generation. The transition time changes
// only when the status does.
func (s *scope[P]) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            truncate(message),
		ObservedGeneration: s.obj.GetGeneration(),
	})
}

// markReady reports that the object does its job.
func (s *scope[P]) markReady(message string) {
	s.setCondition(crmv1.ConditionReady, metav1.ConditionTrue, crmv1.ReasonSucceeded, message)
	s.setCondition(crmv1.ConditionReconciling, metav1.ConditionFalse, crmv1.ReasonSucceeded, message)
}

// markNotReady reports that the object does not do its job and that no work is in progress.
func (s *scope[P]) markNotReady(reason, message string) {
	s.setCondition(crmv1.ConditionReady, metav1.ConditionFalse, reason, message)
	s.setCondition(crmv1.ConditionReconciling, metav1.ConditionFalse, reason, message)
}

// markRetrying reports that the object is not ready and that the controller keeps trying.
func (s *scope[P]) markRetrying(reason, message string) {
	s.setCondition(crmv1.ConditionReady, metav1.ConditionFalse, reason, message)
	s.setCondition(crmv1.ConditionReconciling, metav1.ConditionTrue, crmv1.ReasonProgressing, message)
}

// markStalled reports that the controller cannot continue until a person acts.
func (s *scope[P]) markStalled(reason, message string) {
	s.markNotReady(reason, message)
	s.setCondition(crmv1.ConditionStalled, metav1.ConditionTrue, reason, message)
	s.stalled = true
}

// markRateLimited reports that work waits for the API budget to reset.
func (s *scope[P]) markRateLimited(message string) {
	s.markRetrying(crmv1.ReasonRateLimitExceeded, message)
	s.setCondition(crmv1.ConditionRateLimited, metav1.ConditionTrue, crmv1.ReasonRateLimitExceeded, message)
	s.rateLimited = true
}

// stallError is an error that retrying cannot fix: a person has to change the spec or a Secret.
type stallError struct {
	reason string
	err    error
}

func (e *stallError) Error() string { return e.err.Error() }
func (e *stallError) Unwrap() error { return e.err }

// stall marks err as one that a person must fix. The loop reports it as Stalled with reason and stops
// retrying until the object or a watched dependency changes.
func stall(reason string, err error) error {
	return &stallError{reason: reason, err: err}
}

// fail reports a phase error in the conditions and tells controller-runtime what to do next:
//   - a rate-limit error (crmerr.RateLimited) requeues when the budget resets, without an error;
//   - a permanent error (stall, crmerr.Permanent or reconcile.TerminalError) sets Stalled and returns a
//     terminal error, so it is not retried until something changes;
//   - anything else is returned and retried with controller-runtime's backoff.
func (l *loop[P]) fail(s *scope[P], err error) (ctrl.Result, error) {
	message := fmt.Sprintf("%s: %v", s.name(), err)
	if retryAt, ok := crmerr.RetryAt(err); ok {
		wait := max(retryAt.Sub(l.now()), time.Second)
		s.markRateLimited(fmt.Sprintf("%s (waiting until %s)", message, l.now().Add(wait).UTC().Truncate(time.Second).Format(time.RFC3339)))
		return ctrl.Result{RequeueAfter: withJitter(wait)}, nil
	}
	if reason, ok := permanentReason(err); ok {
		s.markStalled(reason, message)
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	s.markRetrying(crmv1.ReasonReconcileFailed, message+" (retrying)")
	return ctrl.Result{}, err
}

// permanentReason returns the condition reason of an error that retrying cannot fix.
func permanentReason(err error) (string, bool) {
	var se *stallError
	switch {
	case errors.As(err, &se):
		return se.reason, true
	case crmerr.Is(err, crmerr.Permanent), errors.Is(err, reconcile.TerminalError(nil)):
		return crmv1.ReasonInvalidConfiguration, true
	default:
		return "", false
	}
}

// finishStatus runs deferred at the end of every reconcile that got past the finalizer: it drops the
// conditions that are present only while true, records the observed generation, emits an event when
// Ready changed, and patches the status once with a merge patch against the snapshot taken at the
// start. A failed patch is returned (and retried) even when the reconcile itself had failed terminally.
func (l *loop[P]) finishStatus(ctx context.Context, s *scope[P], before P, reconcileErr error) error {
	if !s.stalled {
		meta.RemoveStatusCondition(&s.status.Conditions, crmv1.ConditionStalled)
	}
	if !s.rateLimited {
		meta.RemoveStatusCondition(&s.status.Conditions, crmv1.ConditionRateLimited)
	}
	s.status.ObservedGeneration = s.obj.GetGeneration()

	// Compare whole objects, not only the shared ReconcileStatus: a kind's own status fields (token times,
	// budget, run results) change without any condition changing, and must be written too.
	old := l.status(before)
	if equality.Semantic.DeepEqual(before, s.obj) {
		return reconcileErr
	}
	l.recordReadyTransition(s, meta.FindStatusCondition(old.Conditions, crmv1.ConditionReady))
	err := l.client.Status().Patch(ctx, s.obj, client.MergeFrom(before))
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return reconcileErr
	case reconcileErr != nil:
		return fmt.Errorf("patch status of %s: %w (reconcile error: %v)", s.name(), err, reconcileErr)
	default:
		return fmt.Errorf("patch status of %s: %w", s.name(), err)
	}
}

// recordReadyTransition emits one event when the Ready condition changed status, reason or message.
func (l *loop[P]) recordReadyTransition(s *scope[P], old *metav1.Condition) {
	ready := meta.FindStatusCondition(s.status.Conditions, crmv1.ConditionReady)
	if ready == nil || l.recorder == nil {
		return
	}
	if old != nil && old.Status == ready.Status && old.Reason == ready.Reason && old.Message == ready.Message {
		return
	}
	eventType := corev1.EventTypeWarning
	if ready.Status == metav1.ConditionTrue || ready.Reason == crmv1.ReasonSuspended {
		eventType = corev1.EventTypeNormal
	}
	l.recorder.Eventf(s.obj, nil, eventType, ready.Reason, "Reconcile", "%s", ready.Message)
}

// withJitter spreads requeues of many objects over time: it returns d plus up to 10% more. Zero stays zero.
func withJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := d / 10
	if spread <= 0 {
		return d
	}
	return d + rand.N(spread+1)
}

func truncate(message string) string {
	if len(message) <= maxMessageLength {
		return message
	}
	cut := maxMessageLength - len("...")
	for cut > 0 && !utf8.RuneStart(message[cut]) {
		cut--
	}
	return message[:cut] + "..."
}
