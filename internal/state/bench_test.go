package state

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsync/crmsync/internal/testutil/pgtest"
)

// benchBatch is the batch size of the throughput benchmarks (the target is stated for 500).
const benchBatch = 500

// realisticLinks returns n links shaped like production ones: a 12-digit CRM id, a UUID on the other side
// and two 16-byte fingerprints.
func realisticLinks(offset, n int) []Link {
	out := make([]Link, n)
	for i := range out {
		k := offset + i
		sfp, dfp := make([]byte, 16), make([]byte, 16)
		_, _ = rand.Read(sfp)
		_, _ = rand.Read(dfp)
		out[i] = Link{
			SourceID:          fmt.Sprintf("%012d", 100000000000+k),
			DestID:            fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", k, k%65536, k%4096, k%4096, k),
			SourceFingerprint: sfp,
			DestFingerprint:   dfp,
		}
	}
	return out
}

func benchmarkUpsertLinks(b *testing.B, s Store) {
	ctx := context.Background()
	batches := make([][]Link, 64)
	for i := range batches {
		batches[i] = realisticLinks(i*benchBatch, benchBatch)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		batch := batches[i%len(batches)]
		if i >= len(batches) { // new ids after the first pass: keep measuring inserts, not only updates
			batch = realisticLinks(i*benchBatch, benchBatch)
		}
		if err := s.UpsertLinks(ctx, "ns/bench", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "links/s")
}

// BenchmarkUpsertLinks measures link-and-fingerprint upserts per second in batches of 500. Targets: 50,000/s
// on SQLite (a file on disk, WAL) and 20,000/s on PostgreSQL.
func BenchmarkUpsertLinks(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkUpsertLinks(b, mustOpen(b, sqliteURL(b))) })
	b.Run("postgres", func(b *testing.B) { benchmarkUpsertLinks(b, mustOpen(b, pgtest.Start(b))) })
}

// BenchmarkStateSizePerMillionLinks writes 1,000,000 links (16-byte fingerprints) and reports the bytes the
// store takes on disk: the SQLite file plus its WAL after a checkpoint, or pg_total_relation_size of the
// links table on PostgreSQL. It runs one iteration whatever b.N is; run it with -benchtime=1x.
func BenchmarkStateSizePerMillionLinks(b *testing.B) {
	const total = 1_000_000
	fill := func(b *testing.B, s Store) {
		ctx := context.Background()
		for off := 0; off < total; off += 10_000 {
			if err := s.UpsertLinks(ctx, "ns/size", realisticLinks(off, 10_000)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		path := filepath.Join(dir, "state.db")
		s, err := Open(context.Background(), "sqlite://"+path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		fill(b, s)
		elapsed := time.Since(start)
		st := s.(*sqliteStore)
		if _, err := st.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		_ = s.Close()
		var size int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), "state.db") {
				size += fi.Size()
			}
		}
		b.ReportMetric(float64(size), "bytes/1M-links")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "links/s")
	})
	b.Run("postgres", func(b *testing.B) {
		url := pgtest.Start(b)
		s := mustOpen(b, url)
		start := time.Now()
		fill(b, s)
		elapsed := time.Since(start)
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `VACUUM ANALYZE crmsync_links`); err != nil {
			b.Fatal(err)
		}
		var size int64
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('crmsync_links')`).Scan(&size); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(size), "bytes/1M-links")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "links/s")
	})
}

// lookupBenchLinks is the size of the job the lookup benchmarks query.
const lookupBenchLinks = 1_000_000

// fillLinks writes n realistic links to job in batches of 10,000.
func fillLinks(b *testing.B, s Store, job string, n int) {
	b.Helper()
	ctx := context.Background()
	for off := 0; off < n; off += 10_000 {
		if err := s.UpsertLinks(ctx, job, realisticLinks(off, min(10_000, n-off))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupByDest measures one engine-sized lookup (500 ids, 1 in 11 unknown) in a job of 1,000,000
// links, by destination id and, for comparison, by source id. Both must use an index: the time of a lookup
// depends on the ids asked for, not on the size of the job. Filling takes a while; run it with
// -bench LookupByDest -benchtime=200x.
func BenchmarkLookupByDest(b *testing.B) {
	run := func(b *testing.B, s Store) {
		const job = "ns/lookup"
		fillLinks(b, s, job, lookupBenchLinks)
		// 64 sets of 500 ids, spread over the job, 1 in 11 past its end (unknown).
		var bySource, byDest [64][]string
		for i := range bySource {
			for j := range benchBatch {
				k := (i*7919 + j*104729) % (lookupBenchLinks + lookupBenchLinks/10)
				l := realisticLinks(k, 1)[0]
				bySource[i] = append(bySource[i], l.SourceID)
				byDest[i] = append(byDest[i], l.DestID)
			}
		}
		for _, by := range []string{"dest", "source"} {
			b.Run("by-"+by, func(b *testing.B) {
				ctx := context.Background()
				found := 0
				for i := 0; b.Loop(); i++ {
					var (
						got map[string]Link
						err error
					)
					if by == "dest" {
						got, err = s.LookupByDest(ctx, job, byDest[i%len(byDest)])
					} else {
						got, err = s.LookupBySource(ctx, job, bySource[i%len(bySource)])
					}
					if err != nil {
						b.Fatal(err)
					}
					found += len(got)
				}
				if found == 0 {
					b.Fatal("no link found")
				}
			})
		}
	}
	b.Run("sqlite", func(b *testing.B) { run(b, mustOpen(b, sqliteURL(b))) })
	b.Run("postgres", func(b *testing.B) { run(b, mustOpen(b, pgtest.Start(b))) })
}
