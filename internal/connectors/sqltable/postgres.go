package sqltable

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmsync/crmsync/internal/crmerr"
)

const pgPoolSize = 4

// installLockKey serialises the installation of change capture between connectors starting at once.
const installLockKey = 0x63726d73796e6301

type pgBackend struct {
	pool  *pgxpool.Pool
	m     *model
	table string // quoted, possibly schema-qualified
}

func openPostgres(ctx context.Context, cfg Config, m *model) (*pgBackend, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, err
	}
	pc := pcfg.ConnConfig
	if pc.RuntimeParams == nil {
		pc.RuntimeParams = map[string]string{}
	}
	pc.RuntimeParams["timezone"] = "UTC"
	if pc.RuntimeParams["application_name"] == "" {
		pc.RuntimeParams["application_name"] = "crmsync"
	}
	pcfg.MaxConns = pgPoolSize
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	// pgxpool dials lazily: dial one connection now (and keep it idle), so that a bad address or bad
	// credentials are reported as a connection error rather than as a failure of the first query.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return &pgBackend{pool: pool, m: m, table: quoteQualified(cfg.Table)}, nil
}

func (b *pgBackend) close() { b.pool.Close() }

func quoteQualified(name string) string {
	return pgx.Identifier(strings.Split(name, ".")).Sanitize()
}

func qi(name string) string { return pgx.Identifier{name}.Sanitize() }

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// objectSuffix names crmsync's per-table functions and triggers.
func objectSuffix(table string) string {
	sum := sha256.Sum256([]byte(table))
	return hex.EncodeToString(sum[:6])
}

func pgKind(typname string) kind {
	switch typname {
	case "numeric", "float4", "float8", "money":
		return kindNumeric
	case "int2", "int4", "int8":
		return kindInteger
	case "bool":
		return kindBoolean
	case "date":
		return kindDate
	case "timestamp", "timestamptz":
		return kindTimestamp
	case "json", "jsonb":
		return kindJSON
	}
	return kindText
}

func (b *pgBackend) inspect(ctx context.Context, _ *model) (map[string]column, bool, error) {
	cols := map[string]column{}
	err := b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,
				a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
			FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
			WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped`, b.table)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var col column
			var typname string
			if err := rows.Scan(&col.name, &col.sqlType, &typname, &col.notNull, &col.hasDefault); err != nil {
				return err
			}
			col.kind = pgKind(typname)
			cols[col.name] = col
		}
		return rows.Err()
	})
	return cols, len(cols) > 0, err
}

func pgType(k kind) string {
	return [...]string{"text", "numeric", "bigint", "boolean", "date", "timestamptz", "jsonb", "text"}[k]
}

func (b *pgBackend) create(ctx context.Context, m *model) error {
	var defs []string
	defs = append(defs,
		qi(m.id.name)+" text PRIMARY KEY DEFAULT gen_random_uuid()::text",
		qi(m.updatedAt.name)+" timestamptz NOT NULL DEFAULT now()",
		qi(m.deletedAt.name)+" timestamptz")
	for _, f := range m.fields {
		d := qi(f.name) + " " + pgType(f.kind)
		if f.notNull {
			d += " NOT NULL"
		}
		if spec := m.spec(f.field); spec.Unique {
			d += " UNIQUE"
		}
		defs = append(defs, d)
	}
	return b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		_, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+b.table+" (\n\t"+strings.Join(defs, ",\n\t")+"\n)")
		return err
	})
}

// install creates the change log, the consumers table and the table's triggers. The capture trigger skips
// rows written by a transaction that set crmsync.origin = 'crmsync' (crmsync's own writes); the touch
// trigger bumps updated_at on an application's UPDATE that did not set it.
func (b *pgBackend) install(ctx context.Context, m *model) error {
	suffix := objectSuffix(m.key)
	capture, touch := "crmsync_capture_"+suffix, "crmsync_touch_"+suffix
	id, upd, lit := qi(m.id.name), qi(m.updatedAt.name), quoteLiteral(m.key)
	insertLog := func(ref, op string) string {
		return fmt.Sprintf("INSERT INTO %s (table_name, record_id, op) VALUES (%s, %s.%s::text, %s);",
			changelogTable, lit, ref, id, op)
	}
	captureFn := fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $crmsync$
BEGIN
	IF current_setting('%s', true) = '%s' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		%s
	ELSIF TG_OP = 'UPDATE' AND OLD.%s IS DISTINCT FROM NEW.%s THEN
		%s
		%s
	ELSE
		%s
	END IF;
	RETURN NULL;
END
$crmsync$`, capture, originSetting, originValue,
		insertLog("OLD", "'D'"), id, id, insertLog("OLD", "'D'"), insertLog("NEW", "'I'"), insertLog("NEW", "left(TG_OP, 1)"))
	touchFn := fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $crmsync$
