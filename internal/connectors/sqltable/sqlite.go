package sqltable

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// nowSQL is SQLite's current time in the format the triggers and table defaults write.
const nowSQL = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

// SQLite result codes (primary codes, the low byte of extended ones).
const (
	sqliteError      = 1
	sqlitePerm       = 3
	sqliteReadOnly   = 8
	sqliteCorrupt    = 11
	sqliteCantOpen   = 14
	sqliteAuth       = 23
	sqliteNotADB     = 26
	sqliteTooBig     = 18
	sqliteConstraint = 19
	sqliteMismatch   = 20
	sqliteRange      = 25
)

// sqliteBackend writes through one connection (SQLite has one writer; queueing in-process avoids
// SQLITE_BUSY between crmsync's own goroutines) and reads through a small pool.
type sqliteBackend struct {
	w, r  *sql.DB
	m     *model
	table string // quoted
}

func sqliteDSN(dsn string, readOnly bool) string {
	params := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if readOnly {
		params = "_pragma=busy_timeout(10000)&_pragma=query_only(1)&_txlock=deferred"
	}
	if strings.Contains(dsn, "?") {
		return dsn + "&" + params
	}
	return dsn + "?" + params
}

func openSQLite(ctx context.Context, cfg Config, m *model) (*sqliteBackend, error) {
	if cfg.DSN == "" {
		return nil, errors.New("no database file given")
	}
	w, err := sql.Open("sqlite", sqliteDSN(cfg.DSN, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, err
	}
	b := &sqliteBackend{w: w, r: w, m: m, table: sqliteIdent(cfg.Table)}
	if !strings.Contains(cfg.DSN, ":memory:") && !strings.Contains(cfg.DSN, "mode=memory") {
		r, err := sql.Open("sqlite", sqliteDSN(cfg.DSN, true))
		if err != nil {
			w.Close()
			return nil, err
		}
		r.SetMaxOpenConns(4)
		r.SetMaxIdleConns(4)
		b.r = r
	}
	return b, nil
}

func (b *sqliteBackend) close() {
	if b.r != b.w {
		_ = b.r.Close()
	}
	_ = b.w.Close()
}

func sqliteIdent(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func sqliteKind(declared string) kind {
	t := strings.ToUpper(declared)
	switch {
	case strings.Contains(t, "BOOL"):
		return kindBoolean
	case strings.Contains(t, "INT"):
		return kindInteger
	case strings.Contains(t, "TIMESTAMP"), strings.Contains(t, "DATETIME"):
		return kindTimestamp
	case strings.Contains(t, "DATE"):
		return kindDate
	case strings.Contains(t, "JSON"):
		return kindJSON
	case strings.Contains(t, "CHAR"), strings.Contains(t, "TEXT"), strings.Contains(t, "CLOB"):
		return kindText
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"),
		strings.Contains(t, "NUM"), strings.Contains(t, "DEC"):
		return kindNumeric
	}
	return kindText
}

func (b *sqliteBackend) inspect(ctx context.Context, m *model) (map[string]column, bool, error) {
	rows, err := b.r.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value IS NOT NULL, pk FROM pragma_table_info(?)`, m.key)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	cols := map[string]column{}
	for rows.Next() {
		var col column
		var pk int
		if err := rows.Scan(&col.name, &col.sqlType, &col.notNull, &col.hasDefault, &pk); err != nil {
			return nil, false, err
		}
		if pk == 1 && strings.EqualFold(col.sqlType, "INTEGER") {
			col.hasDefault = true // an INTEGER PRIMARY KEY is the rowid: SQLite assigns it
		}
		col.kind = sqliteKind(col.sqlType)
		cols[col.name] = col
	}
	return cols, len(cols) > 0, rows.Err()
}

func sqliteType(k kind) string {
	return [...]string{"TEXT", "NUMERIC", "INTEGER", "BOOLEAN", "DATE", "TIMESTAMP", "TEXT", "TEXT"}[k]
}

func (b *sqliteBackend) create(ctx context.Context, m *model) error {
	defs := []string{
		sqliteIdent(m.id.name) + " TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16))))",
		sqliteIdent(m.updatedAt.name) + " TEXT NOT NULL DEFAULT (" + nowSQL + ")",
		sqliteIdent(m.deletedAt.name) + " TEXT",
	}
	for _, f := range m.fields {
		d := sqliteIdent(f.name) + " " + sqliteType(f.kind)
		if f.notNull {
			d += " NOT NULL"
		}
		if m.spec(f.field).Unique {
			d += " UNIQUE"
		}
		defs = append(defs, d)
	}
	_, err := b.w.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+b.table+" (\n\t"+strings.Join(defs, ",\n\t")+"\n)")
	return err
}

// install creates the change log, the consumers and marker tables and the table's triggers. The triggers
// skip rows while the marker table has a row: crmsync inserts one at the start of each of its write
// transactions and deletes it before commit, so only that transaction ever sees it (SQLite has one writer
// at a time, and the row is never committed). The update trigger also bumps updated_at when the
// application's UPDATE did not set it.
func (b *sqliteBackend) install(ctx context.Context, m *model) error {
	suffix := objectSuffix(m.key)
	id, upd := sqliteIdent(m.id.name), sqliteIdent(m.updatedAt.name)
	lit := quoteLiteral(m.key)
	when := "WHEN NOT EXISTS (SELECT 1 FROM " + markerTable + ")"
	logRow := func(ref, op string) string {
		return fmt.Sprintf("INSERT INTO %s (table_name, record_id, op, changed_at) SELECT %s, CAST(%s.%s AS TEXT), '%s', %s",
			changelogTable, lit, ref, id, op, nowSQL)
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + changelogTable + ` (
			seq        INTEGER PRIMARY KEY AUTOINCREMENT,
			table_name TEXT NOT NULL,
			record_id  TEXT NOT NULL,
			op         TEXT NOT NULL,
			changed_at TEXT NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS crmsync_changelog_read ON ` + changelogTable + ` (table_name, seq)`,
		`CREATE TABLE IF NOT EXISTS ` + consumersTable + ` (
			table_name TEXT NOT NULL,
			consumer   TEXT NOT NULL,
			txid       INTEGER NOT NULL,
			seq        INTEGER NOT NULL,
			updated_at TEXT NOT NULL,
			PRIMARY KEY (table_name, consumer)
		)`,
		`CREATE TABLE IF NOT EXISTS ` + markerTable + ` (origin TEXT)`,
		// A marker can only survive a bug, never a crash (it is never committed); make sure.
		`DELETE FROM ` + markerTable,
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS "crmsync_ins_%s" AFTER INSERT ON %s %s BEGIN %s; END`,
			suffix, b.table, when, logRow("NEW", "I")),
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS "crmsync_upd_%s" AFTER UPDATE ON %s %s BEGIN
			UPDATE %s SET %s = %s WHERE %s = NEW.%s AND NEW.%s IS OLD.%s;
			%s WHERE OLD.%s IS NOT NEW.%s;
			%s;
		END`, suffix, b.table, when,
			b.table, upd, nowSQL, id, id, upd, upd,
			logRow("OLD", "D"), id, id,
			logRow("NEW", "U")),
		fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS "crmsync_del_%s" AFTER DELETE ON %s %s BEGIN %s; END`,
			suffix, b.table, when, logRow("OLD", "D")),
	}
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (b *sqliteBackend) head(ctx context.Context) (position, error) {
	var seq int64
	err := b.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM `+changelogTable).Scan(&seq)
	return position{seq: seq}, err
}

func (b *sqliteBackend) selectRow(alias string) string {
	m := b.m
	cols := []string{alias + "." + sqliteIdent(m.id.name), alias + "." + sqliteIdent(m.updatedAt.name), alias + "." + sqliteIdent(m.deletedAt.name)}
	for _, f := range m.fields {
		cols = append(cols, alias+"."+sqliteIdent(f.name))
	}
	return strings.Join(cols, ", ")
}

func (b *sqliteBackend) rowDest() ([]any, func() *dbRow) {
	vals := make([]any, len(b.m.fields)+3)
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	return dest, func() *dbRow {
		if vals[0] == nil {
			return nil
		}
		r := &dbRow{id: fmt.Sprint(textOf(vals[0])), values: vals[3:]}
		r.updatedAt = timeOf(vals[1])
		if vals[2] != nil {
			d := timeOf(vals[2])
			r.deletedAt = &d
		}
		return r
	}
}

func textOf(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

func timeOf(v any) time.Time {
	switch x := textOf(v).(type) {
	case time.Time:
		return x.UTC()
	case string:
		t, _ := parseTime(x)
		return t
	case int64:
		return time.Unix(x, 0).UTC()
	}
	return time.Time{}
}

func (b *sqliteBackend) readLog(ctx context.Context, after position, limit int) ([]logEntry, error) {
	q := fmt.Sprintf(`SELECT c.seq, c.record_id, c.changed_at, %s
		FROM %s c LEFT JOIN %s t ON t.%s = c.record_id
		WHERE c.table_name = ? AND c.seq > ? ORDER BY c.seq LIMIT ?`,
		b.selectRow("t"), changelogTable, b.table, sqliteIdent(b.m.id.name))
	rows, err := b.r.QueryContext(ctx, q, b.m.key, after.seq, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []logEntry
	for rows.Next() {
		var e logEntry
		var changed string
		dest, build := b.rowDest()
		if err := rows.Scan(append([]any{&e.pos.seq, &e.recordID, &changed}, dest...)...); err != nil {
			return nil, err
		}
		e.changedAt, _ = parseTime(changed)
		e.row = build()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) queryRows(ctx context.Context, q string, args ...any) ([]dbRow, error) {
	rows, err := b.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []dbRow
	for rows.Next() {
		dest, build := b.rowDest()
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		out = append(out, *build())
	}
	return out, rows.Err()
}

func (b *sqliteBackend) readTable(ctx context.Context, afterID *string, limit int) ([]dbRow, error) {
	id := "t." + sqliteIdent(b.m.id.name)
	if afterID == nil {
		return b.queryRows(ctx, fmt.Sprintf(`SELECT %s FROM %s t ORDER BY %s LIMIT ?`, b.selectRow("t"), b.table, id), limit)
	}
	return b.queryRows(ctx, fmt.Sprintf(`SELECT %s FROM %s t WHERE %s > ? ORDER BY %s LIMIT ?`,
		b.selectRow("t"), b.table, id, id), *afterID, limit)
}

func sqlitePlaceholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }

func stringArgs(ids []string) []any {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return args
}

func (b *sqliteBackend) fetch(ctx context.Context, ids []string) ([]dbRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return b.queryRows(ctx, fmt.Sprintf(`SELECT %s FROM %s t WHERE t.%s IN (%s)`,
		b.selectRow("t"), b.table, sqliteIdent(b.m.id.name), sqlitePlaceholders(len(ids))), stringArgs(ids)...)
}

func (b *sqliteBackend) listIDs(ctx context.Context, afterID *string, limit int) ([]string, error) {
	id, del := sqliteIdent(b.m.id.name), sqliteIdent(b.m.deletedAt.name)
	q := fmt.Sprintf(`SELECT CAST(%s AS TEXT) FROM %s WHERE %s IS NULL ORDER BY %s LIMIT ?`, id, b.table, del, id)
	args := []any{limit}
	if afterID != nil {
		q = fmt.Sprintf(`SELECT CAST(%s AS TEXT) FROM %s WHERE %s IS NULL AND %s > ? ORDER BY %s LIMIT ?`, id, b.table, del, id, id)
		args = []any{*afterID, limit}
	}
	rows, err := b.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// originTx runs fn in a write transaction marked as crmsync's own (see install).
func (b *sqliteBackend) originTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+markerTable+` (origin) VALUES ('`+originValue+`')`); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+markerTable); err != nil {
		return err
	}
	return tx.Commit()
}

func (b *sqliteBackend) nowText() string { return time.Now().UTC().Format(tsLayout) }

// upsert writes each record with its own statements inside one transaction: a statement that fails on a
// constraint is undone by SQLite alone, so the other records are unaffected.
func (b *sqliteBackend) upsert(ctx context.Context, writes []*write) error {
	return b.originTx(ctx, func(tx *sql.Tx) error {
		now := b.nowText()
		for _, w := range writes {
			id, created, err := b.writeOne(ctx, tx, w, now)
			if err != nil {
				if k, _ := b.classify(err); k != crmerr.InvalidRecord {
					return err
				}
				w.result.Err = err
				continue
			}
			w.result.ID, w.result.Created = id, created
		}
		return nil
	})
}

func (b *sqliteBackend) writeOne(ctx context.Context, tx *sql.Tx, w *write, now string) (string, bool, error) {
	m := b.m
	id := sqliteIdent(m.id.name)
	var sets, cols []string
	var args []any
	for i, col := range w.cols {
		sets = append(sets, sqliteIdent(col.name)+" = ?")
		cols = append(cols, sqliteIdent(col.name))
		args = append(args, w.vals[i])
	}
	sets = append(sets, sqliteIdent(m.updatedAt.name)+" = ?")
	cols = append(cols, sqliteIdent(m.updatedAt.name))
	args = append(args, now)

	if w.id != "" || w.extCol != nil {
		where, key := id+" = ?", any(w.id)
		if w.id == "" {
			where, key = sqliteIdent(w.extCol.name)+" = ?", w.extVal
		}
		rows, err := tx.QueryContext(ctx, fmt.Sprintf(`UPDATE %s SET %s WHERE %s RETURNING CAST(%s AS TEXT)`,
			b.table, strings.Join(sets, ", "), where, id), append(append([]any{}, args...), key)...)
		if err != nil {
			return "", false, err
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return "", false, err
			}
			got = append(got, s)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", false, err
		}
		if len(got) > 0 {
			return got[0], false, nil
		}
	}
	if w.id != "" {
		cols, args = append(cols, id), append(args, w.id)
	} else if !m.id.hasDefault {
		cols, args = append(cols, id), append(args, newID())
	}
	var newIDText string
	err := tx.QueryRowContext(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s) RETURNING CAST(%s AS TEXT)`,
		b.table, strings.Join(cols, ", "), sqlitePlaceholders(len(cols)), id), args...).Scan(&newIDText)
	if err != nil {
		return "", false, err
	}
	return newIDText, true, nil
}

