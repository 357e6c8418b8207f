package hubspot

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// cursor is the position of a change stream: the modified date reached by search and the archivedAt
// reached by the archived listing, both in the CRM's own milliseconds (never our clock, so clock skew
// cannot skip a change).
type cursor struct {
	V        int   `json:"v"`
	Modified int64 `json:"m"`
	Archived int64 `json:"a"`
}

func (c cursor) encode() connectors.Cursor {
	b, _ := json.Marshal(c)
	return connectors.Cursor(base64.RawURLEncoding.EncodeToString(b))
}

func decodeCursor(op string, s connectors.Cursor) (cursor, error) {
	if s == "" {
		return cursor{V: 1}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(string(s))
	var c cursor
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.V != 1 || c.Modified < 0 || c.Archived < 0 {
		return cursor{}, crmerr.New(crmerr.Permanent, Provider, op, "the stored cursor is not a HubSpot cursor of this version: reset the sync's cursor")
	}
	return c, nil
}

// searchFilter and searchBody are the search request.
type searchFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type searchBody struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []searchSort `json:"sorts"`
	Properties []string     `json:"properties"`
	Limit      int          `json:"limit"`
	After      string       `json:"after,omitempty"`
}

func newSearch(sortBy string, fields []string, limit int, filters ...searchFilter) searchBody {
	b := searchBody{Sorts: []searchSort{{PropertyName: sortBy, Direction: "ASCENDING"}}, Properties: fields, Limit: limit}
	b.FilterGroups = append(b.FilterGroups, struct {
		Filters []searchFilter `json:"filters"`
	}{Filters: filters})
	return b
}

// Changes streams the records modified since the cursor, then the records archived since it.
//
// Live records come from the search API, sorted by the modified date (lastmodifieddate for contacts,
// hs_lastmodifieddate otherwise) and read by keyset: every query asks for "modified >= the last date
// read" from offset 0, so the time window is split at every page. No query pages past HubSpot's
// 10,000-result cap, and a record edited during the read cannot shift an offset and be skipped. Records
// at the boundary date that were already yielded are dropped; when more than a page of records share one
// date, that date is read by id (hs_object_id) instead.
//
// Archiving does not change the modified date, so deletions come from the archived listing as tombstones
// whose ModifiedAt is archivedAt. The listing has no filter: it is read in full, keeping what was
// archived since the cursor (minus the lookback).
//
// Each page's Checkpoint resumes at the page's last modified date; duplicates after a resume are
// expected. The search API's own 5 requests/s limit is paced here, since its answers carry no headers.
func (c *Connector) Changes(ctx context.Context, req connectors.ChangesRequest, yield func(connectors.Page) error) (connectors.Cursor, error) {
	op := "search " + req.Object
	if err := c.checkOpen(op); err != nil {
		return "", err
	}
	path, err := c.objectPath(op, req.Object)
	if err != nil {
		return "", err
	}
	start, err := decodeCursor(op, req.Cursor)
	if err != nil {
		return "", err
	}
	fields := req.Fields
	if len(fields) == 0 {
		if fields, err = c.defaultFields(ctx, req.Object); err != nil {
			return "", err
		}
	}
	modProp := modifiedProperty(req.Object)
	fields = withField(fields, modProp, "hs_object_id")
	size := req.PageSize
	if size <= 0 || size > MaxSearchPage {
		size = MaxSearchPage
	}
	lookback := max(req.Lookback, 0).Milliseconds()

	s := &stream{c: c, op: op, path: path, modProp: modProp, fields: fields, size: size, yield: yield, archivedMark: start.Archived}
	s.ts = 0
	if start.Modified > 0 {
		s.ts = max(start.Modified-lookback, 0)
	}
	s.high = start.Modified
	s.seen = map[string]bool{}
	if err := s.readLive(ctx); err != nil {
		return "", err
	}
	high, err := s.readArchived(ctx, "list archived "+req.Object, start.Archived, lookback)
	if err != nil {
		return "", err
	}
	return cursor{V: 1, Modified: s.high, Archived: high}.encode(), nil
}

// stream is one Changes call.
type stream struct {
	c            *Connector
	op, path     string
	modProp      string
	fields       []string
	size         int
	yield        func(connectors.Page) error
	archivedMark int64 // the cursor's archived position, kept by every checkpoint until the listing ends

	ts     int64           // lower bound of the next query (inclusive unless strict)
	strict bool            // every record at ts has been read: query modified > ts
	seen   map[string]bool // ids already yielded whose modified date is ts
	high   int64           // the modified position to return
}

