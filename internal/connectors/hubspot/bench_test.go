package hubspot

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	emulator "github.com/crmsync/crmsync/internal/emulator/hubspot"
	"github.com/crmsync/crmsync/internal/transport"
)

// childEnv makes the test binary serve an emulator instead of running tests, so that a benchmark can
// measure the connector's heap without the emulator's records in the same process.
const childEnv = "CRMSYNC_HUBSPOT_BENCH_EMULATOR"

// childOptions configure the child emulator.
type childOptions struct {
	Contacts        int `json:"contacts"`
	BurstLimit      int `json:"burstLimit"`
	SearchPerSecond int `json:"searchPerSecond"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(serveChild(spec))
	}
	os.Exit(m.Run())
}

// serveChild runs an emulator until its stdin closes (the parent exited or killed it).
func serveChild(spec string) int {
	var o childOptions
	if err := json.Unmarshal([]byte(spec), &o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv := emulator.New(emulator.Options{BurstLimit: o.BurstLimit, SearchPerSecond: o.SearchPerSecond, DailyLimit: -1})
	if _, err := srv.Seed("contacts", o.Contacts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	line, _ := json.Marshal(map[string]string{"baseURL": "http://" + ln.Addr().String(), "token": srv.Credentials().PrivateAppToken})
	fmt.Println(string(line))
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	}()
	_ = http.Serve(ln, srv)
	return 0
}

// startChild starts an emulator in a child process and returns its base URL and token.
func startChild(b *testing.B, o childOptions) (baseURL, token string) {
	b.Helper()
	spec, _ := json.Marshal(o)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
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
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("child emulator: %v", err)
	}
	var ep struct{ BaseURL, Token string }
	if err := json.Unmarshal([]byte(line), &ep); err != nil {
		b.Fatal(err)
	}
	return ep.BaseURL, ep.Token
}

func contacts(n, offset int) []connectors.Record {
	recs := make([]connectors.Record, n)
	for i := range recs {
		recs[i] = connectors.Record{Fields: map[string]any{
			"email":          fmt.Sprintf("bench-%d@example.com", offset+i),
			"firstname":      "Bench",
			"lastname":       fmt.Sprintf("Contact %d", offset+i),
			"lifecyclestage": "lead",
			"city":           "Dublin",
		}}
	}
	return recs
}

// BenchmarkUpsert10k creates 10,000 contacts through the connector against the emulator with HubSpot's
// real limits, and reports the API calls one Upsert takes (the goal is at most 101).
func BenchmarkUpsert10k(b *testing.B) {
	recs := contacts(10_000, 0)
	var calls, created int
	for b.Loop() {
		b.StopTimer()
		srv := emulator.New(emulator.Options{})
		ts := newServer(b, srv)
		conn, err := New(Config{BaseURL: ts, Tokens: staticSource(srv.Credentials().PrivateAppToken)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := conn.Upsert(context.Background(), "contacts", recs, connectors.UpsertOptions{})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		created = 0
		for _, r := range res {
			if r.Err == nil && r.Created {
				created++
			}
		}
		calls = srv.APICalls()
		b.StartTimer()
	}
	if created != len(recs) {
		b.Fatalf("created %d of %d", created, len(recs))
	}
	if calls > 101 {
		b.Fatalf("%d API calls for 10,000 contacts, want at most 101", calls)
	}
	b.ReportMetric(float64(calls), "api-calls/op")
	b.ReportMetric(float64(len(recs))/float64(calls), "records/call")
}

func newServer(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// heapSampler records the peak of the live heap objects while it runs.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(h.done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) finish() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkChanges100k streams 100,000 contacts through Changes from an emulator in another process and
// reports the peak heap growth of this process (the goal is under 50 MB: reads are streamed page by
// page). Search pacing and the budget are off on both sides: at HubSpot's real 5 searches a second the
// same read takes 100 s (500 pages of 200).
func BenchmarkChanges100k(b *testing.B) {
	const n = 100_000
	base, token := startChild(b, childOptions{Contacts: n, BurstLimit: -1, SearchPerSecond: -1})
	fields := []string{"email", "firstname", "lastname", "phone", "jobtitle", "city", "country", "lifecyclestage", "hubspot_owner_id"}
	var peakGrowth uint64
	var pages int
	for b.Loop() {
		b.StopTimer()
		conn, err := New(Config{BaseURL: base, Tokens: staticSource(token), SearchPerSecond: -1,
			Budget: transport.NewBudget(transport.BudgetConfig{}, nil)})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		baseline := heapObjects()
		sampler := sampleHeap()
		b.StartTimer()
		count := 0
		pages = 0
		_, err = conn.Changes(context.Background(), connectors.ChangesRequest{Object: "contacts", Fields: fields}, func(p connectors.Page) error {
			count += len(p.Records)
			pages++
			return nil
		})
		b.StopTimer()
		peak := sampler.finish()
		if err != nil {
			b.Fatal(err)
		}
		if count < n {
			b.Fatalf("read %d of %d", count, n)
		}
		if peak > baseline {
			peakGrowth = max(peakGrowth, peak-baseline)
		}
		b.StartTimer()
	}
	mb := float64(peakGrowth) / (1 << 20)
	b.ReportMetric(mb, "peak-heap-MB")
	b.ReportMetric(float64(pages), "pages")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds()*float64(b.N), "records/s")
	if mb >= 50 {
		b.Fatalf("peak heap growth %.1f MB, want under 50 MB", mb)
	}
}

// BenchmarkRateLimitedUpsert50k creates 50,000 contacts under the emulator's real limit of 100 requests
// per rolling 10 s. The ceiling is 1,000 records/s (500 calls of 100 in 50 s); the goal is to finish
// within 110% of 50 s with no 429. It takes about a minute: run it with -bench only.
func BenchmarkRateLimitedUpsert50k(b *testing.B) {
	recs := contacts(50_000, 0)
	for b.Loop() {
		b.StopTimer()
		srv := emulator.New(emulator.Options{})
		ts := newServer(b, srv)
		conn, err := New(Config{BaseURL: ts, Tokens: staticSource(srv.Credentials().PrivateAppToken)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		res, err := conn.Upsert(context.Background(), "contacts", recs, connectors.UpsertOptions{})
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil {
				b.Fatalf("record %d: %v", i, r.Err)
			}
		}
		st := srv.Stats()
		rate := float64(len(recs)) / elapsed.Seconds()
		b.ReportMetric(rate, "records/s")
		b.ReportMetric(rate/1000, "of-ceiling")
		b.ReportMetric(float64(st.RateLimited), "429s")
		b.ReportMetric(float64(st.APICalls), "api-calls")
		b.ReportMetric(elapsed.Seconds(), "seconds")
		if st.RateLimited != 0 {
			b.Errorf("%d answers were 429", st.RateLimited)
		}
		if elapsed > 55*time.Second {
			b.Errorf("took %v, want within 110%% of the 50 s ceiling", elapsed)
		}
		b.StartTimer()
	}
}