func (b *sqliteBackend) delete(ctx context.Context, ids []string) error {
	return b.originTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s IN (%s)`,
			b.table, sqliteIdent(b.m.id.name), sqlitePlaceholders(len(ids))), stringArgs(ids)...)
		return err
	})
}

func (b *sqliteBackend) archive(ctx context.Context, ids []string) error {
	del, upd := sqliteIdent(b.m.deletedAt.name), sqliteIdent(b.m.updatedAt.name)
	return b.originTx(ctx, func(tx *sql.Tx) error {
		now := b.nowText()
		args := append([]any{now, now}, stringArgs(ids)...)
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ?, %s = ? WHERE %s IN (%s) AND %s IS NULL`,
			b.table, del, upd, sqliteIdent(b.m.id.name), sqlitePlaceholders(len(ids)), del), args...)
		return err
	})
}

func (b *sqliteBackend) ack(ctx context.Context, consumer string, pos position) error {
	_, err := b.w.ExecContext(ctx, `INSERT INTO `+consumersTable+` (table_name, consumer, txid, seq, updated_at)
		VALUES (?, ?, 0, ?, ?)
		ON CONFLICT (table_name, consumer) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`,
		b.m.key, consumer, pos.seq, b.nowText())
	return err
}

func (b *sqliteBackend) removeConsumer(ctx context.Context, consumer string) error {
	_, err := b.w.ExecContext(ctx, `DELETE FROM `+consumersTable+` WHERE table_name = ? AND consumer = ?`, b.m.key, consumer)
	return err
}

