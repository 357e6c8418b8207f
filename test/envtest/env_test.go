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

package envtest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/controller"
)

// env is one test's namespace with a hand-built CRMConnection reconciler (what a manager would run),
// sharing the test's fake clock with the registry of live connections.
type env struct {
	t *testing.T
	// ctx is the context of reconciles and syncs; its logger writes to the capture.
	ctx context.Context
	// kubectl is the context of what the test does as a person would, with kubectl: its API calls are
	// not crmsync's, so they log nothing (client-go logs Secret bodies at verbosity 8).
	kubectl context.Context
	ns      string
	clock   *fakeClock
	events  *eventRecorder
	// verbosity of the loggers of the reconciler and the registry.
	verbosity int

	registry   *connections.Registry
	reconciler *controller.CRMConnectionReconciler
}

func newEnv(t *testing.T, clock *fakeClock) *env {
	t.Helper()
	return newEnvLogging(t, clock, 1)
}

// newEnvLogging is newEnv with the reconciler's and the registry's loggers at verbosity v. Only the log
// test needs the most verbose level, where client-go logs every request and response body.
func newEnvLogging(t *testing.T, clock *fakeClock, v int) *env {
	t.Helper()
	e := &env{
		t:         t,
		verbosity: v,
		ctx:       log.IntoContext(context.Background(), captureLoggerAt(v).WithName("reconcile")),
		kubectl:   log.IntoContext(context.Background(), logr.Discard()),
		ns:        newNamespace(t),
		clock:     clock,
		events:    &eventRecorder{},
	}
	e.restart()
	return e
}

// restart replaces the registry and the reconciler, as a new manager process would: every live
// connection, cached token and budget in memory is gone; only what is in the API server remains.
func (e *env) restart() {
	e.registry = &connections.Registry{Clock: e.clock, Logger: captureLoggerAt(e.verbosity).WithName("connections")}
	e.reconciler = &controller.CRMConnectionReconciler{
		Client:      k8sClient,
		APIReader:   k8sClient,
		Recorder:    e.events,
		Connections: e.registry,
		Now:         e.clock.Now,
	}
}

func (e *env) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: e.ns, Name: name}
}

// reconcile runs one reconcile of CRMConnection name.
func (e *env) reconcile(name string) (ctrl.Result, error) {
	return e.reconciler.Reconcile(e.ctx, ctrl.Request{NamespacedName: e.key(name)})
}

// mustReconcile runs one reconcile and fails the test on an error.
func (e *env) mustReconcile(name string) ctrl.Result {
	e.t.Helper()
	res, err := e.reconcile(name)
	if err != nil {
		e.t.Fatalf("reconcile %s at %s: %v", name, e.clock.Now().Format("15:04:05"), err)
	}
	return res
}

// createSecret creates the credentials Secret name with data.
func (e *env) createSecret(name string, data map[string]string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	if err := k8sClient.Create(e.kubectl, s); err != nil {
		e.t.Fatalf("create Secret %s: %v", name, err)
	}
	return s
}

// setSecretKey sets one key of Secret name, as a person re-authorising would.
func (e *env) setSecretKey(name, key, value string) {
	e.t.Helper()
	s := e.secret(name)
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[key] = []byte(value)
	if err := k8sClient.Update(e.kubectl, s); err != nil {
		e.t.Fatalf("update Secret %s: %v", name, err)
	}
}

func (e *env) secret(name string) *corev1.Secret {
	e.t.Helper()
	var s corev1.Secret
	if err := k8sClient.Get(e.kubectl, e.key(name), &s); err != nil {
		e.t.Fatalf("get Secret %s: %v", name, err)
	}
	return &s
}

// createConnection creates CRMConnection name with spec.
func (e *env) createConnection(name string, spec crmv1.CRMConnectionSpec) {
	e.t.Helper()
	c := &crmv1.CRMConnection{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}, Spec: spec}
	if err := k8sClient.Create(e.kubectl, c); err != nil {
		e.t.Fatalf("create CRMConnection %s: %v", name, err)
	}
}

