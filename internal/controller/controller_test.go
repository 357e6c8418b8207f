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
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// kindUnderTest tells the behaviour tests how to make and change one kind.
type kindUnderTest struct {
	kind string
	// settled returns the conditions an object made by newObject settles on, and the event that reports
	// its Ready condition.
	settled    func(namespace, name string, generation int64) []metav1.Condition
	settledEvt func(namespace, name string) (eventType, reason, note string)
	newObject  func(namespace, name string) client.Object
	status     func(client.Object) *crmv1.ReconcileStatus
	changeSpec func(client.Object)
	// setSuspend is nil for kinds without spec.suspend.
	setSuspend func(client.Object, bool)
}

func kindsUnderTest() []kindUnderTest {
	return []kindUnderTest{
		{
			kind: "CRMConnection",
			settled: func(namespace, name string, generation int64) []metav1.Condition {
				return secretNotFoundConditions(namespace, name, generation)
			},
			settledEvt: func(namespace, name string) (string, string, string) {
				return "Warning", crmv1.ReasonSecretNotFound, secretNotFoundMessage(namespace, name)
			},
			newObject: func(namespace, name string) client.Object {
				return &crmv1.CRMConnection{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
					Spec: crmv1.CRMConnectionSpec{
						Provider: crmv1.ProviderHubSpot,
						Auth: crmv1.AuthSpec{
							Type:      crmv1.AuthPrivateAppToken,
							SecretRef: crmv1.LocalObjectReference{Name: "hubspot-credentials"},
						},
					},
				}
			},
			status:     func(o client.Object) *crmv1.ReconcileStatus { return &o.(*crmv1.CRMConnection).Status.ReconcileStatus },
			changeSpec: func(o client.Object) { o.(*crmv1.CRMConnection).Spec.APIVersion = "v3" },
			setSuspend: func(o client.Object, v bool) { o.(*crmv1.CRMConnection).Spec.Suspend = v },
		},
		{
			kind: "FieldMapping",
			settled: func(namespace, name string, generation int64) []metav1.Condition {
				return readyConditions(fmt.Sprintf("FieldMapping %s/%s is ready", namespace, name), generation)
			},
			settledEvt: func(namespace, name string) (string, string, string) {
				return "Normal", crmv1.ReasonSucceeded, fmt.Sprintf("FieldMapping %s/%s is ready", namespace, name)
			},
			newObject: func(namespace, name string) client.Object {
				return &crmv1.FieldMapping{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
					Spec: crmv1.FieldMappingSpec{
						Provider: crmv1.ProviderHubSpot,
						Object:   crmv1.ObjectContacts,
						Fields:   []crmv1.FieldMappingField{{Name: "leadScore", RemoteName: "lead_score", Type: crmv1.FieldInteger}},
					},
				}
			},
			status:     func(o client.Object) *crmv1.ReconcileStatus { return &o.(*crmv1.FieldMapping).Status.ReconcileStatus },
			changeSpec: func(o client.Object) { o.(*crmv1.FieldMapping).Spec.RemoteObject = "contacts" },
		},
		{
			kind: "SyncJob",
			settled: func(namespace, name string, generation int64) []metav1.Condition {
				return retryingConditions(crmv1.ReasonDependencyNotReady, missingConnectionMessage(namespace, name), generation)
			},
			settledEvt: func(namespace, name string) (string, string, string) {
				return "Warning", crmv1.ReasonDependencyNotReady, missingConnectionMessage(namespace, name)
			},
			newObject: func(namespace, name string) client.Object {
				return &crmv1.SyncJob{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
					Spec: crmv1.SyncJobSpec{
						Object: crmv1.ObjectContacts,
						Source: crmv1.Endpoint{
							ConnectionRef:   &crmv1.LocalObjectReference{Name: "hubspot"},
							FieldMappingRef: &crmv1.LocalObjectReference{Name: "hubspot-contacts"},
						},
						Destination: crmv1.Endpoint{SQL: &crmv1.SQLEndpoint{Driver: crmv1.SQLSQLite, Table: "contacts"}},
					},
				}
			},
			status:     func(o client.Object) *crmv1.ReconcileStatus { return &o.(*crmv1.SyncJob).Status.ReconcileStatus },
			changeSpec: func(o client.Object) { o.(*crmv1.SyncJob).Spec.Deletion.Policy = crmv1.DeletionArchive },
			setSuspend: func(o client.Object, v bool) { o.(*crmv1.SyncJob).Spec.Suspend = v },
		},
	}
}

