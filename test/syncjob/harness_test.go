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

package syncjob

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/controller"
	"github.com/crmsync/crmsync/internal/state"
)

// env is one test's namespace and the manager that runs the crmsync controllers for it. The manager can
// be stopped and started again on the same state store, as a restarted process would.
type env struct {
	t        *testing.T
	ctx      context.Context
	ns       string
	stateURL string
	sqlite   string
	mgr      *runningManager
	requests int
}

// runningManager is one started manager and the state store it owns.
type runningManager struct {
	cancel context.CancelFunc
	done   chan error
	store  state.Store
}

// newEnv creates the test's namespace and starts its manager. Create the endpoints (emulators, databases)
// first: cleanups run in reverse, so the manager then stops before its endpoints go away.
func newEnv(t *testing.T) *env {
	t.Helper()
	dumpLogsOnFailure(t)
	dir := t.TempDir()
	e := &env{
		t:        t,
		ctx:      context.Background(),
		ns:       newNamespace(t),
		stateURL: "sqlite://" + filepath.Join(dir, "state.db"),
		sqlite:   filepath.Join(dir, "sqlite"),
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// newNamespace creates a namespace of its own for one test. envtest runs no namespace controller, so it is
// never removed; generated names keep tests apart.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crmsync-syncjob-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// start opens the state store and starts a manager running controller.SetupAll, watching the test's
// namespace only. Every start has a fresh registry of live connections: nothing in memory survives a
// restart, only the API server, the state store and the endpoints.
func (e *env) start() {
	e.t.Helper()
	if e.mgr != nil {
		e.t.Fatal("start: the manager is already running")
	}
	store, err := state.Open(e.ctx, e.stateURL)
	if err != nil {
		e.t.Fatalf("open the state store: %v", err)
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{e.ns: {}}},
		// A restarted manager registers the same controllers again in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		_ = store.Close()
		e.t.Fatalf("create manager: %v", err)
	}
	err = controller.SetupAll(mgr, controller.Options{
		MaxConcurrentReconciles: 2,
		StateStore:              store,
		SQLiteDir:               e.sqlite,
		MaxConcurrentSyncs:      2,
		SyncMetrics:             controller.NewSyncMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		_ = store.Close()
		e.t.Fatalf("set up controllers: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &runningManager{cancel: cancel, done: make(chan error, 1), store: store}
	go func() { m.done <- mgr.Start(ctx) }()
	e.mgr = m
}

// crash cancels the manager's context, as a process that is killed with its work in flight. It returns at
// once; stop waits for the manager to wind down.
func (e *env) crash() {
	if e.mgr != nil {
		e.mgr.cancel()
	}
}

// stop cancels the manager, waits for it to return and closes its state store.
func (e *env) stop() {
	e.t.Helper()
	m := e.mgr
	if m == nil {
		return
	}
	e.mgr = nil
	m.cancel()
	select {
	case err := <-m.done:
		if err != nil {
			e.t.Errorf("manager stopped with an error: %v", err)
		}
	case <-time.After(2 * time.Minute):
		e.t.Errorf("the manager did not stop within 2m of its context being cancelled")
	}
	if err := m.store.Close(); err != nil {
		e.t.Errorf("close the state store: %v", err)
	}
}

// store is the running manager's state store, for checking links.
func (e *env) store() state.Store {
	e.t.Helper()
	if e.mgr == nil {
		e.t.Fatal("no manager is running")
	}
	return e.mgr.store
}

func (e *env) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: e.ns, Name: name}
}

func (e *env) create(obj client.Object) {
	e.t.Helper()
	obj.SetNamespace(e.ns)
	if err := k8sClient.Create(e.ctx, obj); err != nil {
		e.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func (e *env) createSecret(name string, data map[string]string) {
	e.t.Helper()
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data})
}

// createConnection creates a CRMConnection with its credentials Secret (of the same name) and waits until
// it is Ready.
func (e *env) createConnection(name string, spec crmv1.CRMConnectionSpec, credentials map[string]string) {
	e.t.Helper()
	e.createSecret(name, credentials)
	spec.Auth.SecretRef = crmv1.LocalObjectReference{Name: name}
	e.create(&crmv1.CRMConnection{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	poll(e.t, time.Minute, "CRMConnection "+name+" to be Ready", func() error {
		var c crmv1.CRMConnection
		if err := k8sClient.Get(e.ctx, e.key(name), &c); err != nil {
			return err
		}
		return conditionIs(c.Status.Conditions, crmv1.ConditionReady, metav1.ConditionTrue)
	})
}

// createMapping creates a FieldMapping and waits until it is Ready.
func (e *env) createMapping(name string, spec crmv1.FieldMappingSpec) {
	e.t.Helper()
	e.create(&crmv1.FieldMapping{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec})
	poll(e.t, time.Minute, "FieldMapping "+name+" to be Ready", func() error {
		var m crmv1.FieldMapping
		if err := k8sClient.Get(e.ctx, e.key(name), &m); err != nil {
			return err
		}
		return conditionIs(m.Status.Conditions, crmv1.ConditionReady, metav1.ConditionTrue)
	})
}

// createJob creates a SyncJob that asks for its first run at once, waits for that run and returns the
// job as the run left it.
func (e *env) createJob(name string, spec crmv1.SyncJobSpec) *crmv1.SyncJob {
	e.t.Helper()
	e.createJobNoWait(name, spec)
	return e.awaitRun(name, "initial")
}

// createJobNoWait creates a SyncJob that asks for its first run at once, without waiting for it.
func (e *env) createJobNoWait(name string, spec crmv1.SyncJobSpec) {
	e.t.Helper()
	e.create(&crmv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{crmv1.ReconcileRequestAnnotation: "initial"}},
		Spec:       spec,
	})
}

func (e *env) job(name string) *crmv1.SyncJob {
	e.t.Helper()
	var j crmv1.SyncJob
	if err := k8sClient.Get(e.ctx, e.key(name), &j); err != nil {
		e.t.Fatalf("get SyncJob %s: %v", name, err)
	}
	return &j
}

// requestRun sets a new value of the reconcile-request annotation, which means "run now", and returns it.
func (e *env) requestRun(name string) string {
	e.t.Helper()
	e.requests++
	value := fmt.Sprintf("run-%d-%d", e.requests, time.Now().UnixNano())
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, crmv1.ReconcileRequestAnnotation, value)
	job := &crmv1.SyncJob{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name}}
	if err := k8sClient.Patch(e.ctx, job, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		e.t.Fatalf("request a run of SyncJob %s: %v", name, err)
	}
	return value
}

