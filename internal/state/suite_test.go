package state

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/testutil/pgtest"
)

// crashEnv makes the test binary act as a writer that is killed mid-batch (see crashWriter).
const crashEnv = "CRMSYNC_STATE_CRASH_URL"

func TestMain(m *testing.M) {
	if url := os.Getenv(crashEnv); url != "" {
		crashWriter(url)
		return
	}
	pgtest.Main(m)
}

func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "state.db")
}

func TestSQLite(t *testing.T)   { runSuite(t, sqliteURL) }
func TestPostgres(t *testing.T) { runSuite(t, pgtest.Start) }

func TestSQLiteInMemory(t *testing.T) {
	s := mustOpen(t, "sqlite://:memory:")
	ctx := context.Background()
	if err := s.UpsertLinks(ctx, "j", []Link{link("a", "A")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupBySource(ctx, "j", []string{"a"})
	if err != nil || got["a"].DestID != "A" {
		t.Fatalf("LookupBySource = %v, %v; want the link just written", got, err)
	}
}

func mustOpen(t testing.TB, url string) Store {
	t.Helper()
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func fp(s string) []byte { return []byte(fmt.Sprintf("%-16s", s))[:16] }

func link(src, dst string) Link {
	return Link{SourceID: src, DestID: dst, SourceFingerprint: fp("s" + src), DestFingerprint: fp("d" + dst)}
}

func links(prefix string, n int) []Link {
	out := make([]Link, n)
	for i := range out {
		out[i] = link(fmt.Sprintf("%s%07d", prefix, i), fmt.Sprintf("D-%s%07d", prefix, i))
	}
	return out
}

var ignoreUpdatedAt = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".UpdatedAt" }, cmp.Ignore())

func runSuite(t *testing.T, newURL func(testing.TB) string) {
	t.Run("links CRUD", func(t *testing.T) { testLinksCRUD(t, mustOpen(t, newURL(t))) })
	t.Run("batched upserts", func(t *testing.T) { testBatchedUpserts(t, mustOpen(t, newURL(t))) })
	t.Run("iterate pages", func(t *testing.T) { testIterate(t, mustOpen(t, newURL(t))) })
	t.Run("shared destination id", func(t *testing.T) { testSharedDest(t, mustOpen(t, newURL(t))) })
	t.Run("concurrent jobs", func(t *testing.T) { testConcurrentJobs(t, mustOpen(t, newURL(t))) })
	t.Run("retry queue", func(t *testing.T) { testRetryQueue(t, mustOpen(t, newURL(t))) })
	t.Run("run history", func(t *testing.T) { testRunHistory(t, mustOpen(t, newURL(t))) })
	t.Run("match index", func(t *testing.T) { testMatchIndex(t, mustOpen(t, newURL(t))) })
	t.Run("delete job", func(t *testing.T) { testDeleteJob(t, mustOpen(t, newURL(t))) })
	t.Run("cancelled batch is all or nothing", func(t *testing.T) { testCancelledBatch(t, mustOpen(t, newURL(t))) })
	t.Run("killed writer then reopen", func(t *testing.T) { testKilledWriter(t, newURL(t)) })
	t.Run("migrations", func(t *testing.T) { testMigrations(t, newURL(t)) })
}

func testLinksCRUD(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
	a := Link{SourceID: "a", DestID: "A", SourceFingerprint: fp("1"), DestFingerprint: fp("2"), UpdatedAt: at}
	if err := s.UpsertLinks(ctx, "ns/job", []Link{a, link("b", "B")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupBySource(ctx, "ns/job", []string{"a", "b", "missing", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Link{"a": a, "b": link("b", "B")}
	if diff := cmp.Diff(want, got, ignoreUpdatedAt); diff != "" {
		t.Errorf("LookupBySource (-want +got):\n%s", diff)
	}
	if wantAt := at.UTC().Truncate(time.Microsecond); !got["a"].UpdatedAt.Equal(wantAt) || got["a"].UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want %v in UTC", got["a"].UpdatedAt, wantAt)
	}
	if got["b"].UpdatedAt.IsZero() {
		t.Error("a zero UpdatedAt was stored as zero; want the time of the write")
	}

	// Relink and change fingerprints.
	a2 := Link{SourceID: "a", DestID: "A2", SourceFingerprint: fp("3"), DestFingerprint: nil}
	if err := s.UpsertLinks(ctx, "ns/job", []Link{a2}); err != nil {
		t.Fatal(err)
	}
	byDest, err := s.LookupByDest(ctx, "ns/job", []string{"A", "A2", "B"})
	if err != nil {
		t.Fatal(err)
	}
	wantDest := map[string]Link{"A2": a2, "B": link("b", "B")}
	if diff := cmp.Diff(wantDest, byDest, ignoreUpdatedAt); diff != "" {
		t.Errorf("LookupByDest after relink (-want +got):\n%s", diff)
	}
	if n, err := s.CountLinks(ctx, "ns/job"); err != nil || n != 2 {
		t.Errorf("CountLinks = %d, %v; want 2", n, err)
	}
	if err := s.DeleteLinks(ctx, "ns/job", []string{"a", "never-existed"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteLinks(ctx, "ns/job", []string{"a"}); err != nil {
		t.Fatalf("DeleteLinks is not idempotent: %v", err)
	}
	if n, _ := s.CountLinks(ctx, "ns/job"); n != 1 {
		t.Errorf("CountLinks after delete = %d, want 1", n)
	}
	// Unknown jobs read as empty and are not errors.
	if m, err := s.LookupBySource(ctx, "other", []string{"b"}); err != nil || len(m) != 0 {
		t.Errorf("LookupBySource on another job = %v, %v; want empty", m, err)
	}
	if n, err := s.CountLinks(ctx, "other"); err != nil || n != 0 {
		t.Errorf("CountLinks on unknown job = %d, %v", n, err)
	}
}

// testSharedDest checks that LookupByDest returns the most recently written of several links to one
// destination id, and the greatest source id when they were written at the same time.
func testSharedDest(t *testing.T, s Store) {
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	in := []Link{
		{SourceID: "b", DestID: "D", UpdatedAt: at.Add(time.Second)},
		{SourceID: "a", DestID: "D", UpdatedAt: at},
		{SourceID: "c", DestID: "D", UpdatedAt: at},
		{SourceID: "x", DestID: "T", UpdatedAt: at},
		{SourceID: "z", DestID: "T", UpdatedAt: at},
		{SourceID: "y", DestID: "T", UpdatedAt: at},
	}
	if err := s.UpsertLinks(ctx, "j", in); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupByDest(ctx, "j", []string{"D", "T", "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["D"].SourceID != "b" || got["T"].SourceID != "z" {
		t.Errorf("LookupByDest = %+v, want D from b (the newest) and T from z (the greatest source id of a tie)", got)
	}
}

func testBatchedUpserts(t *testing.T, s Store) {
	ctx := context.Background()
	batch := links("x", 2345)
	// A repeated id in the same batch: the last one wins.
	batch = append(batch, Link{SourceID: "x0000007", DestID: "last-wins", SourceFingerprint: fp("lw"), DestFingerprint: fp("lw")})
	for i := 0; i < 2; i++ { // the second run checks idempotency
		if err := s.UpsertLinks(ctx, "j", batch); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.CountLinks(ctx, "j"); n != 2345 {
		t.Errorf("CountLinks = %d, want 2345", n)
	}
	got, err := s.LookupBySource(ctx, "j", []string{"x0000007", "x0002344"})
	if err != nil {
		t.Fatal(err)
	}
	if got["x0000007"].DestID != "last-wins" || got["x0002344"].DestID != "D-x0002344" {
		t.Errorf("got %+v", got)
	}
	if err := s.UpsertLinks(ctx, "j", []Link{{SourceID: "", DestID: "z"}}); err == nil {
		t.Error("a link without a source id was accepted")
	}
}

func testIterate(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.UpsertLinks(ctx, "j", links("i", 2500)); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertLinks(ctx, "other", links("o", 10)); err != nil {
		t.Fatal(err)
	}
	var pages, total int
	last := ""
	err := s.IterateLinks(ctx, "j", func(page []Link) error {
		pages++
		for _, l := range page {
			if l.SourceID <= last {
				t.Fatalf("links out of order: %q after %q", l.SourceID, last)
			}
			if l.SourceFingerprint == nil || l.DestFingerprint == nil {
				t.Fatalf("link %s has no fingerprint", l.SourceID)
			}
			last = l.SourceID
		}
		total += len(page)
		// The callback may use the store: nothing is held open while it runs.
		_, err := s.LookupBySource(ctx, "j", []string{page[0].SourceID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total != 2500 || pages != 3 {
		t.Errorf("iterated %d links in %d pages, want 2500 in 3", total, pages)
	}
	stop := errors.New("stop")
	if err := s.IterateLinks(ctx, "j", func([]Link) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("IterateLinks returned %v, want the callback's error", err)
	}
}

func testConcurrentJobs(t *testing.T, s Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			job := fmt.Sprintf("job-%d", g%4) // two goroutines per job, overlapping ids
			for round := 0; round < 5; round++ {
				batch := links("c", 600)
				for i := range batch {
					batch[i].DestFingerprint = fp(fmt.Sprintf("g%dr%d", g, round))
				}
				// Write in opposite orders so that row locks would deadlock if the store did not sort.
				if g%2 == 1 {
					for i, j := 0, len(batch)-1; i < j; i, j = i+1, j-1 {
						batch[i], batch[j] = batch[j], batch[i]
					}
				}
				if err := s.UpsertLinks(ctx, job, batch); err != nil {
					errs <- err
					return
				}
				if err := s.EnqueueRetry(ctx, job, []RetryItem{{Side: SourceSide, RecordID: "r", NextAttempt: time.Now()}}); err != nil {
					errs <- err
					return
				}
				if _, err := s.RecordRun(ctx, job, RunRecord{Started: time.Now(), Finished: time.Now()}); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for j := 0; j < 4; j++ {
		job := fmt.Sprintf("job-%d", j)
		if n, _ := s.CountLinks(ctx, job); n != 600 {
			t.Errorf("%s has %d links, want 600", job, n)
		}
		due, _ := s.DueRetries(ctx, job, time.Now(), 10)
		if len(due) != 1 || due[0].Attempts != 10 {
			t.Errorf("%s retry = %+v, want one entry with 10 attempts", job, due)
		}
		runs, _ := s.Runs(ctx, job, 100)
		if len(runs) != 10 {
			t.Errorf("%s has %d runs, want 10", job, len(runs))
		}
	}
}

func testRetryQueue(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	items := []RetryItem{
		{Side: DestSide, RecordID: "later", NextAttempt: now.Add(time.Hour), LastError: "503"},
		{Side: SourceSide, RecordID: "due2", NextAttempt: now.Add(-time.Minute), LastError: "timeout"},
		{Side: DestSide, RecordID: "due1", NextAttempt: now.Add(-time.Hour), LastError: "429", Attempts: 99},
	}
	if err := s.EnqueueRetry(ctx, "j", items); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueRetries(ctx, "j", now, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []RetryItem{
		{Side: DestSide, RecordID: "due1", Attempts: 1, NextAttempt: now.Add(-time.Hour), LastError: "429"},
		{Side: SourceSide, RecordID: "due2", Attempts: 1, NextAttempt: now.Add(-time.Minute), LastError: "timeout"},
	}
	if diff := cmp.Diff(want, due, ignoreUpdatedAt); diff != "" {
		t.Errorf("DueRetries (-want +got):\n%s", diff)
	}
	if due, _ := s.DueRetries(ctx, "j", now, 1); len(due) != 1 || due[0].RecordID != "due1" {
		t.Errorf("DueRetries with limit 1 = %+v, want due1 only", due)
	}
	// Failing again increments attempts; a dead letter leaves the due list.
	if err := s.EnqueueRetry(ctx, "j", []RetryItem{
		{Side: DestSide, RecordID: "due1", NextAttempt: now.Add(time.Minute), LastError: "still 429"},
		{Side: SourceSide, RecordID: "due2", NextAttempt: now, LastError: "invalid email", DeadLetter: true},
	}); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueRetries(ctx, "j", now.Add(2*time.Minute), 10); len(due) != 1 || due[0].RecordID != "due1" ||
		due[0].Attempts != 2 || due[0].LastError != "still 429" {
		t.Errorf("DueRetries after second failure = %+v, want due1 with 2 attempts", due)
	}
	dead, err := s.DeadLetters(ctx, "j", 10)
	if err != nil || len(dead) != 1 || dead[0].RecordID != "due2" || !dead[0].DeadLetter || dead[0].Attempts != 2 {
		t.Errorf("DeadLetters = %+v, %v", dead, err)
	}
	if p, d, err := s.CountRetries(ctx, "j"); err != nil || p != 2 || d != 1 {
		t.Errorf("CountRetries = %d, %d, %v; want 2 pending, 1 dead", p, d, err)
	}
	// The same record id on the other side is a different entry.
	if err := s.ResolveRetries(ctx, "j", SourceSide, []string{"due1", "due2"}); err != nil {
		t.Fatal(err)
	}
	if p, d, _ := s.CountRetries(ctx, "j"); p != 2 || d != 0 {
		t.Errorf("CountRetries after resolving the source side = %d, %d; want 2, 0", p, d)
	}
	if err := s.ResolveRetries(ctx, "j", DestSide, []string{"due1", "later"}); err != nil {
		t.Fatal(err)
	}
	if p, d, _ := s.CountRetries(ctx, "j"); p != 0 || d != 0 {
		t.Errorf("CountRetries after resolving all = %d, %d", p, d)
	}
}

func testRunHistory(t *testing.T, s Store) {
	ctx := context.Background()
	start := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	var conflicts []Conflict
	for i := 0; i < MaxConflictsPerRun+5; i++ {
		conflicts = append(conflicts, Conflict{SourceID: fmt.Sprint(i), Field: "email", Winner: SourceSide, SourceValue: "a", DestValue: "b", At: start})
	}
	var lastID int64
	for i := 0; i < RunHistory+5; i++ {
		run := RunRecord{
			Started: start.Add(time.Duration(i) * time.Minute), Finished: start.Add(time.Duration(i)*time.Minute + time.Second),
			Counters: RunCounters{Read: int64(i), Created: 1, Conflicts: int64(len(conflicts))},
		}
		if i == RunHistory+4 {
			run.Conflicts, run.Error = conflicts, "hubspot: HTTP 503"
		}
		id, err := s.RecordRun(ctx, "j", run)
		if err != nil {
			t.Fatal(err)
		}
		if id <= lastID {
			t.Fatalf("run id %d after %d: ids must increase", id, lastID)
		}
		lastID = id
	}
	runs, err := s.Runs(ctx, "j", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != RunHistory {
		t.Fatalf("kept %d runs, want %d", len(runs), RunHistory)
	}
	newest := runs[0]
	if newest.ID != lastID || newest.Counters.Read != RunHistory+4 || newest.Error != "hubspot: HTTP 503" ||
		!newest.Started.Equal(start.Add((RunHistory+4)*time.Minute)) {
		t.Errorf("newest run = %+v", newest)
	}
	if diff := cmp.Diff(conflicts[:MaxConflictsPerRun], newest.Conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	if runs[len(runs)-1].Counters.Read != 5 {
		t.Errorf("oldest kept run read %d, want 5", runs[len(runs)-1].Counters.Read)
	}
	if runs[1].Conflicts != nil {
		t.Errorf("a run without conflicts read back %v", runs[1].Conflicts)
	}
}

func testDeleteJob(t *testing.T, s Store) {
	ctx := context.Background()
	for _, job := range []string{"gone", "kept"} {
		if err := s.UpsertLinks(ctx, job, links("d", 10)); err != nil {
			t.Fatal(err)
		}
		if err := s.EnqueueRetry(ctx, job, []RetryItem{{Side: DestSide, RecordID: "x"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordRun(ctx, job, RunRecord{}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutUnmatched(ctx, job, SourceSide, map[string]string{"u1": "a@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := s.DeleteJob(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := s.CountLinks(ctx, "gone")
	p, _, _ := s.CountRetries(ctx, "gone")
	runs, _ := s.Runs(ctx, "gone", 10)
	um, _ := s.FindUnmatched(ctx, "gone", SourceSide, []string{"a@example.com"})
	if n != 0 || p != 0 || len(runs) != 0 || len(um) != 0 {
		t.Errorf("after DeleteJob: %d links, %d retries, %d runs, %d unmatched remain", n, p, len(runs), len(um))
	}
	if um, _ := s.FindUnmatched(ctx, "kept", SourceSide, []string{"a@example.com"}); um["a@example.com"] != "u1" {
		t.Errorf("another job lost its match index: %v", um)
	}
	n, _ = s.CountLinks(ctx, "kept")
	p, _, _ = s.CountRetries(ctx, "kept")
	runs, _ = s.Runs(ctx, "kept", 10)
	if n != 10 || p != 1 || len(runs) != 1 {
		t.Errorf("another job lost data: %d links, %d retries, %d runs", n, p, len(runs))
	}
	// The job can be used again.
	if err := s.UpsertLinks(ctx, "gone", links("e", 3)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountLinks(ctx, "gone"); n != 3 {
		t.Errorf("re-created job has %d links, want 3", n)
	}
}

func testMatchIndex(t *testing.T, s Store) {
	ctx := context.Background()
	big := map[string]string{}
	for i := 0; i < 1200; i++ {
		big[fmt.Sprintf("id%04d", i)] = fmt.Sprintf("user%04d@example.com", i)
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := s.PutUnmatched(ctx, "j", SourceSide, big); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutUnmatched(ctx, "j", DestSide, map[string]string{"D1": "user0001@example.com"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindUnmatched(ctx, "j", SourceSide, []string{"user0001@example.com", "user1199@example.com", "nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"user0001@example.com": "id0001", "user1199@example.com": "id1199"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindUnmatched (-want +got):\n%s", diff)
	}
	// A new key replaces the old one of the same id; the most recent id wins a shared key.
	time.Sleep(2 * time.Millisecond)
	if err := s.PutUnmatched(ctx, "j", SourceSide, map[string]string{"id0001": "renamed@example.com", "id0002": "user1199@example.com"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.FindUnmatched(ctx, "j", SourceSide, []string{"user0001@example.com", "renamed@example.com", "user1199@example.com"})
	want = map[string]string{"renamed@example.com": "id0001", "user1199@example.com": "id0002"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindUnmatched after re-keying (-want +got):\n%s", diff)
	}
	if err := s.DeleteUnmatched(ctx, "j", SourceSide, []string{"id0002", "nope"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.FindUnmatched(ctx, "j", SourceSide, []string{"user1199@example.com"})
	if diff := cmp.Diff(map[string]string{"user1199@example.com": "id1199"}, got); diff != "" {
		t.Errorf("FindUnmatched after delete (-want +got):\n%s", diff)
	}
	if got, _ := s.FindUnmatched(ctx, "j", DestSide, []string{"user0001@example.com"}); got["user0001@example.com"] != "D1" {
		t.Errorf("sides are not separate: %v", got)
	}
}

// checkAllOrNothing verifies that each batch (links sharing a prefix) is wholly present or wholly absent, and
// that no link lacks its fingerprints.
func checkAllOrNothing(t *testing.T, s Store, job string, batchSize int) (complete int) {
	t.Helper()
	counts := map[string]int{}
	err := s.IterateLinks(context.Background(), job, func(page []Link) error {
		for _, l := range page {
			if len(l.SourceFingerprint) != 16 || len(l.DestFingerprint) != 16 {
				return fmt.Errorf("link %s has no fingerprint", l.SourceID)
			}
			counts[strings.SplitN(l.SourceID, "-", 2)[0]]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for prefix, n := range counts {
		if n != batchSize {
			t.Errorf("batch %s is partly stored: %d of %d links", prefix, n, batchSize)
		}
		complete++
	}
	return complete
}

func prefixed(prefix string, n int) []Link {
	out := links(prefix+"-", n)
	return out
}

func testCancelledBatch(t *testing.T, s Store) {
	const size = 20000
	if err := s.UpsertLinks(context.Background(), "j", prefixed("base", size)); err != nil {
		t.Fatal(err)
	}
	interrupted := 0
	for i, delay := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 60 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), delay)
		err := s.UpsertLinks(ctx, "j", prefixed(fmt.Sprintf("b%d", i), size))
		cancel()
		if err != nil {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Log("no batch was interrupted; the check below still holds")
	}
	if complete := checkAllOrNothing(t, s, "j", size); complete < 1 {
		t.Errorf("the committed base batch is gone")
	}
	// The store still works after cancelled transactions.
	if err := s.UpsertLinks(context.Background(), "j", prefixed("after", 10)); err != nil {
		t.Fatalf("store unusable after a cancelled batch: %v", err)
	}
}

// crashWriter commits one batch, says READY, then writes batches until it is killed.
func crashWriter(url string) {
	ctx := context.Background()
	s, err := Open(ctx, url)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	if err := s.UpsertLinks(ctx, "j", prefixed("committed", 5000)); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	fmt.Println("READY")
	for i := 0; ; i++ {
		if err := s.UpsertLinks(ctx, "j", prefixed(fmt.Sprintf("b%d", i), 5000)); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(2)
		}
	}
}

func testKilledWriter(t *testing.T, url string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "READY" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("writer did not start: %q", line)
	}
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Kill() // SIGKILL: no deferred cleanup, no rollback from the client
	_ = cmd.Wait()

	s := mustOpen(t, url)
	complete := checkAllOrNothing(t, s, "j", 5000)
	got, err := s.LookupBySource(context.Background(), "j", []string{"committed-0004999"})
	if err != nil || got["committed-0004999"].DestID == "" {
		t.Errorf("a batch committed before the crash is missing after reopening: %v", err)
	}
	t.Logf("%d complete batches survived the crash", complete)
	if err := s.UpsertLinks(context.Background(), "j", prefixed("after", 10)); err != nil {
		t.Fatalf("store unusable after reopening: %v", err)
	}
}

func testMigrations(t *testing.T, url string) {
	ctx := context.Background()
	versions := func() []int {
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		v, err := appliedMigrations(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// An empty store migrated by an older release (only the first step), holding data.
	all := migrations
	migrations = all[:1]
	if diff := cmp.Diff([]int{1}, versions()); diff != "" {
		migrations = all
		t.Fatalf("first step on an empty store (-want +got):\n%s", diff)
	}
	old, err := Open(ctx, url)
	if err == nil {
		err = old.UpsertLinks(ctx, "j", []Link{link("kept", "K")})
		old.Close()
	}
	migrations = all
	if err != nil {
		t.Fatal(err)
	}

	var want []int
	for _, m := range migrations {
		want = append(want, m.version)
	}
	if diff := cmp.Diff(want, versions()); diff != "" {
		t.Errorf("upgrade applied (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, versions()); diff != "" {
		t.Errorf("re-opening applied migrations again (-want +got):\n%s", diff)
	}
	s := mustOpen(t, url)
	if got, err := s.LookupBySource(ctx, "j", []string{"kept"}); err != nil || got["kept"].DestID != "K" {
		t.Errorf("data written before the upgrade: %v, %v", got, err)
	}
	if err := s.PutUnmatched(ctx, "j", SourceSide, map[string]string{"a": "k"}); err != nil {
		t.Errorf("the upgraded store lacks the new table: %v", err)
	}
}

// appliedMigrations lists the versions recorded in the migrations table.
func appliedMigrations(ctx context.Context, s Store) ([]int, error) {
	q := `SELECT version FROM ` + migrationsTable + ` ORDER BY version`
	var out []int
	switch st := s.(type) {
	case *sqliteStore:
		rows, err := st.r.QueryContext(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	case *pgStore:
		rows, err := st.pool.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
	return nil, fmt.Errorf("unknown store %T", s)
}