BEGIN
	IF current_setting('%s', true) IS DISTINCT FROM '%s' AND NEW.%s IS NOT DISTINCT FROM OLD.%s THEN
		NEW.%s := now();
	END IF;
	RETURN NEW;
END
$crmsync$`, touch, originSetting, originValue, upd, upd, upd)

	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(installLockKey)); err != nil {
			return err
		}
		for _, stmt := range []string{
			`CREATE TABLE IF NOT EXISTS ` + changelogTable + ` (
				seq        bigserial PRIMARY KEY,
				txid       xid8 NOT NULL DEFAULT pg_current_xact_id(),
				table_name text NOT NULL,
				record_id  text NOT NULL,
				op         char(1) NOT NULL,
				changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
			)`,
			`CREATE INDEX IF NOT EXISTS crmsync_changelog_read ON ` + changelogTable + ` (table_name, txid, seq)`,
			`CREATE TABLE IF NOT EXISTS ` + consumersTable + ` (
				table_name text NOT NULL,
				consumer   text NOT NULL,
				txid       xid8 NOT NULL,
				seq        bigint NOT NULL,
				updated_at timestamptz NOT NULL DEFAULT now(),
				PRIMARY KEY (table_name, consumer)
			)`,
			captureFn,
			touchFn,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		for _, trg := range []struct{ name, def string }{
			{"crmsync_capture", "AFTER INSERT OR UPDATE OR DELETE ON " + b.table + " FOR EACH ROW EXECUTE FUNCTION " + capture + "()"},
			{"crmsync_touch", "BEFORE UPDATE ON " + b.table + " FOR EACH ROW EXECUTE FUNCTION " + touch + "()"},
		} {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)`,
				b.table, trg.name).Scan(&exists); err != nil {
				return err
			}
			if exists {
				continue
			}
			if _, err := tx.Exec(ctx, "CREATE TRIGGER "+trg.name+" "+trg.def); err != nil {
				return err
			}
		}
		return nil
	})
}

// head is where a snapshot starts: every transaction still running may commit changes after it.
func (b *pgBackend) head(ctx context.Context) (position, error) {
	var xmin string
	err := b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		return c.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin)
	})
	if err != nil {
		return position{}, err
	}
	tx, err := strconv.ParseUint(xmin, 10, 64)
	return position{tx: tx}, err
}

// selectRow is the select list of a row: id, updated_at, deleted_at, then the fields as text.
func (b *pgBackend) selectRow(alias string) string {
	m := b.m
	cols := []string{alias + "." + qi(m.id.name) + "::text", alias + "." + qi(m.updatedAt.name), alias + "." + qi(m.deletedAt.name)}
	for _, f := range m.fields {
		cols = append(cols, alias+"."+qi(f.name)+"::text")
	}
	return strings.Join(cols, ", ")
}