// runSync asks for a run of SyncJob name and waits until a run has finished successfully, then returns
// the job. A request that a freshly started manager handled before its connections were up is repeated.
func (e *env) runSync(name string) *crmv1.SyncJob {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		value := e.requestRun(name)
		job := e.awaitHandled(name, value)
		ready := meta.FindStatusCondition(job.Status.Conditions, crmv1.ConditionReady)
		switch {
		case ready != nil && ready.Status == metav1.ConditionTrue:
			return job
		case ready != nil && ready.Reason == crmv1.ReasonDependencyNotReady && time.Now().Before(deadline):
			continue
		}
		e.t.Fatalf("SyncJob %s: the requested run did not succeed: %s", name, describeJob(job))
		return nil
	}
}

// awaitFirstSync waits until a job's first run has completed successfully on its own (with no run in
// progress), as a freshly started manager runs a job that has never finished one.
func (e *env) awaitFirstSync(name string) *crmv1.SyncJob {
	e.t.Helper()
	var job *crmv1.SyncJob
	poll(e.t, 2*time.Minute, "the first sync of SyncJob "+name, func() error {
		j := e.job(name)
		if j.Status.LastSyncTime == nil || j.Status.Progress != nil {
			return fmt.Errorf("no run has finished yet (progress %+v); %s", j.Status.Progress, describeJob(j))
		}
		if err := conditionIs(j.Status.Conditions, crmv1.ConditionReady, metav1.ConditionTrue); err != nil {
			return err
		}
		job = j
		return nil
	})
	return job
}

