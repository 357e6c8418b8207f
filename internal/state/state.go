// Package state is the durable sync state: record links, last-synced fingerprints, the retry queue and run
// history, in embedded SQLite (the default) or PostgreSQL.
package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Link ties a record on the source side of a SyncJob to its counterpart on the destination side, with the
// canonical fingerprints last synced on each side. A link and its fingerprints live in one row, so they are
// always written together.
type Link struct {
	SourceID string
	DestID   string
	// SourceFingerprint and DestFingerprint are the canonical fingerprints of each side as last synced.
	SourceFingerprint []byte
	DestFingerprint   []byte
	// UpdatedAt is when the link was last written. UpsertLinks sets it to now when it is zero. Stored times
	// are UTC with microsecond precision.
	UpdatedAt time.Time
}

// Side names one end of a SyncJob in the retry queue.
type Side string

// The sides of a SyncJob. Any non-empty string is accepted; these are the conventional ones.
const (
	SourceSide Side = "source"
	DestSide   Side = "dest"
)

// RetryItem is one record whose write failed and will be tried again.
type RetryItem struct {
	Side     Side
	RecordID string
	// Attempts counts failed attempts. EnqueueRetry increments it; its input value is ignored.
	Attempts int
	// NextAttempt is when the record becomes due again.
	NextAttempt time.Time
	// LastError is the most recent failure, for a person to read. It must not contain secrets.
	LastError string
	// DeadLetter marks a record that is no longer retried automatically.
	DeadLetter bool
	// UpdatedAt is when the entry was last written (set by the store).
	UpdatedAt time.Time
}

// RunCounters are the totals of one sync run.
type RunCounters struct {
	Read      int64 `json:"read,omitempty"`      // changes read, both sides
	Created   int64 `json:"created,omitempty"`   // records created
	Updated   int64 `json:"updated,omitempty"`   // records updated
	Deleted   int64 `json:"deleted,omitempty"`   // records deleted or archived
	Skipped   int64 `json:"skipped,omitempty"`   // writes skipped because the fingerprint was unchanged
	Failed    int64 `json:"failed,omitempty"`    // records that failed and went to the retry queue
	Conflicts int64 `json:"conflicts,omitempty"` // fields changed on both sides (the owner won)
}

// Conflict is one field that both sides changed in the same run; the owner's value won.
type Conflict struct {
	SourceID    string    `json:"sourceID,omitempty"`
	DestID      string    `json:"destID,omitempty"`
	Field       string    `json:"field"`
	Winner      Side      `json:"winner"`
	SourceValue string    `json:"sourceValue,omitempty"`
	DestValue   string    `json:"destValue,omitempty"`
	At          time.Time `json:"at,omitempty"`
}

// MaxConflictsPerRun caps the conflicts kept with one run; RunCounters.Conflicts still counts them all.
const MaxConflictsPerRun = 100

// RunHistory is how many runs are kept per job.
const RunHistory = 20

// RunRecord is the history entry of one sync run.
type RunRecord struct {
	// ID is assigned by RecordRun and increases with every run of the store.
	ID        int64
	Started   time.Time
	Finished  time.Time
	Counters  RunCounters
	Conflicts []Conflict
	// Error is why the run failed, empty when it succeeded.
	Error string
}

