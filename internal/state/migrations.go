package state

// migration is one step of the schema, written once per engine. Both engines have the same tables, columns,
// keys and indexes; only the column types differ (SQLite keeps times as Unix microseconds in INTEGER
// columns, PostgreSQL as timestamptz).
type migration struct {
	version  int
	name     string
	sqlite   string
	postgres string
}

// migrationsTable records the applied migrations, one row per version.
const migrationsTable = "crmsync_state_migrations"

// migrations is append-only: never edit a released step, add a new one.
var migrations = []migration{
	{
		version: 1,
		name:    "links, retry queue and run history",
		sqlite: `
CREATE TABLE crmsync_jobs (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE crmsync_links (
	job_id     INTEGER NOT NULL,
	source_id  TEXT NOT NULL,
	dest_id    TEXT NOT NULL,
	source_fp  BLOB,
	dest_fp    BLOB,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (job_id, source_id)
) WITHOUT ROWID;
CREATE INDEX crmsync_links_dest ON crmsync_links (job_id, dest_id);
CREATE TABLE crmsync_retries (
	job_id       INTEGER NOT NULL,
	side         TEXT NOT NULL,
	record_id    TEXT NOT NULL,
	attempts     INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT NOT NULL,
	dead_letter  INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (job_id, side, record_id)
) WITHOUT ROWID;
CREATE INDEX crmsync_retries_due ON crmsync_retries (job_id, dead_letter, next_attempt);
CREATE TABLE crmsync_runs (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id    INTEGER NOT NULL,
	started   INTEGER NOT NULL,
	finished  INTEGER NOT NULL,
	counters  TEXT NOT NULL,
	conflicts TEXT NOT NULL,
	error     TEXT NOT NULL
);
CREATE INDEX crmsync_runs_job ON crmsync_runs (job_id, id);
`,
		postgres: `
CREATE TABLE crmsync_jobs (
	id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name TEXT NOT NULL UNIQUE
);
CREATE TABLE crmsync_links (
	job_id     BIGINT NOT NULL,
	source_id  TEXT NOT NULL,
	dest_id    TEXT NOT NULL,
	source_fp  BYTEA,
	dest_fp    BYTEA,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (job_id, source_id)
);
CREATE INDEX crmsync_links_dest ON crmsync_links (job_id, dest_id);
CREATE TABLE crmsync_retries (
	job_id       BIGINT NOT NULL,
	side         TEXT NOT NULL,
	record_id    TEXT NOT NULL,
	attempts     INTEGER NOT NULL,
	next_attempt TIMESTAMPTZ NOT NULL,
	last_error   TEXT NOT NULL,
	dead_letter  BOOLEAN NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (job_id, side, record_id)
);
CREATE INDEX crmsync_retries_due ON crmsync_retries (job_id, dead_letter, next_attempt);
CREATE TABLE crmsync_runs (
	id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	job_id    BIGINT NOT NULL,
	started   TIMESTAMPTZ NOT NULL,
	finished  TIMESTAMPTZ NOT NULL,
	counters  JSONB NOT NULL,
	conflicts JSONB NOT NULL,
	error     TEXT NOT NULL
);
CREATE INDEX crmsync_runs_job ON crmsync_runs (job_id, id);
`,
	},
	{
		version: 2,
		name:    "match index of unlinked records",
		sqlite: `
CREATE TABLE crmsync_unmatched (
	job_id     INTEGER NOT NULL,
	side       TEXT NOT NULL,
	record_id  TEXT NOT NULL,
	match_key  TEXT NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (job_id, side, record_id)
) WITHOUT ROWID;
CREATE INDEX crmsync_unmatched_key ON crmsync_unmatched (job_id, side, match_key);
`,
		postgres: `
CREATE TABLE crmsync_unmatched (
	job_id     BIGINT NOT NULL,
	side       TEXT NOT NULL,
	record_id  TEXT NOT NULL,
	match_key  TEXT NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (job_id, side, record_id)
);
CREATE INDEX crmsync_unmatched_key ON crmsync_unmatched (job_id, side, match_key);
`,
	},
}
