// Package sqltable is the SQL table endpoint: a connector over one table of an application's own
// PostgreSQL or SQLite database, with trigger-based change capture.
package sqltable

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// Provider is the connector's provider name.
const Provider = "sqltable"

// Drivers.
const (
	DriverPostgres = "postgres"
	DriverSQLite   = "sqlite"
)

// Defaults and limits.
const (
	DefaultPageSize      = 1000
	MaxPageSize          = 10000
	maxBatch             = 1000
	defaultPruneInterval = time.Minute
)

// Names of crmsync's own objects in the application's database.
const (
	changelogTable = "crmsync_changelog"
	consumersTable = "crmsync_consumers"
	markerTable    = "crmsync_origin_marker" // SQLite only
	originSetting  = "crmsync.origin"        // PostgreSQL only
	originValue    = "crmsync"
)

// FieldSpec declares one field of the table: its record field name and type. Types: string, text, email,
// phone, url, enum, reference (text columns); number, currency, percent (numeric); integer (bigint);
// boolean; date; datetime (timestamptz); multiEnum (text holding "a;b;c"); json (jsonb).
type FieldSpec struct {
	Name string
	Type string
	// Required makes the column NOT NULL when crmsync creates the table.
	Required bool
	// Unique adds a unique constraint when crmsync creates the table (for UpsertOptions.ExternalIDField).
	Unique bool
}

// Config binds a connector to one table.
type Config struct {
	// Driver is "postgres" or "sqlite".
	Driver string
	// DSN is a pgx connection string, or an SQLite file name. It comes from a Secret; it never appears
	// in an error or a log (see RedactDSN).
	DSN string
	// Table is the table name, optionally schema-qualified on PostgreSQL ("app.contacts").
	Table string
	// Object is the canonical object the table holds, reported in Capabilities.DefaultObjects; optional.
	Object connectors.Object
	// Fields declares the fields and their types. It is required with CreateTable. Without it, the
	// table's own columns (other than the id, updated_at and deleted_at columns) are the fields.
	Fields []FieldSpec
	// Columns maps record field names to column names; nil means the field names are the column names.
	Columns map[string]string
	// CreateTable creates the table when it is missing. An existing table is validated instead.
	CreateTable bool
	// JobName identifies the consumer of the change log (the SyncJob), for pruning. Empty disables
	// consumer tracking and pruning for this connector.
	JobName string
	// PageSize is the page size of Changes when the request names none, reported as
	// Capabilities.MaxPageSize (DefaultPageSize when 0, at most MaxPageSize). A request may ask for up to
	// MaxPageSize.
	PageSize int
	// IDColumn, UpdatedAtColumn and DeletedAtColumn name the system columns (defaults id, updated_at,
	// deleted_at).
	IDColumn, UpdatedAtColumn, DeletedAtColumn string
	// PruneInterval is how often Changes prunes the change log; 0 means every minute, negative never.
	PruneInterval time.Duration
}

// column is one table column as crmsync uses it.
type column struct {
	field      string // record field name ("" for system columns)
	name       string
	kind       kind
	sqlType    string // PostgreSQL: format_type(); SQLite: the declared type
	notNull    bool
	hasDefault bool
}

// model is the table as validated at New.
type model struct {
	key       string // the table as configured; the change log's table_name
	id        column
	updatedAt column
	deletedAt column
	fields    []*column
	byField   map[string]*column
	specs     []FieldSpec
}

// dbRow is one row read from the table; values align with model.fields.
type dbRow struct {
	id        string
	updatedAt time.Time
	deletedAt *time.Time
	values    []any
}

// position is a place in the change log: (transaction id, sequence) on PostgreSQL, (0, seq) on SQLite.
type position struct {
	tx  uint64
	seq int64
}

// logEntry is one change-log entry joined with the row's current values (nil when the row is gone).
type logEntry struct {
	pos       position
	recordID  string
	changedAt time.Time
	row       *dbRow
}

