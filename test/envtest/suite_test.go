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
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmsync/crmsync/internal/testutil/envtestutil"
)

// k8sClient talks to the envtest API server directly (no cache): a test sees its own writes at once, and
// the hand-built reconcilers use it as both their client and their API reader.
var (
	k8sClient client.Client
	scheme    *runtime.Scheme
)

// TestMain starts one API server with the real CRDs and no manager: the tests drive
// CRMConnectionReconciler.Reconcile themselves, on a fake clock, so no real-time reconciler interferes.
// Without envtest binaries it fails: these tests must never be skipped.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	// Everything controller-runtime and client-go log goes to the capture, at the most verbose level, so
	// that the log test sees every line.
	ctrl.SetLogger(captureLogger())
	klog.SetLogger(captureLogger())

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
	k8sClient, scheme = cluster.Client, cluster.Scheme
	return m.Run()
}

// newNamespace creates a namespace of its own for one test. envtest runs no namespace controller, so it is
// never removed; generated names keep tests apart.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "crmsync-envtest-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// logCapture collects every log line written by any logger of the suite: controller-runtime's, klog's
// and the ones the tests hand to registries.
var logCapture = &lineBuffer{}

// lineBuffer is a concurrency-safe list of lines.
type lineBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lineBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, line)
}

// since returns the lines added after the first n.
func (b *lineBuffer) since(n int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.lines[min(n, len(b.lines)):]...)
}

func (b *lineBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// captureLogger logs everything, at every verbosity, into logCapture.
func captureLogger() logr.Logger { return captureLoggerAt(maxVerbosity) }

// maxVerbosity enables every log line: client-go logs request and response bodies from 8 on.
const maxVerbosity = 100

// captureLoggerAt logs into logCapture up to verbosity v.
func captureLoggerAt(v int) logr.Logger {
	return funcr.New(func(prefix, args string) {
		logCapture.add(strings.TrimSpace(prefix + " " + args))
	}, funcr.Options{Verbosity: v, LogCaller: funcr.None})
}