func missingConnectionMessage(namespace, name string) string {
	return fmt.Sprintf("SyncJob %s/%s: source CRMConnection %s/hubspot not found: create it or fix spec.source.connectionRef", namespace, name, namespace)
}

// retryingConditions are those of an object that is not ready while the controller keeps trying.
func retryingConditions(reason, message string, generation int64) []metav1.Condition {
	return []metav1.Condition{
		{Type: crmv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: generation},
		{Type: crmv1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: crmv1.ReasonProgressing, Message: message, ObservedGeneration: generation},
	}
}

func secretNotFoundMessage(namespace, name string) string {
	return fmt.Sprintf("CRMConnection %s/%s: Secret %s/hubspot-credentials not found: create it with keys [token] (see docs/credentials.md)", namespace, name, namespace)
}

// secretNotFoundConditions are those of a CRMConnection whose credentials Secret does not exist: stalled
// until the Secret appears, which the controller watches.
func secretNotFoundConditions(namespace, name string, generation int64) []metav1.Condition {
	msg := secretNotFoundMessage(namespace, name)
	return append(notReadyConditions(crmv1.ReasonSecretNotFound, msg, generation),
		metav1.Condition{Type: crmv1.ConditionStalled, Status: metav1.ConditionTrue, Reason: crmv1.ReasonSecretNotFound, Message: msg, ObservedGeneration: generation},
		metav1.Condition{Type: crmv1.ConditionAuthenticated, Status: metav1.ConditionFalse, Reason: crmv1.ReasonSecretNotFound,
			Message: fmt.Sprintf("Secret %s/hubspot-credentials not found: create it with keys [token] (see docs/credentials.md)", namespace), ObservedGeneration: generation})
}

// readyConditions are the conditions of an object that does its job.
func readyConditions(message string, generation int64) []metav1.Condition {
	return []metav1.Condition{
		{Type: crmv1.ConditionReady, Status: metav1.ConditionTrue, Reason: crmv1.ReasonSucceeded, Message: message, ObservedGeneration: generation},
		{Type: crmv1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: crmv1.ReasonSucceeded, Message: message, ObservedGeneration: generation},
	}
}

// conditionsIgnoringTime compares conditions by content, in any order.
var conditionsIgnoringTime = cmp.Options{
	cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime"),
	cmpopts.SortSlices(func(a, b metav1.Condition) bool { return a.Type < b.Type }),
}

// notReadyConditions are the conditions of an object that is not ready and has no work in progress.
func notReadyConditions(reason, message string, generation int64) []metav1.Condition {
	return []metav1.Condition{
		{Type: crmv1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: generation},
		{Type: crmv1.ConditionReconciling, Status: metav1.ConditionFalse, Reason: reason, Message: message, ObservedGeneration: generation},
	}
}

// waitForConditions waits until obj's status describes its current generation with exactly want.
func waitForConditions(t *testing.T, k kindUnderTest, obj client.Object, want func(generation int64) []metav1.Condition) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s %s conditions", k.kind, obj.GetName()), func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		status := k.status(obj)
		if status.ObservedGeneration != obj.GetGeneration() {
			return fmt.Errorf("status.observedGeneration is %d, metadata.generation is %d", status.ObservedGeneration, obj.GetGeneration())
		}
		if diff := cmp.Diff(want(obj.GetGeneration()), status.Conditions, conditionsIgnoringTime); diff != "" {
			return fmt.Errorf("conditions (-want +got):\n%s", diff)
		}
		return nil
	})
}

func patchObject(t *testing.T, obj client.Object, change func(client.Object)) {
	t.Helper()
	before := obj.DeepCopyObject().(client.Object)
	change(obj)
	if err := k8sClient.Patch(context.Background(), obj, client.MergeFrom(before)); err != nil {
		t.Fatalf("patch %s: %v", obj.GetName(), err)
	}
}