// backend is one database engine.
type backend interface {
	inspect(ctx context.Context, m *model) (map[string]column, bool, error)
	create(ctx context.Context, m *model) error
	install(ctx context.Context, m *model) error
	head(ctx context.Context) (position, error)
	readLog(ctx context.Context, after position, limit int) ([]logEntry, error)
	readTable(ctx context.Context, afterID *string, limit int) ([]dbRow, error)
	fetch(ctx context.Context, ids []string) ([]dbRow, error)
	upsert(ctx context.Context, writes []*write) error
	delete(ctx context.Context, ids []string) error
	archive(ctx context.Context, ids []string) error
	listIDs(ctx context.Context, afterID *string, limit int) ([]string, error)
	ack(ctx context.Context, consumer string, pos position) error
	removeConsumer(ctx context.Context, consumer string) error
	prune(ctx context.Context) (int64, error)
	classify(err error) (crmerr.Kind, string)
	close()
}

// Connector is one SQL table behind the connector contract. It is safe for concurrent use.
type Connector struct {
	cfg      Config
	m        *model
	b        backend
	password string

	pruneEvery time.Duration
	lastPrune  atomic.Int64
	closeOnce  sync.Once

	// calls counts database round trips made for the contract's methods (pages, batches), like a CRM
	// connector's API calls.
	calls atomic.Int64
	// faults, when set (by tests), runs before each round trip: the SQL analogue of a faulty network.
	faults atomic.Pointer[func(context.Context) error]
}

// readAttempts bounds the retries of a read that failed transiently.
const readAttempts = 8

// roundTrip counts one database round trip and runs the injected faults, if any.
func (c *Connector) roundTrip(ctx context.Context) error {
	c.calls.Add(1)
	if f := c.faults.Load(); f != nil {
		return (*f)(ctx)
	}
	return nil
}