// Store is the durable state of every SyncJob, keyed by job name (e.g. "namespace/name"). It is safe for
// concurrent use by many goroutines, on the same job or on different jobs.
//
// Every write method is a single transaction: when it returns an error (including a cancelled context)
// nothing of that call is stored, and when it returns nil all of it is. All writes are idempotent unless
// stated otherwise, so a caller may retry a failed call as it is.
type Store interface {
	// UpsertLinks inserts or replaces links by (job, SourceID), all in one transaction. When ids repeat
	// in links, the last one wins. Idempotent.
	UpsertLinks(ctx context.Context, job string, links []Link) error
	// LookupBySource returns the links of the given source ids, keyed by source id; unknown ids are absent.
	LookupBySource(ctx context.Context, job string, sourceIDs []string) (map[string]Link, error)
	// LookupByDest returns the links of the given destination ids, keyed by destination id; unknown ids are
	// absent. Should several links share a destination id, the most recently updated one is returned.
	LookupByDest(ctx context.Context, job string, destIDs []string) (map[string]Link, error)
	// DeleteLinks removes links by source id. Unknown ids are ignored. Idempotent.
	DeleteLinks(ctx context.Context, job string, sourceIDs []string) error
	// CountLinks returns the number of links of job.
	CountLinks(ctx context.Context, job string) (int64, error)
	// IterateLinks calls fn with every link of job in pages ordered by source id, for full
	// reconciliation. It holds no transaction or connection while fn runs, so fn may call the store;
	// links written meanwhile may or may not be seen. An error from fn stops the iteration and is returned.
	IterateLinks(ctx context.Context, job string, fn func([]Link) error) error

	// PutUnmatched indexes records of one side that have no link yet by their normalised match key (id ->
	// key), replacing any earlier key of the same id, in one transaction. Idempotent.
	PutUnmatched(ctx context.Context, job string, side Side, keys map[string]string) error
	// FindUnmatched returns, for each key indexed on side, one id (the most recently put), keyed by match
	// key; unknown keys are absent. Entries may be stale: callers verify them.
	FindUnmatched(ctx context.Context, job string, side Side, keys []string) (map[string]string, error)
	// DeleteUnmatched removes ids from the index of side. Unknown ids are ignored. Idempotent.
	DeleteUnmatched(ctx context.Context, job string, side Side, ids []string) error

	// EnqueueRetry records one more failed attempt of each item, keyed by (job, Side, RecordID): Attempts
	// becomes the stored count plus one (1 for a new entry), and NextAttempt, LastError and DeadLetter are
	// replaced by the item's. It is not idempotent: a retried call counts the attempt twice.
	EnqueueRetry(ctx context.Context, job string, items []RetryItem) error
	// DueRetries returns up to limit entries that are not dead letters and whose NextAttempt is at or
	// before now, oldest NextAttempt first. It does not claim them.
	DueRetries(ctx context.Context, job string, now time.Time, limit int) ([]RetryItem, error)
	// ResolveRetries removes entries (pending or dead) after the record was written successfully.
	// Idempotent.
	ResolveRetries(ctx context.Context, job string, side Side, recordIDs []string) error
	// DeadLetters returns up to limit dead-letter entries, most recently updated first.
	DeadLetters(ctx context.Context, job string, limit int) ([]RetryItem, error)
	// CountRetries returns the numbers of pending entries and of dead letters.
	CountRetries(ctx context.Context, job string) (pending, dead int64, err error)

	// RecordRun appends a run to job's history and keeps only the last RunHistory runs. Conflicts beyond
	// MaxConflictsPerRun are dropped. It returns the run's ID. Not idempotent: a retried call records the run
	// twice.
	RecordRun(ctx context.Context, job string, run RunRecord) (int64, error)
	// Runs returns up to limit runs of job, newest first.
	Runs(ctx context.Context, job string, limit int) ([]RunRecord, error)

	// DeleteJob removes everything stored for job, in one transaction; for finalizers. It must not run
	// concurrently with writes for the same job. Idempotent.
	DeleteJob(ctx context.Context, job string) error
	// Close releases the database. It is safe to call more than once.
	Close() error
}

// Open opens (creating and migrating when needed) the store at url:
//   - sqlite:///abs/path/state.db, sqlite://rel/path.db, or sqlite://:memory: (tests);
//   - postgres://... or postgresql://... (pgx connection URL).
//
// Use ResolveURL first to turn a --state-store flag value into a URL. Errors never contain a password.
func Open(ctx context.Context, url string) (Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url)
	default:
		return nil, fmt.Errorf("state: unsupported store %q: want sqlite:///path/to/state.db, env:VAR or file:/path (a postgres:// URL)",
			schemeOf(url))
	}
}

// OpenFromFlag resolves the value of the manager's --state-store flag (see ResolveURL) and opens the store.
func OpenFromFlag(ctx context.Context, flagValue string) (Store, error) {
	url, err := ResolveURL(flagValue)
	if err != nil {
		return nil, err
	}
	return Open(ctx, url)
}

func schemeOf(s string) string {
	if i := strings.Index(s, ":"); i >= 0 {
		return s[:i+1]
	}
	return "(no scheme)"
}

