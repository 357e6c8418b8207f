package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// Broken variants of the reference connector, each with a bug the suite must catch.
const (
	correct = ""
	// dropTies resumes strictly after a cursor's timestamp, losing records that tie with it.
	dropTies = "dropTies"
	// cursorOnYieldError returns the refused page's checkpoint when yield fails.
	cursorOnYieldError = "cursorOnYieldError"
	// ourClockCursor ends a stream with our own clock as the cursor and ignores Lookback.
	ourClockCursor = "ourClockCursor"
)

const refProvider = "memcrm"

// refTokens fetches tokens from memCRM and drops the one the CRM rejected.
type refTokens struct {
	url    string
	client *http.Client
	mu     sync.Mutex
	tok    *oauth2.Token
}

func (s *refTokens) Token(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil {
		return s.tok, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, crmerr.Wrap(crmerr.Transient, refProvider, "refresh token", err)
	}
	defer resp.Body.Close()
	var tok oauth2.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return nil, crmerr.New(crmerr.Auth, refProvider, "refresh token", "no access token in the answer")
	}
	s.tok = &tok
	return s.tok, nil
}

func (s *refTokens) Invalidate(bad *oauth2.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && bad != nil && s.tok.AccessToken == bad.AccessToken {
		s.tok = nil
	}
}

// refConn is the reference connector for memCRM, built on the transport as real connectors are.
type refConn struct {
	client  *transport.Client
	variant string
}

var _ connectors.Connector = (*refConn)(nil)

func (c *refConn) Provider() string { return refProvider }

func (c *refConn) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{
		DefaultObjects: map[connectors.Object]string{connectors.Contacts: "contacts"},
		MaxPageSize:    100, MaxReadBatch: memMaxRead, MaxWriteBatch: memMaxWrite, MaxDeleteBatch: memMaxRead,
		UpsertByExternalID: true,
		DeleteDetection:    connectors.DeletesInStream,
	}
}

func (c *refConn) Close() error { return nil }

func (c *refConn) call(ctx context.Context, req transport.Request, out any) error {
	resp, err := c.client.Do(ctx, req)
	if err != nil {
		return err
	}
	return resp.DecodeJSON(out)
}

func (c *refConn) post(ctx context.Context, op, path string, in, out any, idempotent bool) error {
	body, err := json.Marshal(in)
	if err != nil {
		return crmerr.Wrap(crmerr.Permanent, refProvider, op, err)
	}
	return c.call(ctx, transport.Request{Op: op, Method: http.MethodPost, Path: path, Body: body, Idempotent: idempotent}, out)
}

func (c *refConn) Describe(ctx context.Context, object string) (connectors.ObjectMeta, error) {
	var fields []struct {
		Name, Type string
		Required   bool
		Options    []string
	}
	if err := c.call(ctx, transport.Request{Op: "describe " + object, Path: "/fields"}, &fields); err != nil {
		return connectors.ObjectMeta{}, err
	}
	meta := connectors.ObjectMeta{Name: object}
	for _, f := range fields {
		meta.Fields = append(meta.Fields, connectors.FieldMeta{Name: f.Name, Label: f.Name, Type: f.Type, Required: f.Required, Options: f.Options})
	}
	return meta, nil
}

// position is a keyset position in the change feed; its text form is the cursor.
type position struct {
	at time.Time
	id string
}

func (p position) cursor() connectors.Cursor {
	if p.at.IsZero() {
		return ""
	}
	return connectors.Cursor(p.at.UTC().Format(time.RFC3339Nano) + "|" + p.id)
}

func (p position) after(q position) bool {
	if c := p.at.Compare(q.at); c != 0 {
		return c > 0
	}
	return p.id > q.id
}

func parseCursor(op string, c connectors.Cursor) (position, error) {
	if c == "" {
		return position{}, nil
	}
	ts, id, ok := strings.Cut(string(c), "|")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil {
		return position{}, crmerr.New(crmerr.Permanent, refProvider, op, "unreadable cursor")
	}
	return position{at: at, id: id}, nil
}