// read runs one read round trip, retrying transient failures (a dropped connection, a fail-over, a busy
// SQLite file) with a short exponential backoff. Reads are safe to retry. It gives up when ctx ends.
func (c *Connector) read(ctx context.Context, fn func() error) error {
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := c.roundTrip(ctx)
		if err == nil {
			err = fn()
		}
		if err == nil || attempt == readAttempts || ctx.Err() != nil {
			return err
		}
		if kind, _ := c.b.classify(err); kind != crmerr.Transient {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// write runs one write round trip. Writes are not retried here: a transaction whose commit was sent but
// not acknowledged may have committed, and only the engine knows whether replaying it is safe.
func (c *Connector) write(ctx context.Context, fn func() error) error {
	if err := c.roundTrip(ctx); err != nil {
		return err
	}
	return fn()
}

var _ connectors.Connector = (*Connector)(nil)

// New connects to the database, creates the table when asked to (or validates the existing one), and
// installs change capture: the change-log and consumers tables and the table's triggers. It is idempotent:
// several connectors (jobs) may share a table.
func New(ctx context.Context, cfg Config) (*Connector, error) {
	if cfg.IDColumn == "" {
		cfg.IDColumn = "id"
	}
	if cfg.UpdatedAtColumn == "" {
		cfg.UpdatedAtColumn = "updated_at"
	}
	if cfg.DeletedAtColumn == "" {
		cfg.DeletedAtColumn = "deleted_at"
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	if cfg.Table == "" {
		return nil, permanent("configure", "no table given")
	}
	c := &Connector{cfg: cfg, password: dsnPassword(cfg.DSN), pruneEvery: cfg.PruneInterval}
	if c.pruneEvery == 0 {
		c.pruneEvery = defaultPruneInterval
	}
	m, err := newModel(cfg)
	if err != nil {
		return nil, permanent("configure table "+cfg.Table, err.Error())
	}
	c.m = m
	switch cfg.Driver {
	case DriverPostgres:
		c.b, err = openPostgres(ctx, cfg, m)
	case DriverSQLite:
		c.b, err = openSQLite(ctx, cfg, m)
	default:
		return nil, permanent("configure", fmt.Sprintf("unsupported driver %q: want postgres or sqlite", cfg.Driver))
	}
	if err != nil {
		return nil, c.wrap("connect to "+RedactDSN(cfg.DSN), err)
	}
	if err := c.setup(ctx); err != nil {
		c.b.close()
		return nil, err
	}
	return c, nil
}

func newModel(cfg Config) (*model, error) {
	m := &model{
		key:       cfg.Table,
		id:        column{name: cfg.IDColumn, kind: kindText},
		updatedAt: column{name: cfg.UpdatedAtColumn, kind: kindTimestamp},
		deletedAt: column{name: cfg.DeletedAtColumn, kind: kindTimestamp},
		byField:   map[string]*column{},
		specs:     cfg.Fields,
	}
	for _, f := range cfg.Fields {
		k, err := kindOfFieldType(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if err := m.add(&column{field: f.Name, name: columnOf(cfg, f.Name), kind: k, notNull: f.Required}); err != nil {
			return nil, err
		}
	}
	if len(cfg.Fields) == 0 {
		if cfg.CreateTable {
			return nil, errors.New("createTable needs the list of fields and their types")
		}
		// Columns without Fields: the kinds come from the table.
		names := make([]string, 0, len(cfg.Columns))
		for f := range cfg.Columns {
			names = append(names, f)
		}
		sort.Strings(names)
		for _, f := range names {
			if err := m.add(&column{field: f, name: cfg.Columns[f], kind: -1}); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func columnOf(cfg Config, field string) string {
	if c, ok := cfg.Columns[field]; ok && c != "" {
		return c
	}
	return field
}

func (m *model) add(c *column) error {
	if c.field == "" || c.name == "" {
		return errors.New("a field and its column need names")
	}
	if _, dup := m.byField[c.field]; dup {
		return fmt.Errorf("field %s is declared twice", c.field)
	}
	switch c.name {
	case m.id.name, m.updatedAt.name, m.deletedAt.name:
		return fmt.Errorf("field %s maps to the system column %s: map it to another column", c.field, c.name)
	}
	m.fields = append(m.fields, c)
	m.byField[c.field] = c
	return nil
}

// setup creates or validates the table and installs change capture.
func (c *Connector) setup(ctx context.Context) error {
	op := "set up table " + c.m.key
	cols, exists, err := c.b.inspect(ctx, c.m)
	if err != nil {
		return c.wrap(op, err)
	}
	if !exists {
		if !c.cfg.CreateTable {
			return permanent(op, fmt.Sprintf("table %s does not exist: create it, or set createTable", c.m.key))
		}
		if err := c.b.create(ctx, c.m); err != nil {
			return c.wrap(op, err)
		}
		if cols, _, err = c.b.inspect(ctx, c.m); err != nil {
			return c.wrap(op, err)
		}
	}
	if err := c.m.bind(cols); err != nil {
		return permanent(op, err.Error())
	}
	if err := c.b.install(ctx, c.m); err != nil {
		return c.wrap(op, err)
	}
	return nil
}

// bind checks that every mapped column exists and takes its type from the table. Without declared fields,
// every non-system column becomes a field of the same name.
func (m *model) bind(cols map[string]column) error {
	for _, sys := range []*column{&m.id, &m.updatedAt, &m.deletedAt} {
		got, ok := cols[sys.name]
		if !ok {
			return fmt.Errorf("table %s has no column %q: crmsync needs an id, an updated_at and a deleted_at column "+
				"(their names can be changed in the table spec)", m.key, sys.name)
		}
		sys.sqlType, sys.notNull, sys.hasDefault = got.sqlType, got.notNull, got.hasDefault
	}
	if len(m.fields) == 0 {
		names := make([]string, 0, len(cols))
		for n := range cols {
			if n != m.id.name && n != m.updatedAt.name && n != m.deletedAt.name {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if err := m.add(&column{field: n, name: n, kind: -1}); err != nil {
				return err
			}
		}
	}
	for _, f := range m.fields {
		got, ok := cols[f.name]
		if !ok {
			return fmt.Errorf("table %s has no column %q (mapped from field %s): add the column or fix the column map",
				m.key, f.name, f.field)
		}
		f.sqlType, f.notNull, f.hasDefault = got.sqlType, got.notNull, got.hasDefault
		if f.kind < 0 {
			f.kind = got.kind
		}
	}
	return nil
}

// Provider implements connectors.Connector.
func (c *Connector) Provider() string { return Provider }

// Capabilities implements connectors.Connector: deletions come in the change stream, batches of 1000.
func (c *Connector) Capabilities() connectors.Capabilities {
	caps := connectors.Capabilities{
		DefaultObjects:     map[connectors.Object]string{},
		MaxPageSize:        c.cfg.PageSize,
		MaxReadBatch:       maxBatch,
		MaxWriteBatch:      maxBatch,
		MaxDeleteBatch:     maxBatch,
		UpsertByExternalID: true,
		DeleteDetection:    connectors.DeletesInStream,
	}
	if c.cfg.Object != "" {
		caps.DefaultObjects[c.cfg.Object] = c.cfg.Table
	}
	return caps
}

// Table returns the table the connector serves.
func (c *Connector) Table() string { return c.m.key }

func (c *Connector) checkObject(op, object string) error {
	if object == c.m.key || (c.cfg.Object != "" && object == string(c.cfg.Object)) {
		return nil
	}
	return permanent(op, fmt.Sprintf("unknown object %q: this endpoint serves table %s", object, c.m.key))
}

// Describe implements connectors.Connector. Fields are the mapped fields, named by field (not column);
// Required means NOT NULL without a default.
func (c *Connector) Describe(ctx context.Context, object string) (connectors.ObjectMeta, error) {
	if err := c.checkObject("describe", object); err != nil {
		return connectors.ObjectMeta{}, err
	}
	var cols map[string]column
	err := c.read(ctx, func() (err error) { cols, _, err = c.b.inspect(ctx, c.m); return err })
	if err != nil {
		return connectors.ObjectMeta{}, c.wrap("describe "+c.m.key, err)
	}
	meta := connectors.ObjectMeta{Name: c.m.key}
	for _, f := range c.m.fields {
		live, ok := cols[f.name]
		if !ok {
			return connectors.ObjectMeta{}, permanent("describe "+c.m.key,
				fmt.Sprintf("column %q (field %s) was dropped from table %s", f.name, f.field, c.m.key))
		}
		meta.Fields = append(meta.Fields, connectors.FieldMeta{
			Name:     f.field,
			Label:    f.name,
			Type:     live.sqlType,
			Required: live.notNull && !live.hasDefault,
		})
	}
	return meta, nil
}

// record converts a row to a record. A soft-deleted row is a tombstone that keeps its fields.
func (c *Connector) record(r *dbRow, fields map[string]bool) connectors.Record {
	rec := connectors.Record{ID: r.id, ModifiedAt: r.updatedAt, Fields: make(map[string]any, len(c.m.fields))}
	for i, f := range c.m.fields {
		if fields != nil && !fields[f.field] {
			continue
		}
		rec.Fields[f.field] = fromDB(f.kind, r.values[i])
	}
	if r.deletedAt != nil {
		rec.Deleted = true
		rec.ModifiedAt = *r.deletedAt
	}
	return rec
}

func fieldSet(fields []string) map[string]bool {
	if fields == nil {
		return nil
	}
	s := make(map[string]bool, len(fields))
	for _, f := range fields {
		s[f] = true
	}
	return s
}

// Cursors: "log:<tx>:<seq>" reads the change log after a position; "snap:<tx>:<seq>:<last id>" is inside
// the initial snapshot of the table, which is followed by the change log from <tx>:<seq>.
type cursor struct {
	snapshot bool
	pos      position
	afterID  *string
}

func (k cursor) String() string {
	if k.snapshot {
		s := fmt.Sprintf("snap:%d:%d:", k.pos.tx, k.pos.seq)
		if k.afterID != nil {
			s += "+" + *k.afterID
		}
		return s
	}
	return fmt.Sprintf("log:%d:%d", k.pos.tx, k.pos.seq)
}

func parseCursor(s string) (cursor, error) {
	kind, rest, ok := strings.Cut(s, ":")
	bad := fmt.Errorf("cursor %q was not issued by the sqltable connector: reset the job's cursor", s)
	if !ok || (kind != "log" && kind != "snap") {
		return cursor{}, bad
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) < 2 || (kind == "snap") != (len(parts) == 3) {
		return cursor{}, bad
	}
	tx, err1 := strconv.ParseUint(parts[0], 10, 64)
	seq, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return cursor{}, bad
	}
	k := cursor{snapshot: kind == "snap", pos: position{tx: tx, seq: seq}}
	if k.snapshot && strings.HasPrefix(parts[2], "+") {
		id := parts[2][1:]
		k.afterID = &id
	}
	return k, nil
}

// Changes implements connectors.Connector. An empty cursor first pages through a snapshot of the whole
// table (live rows, and soft-deleted rows as tombstones), then continues with the change log from where it
// stood when the snapshot began. A later cursor reads the change log: each entry is joined with the row's
// current values, a row that is gone becomes a tombstone, and an entry repeated within a page is returned
// once. The log is exact, so req.Lookback is ignored.
//
// Calling Changes with a cursor acknowledges it: the job (Config.JobName) has committed everything before
// it, so change-log entries that every consumer of the table has acknowledged may be pruned.
func (c *Connector) Changes(ctx context.Context, req connectors.ChangesRequest, yield func(connectors.Page) error) (connectors.Cursor, error) {
	op := "read changes of " + c.m.key
	if err := c.checkObject(op, req.Object); err != nil {
		return "", err
	}
	pageSize := c.cfg.PageSize
	if req.PageSize > 0 {
		pageSize = min(req.PageSize, MaxPageSize)
	}
	var cur cursor
	if req.Cursor == "" {
		var start position
		err := c.read(ctx, func() (err error) { start, err = c.b.head(ctx); return err })
		if err != nil {
			return "", c.wrap(op, err)
		}
		cur = cursor{snapshot: true, pos: start}
	} else {
		var err error
		if cur, err = parseCursor(string(req.Cursor)); err != nil {
			return "", permanent(op, err.Error())
		}
	}
	if err := c.acknowledge(ctx, cur.pos); err != nil {
		return "", c.wrap(op, err)
	}
	fields := fieldSet(req.Fields)
	for {
		if cur.snapshot {
			var rows []dbRow
			err := c.read(ctx, func() (err error) { rows, err = c.b.readTable(ctx, cur.afterID, pageSize); return err })
			if err != nil {
				return "", c.wrap(op, err)
			}
			next := cursor{snapshot: true, pos: cur.pos}
			if len(rows) > 0 {
				next.afterID = &rows[len(rows)-1].id
			}
			if len(rows) < pageSize {
				next = cursor{pos: cur.pos}
			}
			if len(rows) > 0 {
				page := connectors.Page{Checkpoint: connectors.Cursor(next.String())}
				for i := range rows {
					page.Records = append(page.Records, c.record(&rows[i], fields))
				}
				if err := yield(page); err != nil {
					return "", err
				}
			}
			cur = next
			continue
		}
		var entries []logEntry
		err := c.read(ctx, func() (err error) { entries, err = c.b.readLog(ctx, cur.pos, pageSize); return err })
		if err != nil {
			return "", c.wrap(op, err)
		}
		if len(entries) == 0 {
			return connectors.Cursor(cur.String()), nil
		}
		next := cursor{pos: entries[len(entries)-1].pos}
		page := connectors.Page{Checkpoint: connectors.Cursor(next.String())}
		seen := make(map[string]int, len(entries))
		for _, e := range entries {
			rec := connectors.Record{ID: e.recordID, Deleted: true, ModifiedAt: e.changedAt}
			if e.row != nil {
				rec = c.record(e.row, fields)
			}
			if i, dup := seen[e.recordID]; dup {
				page.Records[i] = rec // the later entry carries the same or newer state
				continue
			}
			seen[e.recordID] = len(page.Records)
			page.Records = append(page.Records, rec)
		}
		if err := yield(page); err != nil {
			return "", err
		}
		cur = next
		if len(entries) < pageSize {
			return connectors.Cursor(cur.String()), nil
		}
	}
}

// acknowledge records the job's position and prunes the log now and then.
func (c *Connector) acknowledge(ctx context.Context, pos position) error {
	if c.cfg.JobName == "" {
		return nil
	}
	if err := c.read(ctx, func() error { return c.b.ack(ctx, c.cfg.JobName, pos) }); err != nil {
		return err
	}
	if c.pruneEvery < 0 {
		return nil
	}
	now := time.Now().UnixNano()
	last := c.lastPrune.Load()
	if now-last < int64(c.pruneEvery) || !c.lastPrune.CompareAndSwap(last, now) {
		return nil
	}
	_, err := c.b.prune(ctx)
	return err
}

// Prune deletes the change-log entries of this table that every registered consumer has acknowledged, and
// returns how many it deleted. Entries are kept while the table has no consumer. Idempotent.
func (c *Connector) Prune(ctx context.Context) (int64, error) {
	n, err := c.b.prune(ctx)
	if err != nil {
		return 0, c.wrap("prune change log of "+c.m.key, err)
	}
	return n, nil
}

// RemoveConsumer forgets this connector's job as a consumer of the change log, so that it no longer holds
// back pruning; for finalizers. Idempotent.
func (c *Connector) RemoveConsumer(ctx context.Context) error {
	if c.cfg.JobName == "" {
		return nil
	}
	if err := c.b.removeConsumer(ctx, c.cfg.JobName); err != nil {
		return c.wrap("remove consumer "+c.cfg.JobName, err)
	}
	return nil
}

// Get implements connectors.Connector. Soft-deleted (archived) rows are omitted, like missing ones.
func (c *Connector) Get(ctx context.Context, object string, ids []string, fields []string) ([]connectors.Record, error) {
	op := "get " + c.m.key
	if err := c.checkObject(op, object); err != nil {
		return nil, err
	}
	set := fieldSet(fields)
	var out []connectors.Record
	for start := 0; start < len(ids); start += maxBatch {
		var rows []dbRow
		err := c.read(ctx, func() (err error) { rows, err = c.b.fetch(ctx, ids[start:min(start+maxBatch, len(ids))]); return err })
		if err != nil {
			return out, c.wrap(op, err)
		}
		for i := range rows {
			if rows[i].deletedAt == nil {
				out = append(out, c.record(&rows[i], set))
			}
		}
	}
	return out, nil
}

// write is one record prepared for a backend: columns and converted values, and its outcome.
type write struct {
	id     string    // the record's ID, "" to create
	cols   []*column // columns to set
	vals   []any     // values for cols, in the backend's parameter form
	extCol *column   // external id column, for creates keyed by an external id
	extVal any
	result connectors.Result
	done   bool // result is final (conversion error)
}

// Upsert implements connectors.Connector. Records with an ID update that row, or insert it with that id
// when it does not exist; records without one are inserted with a generated id, or, with
// opts.ExternalIDField, update the row whose column holds the same value (which should be unique).
// Absent fields are left untouched; nil clears a column. A record that violates a constraint or holds a
// value its column cannot take fails alone, as InvalidRecord; the others are written. The writes are
// tagged as crmsync's own, so they never come back through Changes.
func (c *Connector) Upsert(ctx context.Context, object string, records []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	op := "upsert " + c.m.key
	if err := c.checkObject(op, object); err != nil {
		return nil, err
	}
	var ext *column
	if opts.ExternalIDField != "" {
		ext = c.m.byField[opts.ExternalIDField]
		if ext == nil {
			return nil, permanent(op, fmt.Sprintf("external id field %q is not a field of table %s", opts.ExternalIDField, c.m.key))
		}
	}
	results := make([]connectors.Result, 0, len(records))
	for start := 0; start < len(records); start += maxBatch {
		batch := records[start:min(start+maxBatch, len(records))]
		writes := make([]*write, len(batch))
		for i, r := range batch {
			writes[i] = c.prepare(r, ext)
		}
		var pending []*write
		for _, w := range writes {
			if !w.done {
				pending = append(pending, w)
			}
		}
		if len(pending) > 0 {
			if err := c.write(ctx, func() error { return c.b.upsert(ctx, pending) }); err != nil {
				return results, c.wrap(op, err)
			}
		}
		for _, w := range writes {
			if w.result.Err != nil {
				w.result.Err = c.wrapRecord(op, w.result.Err)
			}
			results = append(results, w.result)
		}
	}
	return results, nil
}

func (c *Connector) prepare(r connectors.Record, ext *column) *write {
	w := &write{id: r.ID, result: connectors.Result{ID: r.ID}}
	names := make([]string, 0, len(r.Fields))
	for f := range r.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		col := c.m.byField[f]
		if col == nil {
			w.fail(crmerr.New(crmerr.InvalidRecord, Provider, "", fmt.Sprintf("unknown field %q: table %s has no such mapped column", f, c.m.key)), f)
			return w
		}
		v, err := c.convert(col, r.Fields[f])
		if err != nil {
			w.fail(crmerr.New(crmerr.InvalidRecord, Provider, "", fmt.Sprintf("field %s: %v", f, err)), f)
			return w
		}
		w.cols = append(w.cols, col)
		w.vals = append(w.vals, v)
	}
	if r.ID == "" && ext != nil {
		v, ok := r.Fields[ext.field]
		if !ok || v == nil {
			w.fail(crmerr.New(crmerr.InvalidRecord, Provider, "", "the external id field "+ext.field+" is empty"), ext.field)
			return w
		}
		w.extCol = ext
		w.extVal, _ = c.convert(ext, v)
	}
	return w
}

func (w *write) fail(e *crmerr.Error, field string) {
	e.Field = field
	w.result.Err = e
	w.done = true
}

func (c *Connector) convert(col *column, v any) (any, error) {
	// Validate in Go on both engines, so that a bad value names its field.
	sv, err := toSQLite(col.kind, v)
	if err != nil || c.cfg.Driver == DriverSQLite {
		return sv, err
	}
	return toText(col.kind, v)
}

// Delete implements connectors.Connector with a hard DELETE; deleting a row that is already gone succeeds.
// Use Archive for a soft delete. Deletions by crmsync are not captured.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	op := "delete from " + c.m.key
	if err := c.checkObject(op, object); err != nil {
		return nil, err
	}
	results := make([]connectors.Result, 0, len(ids))
	for start := 0; start < len(ids); start += maxBatch {
		batch := ids[start:min(start+maxBatch, len(ids))]
		if err := c.write(ctx, func() error { return c.b.delete(ctx, batch) }); err != nil {
			return results, c.wrap(op, err)
		}
		for _, id := range batch {
			results = append(results, connectors.Result{ID: id})
		}
	}
	return results, nil
}

// Archive soft-deletes rows: it sets deleted_at (and updated_at) where deleted_at is still null, one
// Result per id, with the same contract as Delete. Archived rows read as tombstones in Changes and are left
// out of Get and ListIDs. Archiving an archived or missing row succeeds. Idempotent; not captured as a
// change.
func (c *Connector) Archive(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	op := "archive rows of " + c.m.key
	if err := c.checkObject(op, object); err != nil {
		return nil, err
	}
	results := make([]connectors.Result, 0, len(ids))
	for start := 0; start < len(ids); start += maxBatch {
		batch := ids[start:min(start+maxBatch, len(ids))]
		if err := c.write(ctx, func() error { return c.b.archive(ctx, batch) }); err != nil {
			return results, c.wrap(op, err)
		}
		for _, id := range batch {
			results = append(results, connectors.Result{ID: id})
		}
	}
	return results, nil
}

// ListIDs implements connectors.Connector: the ids of live rows (deleted_at is null), in id order, in pages
// of up to MaxReadBatch.
func (c *Connector) ListIDs(ctx context.Context, object string, yield func(ids []string) error) error {
	op := "list ids of " + c.m.key
	if err := c.checkObject(op, object); err != nil {
		return err
	}
	var after *string
	for {
		var ids []string
		err := c.read(ctx, func() (err error) { ids, err = c.b.listIDs(ctx, after, maxBatch); return err })
		if err != nil {
			return c.wrap(op, err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := yield(ids); err != nil {
			return err
		}
		if len(ids) < maxBatch {
			return nil
		}
		after = &ids[len(ids)-1]
	}
}

// Close implements connectors.Connector.
func (c *Connector) Close() error {
	c.closeOnce.Do(func() { c.b.close() })
	return nil
}

func permanent(op, msg string) *crmerr.Error {
	return crmerr.New(crmerr.Permanent, Provider, op, msg)
}

// wrap classifies a whole-call error, with the DSN and password scrubbed from it.
func (c *Connector) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *crmerr.Error
	if errors.As(err, &ce) {
		return err
	}
	kind := crmerr.Transient
	if c.b != nil {
		kind, _ = c.b.classify(err)
		if kind == crmerr.InvalidRecord {
			kind = crmerr.Permanent // a whole call cannot be one bad record
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		kind = crmerr.Transient
	}
	return crmerr.Wrap(kind, Provider, op, scrub(err, c.cfg.DSN, c.password))
}

// wrapRecord classifies one record's error.
func (c *Connector) wrapRecord(op string, err error) error {
	var ce *crmerr.Error
	if errors.As(err, &ce) {
		if ce.Op == "" {
			ce.Op = op
		}
		return ce
	}
	kind, field := c.b.classify(err)
	e := crmerr.Wrap(kind, Provider, op, scrub(err, c.cfg.DSN, c.password))
	e.Field = field
	return e
}