// ResolveURL turns the value of the manager's --state-store flag into a store URL:
//   - sqlite:///path/to/state.db is used as it is;
//   - env:NAME reads the URL from environment variable NAME;
//   - file:/path reads it from a file (e.g. a mounted Secret), trimming surrounding white space;
//   - postgres://... is accepted only without a password (certificate or .pgpass authentication), because a
//     flag value is visible in the pod spec and in the process list.
func ResolveURL(flagValue string) (string, error) {
	v := strings.TrimSpace(flagValue)
	switch {
	case v == "":
		return "", errors.New("--state-store is empty: set it to sqlite:///var/lib/crmsync/state.db, " +
			"env:NAME or file:/path")
	case strings.HasPrefix(v, "env:"):
		name := strings.TrimPrefix(v, "env:")
		u := strings.TrimSpace(os.Getenv(name))
		if u == "" {
			return "", fmt.Errorf("--state-store=env:%s: environment variable %s is empty or unset: "+
				"set it from a Secret with the store URL", name, name)
		}
		return checkResolved(u, "environment variable "+name)
	case strings.HasPrefix(v, "file:"):
		path := strings.TrimPrefix(v, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--state-store=file:%s: %w", path, err)
		}
		u := strings.TrimSpace(string(b))
		if u == "" {
			return "", fmt.Errorf("--state-store=file:%s: the file is empty: it must hold the store URL", path)
		}
		return checkResolved(u, "file "+path)
	case strings.HasPrefix(v, "sqlite://"):
		return v, nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if hasPassword(v) {
			return "", errors.New("--state-store holds a PostgreSQL URL with a password, which would be visible " +
				"in the pod spec and the process list: put the URL in a Secret and pass " +
				"--state-store=env:CRMSYNC_STATE_DSN (environment variable) or --state-store=file:/path (mounted file)")
		}
		return v, nil
	default:
		return "", fmt.Errorf("--state-store: unsupported value starting with %q: want "+
			"sqlite:///path/to/state.db, env:NAME or file:/path (holding a postgres:// URL)", schemeOf(v))
	}
}

func checkResolved(u, from string) (string, error) {
	if strings.HasPrefix(u, "sqlite://") || strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return u, nil
	}
	return "", fmt.Errorf("--state-store: %s does not hold a sqlite:// or postgres:// URL (it starts with %q)",
		from, schemeOf(u))
}

// hasPassword reports whether a postgres URL carries a password in its user info or query.
func hasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: refuse to judge it safe when it looks like it might hold one.
		return strings.Contains(raw, "@") || strings.Contains(strings.ToLower(raw), "password")
	}
	if _, ok := u.User.Password(); ok {
		return true
	}
	q := u.Query()
	return q.Get("password") != "" || q.Get("sslpassword") != ""
}

// utc normalises a time to what the store keeps: UTC, microseconds.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// dedupeLinks keeps the last link per source id and sorts by source id, so that concurrent batches lock
// rows in the same order.
func dedupeLinks(links []Link, now time.Time) []Link {
	idx := make(map[string]int, len(links))
	out := make([]Link, 0, len(links))
	for _, l := range links {
		if l.UpdatedAt.IsZero() {
			l.UpdatedAt = now
		}
		l.UpdatedAt = utc(l.UpdatedAt)
		if i, ok := idx[l.SourceID]; ok {
			out[i] = l
			continue
		}
		idx[l.SourceID] = len(out)
		out = append(out, l)
	}
	sortLinks(out)
	return out
}

// newerLink reports whether a was written after b; the greater source id breaks a tie. When several links
// share a destination id, LookupByDest returns the newest by this order on both engines.
func newerLink(a, b Link) bool {
	if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
		return c > 0
	}
	return a.SourceID > b.SourceID
}

func validateLinks(links []Link) error {
	for _, l := range links {
		if l.SourceID == "" || l.DestID == "" {
			return fmt.Errorf("state: link %q -> %q: both ids are required", l.SourceID, l.DestID)
		}
	}
	return nil
}

func uniqueStrings(in []string) []string {
	seen := make(map[string]struct{}, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if _, ok := seen[s]; ok {
			continue
		}
		seen[s] = struct{}{}
		out = append(out, s)
	}
	return out
}

func capConflicts(c []Conflict) []Conflict {
	if len(c) > MaxConflictsPerRun {
		return c[:MaxConflictsPerRun]
	}
	return c
}

// iteratePageSize is the page size of IterateLinks.
const iteratePageSize = 1000

func sortLinks(links []Link) {
	slices.SortFunc(links, func(a, b Link) int { return strings.Compare(a.SourceID, b.SourceID) })
}

// jobTables hold rows keyed by job_id; DeleteJob empties them.
var jobTables = []string{"crmsync_links", "crmsync_retries", "crmsync_runs", "crmsync_unmatched"}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// iterateLinkPages calls fn with the pages that fetch returns, each fetched after the last source id of the
// one before, until a short page. It is the paging loop of IterateLinks on both engines.
func iterateLinkPages(fn func([]Link) error, fetch func(after string) ([]Link, error)) error {
	after := ""
	for {
		page, err := fetch(after)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < iteratePageSize {
			return nil
		}
		after = page[len(page)-1].SourceID
	}
}