// connect creates the credentials Secret and the CRMConnection of c, both called name.
func (e *env) connect(name string, c *crm) {
	e.t.Helper()
	e.createSecret(name, c.credentials)
	e.createConnection(name, c.spec(name))
}

func (e *env) get(name string) *crmv1.CRMConnection {
	e.t.Helper()
	var c crmv1.CRMConnection
	if err := k8sClient.Get(e.kubectl, e.key(name), &c); err != nil {
		e.t.Fatalf("get CRMConnection %s: %v", name, err)
	}
	return &c
}

// live returns the live connection the registry holds for name.
func (e *env) live(name string) *connections.Live {
	e.t.Helper()
	l, ok := e.registry.Get(e.key(name))
	if !ok {
		e.t.Fatalf("the registry holds no live connection for %s", name)
	}
	return l
}

// prefix is how condition messages and events name CRMConnection name.
func (e *env) prefix(name string) string {
	return fmt.Sprintf("CRMConnection %s/%s: ", e.ns, name)
}

// expectConditions compares the conditions of CRMConnection name with want, ignoring times and order.
func (e *env) expectConditions(name string, want ...metav1.Condition) {
	e.t.Helper()
	conn := e.get(name)
	for i := range want {
		want[i].ObservedGeneration = conn.Generation
	}
	if diff := cmp.Diff(want, conn.Status.Conditions, conditionsIgnoringTime); diff != "" {
		e.t.Fatalf("conditions of %s (-want +got):\n%s", name, diff)
	}
}

var conditionsIgnoringTime = cmp.Options{
	cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime"),
	cmpopts.SortSlices(func(a, b metav1.Condition) bool { return a.Type < b.Type }),
	cmpopts.EquateEmpty(),
}

func cond(typ string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message}
}

// readyConditions are the conditions of a healthy connection to c.
func (e *env) readyConditions(name string, c *crm) []metav1.Condition {
	ready := fmt.Sprintf("CRMConnection %s/%s is ready", e.ns, name)
	out := []metav1.Condition{
		cond(crmv1.ConditionReady, metav1.ConditionTrue, crmv1.ReasonSucceeded, ready),
		cond(crmv1.ConditionReconciling, metav1.ConditionFalse, crmv1.ReasonSucceeded, ready),
		cond(crmv1.ConditionAuthenticated, metav1.ConditionTrue, crmv1.ReasonSucceeded,
			fmt.Sprintf("authenticated to %s account %s", c.provider, c.account)),
	}
	if c.apiVersion != nil {
		out = append(out, *c.apiVersion)
	}
	return out
}

// stalledConditions are the conditions of a connection that waits for a person: reason and message (as
// in the Authenticated condition) say why.
func (e *env) stalledConditions(name, reason, message string) []metav1.Condition {
	full := e.prefix(name) + message
	return []metav1.Condition{
		cond(crmv1.ConditionReady, metav1.ConditionFalse, reason, full),
		cond(crmv1.ConditionReconciling, metav1.ConditionFalse, reason, full),
		cond(crmv1.ConditionStalled, metav1.ConditionTrue, reason, full),
		cond(crmv1.ConditionAuthenticated, metav1.ConditionFalse, reason, message),
	}
}

func condition(conn *crmv1.CRMConnection, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conn.Status.Conditions, typ)
}

// event is one event a reconciler emitted.
type event struct {
	regarding                       string
	eventType, reason, action, note string
}

// eventRecorder records events instead of sending them.
type eventRecorder struct {
	mu     sync.Mutex
	events []event
}

func (r *eventRecorder) Eventf(regarding, _ runtime.Object, eventType, reason, action, note string, args ...any) {
	name := ""
	if o, err := meta.Accessor(regarding); err == nil {
		name = o.GetNamespace() + "/" + o.GetName()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{regarding: name, eventType: eventType, reason: reason, action: action, note: fmt.Sprintf(note, args...)})
}

func (r *eventRecorder) all() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// last returns the last event about namespace/name.
func (r *eventRecorder) last(regarding string) (event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].regarding == regarding {
			return r.events[i], true
		}
	}
	return event{}, false
}

// count returns how many events are about namespace/name.
func (r *eventRecorder) count(regarding string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.regarding == regarding {
			n++
		}
	}
	return n
}
