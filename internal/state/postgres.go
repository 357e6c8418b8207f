package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgChunk is the number of links per multi-row statement on PostgreSQL (arrays, so no parameter limit).
const pgChunk = 5000

// pgPoolSize bounds the connections one store opens.
const pgPoolSize = 8

// migrationLockKey serialises migrations between replicas that start at once (pg_advisory_xact_lock).
const migrationLockKey = 0x63726d73796e63 // "crmsync"

type pgStore struct {
	pool *pgxpool.Pool
	jobs jobCache
}

func openPostgres(ctx context.Context, url string) (Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in parse errors; add nothing of the URL ourselves.
		return nil, fmt.Errorf("state: invalid postgres URL: %w", err)
	}
	cc := cfg.ConnConfig
	where := fmt.Sprintf("%s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
	cfg.MaxConns = pgPoolSize
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("state: connect to postgres %s: %w", where, err)
	}
	// pgxpool dials lazily: check the settings now, as a connection error says more than a failed migration.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("state: connect to postgres %s: %w", where, err)
	}
	s := &pgStore{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("state: migrate postgres %s: %w", where, err)
	}
	return s, nil
}

func (s *pgStore) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+
			` (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM `+migrationsTable).Scan(&current); err != nil {
			return err
		}
		for _, m := range migrations {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.postgres); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+migrationsTable+` (version, name, applied_at) VALUES ($1, $2, now())`,
				m.version, m.name); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *pgStore) jobID(ctx context.Context, job string, create bool) (int64, bool, error) {
	if id, ok := s.jobs.get(job); ok {
		return id, true, nil
	}
	var id int64
	err := s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		err := c.QueryRow(ctx, `SELECT id FROM crmsync_jobs WHERE name = $1`, job).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) && create {
			err = c.QueryRow(ctx, `INSERT INTO crmsync_jobs (name) VALUES ($1)
				ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`, job).Scan(&id)
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("state: job %s: %w", job, err)
	}
	s.jobs.put(job, id)
	return id, true, nil
}