func (c *refConn) Changes(ctx context.Context, req connectors.ChangesRequest, yield func(connectors.Page) error) (connectors.Cursor, error) {
	op := "read changes of " + req.Object
	start, err := parseCursor(op, req.Cursor)
	if err != nil {
		return "", err
	}
	from := start
	if req.Lookback > 0 && !from.at.IsZero() && c.variant != ourClockCursor {
		from = position{at: from.at.Add(-req.Lookback)}
	}
	size := req.PageSize
	if size <= 0 || size > 100 {
		size = 100
	}
	if c.variant == dropTies && !from.at.IsZero() {
		from = position{at: from.at.Add(time.Nanosecond)}
	}
	last := start
	for {
		q := url.Values{"limit": {strconv.Itoa(size)}}
		if !from.at.IsZero() {
			q.Set("since", from.at.Format(time.RFC3339Nano))
			q.Set("after", from.id)
		}
		var body struct {
			Records []memRec
			More    bool
		}
		if err := c.call(ctx, transport.Request{Op: op, Path: "/records", Query: q}, &body); err != nil {
			return "", err
		}
		if len(body.Records) == 0 && body.More {
			return "", crmerr.New(crmerr.Transient, refProvider, op, "empty page that claims more")
		}
		if len(body.Records) == 0 {
			break
		}
		tail := body.Records[len(body.Records)-1]
		from = position{at: tail.Modified, id: tail.ID}
		page := connectors.Page{Records: toRecords(body.Records), Checkpoint: from.cursor()}
		if err := yield(page); err != nil {
			if c.variant == cursorOnYieldError {
				return page.Checkpoint, err
			}
			return "", err
		}
		if from.after(last) {
			last = from
		}
		if !body.More {
			break
		}
	}
	if c.variant == ourClockCursor {
		return position{at: time.Now()}.cursor(), nil
	}
	return last.cursor(), nil
}

func toRecords(in []memRec) []connectors.Record {
	out := make([]connectors.Record, len(in))
	for i, r := range in {
		out[i] = connectors.Record{ID: r.ID, Fields: r.Fields, ModifiedAt: r.Modified, Deleted: r.Deleted}
	}
	return out
}

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

func (c *refConn) Get(ctx context.Context, object string, ids []string, _ []string) ([]connectors.Record, error) {
	var out []connectors.Record
	for _, batch := range chunks(ids, memMaxRead) {
		var body struct{ Records []memRec }
		if err := c.post(ctx, "get "+object, "/records/read", map[string]any{"ids": batch}, &body, true); err != nil {
			return nil, err
		}
		out = append(out, toRecords(body.Records)...)
	}
	return out, nil
}

func (c *refConn) Upsert(ctx context.Context, object string, records []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	op := "upsert " + object
	var results []connectors.Result
	for _, batch := range chunks(records, memMaxWrite) {
		in := make([]memRec, len(batch))
		idempotent := true
		for i, r := range batch {
			in[i] = memRec{ID: r.ID, Fields: r.Fields}
			idempotent = idempotent && (r.ID != "" || opts.ExternalIDField != "")
		}
		var body struct{ Results []memResult }
		err := c.post(ctx, op, "/records/upsert", map[string]any{"records": in, "idProperty": opts.ExternalIDField}, &body, idempotent)
		if err != nil {
			return results, err
		}
		if len(body.Results) != len(batch) {
			return results, crmerr.New(crmerr.Transient, refProvider, op, "answer has the wrong number of results")
		}
		for _, r := range body.Results {
			res := connectors.Result{ID: r.ID, Created: r.Created}
			if r.Error != nil {
				res.Err = &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: refProvider, Op: op, Code: r.Error.Code, Field: r.Error.Field, Message: r.Error.Message}
			}
			results = append(results, res)
		}
	}
	return results, nil
}

func (c *refConn) Delete(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	var results []connectors.Result
	for _, batch := range chunks(ids, memMaxRead) {
		var body struct{ Results []memResult }
		if err := c.post(ctx, "delete "+object, "/records/delete", map[string]any{"ids": batch}, &body, true); err != nil {
			return results, err
		}
		for _, r := range body.Results {
			results = append(results, connectors.Result{ID: r.ID})
		}
	}
	return results, nil
}

func (c *refConn) ListIDs(ctx context.Context, object string, yield func([]string) error) error {
	after := ""
	for {
		var body struct {
			IDs  []string
			More bool
		}
		if err := c.call(ctx, transport.Request{Op: "list ids of " + object, Path: "/ids", Query: url.Values{"after": {after}}}, &body); err != nil {
			return err
		}
		if len(body.IDs) > 0 {
			if err := yield(body.IDs); err != nil {
				return err
			}
			after = body.IDs[len(body.IDs)-1]
		}
		if !body.More {
			return nil
		}
		if len(body.IDs) == 0 {
			return errors.New("memcrm: empty id page that claims more")
		}
	}
}
