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
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/crmsync/crmsync/internal/testutil/envtestutil"
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
	restConfig, k8sClient, scheme = cluster.Config, cluster.Client, cluster.Scheme
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