func (s *pgStore) UpsertLinks(ctx context.Context, job string, links []Link) error {
	if len(links) == 0 {
		return nil
	}
	if err := validateLinks(links); err != nil {
		return err
	}
	id, _, err := s.jobID(ctx, job, true)
	if err != nil {
		return err
	}
	links = dedupeLinks(links, time.Now())
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for start := 0; start < len(links); start += pgChunk {
			chunk := links[start:min(start+pgChunk, len(links))]
			src := make([]string, len(chunk))
			dst := make([]string, len(chunk))
			sfp := make([][]byte, len(chunk))
			dfp := make([][]byte, len(chunk))
			at := make([]time.Time, len(chunk))
			for i, l := range chunk {
				src[i], dst[i], sfp[i], dfp[i], at[i] = l.SourceID, l.DestID, l.SourceFingerprint, l.DestFingerprint, l.UpdatedAt
			}
			if _, err := tx.Exec(ctx, `INSERT INTO crmsync_links (job_id, source_id, dest_id, source_fp, dest_fp, updated_at)
				SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::timestamptz[])
				ON CONFLICT (job_id, source_id) DO UPDATE SET dest_id = excluded.dest_id,
				source_fp = excluded.source_fp, dest_fp = excluded.dest_fp, updated_at = excluded.updated_at`,
				id, src, dst, sfp, dfp, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("state: upsert %d links of job %s: %w", len(links), job, err)
	}
	return nil
}

func scanPGLinks(rows pgx.Rows, fn func(Link)) error {
	defer rows.Close()
	for rows.Next() {
		var l Link
		if err := rows.Scan(&l.SourceID, &l.DestID, &l.SourceFingerprint, &l.DestFingerprint, &l.UpdatedAt); err != nil {
			return err
		}
		l.UpdatedAt = l.UpdatedAt.UTC()
		fn(l)
	}
	return rows.Err()
}

// pgLookupSQL selects the links of an array of ids by column (source_id or dest_id): one index probe per
// id, joined laterally, with the newest link of a destination id. The plain form, column = ANY($2), needs
// statistics to be planned well: before ANALYZE has seen the job's links (right after an initial sync, or
// a new job in a big table) PostgreSQL estimates job_id = $1 at a few thousand rows and reads every link
// of the job through the primary key (0.4-0.7 s for 500 ids in a job of 1,000,000 links). A LIMIT in the
// lateral subquery keeps it a parameterised probe of the index whose both columns are bound, whatever the
// statistics say.
func pgLookupSQL(column string) string {
	order := ""
	if column == "dest_id" {
		order = " ORDER BY updated_at DESC, source_id DESC"
	}
	return `SELECT l.source_id, l.dest_id, l.source_fp, l.dest_fp, l.updated_at
		FROM unnest($2::text[]) AS k(id) CROSS JOIN LATERAL (
			SELECT source_id, dest_id, source_fp, dest_fp, updated_at FROM crmsync_links
			WHERE job_id = $1 AND ` + column + ` = k.id` + order + ` LIMIT 1) AS l`
}

func (s *pgStore) lookup(ctx context.Context, job, column string, ids []string) (map[string]Link, error) {
	out := make(map[string]Link, len(ids))
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || len(ids) == 0 {
		return out, err
	}
	ids = uniqueStrings(ids)
	err = s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		for start := 0; start < len(ids); start += pgChunk {
			chunk := ids[start:min(start+pgChunk, len(ids))]
			rows, err := c.Query(ctx, pgLookupSQL(column), id, chunk)
			if err != nil {
				return err
			}
			if err := scanPGLinks(rows, func(l Link) {
				if column == "dest_id" {
					out[l.DestID] = l
				} else {
					out[l.SourceID] = l
				}
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state: look up links of job %s: %w", job, err)
	}
	return out, nil
}

func (s *pgStore) LookupBySource(ctx context.Context, job string, ids []string) (map[string]Link, error) {
	return s.lookup(ctx, job, "source_id", ids)
}

func (s *pgStore) LookupByDest(ctx context.Context, job string, ids []string) (map[string]Link, error) {
	return s.lookup(ctx, job, "dest_id", ids)
}

func (s *pgStore) DeleteLinks(ctx context.Context, job string, sourceIDs []string) error {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || len(sourceIDs) == 0 {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM crmsync_links WHERE job_id = $1 AND source_id = ANY($2::text[])`, id, sourceIDs)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: delete links of job %s: %w", job, err)
	}
	return nil
}

func (s *pgStore) CountLinks(ctx context.Context, job string) (int64, error) {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM crmsync_links WHERE job_id = $1`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("state: count links of job %s: %w", job, err)
	}
	return n, nil
}

func (s *pgStore) IterateLinks(ctx context.Context, job string, fn func([]Link) error) error {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok {
		return err
	}
	return iterateLinkPages(fn, func(after string) ([]Link, error) {
		page := make([]Link, 0, iteratePageSize)
		err := s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
			rows, err := c.Query(ctx, `SELECT source_id, dest_id, source_fp, dest_fp, updated_at FROM crmsync_links
				WHERE job_id = $1 AND source_id > $2 ORDER BY source_id LIMIT $3`, id, after, iteratePageSize)
			if err != nil {
				return err
			}
			return scanPGLinks(rows, func(l Link) { page = append(page, l) })
		})
		if err != nil {
			return nil, fmt.Errorf("state: iterate links of job %s: %w", job, err)
		}
		return page, nil
	})
}

func (s *pgStore) PutUnmatched(ctx context.Context, job string, side Side, keys map[string]string) error {
	if len(keys) == 0 {
		return nil
	}
	id, _, err := s.jobID(ctx, job, true)
	if err != nil {
		return err
	}
	ids := sortedKeys(keys)
	vals := make([]string, len(ids))
	for i, rid := range ids {
		vals[i] = keys[rid]
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO crmsync_unmatched (job_id, side, record_id, match_key, updated_at)
			SELECT $1, $2, r, k, clock_timestamp() FROM unnest($3::text[], $4::text[]) AS t(r, k)
			ON CONFLICT (job_id, side, record_id) DO UPDATE SET match_key = excluded.match_key, updated_at = excluded.updated_at`,
			id, string(side), ids, vals)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: index %d unmatched records of job %s: %w", len(keys), job, err)
	}
	return nil
}

// pgFindUnmatchedSQL selects the most recently put id of each of an array of match keys, one probe of
// (job_id, side, match_key) per key, for the reason pgLookupSQL gives.
const pgFindUnmatchedSQL = `SELECT k.key, u.record_id
	FROM unnest($3::text[]) AS k(key) CROSS JOIN LATERAL (
		SELECT record_id FROM crmsync_unmatched WHERE job_id = $1 AND side = $2 AND match_key = k.key
		ORDER BY updated_at DESC, record_id DESC LIMIT 1) AS u`

func (s *pgStore) FindUnmatched(ctx context.Context, job string, side Side, keys []string) (map[string]string, error) {
	out := map[string]string{}
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || len(keys) == 0 {
		return out, err
	}
	err = s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, pgFindUnmatchedSQL, id, string(side), uniqueStrings(keys))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, rid string
			if err := rows.Scan(&k, &rid); err != nil {
				return err
			}
			out[k] = rid
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("state: find unmatched records of job %s: %w", job, err)
	}
	return out, nil
}

func (s *pgStore) DeleteUnmatched(ctx context.Context, job string, side Side, ids []string) error {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || len(ids) == 0 {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM crmsync_unmatched WHERE job_id = $1 AND side = $2 AND record_id = ANY($3::text[])`,
			id, string(side), ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: delete unmatched records of job %s: %w", job, err)
	}
	return nil
}

func (s *pgStore) EnqueueRetry(ctx context.Context, job string, items []RetryItem) error {
	if len(items) == 0 {
		return nil
	}
	id, _, err := s.jobID(ctx, job, true)
	if err != nil {
		return err
	}
	now := time.Now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, it := range items {
			b.Queue(`INSERT INTO crmsync_retries
				(job_id, side, record_id, attempts, next_attempt, last_error, dead_letter, updated_at)
				VALUES ($1, $2, $3, 1, $4, $5, $6, $7)
				ON CONFLICT (job_id, side, record_id) DO UPDATE SET attempts = crmsync_retries.attempts + 1,
				next_attempt = excluded.next_attempt, last_error = excluded.last_error,
				dead_letter = excluded.dead_letter, updated_at = excluded.updated_at`,
				id, string(it.Side), it.RecordID, utc(it.NextAttempt), it.LastError, it.DeadLetter, now)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("state: enqueue %d retries of job %s: %w", len(items), job, err)
	}
	return nil
}

func (s *pgStore) queryRetries(ctx context.Context, job, where string, args ...any) ([]RetryItem, error) {
	var out []RetryItem
	err := s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT side, record_id, attempts, next_attempt, last_error, dead_letter, updated_at
			FROM crmsync_retries WHERE `+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it RetryItem
			var side string
			if err := rows.Scan(&side, &it.RecordID, &it.Attempts, &it.NextAttempt, &it.LastError, &it.DeadLetter, &it.UpdatedAt); err != nil {
				return err
			}
			it.Side, it.NextAttempt, it.UpdatedAt = Side(side), it.NextAttempt.UTC(), it.UpdatedAt.UTC()
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("state: read retries of job %s: %w", job, err)
	}
	return out, nil
}

func (s *pgStore) DueRetries(ctx context.Context, job string, now time.Time, limit int) ([]RetryItem, error) {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || limit <= 0 {
		return nil, err
	}
	return s.queryRetries(ctx, job, `job_id = $1 AND NOT dead_letter AND next_attempt <= $2
		ORDER BY next_attempt, side, record_id LIMIT $3`, id, utc(now), limit)
}

func (s *pgStore) DeadLetters(ctx context.Context, job string, limit int) ([]RetryItem, error) {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || limit <= 0 {
		return nil, err
	}
	return s.queryRetries(ctx, job, `job_id = $1 AND dead_letter ORDER BY updated_at DESC, side, record_id LIMIT $2`, id, limit)
}

func (s *pgStore) ResolveRetries(ctx context.Context, job string, side Side, recordIDs []string) error {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || len(recordIDs) == 0 {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM crmsync_retries WHERE job_id = $1 AND side = $2 AND record_id = ANY($3::text[])`,
			id, string(side), recordIDs)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: resolve retries of job %s: %w", job, err)
	}
	return nil
}