// awaitRun waits until the request value was handled by a run and returns the job; the run must have
// succeeded.
func (e *env) awaitRun(name, value string) *crmv1.SyncJob {
	e.t.Helper()
	job := e.awaitHandled(name, value)
	if err := conditionIs(job.Status.Conditions, crmv1.ConditionReady, metav1.ConditionTrue); err != nil {
		e.t.Fatalf("SyncJob %s: the run did not succeed: %v; %s", name, err, describeJob(job))
	}
	return job
}

// awaitHandled waits until the controller has finished the reconcile that handled request value. The
// controller records the handled request in the same status patch as the run's results.
func (e *env) awaitHandled(name, value string) *crmv1.SyncJob {
	e.t.Helper()
	var job *crmv1.SyncJob
	poll(e.t, 3*time.Minute, fmt.Sprintf("SyncJob %s to handle run request %s", name, value), func() error {
		var j crmv1.SyncJob
		if err := k8sClient.Get(e.ctx, e.key(name), &j); err != nil {
			return err
		}
		if j.Status.LastHandledReconcileAt != value {
			return fmt.Errorf("last handled request is %q; %s", j.Status.LastHandledReconcileAt, describeJob(&j))
		}
		job = &j
		return nil
	})
	return job
}

// describeJob summarises a job's status for failure messages.
func describeJob(j *crmv1.SyncJob) string {
	var b strings.Builder
	for _, c := range j.Status.Conditions {
		fmt.Fprintf(&b, "%s=%s (%s: %s); ", c.Type, c.Status, c.Reason, c.Message)
	}
	if j.Status.LastRun != nil {
		fmt.Fprintf(&b, "lastRun=%+v; ", j.Status.LastRun.RecordCounters)
	}
	fmt.Fprintf(&b, "failedRecords=%d; recentErrors=%q", j.Status.FailedRecords, j.Status.RecentErrors)
	return b.String()
}

// events returns the reasons of the events recorded about SyncJob name, oldest first.
func (e *env) events(name string) []eventsv1.Event {
	e.t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(e.ctx, &list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatalf("list events: %v", err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Kind == "SyncJob" && ev.Regarding.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// expectEvents waits until SyncJob name has events with each of reasons.
func (e *env) expectEvents(name string, reasons ...string) {
	e.t.Helper()
	poll(e.t, 30*time.Second, fmt.Sprintf("events %v about SyncJob %s", reasons, name), func() error {
		seen := map[string]bool{}
		for _, ev := range e.events(name) {
			seen[ev.Reason] = true
		}
		var missing []string
		for _, r := range reasons {
			if !seen[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %v (seen %v)", missing, seen)
		}
		return nil
	})
}

func conditionIs(conds []metav1.Condition, typ string, want metav1.ConditionStatus) error {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return fmt.Errorf("no %s condition", typ)
	}
	if c.Status != want {
		return fmt.Errorf("%s is %s (%s: %s), want %s", typ, c.Status, c.Reason, c.Message, want)
	}
	return nil
}

// expectCondition fails the test unless the job's condition typ has status and reason.
func expectCondition(t *testing.T, job *crmv1.SyncJob, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := meta.FindStatusCondition(job.Status.Conditions, typ)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("SyncJob %s: want condition %s=%s with reason %s; %s", job.Name, typ, status, reason, describeJob(job))
	}
}

// poll calls check every 50ms until it returns nil, and fails the test with check's last error when
// timeout passes first.
func poll(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
