package sqltable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/conformance"
	"github.com/crmsync/crmsync/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testTable = "crm_contacts"

// testFields is the contacts table of the tests; two fields are mapped to differently named columns.
var testFields = []FieldSpec{
	{Name: "email", Type: "email", Required: true, Unique: true},
	{Name: "firstname", Type: "string"},
	{Name: "lastname", Type: "string"},
	{Name: "phone", Type: "phone"},
	{Name: "score", Type: "number"},
	{Name: "employees", Type: "integer"},
	{Name: "vip", Type: "boolean"},
	{Name: "birthday", Type: "date"},
	{Name: "last_seen", Type: "datetime"},
	{Name: "tags", Type: "multiEnum"},
	{Name: "extra", Type: "json"},
}

var testColumns = map[string]string{"firstname": "first_name", "lastname": "last_name"}

// appDB is the application's own connection to its database: the tests write through it as an
// application would, bypassing crmsync.
type appDB interface {
	// exec runs a statement written with $1-style parameters and returns the rows affected.
	exec(t testing.TB, q string, args ...any) int64
	// queryRow runs a query returning one row.
	queryRow(t testing.TB, q string, args []any, dest ...any)
	close()
}

type sqliteApp struct{ db *sql.DB }

var dollarParam = regexp.MustCompile(`\$(\d+)`)

func (a sqliteApp) sql(q string) string { return dollarParam.ReplaceAllString(q, "?$1") }

func (a sqliteApp) exec(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	res, err := a.db.Exec(a.sql(q), args...)
	if err != nil {
		t.Fatalf("app: %s: %v", q, err)
	}
	n, _ := res.RowsAffected()
	return n
}

func (a sqliteApp) queryRow(t testing.TB, q string, args []any, dest ...any) {
	t.Helper()
	if err := a.db.QueryRow(a.sql(q), args...).Scan(dest...); err != nil {
		t.Fatalf("app: %s: %v", q, err)
	}
}

func (a sqliteApp) close() { a.db.Close() }

type pgApp struct{ conn *pgx.Conn }

func (a pgApp) exec(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	tag, err := a.conn.Exec(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("app: %s: %v", q, err)
	}
	return tag.RowsAffected()
}

func (a pgApp) queryRow(t testing.TB, q string, args []any, dest ...any) {
	t.Helper()
	if err := a.conn.QueryRow(context.Background(), q, args...).Scan(dest...); err != nil {
		t.Fatalf("app: %s: %v", q, err)
	}
}

func (a pgApp) close() { a.conn.Close(context.Background()) }

// engine opens a fresh, empty database and the application's connection to it.
type engine struct {
	name   string
	driver string
	newDB  func(t testing.TB) (dsn string)
	app    func(t testing.TB, dsn string) appDB
}

var engines = []engine{
	{
		name: "sqlite", driver: DriverSQLite,
		newDB: func(t testing.TB) string { return filepath.Join(t.TempDir(), "app.db") },
		app: func(t testing.TB, dsn string) appDB {
			db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
			if err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			return sqliteApp{db}
		},
	},
	{
		name: "postgres", driver: DriverPostgres,
		newDB: pgtest.Start,
		app: func(t testing.TB, dsn string) appDB {
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			return pgApp{conn}
		},
	},
}

func forEachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
}

// env is one connector on a fresh database, with the application's connection beside it. It implements
// conformance.Env.
type env struct {
	eng  engine
	dsn  string
	conn *Connector
	app  appDB
	job  string
}

var _ conformance.Env = (*env)(nil)

func testConfig(e engine, dsn string) Config {
	return Config{
		Driver: e.driver, DSN: dsn, Table: testTable, Object: connectors.Contacts,
		Fields: testFields, Columns: testColumns, CreateTable: true, JobName: "ns/job", PruneInterval: -1,
	}
}

func newEnv(t *testing.T, e engine) *env {
	t.Helper()
	dsn := e.newDB(t)
	return newEnvOn(t, e, dsn, testConfig(e, dsn))
}

func newEnvOn(t *testing.T, e engine, dsn string, cfg Config) *env {
	t.Helper()
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	app := e.app(t, dsn)
	t.Cleanup(app.close)
	return &env{eng: e, dsn: dsn, conn: c, app: app, job: cfg.JobName}
}

func (e *env) Connector() connectors.Connector { return e.conn }
func (e *env) Object() string                  { return testTable }
func (e *env) EmailField() string              { return "email" }
func (e *env) TextField() string               { return "lastname" }

func (e *env) NewRecord(i int) connectors.Record {
	return connectors.Record{Fields: map[string]any{
		"email":     fmt.Sprintf("person%d@example.com", i),
		"firstname": fmt.Sprintf("First%d", i),
		"lastname":  fmt.Sprintf("Last%d", i),
		"phone":     fmt.Sprintf("+1555%07d", i),
	}}
}

