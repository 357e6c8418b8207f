package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memCRM is a tiny CRM behind HTTP, to test the suite itself: OAuth-ish tokens, a keyset-paged change
// feed with tombstones, batched reads and writes with per-record errors, and the suite's faults.
type memCRM struct {
	mu       sync.Mutex
	recs     map[string]*memRec
	seq      int
	skew     time.Duration
	faults   Faults
	tokens   map[string]bool
	tokenSeq int
	calls    int
}

type memRec struct {
	ID       string         `json:"id"`
	Fields   map[string]any `json:"fields"`
	Modified time.Time      `json:"modified"`
	Deleted  bool           `json:"deleted,omitempty"`
}

const (
	memMaxText  = 10000
	memMaxWrite = 10
	memMaxRead  = 50
)

var memStatuses = []string{"lead", "customer"}

func newMemCRM() *memCRM {
	return &memCRM{recs: map[string]*memRec{}, tokens: map[string]bool{}}
}

// now is the CRM's clock, with millisecond precision so that writes in one batch tie naturally.
func (m *memCRM) now() time.Time {
	return time.Now().Add(m.skew).UTC().Truncate(time.Millisecond)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (m *memCRM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body) // read first: the server notices a client gone only after the body
	if r.URL.Path == "/oauth/token" {
		m.mu.Lock()
		m.tokenSeq++
		tok := fmt.Sprintf("tok-%d", m.tokenSeq)
		m.tokens[tok] = true
		m.mu.Unlock()
		writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
		return
	}
	if m.fault(w, r) {
		return
	}
	m.mu.Lock()
	ok := m.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	m.mu.Unlock()
	if !ok {
		apiError(w, http.StatusUnauthorized, "INVALID_TOKEN", "access token expired or invalid")
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /fields":
		writeJSON(w, 200, []map[string]any{
			{"name": "email", "type": "email", "required": true},
			{"name": "lastname", "type": "string", "required": true},
			{"name": "status", "type": "picklist", "options": memStatuses},
		})
	case "GET /records":
		m.serveRecords(w, r)
	case "GET /ids":
		m.serveIDs(w, r)
	case "POST /records/read":
		m.serveRead(w, body)
	case "POST /records/upsert":
		m.serveUpsert(w, body)
	case "POST /records/delete":
		m.serveDelete(w, body)
	default:
		apiError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
	}
}

// fault applies the injected faults to an API call and reports whether it answered.
func (m *memCRM) fault(w http.ResponseWriter, r *http.Request) bool {
	m.mu.Lock()
	m.calls++
	f := m.faults
	limited := m.faults.RateLimitNext > 0
	if limited {
		m.faults.RateLimitNext--
	}
	m.mu.Unlock()
	if limited {
		apiError(w, http.StatusTooManyRequests, "RATE_LIMIT", "too many requests")
		return true
	}
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	if f.DropRate > 0 && rand.Float64() < f.DropRate {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return true
		}
	}
	if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
		status := f.ErrorStatus
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		apiError(w, status, "UNAVAILABLE", "try again later")
		return true
	}
	return false
}

// sorted returns every record ordered by (Modified, ID), the feed's keyset.
func (m *memCRM) sorted() []*memRec {
	out := make([]*memRec, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *memRec) int {
		if c := a.Modified.Compare(b.Modified); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func limitParam(r *http.Request, max int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > max {
		return max
	}
	return n
}

// serveRecords answers the change feed: records (tombstones included) after (since, after) in keyset
// order.
func (m *memCRM) serveRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if s := q.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			apiError(w, http.StatusBadRequest, "BAD_SINCE", "since is not RFC 3339")
			return
		}
		since = t
	}
	after, limit := q.Get("after"), limitParam(r, 100)
	m.mu.Lock()
	var page []memRec
	more := false
	for _, rec := range m.sorted() {
		if q.Get("since") != "" {
			if c := rec.Modified.Compare(since); c < 0 || c == 0 && rec.ID <= after {
				continue
			}
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, *rec)
	}
	m.mu.Unlock()
	writeJSON(w, 200, map[string]any{"records": page, "more": more})
}