func (s *pgStore) CountRetries(ctx context.Context, job string) (pending, dead int64, err error) {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok {
		return 0, 0, err
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT dead_letter), count(*) FILTER (WHERE dead_letter)
		FROM crmsync_retries WHERE job_id = $1`, id).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, fmt.Errorf("state: count retries of job %s: %w", job, err)
	}
	return pending, dead, nil
}

func (s *pgStore) RecordRun(ctx context.Context, job string, run RunRecord) (int64, error) {
	id, _, err := s.jobID(ctx, job, true)
	if err != nil {
		return 0, err
	}
	counters, conflicts, err := encodeRun(run)
	if err != nil {
		return 0, err
	}
	var runID int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO crmsync_runs (job_id, started, finished, counters, conflicts, error)
			VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb, $6) RETURNING id`, id, utc(run.Started), utc(run.Finished),
			counters, conflicts, run.Error).Scan(&runID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM crmsync_runs WHERE job_id = $1 AND id NOT IN
			(SELECT id FROM crmsync_runs WHERE job_id = $1 ORDER BY id DESC LIMIT $2)`, id, RunHistory)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("state: record run of job %s: %w", job, err)
	}
	return runID, nil
}

func (s *pgStore) Runs(ctx context.Context, job string, limit int) ([]RunRecord, error) {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok || limit <= 0 {
		return nil, err
	}
	var out []RunRecord
	err = s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT id, started, finished, counters::text, conflicts::text, error FROM crmsync_runs
			WHERE job_id = $1 ORDER BY id DESC LIMIT $2`, id, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r RunRecord
			var counters, conflicts string
			if err := rows.Scan(&r.ID, &r.Started, &r.Finished, &counters, &conflicts, &r.Error); err != nil {
				return err
			}
			r.Started, r.Finished = r.Started.UTC(), r.Finished.UTC()
			if err := decodeRun(&r, []byte(counters), []byte(conflicts)); err != nil {
				return fmt.Errorf("decode run %d: %w", r.ID, err)
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("state: read runs of job %s: %w", job, err)
	}
	return out, nil
}

func (s *pgStore) DeleteJob(ctx context.Context, job string) error {
	id, ok, err := s.jobID(ctx, job, false)
	if err != nil || !ok {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, table := range jobTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE job_id = $1`, id); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM crmsync_jobs WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("state: delete job %s: %w", job, err)
	}
	s.jobs.forget(job)
	return nil
}

func (s *pgStore) Close() error {
	s.pool.Close()
	return nil
}