// InvalidPicklist: SQL columns have no restricted picklist.
func (e *env) InvalidPicklist(connectors.Record) (connectors.Record, bool) {
	return connectors.Record{}, false
}

// MissingRequired drops the email, which is NOT NULL.
func (e *env) MissingRequired(r connectors.Record) (connectors.Record, bool) {
	fields := map[string]any{}
	for k, v := range r.Fields {
		if k != "email" {
			fields[k] = v
		}
	}
	return connectors.Record{ID: r.ID, Fields: fields}, true
}

func (e *env) column(field string) string { return columnOf(testConfig(e.eng, e.dsn), field) }

func (e *env) quote(name string) string {
	if e.eng.driver == DriverPostgres {
		return qi(name)
	}
	return sqliteIdent(name)
}

// ExternalCreate inserts a row as the application would and returns its id.
func (e *env) ExternalCreate(t *testing.T, r connectors.Record) string {
	t.Helper()
	var cols, params []string
	var args []any
	for _, f := range sortedKeys(r.Fields) {
		args = append(args, r.Fields[f])
		cols = append(cols, e.quote(e.column(f)))
		params = append(params, fmt.Sprintf("$%d", len(args)))
	}
	var id string
	e.app.queryRow(t, fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) RETURNING id", testTable,
		strings.Join(cols, ", "), strings.Join(params, ", ")), args, &id)
	return id
}

// ExternalUpdate updates a row as the application would (updated_at is bumped by the trigger).
func (e *env) ExternalUpdate(t *testing.T, id string, fields map[string]any) {
	t.Helper()
	var sets []string
	var args []any
	for _, f := range sortedKeys(fields) {
		args = append(args, fields[f])
		sets = append(sets, fmt.Sprintf("%s = $%d", e.quote(e.column(f)), len(args)))
	}
	args = append(args, id)
	if n := e.app.exec(t, fmt.Sprintf("UPDATE %s SET %s WHERE id = $%d", testTable, strings.Join(sets, ", "), len(args)), args...); n != 1 {
		t.Fatalf("app update of %s changed %d rows", id, n)
	}
}

// ExternalDelete hard-deletes a row as the application would.
func (e *env) ExternalDelete(t *testing.T, id string) {
	t.Helper()
	e.app.exec(t, fmt.Sprintf("DELETE FROM %s WHERE id = $1", testTable), id)
}

// SetModifiedAt sets updated_at as an administrator would: tagged as crmsync's own write, so that it adds
// no change-log entry.
func (e *env) SetModifiedAt(t *testing.T, ids []string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch b := e.conn.b.(type) {
	case *pgBackend:
		err = b.originTx(ctx, b.pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE `+b.table+` SET updated_at = $1 WHERE id = ANY($2)`, at, ids)
			return err
		})
	case *sqliteBackend:
		err = b.originTx(ctx, func(tx *sql.Tx) error {
			args := append([]any{at.UTC().Format(tsLayout)}, stringArgs(ids)...)
			_, err := tx.Exec(`UPDATE `+b.table+` SET updated_at = ? WHERE id IN (`+sqlitePlaceholders(len(ids))+`)`, args...)
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// SetClockSkew does nothing: the database's clock is the only clock the connector reads, and the change
// log does not depend on clocks.
func (e *env) SetClockSkew(*testing.T, time.Duration) {}

// errInjected is the failure of a round trip that the injected faults drop.
var errInjected = errors.New("injected fault: connection reset by peer")

// InjectFaults puts a faulty "network" in front of the database: each round trip waits f.Latency (giving
// up when its context ends) and fails transiently with probability f.ErrorRate + f.DropRate. RateLimitNext
// does not apply: a database has no rate limit.
func (e *env) InjectFaults(_ *testing.T, f conformance.Faults) {
	if f.Latency == 0 && f.ErrorRate == 0 && f.DropRate == 0 {
		e.conn.faults.Store(nil)
		return
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(6, 7))
	fault := func(ctx context.Context) error {
		if f.Latency > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(f.Latency):
			}
		}
		mu.Lock()
		p := rng.Float64()
		mu.Unlock()
		if p < f.ErrorRate+f.DropRate {
			return errInjected
		}
		return nil
	}
	e.conn.faults.Store(&fault)
}

// ExpireTokens: a database connection has no tokens.
func (e *env) ExpireTokens(*testing.T) bool { return false }

// APICalls counts the connector's database round trips for contract methods.
func (e *env) APICalls() int { return int(e.conn.calls.Load()) }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// harness binds the conformance suite to one engine.
type harness struct{ eng engine }

var _ conformance.Harness = harness{}

func (h harness) New(t *testing.T) conformance.Env { return newEnv(t, h.eng) }

// TestConformance runs the connector contract suite on both engines.
func TestConformance(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) { conformance.Run(t, harness{eng: e}) })
}