// rowDest returns scan destinations for selectRow and a function that builds the row (nil when the id is
// null, i.e. the LEFT JOIN found nothing).
func (b *pgBackend) rowDest() ([]any, func() *dbRow) {
	var id *string
	var upd, del *time.Time
	vals := make([]*string, len(b.m.fields))
	dest := []any{&id, &upd, &del}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	return dest, func() *dbRow {
		if id == nil {
			return nil
		}
		r := &dbRow{id: *id, values: make([]any, len(vals))}
		if upd != nil {
			r.updatedAt = upd.UTC()
		}
		if del != nil {
			d := del.UTC()
			r.deletedAt = &d
		}
		for i, v := range vals {
			if v != nil {
				r.values[i] = *v
			}
		}
		return r
	}
}

func (b *pgBackend) idType() string {
	if b.m.id.sqlType == "" {
		return "text"
	}
	return b.m.id.sqlType
}

func (b *pgBackend) readLog(ctx context.Context, after position, limit int) ([]logEntry, error) {
	q := fmt.Sprintf(`SELECT c.txid::text, c.seq, c.record_id, c.changed_at, %s
		FROM %s c LEFT JOIN %s t ON t.%s = c.record_id::%s
		WHERE c.table_name = $1 AND (c.txid, c.seq) > ($2::text::xid8, $3::bigint)
		  AND c.txid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY c.txid, c.seq LIMIT $4`,
		b.selectRow("t"), changelogTable, b.table, qi(b.m.id.name), b.idType())
	var out []logEntry
	err := b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, q, b.m.key, strconv.FormatUint(after.tx, 10), after.seq, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e logEntry
			var tx string
			dest, build := b.rowDest()
			if err := rows.Scan(append([]any{&tx, &e.pos.seq, &e.recordID, &e.changedAt}, dest...)...); err != nil {
				return err
			}
			if e.pos.tx, err = strconv.ParseUint(tx, 10, 64); err != nil {
				return err
			}
			e.changedAt = e.changedAt.UTC()
			e.row = build()
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}

func (b *pgBackend) queryRows(ctx context.Context, q string, args ...any) ([]dbRow, error) {
	var out []dbRow
	err := b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			dest, build := b.rowDest()
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			out = append(out, *build())
		}
		return rows.Err()
	})
	return out, err
}

func (b *pgBackend) readTable(ctx context.Context, afterID *string, limit int) ([]dbRow, error) {
	id := "t." + qi(b.m.id.name)
	if afterID == nil {
		return b.queryRows(ctx, fmt.Sprintf(`SELECT %s FROM %s t ORDER BY %s LIMIT $1`, b.selectRow("t"), b.table, id), limit)
	}
	return b.queryRows(ctx, fmt.Sprintf(`SELECT %s FROM %s t WHERE %s > $1::text::%s ORDER BY %s LIMIT $2`,
		b.selectRow("t"), b.table, id, b.idType(), id), *afterID, limit)
}

func (b *pgBackend) fetch(ctx context.Context, ids []string) ([]dbRow, error) {
	return b.queryRows(ctx, fmt.Sprintf(`SELECT %s FROM %s t WHERE t.%s = ANY($1::text[]::%s[])`,
		b.selectRow("t"), b.table, qi(b.m.id.name), b.idType()), ids)
}

func (b *pgBackend) listIDs(ctx context.Context, afterID *string, limit int) ([]string, error) {
	id, del := qi(b.m.id.name), qi(b.m.deletedAt.name)
	q := fmt.Sprintf(`SELECT %s::text FROM %s WHERE %s IS NULL ORDER BY %s LIMIT $1`, id, b.table, del, id)
	args := []any{limit}
	if afterID != nil {
		q = fmt.Sprintf(`SELECT %s::text FROM %s WHERE %s IS NULL AND %s > $2::text::%s ORDER BY %s LIMIT $1`,
			id, b.table, del, id, b.idType(), id)
		args = append(args, *afterID)
	}
	var out []string
	err := b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		rows, err := c.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}

// beginner is what a transaction can be started on: the pool, or one connection acquired from it.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// originTx runs fn in a transaction tagged as crmsync's own, so that the capture trigger skips its rows. The
// tag is set with set_config(..., true) (SET LOCAL) inside that same transaction, so it applies to exactly
// the writes fn makes and ends with the transaction.
func (b *pgBackend) originTx(ctx context.Context, db beginner, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, originSetting, originValue); err != nil {
			return err
		}
		return fn(tx)
	})
}

