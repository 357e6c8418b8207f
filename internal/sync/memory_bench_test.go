package sync_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/hubspot"
	"github.com/crmsync/crmsync/internal/connectors/sqltable"
	emulator "github.com/crmsync/crmsync/internal/emulator/hubspot"
	"github.com/crmsync/crmsync/internal/mapping"
	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/sync"
	"github.com/crmsync/crmsync/internal/transport"
)

// benchRecordsEnv overrides the size of BenchmarkInitialSync1MPeakRSS, e.g. 100000 while iterating.
const benchRecordsEnv = "CRMSYNC_BENCH_RECORDS"

// emulatorProcessEnv makes TestHubSpotEmulatorProcess serve a HubSpot emulator: the benchmark runs it in a
// child process (this test binary again), so that the emulator's million records and its garbage are not
// part of the memory it measures.
const emulatorProcessEnv = "CRMSYNC_SYNC_BENCH_EMULATOR"

// TestHubSpotEmulatorProcess is not a test: it does nothing unless the benchmark started this binary as its
// emulator process. Then it serves an emulator with the rate limits off on 127.0.0.1, prints its base URL
// and token as one JSON line, and exits when its standard input closes (the parent ended or died).
func TestHubSpotEmulatorProcess(t *testing.T) {
	if os.Getenv(emulatorProcessEnv) == "" {
		return
	}
	srv := emulator.New(emulator.Options{BurstLimit: -1, DailyLimit: -1, SearchPerSecond: -1, OrderedBatchResults: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	line, _ := json.Marshal(map[string]string{"baseURL": "http://" + ln.Addr().String(), "token": srv.Credentials().PrivateAppToken})
	fmt.Println(string(line))
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	}()
	_ = http.Serve(ln, srv)
	os.Exit(0)
}

// startEmulatorProcess runs TestHubSpotEmulatorProcess in a child process and returns its base URL and
// private app token.
func startEmulatorProcess(b *testing.B) (baseURL, token string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHubSpotEmulatorProcess$")
	cmd.Env = append(os.Environ(), emulatorProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("emulator process: %v", err)
	}
	var ep struct{ BaseURL, Token string }
	if err := json.Unmarshal([]byte(line), &ep); err != nil {
		b.Fatalf("emulator process said %q: %v", line, err)
	}
	return ep.BaseURL, ep.Token
}

// privateAppToken is a static HubSpot private app token.
type privateAppToken string

func (t privateAppToken) Token(context.Context) (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: string(t), TokenType: "Bearer"}, nil
}

// sqliteDecl is the SQLite column type of a canonical type, as an application would declare it.
func sqliteDecl(t mapping.Type) string {
	switch t {
	case mapping.TypeNumber, mapping.TypeCurrency:
		return "NUMERIC"
	case mapping.TypeInteger:
		return "INTEGER"
	case mapping.TypeBoolean:
		return "BOOLEAN"
	case mapping.TypeDate:
		return "DATE"
	case mapping.TypeDateTime:
		return "TIMESTAMP"
	}
	return "TEXT"
}

