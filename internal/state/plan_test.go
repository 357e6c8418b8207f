package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/crmsync/crmsync/internal/testutil/pgtest"
)

// The lookups the engine makes for every batch (links by source and destination id, the match index by
// key) must probe an index once per id, not read every row of the job: their cost must follow the number
// of ids asked for, not the size of the job (BenchmarkLookupByDest). These tests check the plans without
// statistics, which is how a store runs: SQLite never analyses, and PostgreSQL has none for a job that
// grew since autovacuum last ran.

func TestSQLiteLookupPlans(t *testing.T) {
	s := mustOpen(t, sqliteURL(t)).(*sqliteStore)
	ctx := context.Background()
	for _, c := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"LookupBySource", sqliteLookupSQL("source_id", 3), []any{1, "a", "b", "c"},
			"SEARCH crmsync_links USING PRIMARY KEY (job_id=? AND source_id=?)"},
		{"LookupByDest", sqliteLookupSQL("dest_id", 3), []any{1, "a", "b", "c"},
			"SEARCH crmsync_links USING INDEX crmsync_links_dest (job_id=? AND dest_id=?)"},
		{"FindUnmatched", sqliteFindUnmatchedSQL(3), []any{1, "source", "a", "b", "c"},
			"SEARCH crmsync_unmatched USING INDEX crmsync_unmatched_key (job_id=? AND side=? AND match_key=?)"},
	} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(plan) != 1 || plan[0] != c.want {
			t.Errorf("%s: plan %q, want only %q", c.name, plan, c.want)
		}
	}
}

func TestPostgresLookupPlans(t *testing.T) {
	s := mustOpen(t, pgtest.Start(t)).(*pgStore)
	ctx := context.Background()
	for _, table := range []string{"crmsync_links", "crmsync_unmatched"} {
		if _, err := s.pool.Exec(ctx, `ALTER TABLE `+table+` SET (autovacuum_enabled = off)`); err != nil {
			t.Fatal(err)
		}
	}
	const n = 20_000
	keys := map[string]string{}
	for i := range n {
		keys[fmt.Sprintf("r%06d", i)] = fmt.Sprintf("user%06d@example.com", i)
	}
	if err := s.UpsertLinks(ctx, "j", realisticLinks(0, n)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutUnmatched(ctx, "j", SourceSide, keys); err != nil {
		t.Fatal(err)
	}
	id, _, err := s.jobID(ctx, "j", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	// An engine batch: 500 ids. With a list this long and no statistics, column = ANY($2) is planned as a
	// read of the whole job.
	var src, dst, emails []string
	for i, l := range realisticLinks(0, 500) {
		src, dst = append(src, l.SourceID), append(dst, l.DestID)
		emails = append(emails, keys[fmt.Sprintf("r%06d", i)])
	}
	array := func(v []string) string { return "'{" + strings.Join(v, ",") + "}'" }
	for i, q := range []struct {
		name, query, args, want string
	}{
		{"LookupBySource", pgLookupSQL("source_id"), array(src), "(source_id = k.id)"},
		{"LookupByDest", pgLookupSQL("dest_id"), array(dst), "(dest_id = k.id)"},
		{"FindUnmatched", pgFindUnmatchedSQL, "'source', " + array(emails), "(match_key = k.key)"},
	} {
		name := fmt.Sprintf("plan_test_%d", i)
		if _, err := c.Exec(ctx, "PREPARE "+name+" AS "+q.query); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if _, err := c.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			rows, err := c.Query(ctx, fmt.Sprintf("EXPLAIN (COSTS OFF) EXECUTE %s(%d, %s)", name, id, q.args),
				pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(plan, func(l string) bool {
				return strings.Contains(l, "Index Cond: ") && strings.Contains(l, q.want)
			}) {
				t.Errorf("%s (%s): the plan does not probe an index per id with %s:\n%.2000s", q.name, mode, q.want,
					strings.Join(plan, "\n"))
			}
		}
	}
}