func cast(n int, sqlType string) string { return fmt.Sprintf("$%d::text::%s", n, sqlType) }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statement builds the SQL of one write. It returns rows of (id text, created bool).
func (b *pgBackend) statement(w *write) (string, []any) {
	m := b.m
	var sets, cols, vals []string
	var args []any
	for i, col := range w.cols {
		args = append(args, w.vals[i])
		p := cast(len(args), col.sqlType)
		sets = append(sets, qi(col.name)+" = "+p)
		cols = append(cols, qi(col.name))
		vals = append(vals, p)
	}
	upd := qi(m.updatedAt.name)
	sets = append(sets, upd+" = now()")
	cols = append(cols, upd)
	vals = append(vals, "now()")
	id := qi(m.id.name)

	var where string
	switch {
	case w.id != "":
		args = append(args, w.id)
		where = id + " = " + cast(len(args), b.idType())
		cols = append(cols, id)
		vals = append(vals, cast(len(args), b.idType()))
	case w.extCol != nil:
		args = append(args, w.extVal)
		where = qi(w.extCol.name) + " = " + cast(len(args), w.extCol.sqlType)
	}
	if w.id == "" && !m.id.hasDefault {
		args = append(args, newID())
		cols = append(cols, id)
		vals = append(vals, cast(len(args), b.idType()))
	}
	insert := fmt.Sprintf("INSERT INTO %s (%s) SELECT %s", b.table, strings.Join(cols, ", "), strings.Join(vals, ", "))
	if where == "" {
		return insert + " RETURNING " + id + "::text, true", args
	}
	return fmt.Sprintf(`WITH u AS (UPDATE %s SET %s WHERE %s RETURNING %s::text AS id),
		i AS (%s WHERE NOT EXISTS (SELECT 1 FROM u) RETURNING %s::text AS id)
		SELECT id, false FROM u UNION ALL SELECT id, true FROM i`,
		b.table, strings.Join(sets, ", "), where, id, insert, id), args
}

// upsert first sends every write in one pipelined transaction. When a record fails on its own (a
// constraint, a bad value), that transaction is rolled back and the writes are replayed one by one, each
// behind a savepoint, so that only the bad records fail.
func (b *pgBackend) upsert(ctx context.Context, writes []*write) error {
	return b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		results := make([]writeOutcome, len(writes))
		var recordErr bool
		err := b.originTx(ctx, c, func(tx pgx.Tx) error {
			batch := &pgx.Batch{}
			for _, w := range writes {
				q, args := b.statement(w)
				batch.Queue(q, args...)
			}
			br := tx.SendBatch(ctx, batch)
			for i := range writes {
				if err := scanWrite(br.QueryRow(), &results[i]); err != nil {
					_ = br.Close()
					if k, _ := b.classify(err); k == crmerr.InvalidRecord {
						recordErr = true
						return errRollback
					}
					return err
				}
			}
			return br.Close()
		})
		if err == nil {
			for i, w := range writes {
				w.result.ID, w.result.Created = results[i].id, results[i].created
			}
			return nil
		}
		if !recordErr {
			return err
		}
		return b.originTx(ctx, c, func(tx pgx.Tx) error {
			for _, w := range writes {
				if _, err := tx.Exec(ctx, "SAVEPOINT crmsync_record"); err != nil {
					return err
				}
				q, args := b.statement(w)
				var r writeOutcome
				err := scanWrite(tx.QueryRow(ctx, q, args...), &r)
				if err != nil {
					if k, _ := b.classify(err); k != crmerr.InvalidRecord {
						return err
					}
					if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT crmsync_record"); err != nil {
						return err
					}
					w.result.Err = err
					continue
				}
				w.result.ID, w.result.Created = r.id, r.created
				if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT crmsync_record"); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

var errRollback = errors.New("roll back and retry record by record")

type writeOutcome struct {
	id      string
	created bool
}

func scanWrite(row pgx.Row, r *writeOutcome) error {
	err := row.Scan(&r.id, &r.created)
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.New("the write returned no row")
	}
	return err
}

func (b *pgBackend) delete(ctx context.Context, ids []string) error {
	q := fmt.Sprintf(`DELETE FROM %s WHERE %s = ANY($1::text[]::%s[])`, b.table, qi(b.m.id.name), b.idType())
	return b.originTx(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, ids)
		return err
	})
}