func (m *memCRM) serveIDs(w http.ResponseWriter, r *http.Request) {
	after, limit := r.URL.Query().Get("after"), limitParam(r, 100)
	m.mu.Lock()
	var ids []string
	for id, rec := range m.recs {
		if !rec.Deleted && id > after {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	slices.Sort(ids)
	more := len(ids) > limit
	writeJSON(w, 200, map[string]any{"ids": ids[:min(limit, len(ids))], "more": more})
}

func (m *memCRM) serveRead(w http.ResponseWriter, body []byte) {
	var in struct{ IDs []string }
	if json.Unmarshal(body, &in) != nil || len(in.IDs) > memMaxRead {
		apiError(w, http.StatusBadRequest, "BAD_REQUEST", "want {ids} with at most 50 ids")
		return
	}
	m.mu.Lock()
	out := []memRec{}
	for _, id := range in.IDs {
		if rec, ok := m.recs[id]; ok && !rec.Deleted {
			out = append(out, *rec)
		}
	}
	m.mu.Unlock()
	writeJSON(w, 200, map[string]any{"records": out})
}

type memResult struct {
	ID      string    `json:"id,omitempty"`
	Created bool      `json:"created,omitempty"`
	Error   *memError `json:"error,omitempty"`
}

type memError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (m *memCRM) serveUpsert(w http.ResponseWriter, body []byte) {
	var in struct {
		Records    []memRec
		IDProperty string
	}
	if json.Unmarshal(body, &in) != nil || len(in.Records) > memMaxWrite {
		apiError(w, http.StatusBadRequest, "BAD_REQUEST", "want {records} with at most 10 records")
		return
	}
	m.mu.Lock()
	results := make([]memResult, len(in.Records))
	for i, rec := range in.Records {
		results[i] = m.upsertLocked(rec, in.IDProperty)
	}
	m.mu.Unlock()
	writeJSON(w, 200, map[string]any{"results": results})
}

func (m *memCRM) upsertLocked(in memRec, idProperty string) memResult {
	target := m.recs[in.ID]
	if in.ID != "" && (target == nil || target.Deleted) {
		return memResult{Error: &memError{Code: "NOT_FOUND", Field: "id", Message: "no record " + in.ID}}
	}
	if in.ID == "" && idProperty != "" {
		key := fmt.Sprint(in.Fields[idProperty])
		for _, r := range m.recs {
			if !r.Deleted && fmt.Sprint(r.Fields[idProperty]) == key {
				target = r
			}
		}
	}
	if e := validate(in.Fields, target == nil); e != nil {
		return memResult{Error: e}
	}
	if target == nil {
		return memResult{ID: m.createLocked(in.Fields), Created: true}
	}
	for k, v := range in.Fields {
		target.Fields[k] = v
	}
	target.Modified = m.now()
	return memResult{ID: target.ID}
}

func validate(fields map[string]any, create bool) *memError {
	for _, f := range []string{"email", "lastname"} {
		v, ok := fields[f]
		if (create && !ok) || (ok && (v == nil || v == "")) {
			return &memError{Code: "REQUIRED_FIELD_MISSING", Field: f, Message: "required field missing: " + f}
		}
	}
	if v, ok := fields["status"]; ok && !slices.Contains(memStatuses, fmt.Sprint(v)) {
		return &memError{Code: "INVALID_PICKLIST", Field: "status", Message: fmt.Sprintf("bad value for restricted picklist field: %v", v)}
	}
	if v, ok := fields["lastname"].(string); ok && len([]rune(v)) > memMaxText {
		return &memError{Code: "STRING_TOO_LONG", Field: "lastname", Message: "lastname is too long"}
	}
	return nil
}

func (m *memCRM) createLocked(fields map[string]any) string {
	m.seq++
	id := fmt.Sprintf("m%06d", m.seq)
	copied := make(map[string]any, len(fields))
	for k, v := range fields {
		copied[k] = v
	}
	m.recs[id] = &memRec{ID: id, Fields: copied, Modified: m.now()}
	return id
}

func (m *memCRM) serveDelete(w http.ResponseWriter, body []byte) {
	var in struct{ IDs []string }
	if json.Unmarshal(body, &in) != nil || len(in.IDs) > memMaxRead {
		apiError(w, http.StatusBadRequest, "BAD_REQUEST", "want {ids} with at most 50 ids")
		return
	}
	m.mu.Lock()
	results := make([]memResult, len(in.IDs))
	for i, id := range in.IDs {
		m.deleteLocked(id)
		results[i] = memResult{ID: id}
	}
	m.mu.Unlock()
	writeJSON(w, 200, map[string]any{"results": results})
}

func (m *memCRM) deleteLocked(id string) {
	if rec, ok := m.recs[id]; ok && !rec.Deleted {
		rec.Deleted, rec.Modified = true, m.now()
	}
}
