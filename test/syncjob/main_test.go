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
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/testutil/pgtest"
)

// The suite's API server, its client (uncached: a test sees its own writes at once) and the PostgreSQL
// server that holds one database per test.
var (
	restConfig *rest.Config
	k8sClient  client.Client
	scheme     *runtime.Scheme
	pgServer   *pgtest.Server
)

// TestMain starts the API server with the real CRDs and the throwaway PostgreSQL server. Each test starts
// its own manager. Without envtest binaries or PostgreSQL it fails: these tests must never be skipped.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "FAIL: KUBEBUILDER_ASSETS is not set, so the SyncJob suite cannot start an API server.\n"+
			"Run `make test`, or run `export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)` from the repository root and retry.")
		return 1
	}
	ctrl.SetLogger(captureLogger())
	klog.SetLogger(captureLogger())

	pg, err := pgtest.StartServer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start PostgreSQL: %v\n", err)
		return 1
	}
	pgServer = pg
	defer func() {
		if err := pg.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop PostgreSQL: %v\n", err)
		}
	}()

	env := &ctrlenvtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	if restConfig, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: start envtest with the assets in KUBEBUILDER_ASSETS: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}()

	scheme = runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), crmv1.AddToScheme(scheme)); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: build scheme: %v\n", err)
		return 1
	}
	if k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: create client: %v\n", err)
		return 1
	}
	return m.Run()
}

// logs collects every line the managers, controller-runtime and client-go log; a failing test prints the
// lines logged while it ran.
var logs = &lineBuffer{}

type lineBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lineBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

func (b *lineBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// since returns the lines added after the first n, the last max of them.
func (b *lineBuffer) since(n, limit int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.lines[min(n, len(b.lines)):]
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return append([]string(nil), out...)
}

func captureLogger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		logs.add(strings.TrimSpace(prefix + " " + args))
	}, funcr.Options{Verbosity: 0, LogCaller: funcr.None, LogTimestamp: true})
}

// dumpLogsOnFailure prints the lines logged during the test when it fails.
func dumpLogsOnFailure(t *testing.T) {
	t.Helper()
	start := logs.len()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, l := range logs.since(start, 300) {
			t.Log(l)
		}
	})
}