func (b *pgBackend) archive(ctx context.Context, ids []string) error {
	del, upd := qi(b.m.deletedAt.name), qi(b.m.updatedAt.name)
	q := fmt.Sprintf(`UPDATE %s SET %s = now(), %s = now() WHERE %s = ANY($1::text[]::%s[]) AND %s IS NULL`,
		b.table, del, upd, qi(b.m.id.name), b.idType(), del)
	return b.originTx(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, q, ids)
		return err
	})
}

func (b *pgBackend) ack(ctx context.Context, consumer string, pos position) error {
	return b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO `+consumersTable+` (table_name, consumer, txid, seq, updated_at)
			VALUES ($1, $2, $3::text::xid8, $4, now())
			ON CONFLICT (table_name, consumer) DO UPDATE SET txid = excluded.txid, seq = excluded.seq, updated_at = now()`,
			b.m.key, consumer, strconv.FormatUint(pos.tx, 10), pos.seq)
		return err
	})
}

func (b *pgBackend) removeConsumer(ctx context.Context, consumer string) error {
	return b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		_, err := c.Exec(ctx, `DELETE FROM `+consumersTable+` WHERE table_name = $1 AND consumer = $2`, b.m.key, consumer)
		return err
	})
}

func (b *pgBackend) prune(ctx context.Context) (int64, error) {
	var n int64
	err := b.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		tag, err := c.Exec(ctx, `DELETE FROM `+changelogTable+` c
			USING (SELECT txid, seq FROM `+consumersTable+` WHERE table_name = $1 ORDER BY txid, seq LIMIT 1) m
			WHERE c.table_name = $1 AND (c.txid, c.seq) <= (m.txid, m.seq)`, b.m.key)
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// classify maps a PostgreSQL or network error to a kind and, for record errors, the offending field.
func (b *pgBackend) classify(err error) (crmerr.Kind, string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		field := b.m.fieldOfColumn(pe.ColumnName)
		if pe.ColumnName == "" && pe.ConstraintName != "" {
			field = b.m.fieldOfConstraint(pe.ConstraintName)
		}
		switch {
		case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "23"):
			return crmerr.InvalidRecord, field
		case strings.HasPrefix(pe.Code, "28"):
			return crmerr.Auth, ""
		case pe.Code == "42501", strings.HasPrefix(pe.Code, "42"), strings.HasPrefix(pe.Code, "3D"), strings.HasPrefix(pe.Code, "3F"):
			return crmerr.Permanent, ""
		}
		return crmerr.Transient, ""
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return crmerr.Transient, ""
	}
	return crmerr.Transient, ""
}

// fieldOfColumn returns the field mapped to a column, or the column name itself.
func (m *model) fieldOfColumn(col string) string {
	for _, f := range m.fields {
		if f.name == col {
			return f.field
		}
	}
	return col
}

// fieldOfConstraint guesses the field of a constraint from PostgreSQL's naming convention
// (<table>_<column>_key, <table>_<column>_check).
func (m *model) fieldOfConstraint(name string) string {
	best := ""
	for _, f := range m.fields {
		if strings.Contains(name, "_"+f.name+"_") && len(f.name) > len(best) {
			best = f.name
		}
	}
	if best == "" {
		return ""
	}
	return m.fieldOfColumn(best)
}

// spec returns the declared FieldSpec of a field (zero when the table was not declared).
func (m *model) spec(field string) FieldSpec {
	for _, s := range m.specs {
		if s.Name == field {
			return s
		}
	}
	return FieldSpec{}
}
