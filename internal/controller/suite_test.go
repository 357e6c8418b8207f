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
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/testutil/envtestutil"
)

// k8sClient talks to the envtest API server directly (no cache), so a test sees its own writes at once.
var k8sClient client.Client

// TestMain starts one API server with the real CRDs and one manager running every reconciler, for all
// tests of the package. Without envtest binaries it fails: these tests must never be skipped.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(logr.Discard())

	cluster, err := envtestutil.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()
	cfg, scheme := cluster.Config, cluster.Scheme
	k8sClient = cluster.Client
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "create manager: %v\n", err)
		return 1
	}
	stateDir, err := os.MkdirTemp("", "crmsync-controller-test-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "create state dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(stateDir)
	store, err := state.Open(context.Background(), "sqlite://"+filepath.Join(stateDir, "state.db"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "open state store: %v\n", err)
		return 1
	}
	defer store.Close()
	testStore = store
	testConnections = &connections.Registry{}
	if err := SetupAll(mgr, Options{MaxConcurrentReconciles: 2, StateStore: store, SQLiteDir: stateDir, Connections: testConnections}); err != nil {
		fmt.Fprintf(os.Stderr, "set up controllers: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(ctx) }()

	code := m.Run()
	cancel()
	if err := <-stopped; err != nil {
		fmt.Fprintf(os.Stderr, "manager stopped with an error: %v\n", err)
		code = max(code, 1)
	}
	return code
}

// testStore and testConnections are the state store and connection registry of the suite's manager.
var (
	testStore       state.Store
	testConnections *connections.Registry
)

// newNamespace creates a namespace of its own for one test. envtest runs no namespace controller, so it is
// never removed; unique names keep tests apart.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crmsync-test-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// waitFor polls check until it returns nil or the timeout passes, then fails the test with the last
// reason check gave.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	const timeout, interval = 20 * time.Second, 100 * time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(interval)
	}
}
