package demo

import (
	"context"
	"database/sql"
	"fmt"

	_ "modernc.org/sqlite" // the application database is SQLite
)

// appDB is the application's own database: a SQLite file with a contacts table, as a web application
// would keep its users. crmsync adds its change-capture triggers and bookkeeping tables on first sync.
type appDB struct {
	path string
	db   *sql.DB
}

// appSchema is the application's contacts table. id, updated_at and deleted_at are the columns crmsync
// needs; plan is the application's own and is never synced.
const appSchema = `CREATE TABLE contacts (
	id              TEXT PRIMARY KEY NOT NULL DEFAULT (lower(hex(randomblob(16)))),
	updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	deleted_at      TEXT,
	email           TEXT UNIQUE,
	first_name      TEXT,
	last_name       TEXT,
	full_name       TEXT,
	phone           TEXT,
	mobile_phone    TEXT,
	job_title       TEXT,
	company         TEXT,
	company_id      TEXT,
	lifecycle_stage TEXT,
	owner_id        TEXT,
	street          TEXT,
	city            TEXT,
	state           TEXT,
	postal_code     TEXT,
	country         TEXT,
	plan            TEXT
)`

// createAppDB creates the database file with the contacts table and the application's users.
func createAppDB(ctx context.Context, path string) (*appDB, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("open the application database: %w", err)
	}
	db.SetMaxOpenConns(1)
	a := &appDB{path: path, db: db}
	if _, err := db.ExecContext(ctx, appSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the contacts table: %w", err)
	}
	for _, r := range appRows() {
		_, err := db.ExecContext(ctx, `INSERT INTO contacts (id, email, first_name, last_name, full_name, phone, job_title, company, lifecycle_stage, plan)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.id, r.email, r.first, r.last, r.first+" "+r.last, r.phone, r.jobTitle, nullable(r.company), nullable(r.stage), r.plan)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("insert application user %s: %w", r.id, err)
		}
	}
	return a, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *appDB) close() { _ = a.db.Close() }

// count returns the number of live rows.
func (a *appDB) count(ctx context.Context) (int, error) {
	var n int
	err := a.db.QueryRowContext(ctx, `SELECT count(*) FROM contacts WHERE deleted_at IS NULL`).Scan(&n)
	return n, err
}

// column returns one column of the row with the given email (case-insensitive); "" when NULL.
func (a *appDB) column(ctx context.Context, email, column string) (string, error) {
	var v sql.NullString
	err := a.db.QueryRowContext(ctx, `SELECT `+column+` FROM contacts WHERE lower(email) = lower(?)`, email).Scan(&v)
	return v.String, err
}

// set changes one column of the row with the given email, as the application would.
func (a *appDB) set(ctx context.Context, email, column, value string) error {
	res, err := a.db.ExecContext(ctx, `UPDATE contacts SET `+column+` = ? WHERE lower(email) = lower(?)`, value, email)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("no application user with email %s", email)
	}
	return nil
}
