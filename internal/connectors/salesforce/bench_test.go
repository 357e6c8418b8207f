package salesforce

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	sfemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

func newContacts(n int) []connectors.Record {
	recs := make([]connectors.Record, n)
	for i := range recs {
		recs[i] = connectors.Record{Fields: map[string]any{
			"FirstName": "Bench", "LastName": fmt.Sprintf("Contact %d", i),
			"Email": fmt.Sprintf("bench%d@example.com", i), "Loyalty_Tier__c": "Silver",
		}}
	}
	return recs
}

// BenchmarkUpsert10kCollections upserts 10,000 new contacts through sObject Collections and reports the
// API calls it took (at most 51: 50 calls of 200 records, plus nothing else).
func BenchmarkUpsert10kCollections(b *testing.B) {
	cfg := fastConfig()
	cfg.BulkThreshold = -1
	recs := newContacts(10000)
	var calls int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		o := newTestOrg(b, sfemu.Options{}, cfg)
		before := o.emu.APICalls()
		b.StartTimer()
		res, err := o.conn.Upsert(ctx, "Contact", recs, connectors.UpsertOptions{})
		b.StopTimer()
		if err != nil || len(res) != len(recs) {
			b.Fatalf("upsert: %v (%d results)", err, len(res))
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatalf("record failed: %v", r.Err)
			}
		}
		calls = o.emu.APICalls() - before
		if calls > 51 {
			b.Fatalf("%d API calls for 10,000 contacts, want at most 51", calls)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls), "api-calls/op")
	b.ReportMetric(float64(len(recs))/float64(calls), "records/call")
}

// BenchmarkUpsert10kBulk upserts 10,000 new contacts through one Bulk API 2.0 job and reports the calls of
// each kind: job creation, upload, close, polls and result files.
func BenchmarkUpsert10kBulk(b *testing.B) {
	cfg := fastConfig()
	cfg.BulkThreshold = 9999
	cfg.BulkPollInterval = 20 * time.Millisecond
	cfg.BulkPollMax = 200 * time.Millisecond
	recs := newContacts(10000)
	var st sfemu.Stats
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		o := newTestOrg(b, sfemu.Options{BulkProcessingDelay: 50 * time.Millisecond}, cfg)
		b.StartTimer()
		res, err := o.conn.Upsert(ctx, "Contact", recs, connectors.UpsertOptions{})
		b.StopTimer()
		if err != nil || len(res) != len(recs) {
			b.Fatalf("upsert: %v (%d results)", err, len(res))
		}
		for j, r := range res {
			if r.Err != nil || r.ID == "" || !r.Created {
				b.Fatalf("record %d: %+v", j, r)
			}
		}
		st = o.emu.Stats()
		b.StartTimer()
	}
	r := st.ByRoute
	b.ReportMetric(float64(st.APICalls), "api-calls/op")
	b.ReportMetric(float64(r["POST /jobs/ingest"]), "job-calls/op")
	b.ReportMetric(float64(r["PUT /jobs/ingest/{id}/batches"]), "upload-calls/op")
	b.ReportMetric(float64(r["PATCH /jobs/ingest/{id}"]), "close-calls/op")
	b.ReportMetric(float64(r["GET /jobs/ingest/{id}"]), "poll-calls/op")
	b.ReportMetric(float64(r["GET /jobs/ingest/{id}/successfulResults"]+r["GET /jobs/ingest/{id}/failedResults"]+r["GET /jobs/ingest/{id}/unprocessedrecords"]), "result-calls/op")
}

// TestMain doubles as the out-of-process emulator of BenchmarkChanges100k: with SF_EMULATOR_CHILD set it
// serves an org seeded with SF_EMULATOR_SEED contacts until its standard input closes.
func TestMain(m *testing.M) {
	if os.Getenv("SF_EMULATOR_CHILD") == "1" {
		seed, _ := strconv.Atoi(os.Getenv("SF_EMULATOR_SEED"))
		cctx, cancel := context.WithCancel(context.Background())
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
		if err := sfemu.Serve(cctx, "127.0.0.1:0", sfemu.Options{Seed: seed}, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startChildOrg runs an emulated org with seed contacts in a child process, so that heap measurements
// see the connector alone.
func startChildOrg(b *testing.B, seed int) sfemu.Endpoint {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SF_EMULATOR_CHILD=1", "SF_EMULATOR_SEED="+strconv.Itoa(seed))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("child emulator: %v", err)
	}
	var ep sfemu.Endpoint
	if err := json.Unmarshal([]byte(line), &ep); err != nil {
		b.Fatalf("child emulator line %q: %v", line, err)
	}
	return ep
}

func childAPICalls(b *testing.B, ep sfemu.Endpoint) int {
	resp, err := http.Get(ep.BaseURL + "/_admin/stats")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var st sfemu.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatal(err)
	}
	return st.APICalls
}

// BenchmarkChanges100k reads 100,000 contacts through Changes from an emulator in a child process and
// reports the peak heap growth of this process (connector and transport) while reading, sampled with
// runtime.ReadMemStats every 2 ms, and the share of this process's CPU time spent in the read.
func BenchmarkChanges100k(b *testing.B) {
	ep := startChildOrg(b, 100000)
	cfg := fastConfig()
	cfg.Tokens = newRefreshSource(ep.TokenURL, sfemu.Credentials{ClientID: ep.ClientID, ClientSecret: ep.ClientSecret, RefreshToken: ep.RefreshToken})
	conn, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Describe(ctx, "Contact"); err != nil {
		b.Fatal(err)
	}
	var peakGrowth uint64
	var calls int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			var m runtime.MemStats
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					runtime.ReadMemStats(&m)
					if m.HeapAlloc > peak {
						peak = m.HeapAlloc
					}
				}
			}
		}()
		before := childAPICalls(b, ep)
		b.StartTimer()
		n := 0
		_, err := conn.Changes(ctx, connectors.ChangesRequest{Object: "Contact"}, func(p connectors.Page) error {
			n += len(p.Records)
			return nil
		})
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil || n != 100000 {
			b.Fatalf("read %d records: %v", n, err)
		}
		calls = childAPICalls(b, ep) - before
		if peak > base && peak-base > peakGrowth {
			peakGrowth = peak - base
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(peakGrowth)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(calls), "api-calls/op")
	if peakGrowth > 50<<20 {
		b.Fatalf("peak heap growth %d MB, want under 50 MB", peakGrowth>>20)
	}
}
