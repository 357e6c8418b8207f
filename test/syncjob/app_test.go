/*
Copyright 2026 The crmsync Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package syncjob

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// app is the application's own PostgreSQL database, written with plain SQL as the application would.
type app struct {
	t    *testing.T
	dsn  string
	conn *pgx.Conn
}

func newApp(t *testing.T) *app {
	t.Helper()
	dsn := pgServer.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the application database: %v", err)
	}
	// Registered after NewDatabase's cleanup, so it runs first: the database is dropped once closed.
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return &app{t: t, dsn: dsn, conn: conn}
}

func (a *app) exec(sql string, args ...any) int64 {
	a.t.Helper()
	tag, err := a.conn.Exec(context.Background(), sql, args...)
	if err != nil {
		a.t.Fatalf("application SQL %q: %v", firstLine(sql), err)
	}
	return tag.RowsAffected()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// contactColumns is how the application names the columns of the canonical contact fields; the fields
// it does not list are named as the canonical fields.
var contactColumns = map[string]crmv1.ColumnName{
	"firstName": "first_name", "lastName": "last_name", "fullName": "full_name", "mobilePhone": "mobile_phone",
	"jobTitle": "job_title", "companyId": "company_id", "lifecycleStage": "lifecycle_stage", "ownerId": "owner_id",
	"postalCode": "postal_code",
}

// contactFields are the contact fields that the HubSpot mapping and the SQL table both hold: the fields a
// contacts job syncs.
var contactFields = []string{
	"email", "firstName", "lastName", "phone", "mobilePhone", "jobTitle", "company", "companyId",
	"lifecycleStage", "ownerId", "street", "city", "state", "postalCode", "country",
}

func column(field string) string {
	if c, ok := contactColumns[field]; ok {
		return string(c)
	}
	return field
}

// createContactsTable creates the application's contacts table as its own migration would: a text id
// with a default, the updated_at and deleted_at columns crmsync needs, and one column per contact field.
func (a *app) createContactsTable(table string) {
	a.t.Helper()
	cols := []string{
		"id text PRIMARY KEY DEFAULT gen_random_uuid()::text",
		"updated_at timestamptz NOT NULL DEFAULT now()",
		"deleted_at timestamptz",
		"full_name text",
	}
	for _, f := range contactFields {
		cols = append(cols, column(f)+" text")
	}
	a.exec(fmt.Sprintf("CREATE TABLE %s (\n\t%s\n)", table, strings.Join(cols, ",\n\t")))
}

// contact is one record as a map of canonical contact fields to values; "" is null.
type contact map[string]string

// insertContacts inserts rows as the application would and returns their ids, in order.
func (a *app) insertContacts(table string, rows []contact) []string {
	a.t.Helper()
	if len(rows) == 0 {
		return nil
	}
	cols := make([]string, len(contactFields))
	for i, f := range contactFields {
		cols[i] = column(f)
	}
	var (
		values []string
		args   []any
	)
	ids := make([]string, 0, len(rows))
	for start := 0; start < len(rows); start += 1000 {
		values, args = values[:0], args[:0]
		for _, r := range rows[start:min(start+1000, len(rows))] {
			ph := make([]string, len(contactFields))
			for i, f := range contactFields {
				args = append(args, nullable(r[f]))
				ph[i] = fmt.Sprintf("$%d", len(args))
			}
			values = append(values, "("+strings.Join(ph, ", ")+")")
		}
		sql := fmt.Sprintf("INSERT INTO %s (%s) VALUES %s RETURNING id", table, strings.Join(cols, ", "), strings.Join(values, ", "))
		rs, err := a.conn.Query(context.Background(), sql, args...)
		if err != nil {
			a.t.Fatalf("insert %d contacts: %v", len(rows), err)
		}
		got, err := pgx.CollectRows(rs, pgx.RowTo[string])
		if err != nil {
			a.t.Fatalf("insert %d contacts: %v", len(rows), err)
		}
		ids = append(ids, got...)
	}
	return ids
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// updateContact sets fields of one row as the application would.
func (a *app) updateContact(table, id string, fields contact) {
	a.t.Helper()
	var sets []string
	args := []any{id}
	for f, v := range fields {
		args = append(args, nullable(v))
		sets = append(sets, fmt.Sprintf("%s = $%d", column(f), len(args)))
	}
	if n := a.exec(fmt.Sprintf("UPDATE %s SET %s WHERE id = $1", table, strings.Join(sets, ", ")), args...); n != 1 {
		a.t.Fatalf("update contact %s of %s: %d rows changed", id, table, n)
	}
}

// row is one row of a contacts table.
type row struct {
	id      string
	deleted bool
	fields  contact
}

// contacts returns every row of a contacts table, soft-deleted ones included, by id.
func (a *app) contacts(table string) map[string]row {
	a.t.Helper()
	cols := []string{"id", "deleted_at IS NOT NULL"}
	for _, f := range contactFields {
		cols = append(cols, "coalesce("+column(f)+"::text, '')")
	}
	rs, err := a.conn.Query(context.Background(), fmt.Sprintf("SELECT %s FROM %s", strings.Join(cols, ", "), table))
	if err != nil {
		a.t.Fatalf("read %s: %v", table, err)
	}
	defer rs.Close()
	out := map[string]row{}
	for rs.Next() {
		vals := make([]string, len(contactFields))
		var r row
		dest := []any{&r.id, &r.deleted}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rs.Scan(dest...); err != nil {
			a.t.Fatalf("read %s: %v", table, err)
		}
		r.fields = contact{}
		for i, f := range contactFields {
			r.fields[f] = vals[i]
		}
		out[r.id] = r
	}
	if err := rs.Err(); err != nil {
		a.t.Fatalf("read %s: %v", table, err)
	}
	return out
}

// liveContacts returns the rows of a contacts table that are not soft-deleted.
func (a *app) liveContacts(table string) []row {
	a.t.Helper()
	var out []row
	for _, r := range a.contacts(table) {
		if !r.deleted {
			out = append(out, r)
		}
	}
	return out
}

// checksum is a digest of every row and column of a table, to show that nothing at all was written.
func (a *app) checksum(table string) string {
	a.t.Helper()
	var sum string
	q := fmt.Sprintf("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') FROM %s t", table)
	if err := a.conn.QueryRow(context.Background(), q).Scan(&sum); err != nil {
		a.t.Fatalf("checksum %s: %v", table, err)
	}
	return sum
}

// tableExists reports whether the application's database has table.
func (a *app) tableExists(table string) bool {
	a.t.Helper()
	var ok bool
	if err := a.conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil {
		a.t.Fatalf("look up table %s: %v", table, err)
	}
	return ok
}

// sqlEndpoint is a SyncJob endpoint for the application's contacts table, the DSN in Secret secret.
func sqlEndpoint(secret, table string) crmv1.Endpoint {
	return crmv1.Endpoint{SQL: &crmv1.SQLEndpoint{
		Driver:      crmv1.SQLPostgres,
		SecretRef:   &crmv1.SecretKeyReference{Name: secret, Key: "dsn"},
		Table:       table,
		CreateTable: true,
		Columns:     contactColumns,
	}}
}