func (b *sqliteBackend) prune(ctx context.Context) (int64, error) {
	res, err := b.w.ExecContext(ctx, `DELETE FROM `+changelogTable+` WHERE table_name = ?
		AND seq <= (SELECT MIN(seq) FROM `+consumersTable+` WHERE table_name = ?)`, b.m.key, b.m.key)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// classify maps an SQLite error to a kind and, for constraint errors, the offending field.
func (b *sqliteBackend) classify(err error) (crmerr.Kind, string) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return crmerr.Transient, ""
	}
	switch se.Code() & 0xff {
	case sqliteConstraint, sqliteMismatch, sqliteTooBig, sqliteRange:
		return crmerr.InvalidRecord, b.m.fieldOfColumn(constraintColumn(se.Error()))
	case sqliteError, sqlitePerm, sqliteReadOnly, sqliteCorrupt, sqliteCantOpen, sqliteAuth, sqliteNotADB:
		return crmerr.Permanent, ""
	}
	return crmerr.Transient, "" // busy, locked, interrupted, I/O errors
}

// constraintColumn extracts the column from "NOT NULL constraint failed: contacts.email".
func constraintColumn(msg string) string {
	i := strings.LastIndex(msg, "constraint failed: ")
	if i < 0 {
		return ""
	}
	ref := strings.Fields(msg[i+len("constraint failed: "):])
	if len(ref) == 0 {
		return ""
	}
	first := strings.TrimSuffix(ref[0], ",")
	if j := strings.LastIndex(first, "."); j >= 0 {
		first = first[j+1:]
	}
	if _, err := strconv.Atoi(first); err == nil {
		return ""
	}
	return first
}