// search sends one search and checks the answer's shape.
func (s *stream) search(ctx context.Context, body searchBody) ([]wireRecord, string, int, error) {
	release, err := s.c.search.acquire(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	raw, _ := json.Marshal(body)
	var b pageBody
	resp, err := s.c.call(ctx, transport.Request{Op: s.op, Method: http.MethodPost, Path: s.path + "/search", Body: raw, Idempotent: true}, &b)
	release()
	if err != nil {
		return nil, "", 0, err
	}
	if b.Results == nil {
		return nil, "", 0, malformed(crmerr.Permanent, s.op, resp.Status, "the answer has no results: the search API changed shape")
	}
	if len(*b.Results) == 0 && b.next() != "" {
		return nil, "", 0, malformed(crmerr.Transient, s.op, resp.Status, "an empty page that still offers a next page")
	}
	return *b.Results, b.next(), resp.Status, nil
}

func (s *stream) emit(recs []connectors.Record) error {
	if len(recs) == 0 {
		return nil
	}
	return s.yield(connectors.Page{Records: recs, Checkpoint: cursor{V: 1, Modified: s.ts, Archived: s.archivedMark}.encode()})
}

// readLive runs the keyset search until no record is left.
func (s *stream) readLive(ctx context.Context) error {
	for {
		op := "GTE"
		if s.strict {
			op = "GT"
		}
		body := newSearch(s.modProp, s.fields, s.size, searchFilter{PropertyName: s.modProp, Operator: op, Value: strconv.FormatInt(s.ts, 10)})
		results, next, status, err := s.search(ctx, body)
		if err != nil {
			return err
		}
		fresh, maxTs, err := s.collect(results, status)
		if err != nil {
			return err
		}
		full := len(results) >= s.size
		advanced := maxTs > s.ts
		switch {
		case advanced:
			s.ts, s.strict = maxTs, false
			s.seen = map[string]bool{}
			for _, r := range fresh {
				if r.ModifiedAt.UnixMilli() == maxTs {
					s.seen[r.ID] = true
				}
			}
		default:
			for _, r := range fresh {
				s.seen[r.ID] = true
			}
		}
		s.high = max(s.high, s.ts)
		if err := s.emit(fresh); err != nil {
			return err
		}
		if next == "" || !full {
			return nil
		}
		if len(fresh) == 0 && !advanced {
			if s.strict {
				return malformed(crmerr.Transient, s.op, status, "the search keeps offering a next page without records")
			}
			// A full page of records that all share the boundary date, all read already: read that date
			// by id, then move past it.
			if err := s.readTie(ctx); err != nil {
				return err
			}
		}
	}
}

// collect converts a page, drops the records already yielded, and returns the page's largest modified
// date.
func (s *stream) collect(results []wireRecord, status int) ([]connectors.Record, int64, error) {
	fresh := make([]connectors.Record, 0, len(results))
	maxTs := s.ts
	for i := range results {
		rec, err := toRecord(s.op, status, &results[i], s.modProp)
		if err != nil {
			return nil, 0, err
		}
		ms := rec.ModifiedAt.UnixMilli()
		if ms < s.ts || (s.strict && ms == s.ts) {
			return nil, 0, malformed(crmerr.Transient, s.op, status, "the search answered record %s, modified before the filter's date", rec.ID)
		}
		maxTs = max(maxTs, ms)
		if ms == s.ts && s.seen[rec.ID] {
			continue
		}
		fresh = append(fresh, rec)
	}
	return fresh, maxTs, nil
}

// readTie reads every record modified exactly at s.ts, by ascending id, then moves past s.ts.
func (s *stream) readTie(ctx context.Context) error {
	after := int64(-1)
	for {
		filters := []searchFilter{{PropertyName: s.modProp, Operator: "EQ", Value: strconv.FormatInt(s.ts, 10)}}
		if after >= 0 {
			filters = append(filters, searchFilter{PropertyName: "hs_object_id", Operator: "GT", Value: strconv.FormatInt(after, 10)})
		}
		results, next, status, err := s.search(ctx, newSearch("hs_object_id", s.fields, s.size, filters...))
		if err != nil {
			return err
		}
		var fresh []connectors.Record
		last := after
		for i := range results {
			rec, err := toRecord(s.op, status, &results[i], s.modProp)
			if err != nil {
				return err
			}
			id, perr := strconv.ParseInt(rec.ID, 10, 64)
			if perr != nil || id <= after || rec.ModifiedAt.UnixMilli() != s.ts {
				return malformed(crmerr.Transient, s.op, status, "the search by id answered record %s outside the filter", rec.ID)
			}
			last = max(last, id)
			if !s.seen[rec.ID] {
				s.seen[rec.ID] = true
				fresh = append(fresh, rec)
			}
		}
		if err := s.emit(fresh); err != nil {
			return err
		}
		if next == "" || len(results) < s.size {
			s.strict, s.seen = true, map[string]bool{}
			return nil
		}
		after = last
	}
}

// readArchived yields tombstones for the records archived after mark minus the lookback (all of them for
// a new cursor), and returns the new archived position. The listing is read in full every time, so a
// record archived exactly at mark was in the previous read.
func (s *stream) readArchived(ctx context.Context, op string, mark, lookback int64) (int64, error) {
	from := int64(-1) // a new cursor takes every archived record
	if mark > 0 {
		from = mark - lookback
	}
	high := mark
	err := s.c.list(ctx, op, s.path, true, []string{s.modProp}, func(status int, recs []wireRecord) error {
		var tombs []connectors.Record
		for _, r := range recs {
			if r.ID == "" {
				return malformed(crmerr.Transient, op, status, "an archived record without an id")
			}
			at, err := parseTime(r.ArchivedAt)
			if err != nil {
				return malformed(crmerr.Transient, op, status, "archived record %s has no readable archivedAt", r.ID)
			}
			ms := at.UnixMilli()
			high = max(high, ms)
			if ms > from {
				tombs = append(tombs, connectors.Record{ID: r.ID, Deleted: true, ModifiedAt: at})
			}
		}
		return s.emitArchived(tombs)
	})
	if err != nil {
		return 0, err
	}
	return high, nil
}

func (s *stream) emitArchived(tombs []connectors.Record) error {
	if len(tombs) == 0 {
		return nil
	}
	return s.yield(connectors.Page{Records: tombs, Checkpoint: cursor{V: 1, Modified: s.high, Archived: s.archivedMark}.encode()})
}