func TestEveryKindSettlesWithHonestStatus(t *testing.T) {
	for _, k := range kindsUnderTest() {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			obj := k.newObject(ns, "acme")
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			settled := func(generation int64) []metav1.Condition { return k.settled(ns, "acme", generation) }
			waitForConditions(t, k, obj, settled)
			if !controllerutil.ContainsFinalizer(obj, crmv1.Finalizer) {
				t.Errorf("finalizers = %v, want %s", obj.GetFinalizers(), crmv1.Finalizer)
			}
			waitFor(t, "an event with the Ready message", func() error {
				eventType, reason, note := k.settledEvt(ns, "acme")
				return findEvent(ns, obj.GetName(), eventType, reason, note)
			})

			generation := obj.GetGeneration()
			patchObject(t, obj, k.changeSpec)
			if obj.GetGeneration() == generation {
				t.Fatalf("changing the spec did not bump metadata.generation from %d", generation)
			}
			waitForConditions(t, k, obj, settled)
		})
	}
}

func findEvent(namespace, regarding, eventType, reason, note string) error {
	var events eventsv1.EventList
	if err := k8sClient.List(context.Background(), &events, client.InNamespace(namespace)); err != nil {
		return err
	}
	for _, e := range events.Items {
		if e.Regarding.Name == regarding && e.Type == eventType && e.Reason == reason && e.Note == note {
			return nil
		}
	}
	return fmt.Errorf("no %s event %s for %s among %d events", eventType, reason, regarding, len(events.Items))
}

func TestSuspendedObjectsReportSuspendedAndResume(t *testing.T) {
	for _, k := range kindsUnderTest() {
		if k.setSuspend == nil {
			continue
		}
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			obj := k.newObject(ns, "paused")
			k.setSuspend(obj, true)
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			waitForConditions(t, k, obj, func(generation int64) []metav1.Condition {
				return notReadyConditions(crmv1.ReasonSuspended,
					fmt.Sprintf("%s %s/paused is suspended: set spec.suspend to false to resume", k.kind, ns), generation)
			})

			patchObject(t, obj, func(o client.Object) { k.setSuspend(o, false) })
			waitForConditions(t, k, obj, func(generation int64) []metav1.Condition { return k.settled(ns, "paused", generation) })
		})
	}
}

func TestReconcileRequestAnnotationIsMirroredToStatus(t *testing.T) {
	for _, k := range kindsUnderTest() {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			obj := k.newObject(ns, "requested")
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			waitFor(t, "the first reconcile", func() error {
				if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
					return err
				}
				if meta.FindStatusCondition(k.status(obj).Conditions, crmv1.ConditionReady) == nil {
					return errors.New("no Ready condition yet")
				}
				return nil
			})

			const requestedAt = "2026-03-04T05:06:07Z"
			patchObject(t, obj, func(o client.Object) {
				o.SetAnnotations(map[string]string{crmv1.ReconcileRequestAnnotation: requestedAt})
			})
			waitFor(t, "status.lastHandledReconcileAt", func() error {
				if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
					return err
				}
				if got := k.status(obj).LastHandledReconcileAt; got != requestedAt {
					return fmt.Errorf("status.lastHandledReconcileAt = %q, want %q", got, requestedAt)
				}
				return nil
			})
		})
	}
}

func TestDeletionRemovesTheFinalizer(t *testing.T) {
	for _, k := range kindsUnderTest() {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			obj := k.newObject(ns, "doomed")
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Fatalf("create: %v", err)
			}
			waitFor(t, "the finalizer", func() error {
				if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
					return err
				}
				if !controllerutil.ContainsFinalizer(obj, crmv1.Finalizer) {
					return fmt.Errorf("finalizers = %v", obj.GetFinalizers())
				}
				return nil
			})
			if err := k8sClient.Delete(context.Background(), obj); err != nil {
				t.Fatalf("delete: %v", err)
			}
			waitFor(t, "the object to be gone", func() error {
				err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
				if apierrors.IsNotFound(err) {
					return nil
				}
				if err != nil {
					return err
				}
				return fmt.Errorf("still present with finalizers %v", obj.GetFinalizers())
			})
		})
	}
}