// fillContactsTable creates an application's contacts table in the SQLite file path with plain SQL, one
// column per field of m, and inserts n contacts in one statement, before crmsync knows the table (so the
// change log starts empty and the first run reads the table as a snapshot).
func fillContactsTable(b *testing.B, path, table string, m *mapping.Mapping, n int) {
	b.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cols := []string{`id TEXT PRIMARY KEY NOT NULL`, `updated_at TEXT NOT NULL`, `deleted_at TEXT`}
	for _, f := range m.Fields() {
		cols = append(cols, strconv.Quote(f.Name)+" "+sqliteDecl(f.Type))
	}
	if _, err := db.Exec(`CREATE TABLE ` + table + ` (` + strings.Join(cols, ", ") + `)`); err != nil {
		b.Fatal(err)
	}
	values := map[string]string{
		"email":          `printf('user%07d@example.com', i)`,
		"firstName":      `'Ada'`,
		"lastName":       `printf('Contact %d', i)`,
		"phone":          `printf('+353 1 %07d', i)`,
		"jobTitle":       `'Engineer'`,
		"company":        `printf('Company %d', i % 5000)`,
		"lifecycleStage": `CASE i % 3 WHEN 0 THEN 'lead' WHEN 1 THEN 'customer' ELSE 'subscriber' END`,
		"city":           `'Dublin'`,
		"country":        `'Ireland'`,
	}
	names, exprs := []string{"id", "updated_at"}, []string{`printf('c%07d', i)`, `?1`}
	for _, f := range m.Fields() {
		if v, ok := values[f.Name]; ok {
			names, exprs = append(names, strconv.Quote(f.Name)), append(exprs, v)
		}
	}
	if len(names) != 2+len(values) {
		b.Fatalf("the SQL mapping of contacts lacks some of %v", values)
	}
	at := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z")
	_, err = db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?2)
		INSERT INTO `+table+` (`+strings.Join(names, ", ")+`) SELECT `+strings.Join(exprs, ", ")+` FROM seq`, at, n)
	if err != nil {
		b.Fatal(err)
	}
}

// memorySampler records the peak resident set (VmRSS) and the peak of Go's live heap objects while it runs.
type memorySampler struct {
	rss, heap atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
}

func sampleMemory() *memorySampler {
	s := &memorySampler{stop: make(chan struct{}), done: make(chan struct{})}
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := procStatus("VmRSS"); v > s.rss.Load() {
				s.rss.Store(v)
			}
			metrics.Read(heap)
			if v := heap[0].Value.Uint64(); v > s.heap.Load() {
				s.heap.Store(v)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *memorySampler) finish() (rss, heap uint64) {
	close(s.stop)
	<-s.done
	return s.rss.Load(), s.heap.Load()
}

// procStatus returns a "kB" field of /proc/self/status in bytes, or 0.
func procStatus(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(data) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkInitialSync1MPeakRSS measures the peak resident memory of this process during the initial
// OneWay sync of 1,000,000 contacts from an application's SQLite table (the sqltable connector) to the
// HubSpot emulator, through the engine with the SQLite state store, as the controller wires them: the SQL
// mapping on one side, HubSpot's default contacts mapping on the other, matched by email and upserted by
// it. The emulator runs in a child process with its rate limits off, so that its records are not counted.
// The target is a peak under 300 MB.
//
// The peak is VmHWM after resetting it (writing 5 to /proc/self/clear_refs) once the table is filled, or,
// where that is refused, the highest VmRSS sampled every 20 ms. peak-heap-MB is the highest live Go heap
// sampled; the rest of the RSS is the runtime's free and unreturned pages, goroutine stacks and SQLite's
// page caches (allocated outside the Go heap).
//
// It runs one sync whatever b.N is and takes several minutes: run it alone with -benchtime=1x. Set
// CRMSYNC_BENCH_RECORDS to a smaller size (e.g. 100000) while iterating.
func BenchmarkInitialSync1MPeakRSS(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv(benchRecordsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number of records", benchRecordsEnv, v)
		}
	}
	ctx := context.Background()
	dir := b.TempDir()

	srcMap, err := mapping.ForSQL(connectors.Contacts, "contacts", nil)
	if err != nil {
		b.Fatal(err)
	}
	dstMap, err := mapping.Default(mapping.HubSpot, connectors.Contacts)
	if err != nil {
		b.Fatal(err)
	}
	appDB := filepath.Join(dir, "app.db")
	fillContactsTable(b, appDB, "contacts", srcMap, n)

	var specs []sqltable.FieldSpec
	for _, f := range srcMap.Fields() {
		specs = append(specs, sqltable.FieldSpec{Name: f.Name, Type: string(f.Type)})
	}
	src, err := sqltable.New(ctx, sqltable.Config{Driver: sqltable.DriverSQLite, DSN: appDB, Table: "contacts",
		Object: connectors.Contacts, Fields: specs, JobName: "bench/initial"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = src.Close() })
	base, token := startEmulatorProcess(b)
	dst, err := hubspot.New(hubspot.Config{BaseURL: base, Tokens: privateAppToken(token), SearchPerSecond: -1,
		Budget: transport.NewBudget(transport.BudgetConfig{}, nil)})
	if err != nil {
		b.Fatal(err)
	}
	store, err := state.Open(ctx, "sqlite://"+filepath.Join(dir, "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	job := sync.Job{
		Name:         "bench/initial",
		Source:       sync.Side{Connector: src, Object: "contacts", Mapper: sync.FromMapping(srcMap)},
		Dest:         sync.Side{Connector: dst, Object: dstMap.RemoteObject(), Mapper: sync.FromMapping(dstMap), UpsertKey: "email"},
		Direction:    sync.OneWay,
		Match:        sync.Match{Field: "email", CaseInsensitive: true},
		DeletePolicy: sync.Propagate,
	}
	engine := sync.New(store, sync.Options{})

	runtime.GC()
	debug.FreeOSMemory()
	resetHWM := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	before := procStatus("VmRSS")
	sampler := sampleMemory()
	b.ResetTimer()
	res, err := engine.Run(ctx, job, nil)
	b.StopTimer()
	rss, heap := sampler.finish()
	if err != nil {
		b.Fatal(err)
	}
	if res.Counters.Created != int64(n) || res.Counters.Failed != 0 {
		b.Fatalf("counters %+v, want %d created and none failed; errors: %v", res.Counters, n, res.Errors)
	}
	if hwm := procStatus("VmHWM"); resetHWM && hwm > 0 {
		rss = hwm
	}
	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	b.ReportMetric(mb(rss), "peak-RSS-MB")
	b.ReportMetric(mb(heap), "peak-heap-MB")
	b.ReportMetric(mb(before), "start-RSS-MB")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(res.Counters.APICalls), "api-calls")
	if mb(rss) >= 300 {
		b.Errorf("peak RSS %.0f MB for %d records, want under 300 MB", mb(rss), n)
	}
}
