package salesforce

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// sfTime is Salesforce's datetime wire format.
const sfTime = "2006-01-02T15:04:05.000-0700"

// cursor is the decoded form of a connectors.Cursor. Both times are the org's own (never our clock), so
// clock skew between the org and us cannot lose changes.
type cursor struct {
	V int `json:"v"`
	// Mod: every record with SystemModstamp >= Mod (minus the lookback) is still to be read. It is the
	// SystemModstamp of the last record of a committed page: records that tie with it on the next page are
	// read again rather than lost.
	Mod time.Time `json:"m,omitzero"`
	// Del: deletions logged at or after Del are still to be read through getDeleted.
	Del time.Time `json:"d,omitzero"`
}

func (c cursor) encode() connectors.Cursor {
	b, _ := json.Marshal(c)
	return connectors.Cursor(base64.RawURLEncoding.EncodeToString(b))
}

func decodeCursor(op string, s connectors.Cursor) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(string(s))
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.V != 1 {
		return cursor{}, &crmerr.Error{Kind: crmerr.Permanent, Provider: Provider, Op: op, Code: "INVALID_CURSOR",
			Message: "the stored cursor was not written by this connector: reset the sync's cursor to read everything again"}
	}
	return c, nil
}

func soqlTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
}

func parseSFTime(s string) (time.Time, bool) {
	for _, layout := range []string{sfTime, time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// queryPage is one page of a query result. Pointers tell a missing key from a zero value.
type queryPage struct {
	TotalSize      *int              `json:"totalSize"`
	Done           *bool             `json:"done"`
	NextRecordsURL string            `json:"nextRecordsUrl"`
	Records        *[]map[string]any `json:"records"`
}

func malformedPage(op string, status int, msg string) *crmerr.Error {
	return &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: op, Status: status, Code: "MALFORMED_RESPONSE", Message: msg}
}

// pager follows a query's nextRecordsUrl chain, refusing the shapes that would make a reader skip or loop.
type pager struct {
	c     *Connector
	op    string
	hdr   http.Header
	next  string
	seen  map[string]bool
	date  time.Time // the org's clock (Date header) at the first page
	first bool
}

func (c *Connector) newPager(op, resource, soql string, pageSize int) *pager {
	hdr := http.Header{}
	if pageSize > 0 {
		hdr.Set("Sforce-Query-Options", "batchSize="+strconv.Itoa(min(max(pageSize, 200), MaxQueryBatch)))
	}
	return &pager{c: c, op: op, hdr: hdr, next: resource + "?q=" + url.QueryEscape(soql), seen: map[string]bool{}, first: true}
}

// page fetches the next page; done reports the end of the chain.
func (p *pager) page(ctx context.Context) (records []map[string]any, done bool, err error) {
	req := transport.Request{Op: p.op, Header: p.hdr}
	if p.first {
		req.Path = p.next
	} else {
		req.URL = p.next
	}
	resp, err := p.c.do(ctx, req)
	if err != nil {
		return nil, false, err
	}
	if p.first {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			p.date = t.UTC()
		}
	}
	p.first = false
	var pg queryPage
	if err := resp.DecodeJSON(&pg); err != nil {
		return nil, false, err
	}
	if pg.Done == nil || pg.Records == nil || pg.TotalSize == nil {
		return nil, false, malformedPage(p.op, resp.Status, "the query result lacks totalSize, done or records: unexpected response shape")
	}
	if *pg.Done {
		return *pg.Records, true, nil
	}
	switch {
	case pg.NextRecordsURL == "":
		return nil, false, malformedPage(p.op, resp.Status, "done is false but there is no nextRecordsUrl")
	case len(*pg.Records) == 0:
		return nil, false, malformedPage(p.op, resp.Status, "an empty page that is not done: refusing to follow nextRecordsUrl")
	case !strings.HasPrefix(pg.NextRecordsURL, "/services/data/"):
		return nil, false, malformedPage(p.op, resp.Status, "nextRecordsUrl is not a query locator of this org")
	case p.seen[pg.NextRecordsURL]:
		return nil, false, malformedPage(p.op, resp.Status, "nextRecordsUrl loops back to a page already read")
	}
	p.seen[pg.NextRecordsURL] = true
	p.next = pg.NextRecordsURL
	return *pg.Records, false, nil
}

// toRecord converts a query record into a contract record.
func toRecord(op string, raw map[string]any) (connectors.Record, error) {
	id, _ := raw["Id"].(string)
	if id == "" {
		return connectors.Record{}, malformedPage(op, http.StatusOK, "a record without Id")
	}
	delete(raw, "attributes")
	r := connectors.Record{ID: id, Fields: raw}
	if s, ok := raw["SystemModstamp"].(string); ok {
		t, ok := parseSFTime(s)
		if !ok {
			return connectors.Record{}, malformedPage(op, http.StatusOK, fmt.Sprintf("record %s has an unreadable SystemModstamp", id))
		}
		r.ModifiedAt = t
	}
	if d, _ := raw["IsDeleted"].(bool); d {
		r.Deleted = true
	}
	return r, nil
}

// Changes streams the records of object modified since req.Cursor, oldest first, then the deletions.
//
// Live records and records in the recycle bin come from one queryAll
// (`SELECT ... WHERE SystemModstamp >= cursor-lookback ORDER BY SystemModstamp, Id`), paged through
// nextRecordsUrl; a record with IsDeleted = true is a tombstone. Deletions that skipped the recycle bin or
// were purged from it come from getDeleted, which reaches back 15 days; the window continues from the
// previous call's latestDateCovered. A cursor older than that window skips getDeleted (the recycle bin
// still reports deletions), and the periodic ID reconciliation catches the rest.
//
// Each page's Checkpoint is the SystemModstamp of its last record, read again with >=: records that tie
// at a page boundary are repeated, never lost. The whole read uses the org's clock, never ours.
func (c *Connector) Changes(ctx context.Context, req connectors.ChangesRequest, yield func(connectors.Page) error) (connectors.Cursor, error) {
	op := opName("read changes of", req.Object)
	cur, err := decodeCursor(op, req.Cursor)
	if err != nil {
		return "", err
	}
	fields, err := c.readFields(ctx, req.Object, req.Fields, "Id", "SystemModstamp", "IsDeleted")
	if err != nil {
		return "", err
	}
	pageSize := req.PageSize
	if pageSize <= 0 || pageSize > MaxQueryBatch {
		pageSize = MaxQueryBatch
	}

	// getDeleted first: its answer is small, and an undelete seen later in the stream cancels it.
	var deleted []connectors.Record
	newDel := cur.Del
	incremental := !cur.Mod.IsZero() || !cur.Del.IsZero()
	if incremental {
		deleted, newDel, err = c.deletedSince(ctx, req.Object, cur, req.Lookback)
		if err != nil {
			return "", err
		}
	}
	deletedIdx := map[string]int{}
	for i, d := range deleted {
		deletedIdx[d.ID] = i
	}

	soql := "SELECT " + strings.Join(fields, ", ") + " FROM " + req.Object
	if !cur.Mod.IsZero() {
		soql += " WHERE SystemModstamp >= " + soqlTime(cur.Mod.Add(-req.Lookback))
	}
	soql += " ORDER BY SystemModstamp, Id"
	p := c.newPager(op, "queryAll", soql, pageSize)
	maxMod := cur.Mod
	for {
		raws, done, err := p.page(ctx)
		if err != nil {
			return "", err
		}
		// Salesforce pages hold at least 200 records; a smaller PageSize splits each of them.
		for start := 0; start < len(raws); start += pageSize {
			chunk := raws[start:min(start+pageSize, len(raws))]
			page := connectors.Page{Records: make([]connectors.Record, 0, len(chunk))}
			for _, raw := range chunk {
				r, err := toRecord(op, raw)
				if err != nil {
					return "", err
				}
				if r.ModifiedAt.IsZero() {
					return "", malformedPage(op, http.StatusOK, "a record without SystemModstamp")
				}
				if i, ok := deletedIdx[r.ID]; ok && (r.Deleted || !r.ModifiedAt.Before(deleted[i].ModifiedAt)) {
					deleted[i].ID = "" // reported by the stream itself, or undeleted since
				}
				page.Records = append(page.Records, r)
				if r.ModifiedAt.After(maxMod) {
					maxMod = r.ModifiedAt
				}
			}
			page.Checkpoint = cursor{V: 1, Mod: maxMod, Del: cur.Del}.encode()
			if err := yield(page); err != nil {
				return "", err
			}
		}
		if done {
			break
		}
	}
	if !incremental {
		newDel = p.date
		if newDel.IsZero() {
			newDel = maxMod
		}
		if newDel.IsZero() {
			newDel = c.cfg.Clock.Now().UTC()
		}
		newDel = newDel.Add(-time.Minute)
	}
	final := cursor{V: 1, Mod: maxMod, Del: newDel}
	var batch []connectors.Record
	flush := func(last bool) error {
		if len(batch) == 0 {
			return nil
		}
		cp := cursor{V: 1, Mod: maxMod, Del: cur.Del}
		if last {
			cp = final
		}
		err := yield(connectors.Page{Records: batch, Checkpoint: cp.encode()})
		batch = nil
		return err
	}
	for _, d := range deleted {
		if d.ID == "" {
			continue
		}
		if len(batch) == pageSize {
			if err := flush(false); err != nil {
				return "", err
			}
		}
		batch = append(batch, d)
	}
	if err := flush(true); err != nil {
		return "", err
	}
	return final.encode(), nil
}

// deletedSince reads getDeleted from the cursor's deletion mark (minus lookback) to now, and returns the
// tombstones and the new mark (latestDateCovered). A window older than Salesforce keeps gives no
// tombstones and restarts the window at the org's current time.
func (c *Connector) deletedSince(ctx context.Context, object string, cur cursor, lookback time.Duration) ([]connectors.Record, time.Time, error) {
	op := opName("list deleted", object)
	start := cur.Del
	if start.IsZero() {
		start = cur.Mod
	}
	start = start.Add(-lookback)
	end := c.cfg.Clock.Now().UTC()
	if end.Before(start.Add(2 * time.Minute)) {
		end = start.Add(2 * time.Minute)
	}
	end = end.Add(time.Minute)
	q := url.Values{"start": {start.UTC().Format(time.RFC3339)}, "end": {end.UTC().Format(time.RFC3339)}}
	resp, err := c.do(ctx, transport.Request{Op: op, Path: "sobjects/" + url.PathEscape(object) + "/deleted/", Query: q})
	if err != nil {
		var ce *crmerr.Error
		if errors.As(err, &ce) && ce.Code == "INVALID_REPLICATION_DATE" {
			// Older than the delete log reaches, or before a purge: the recycle-bin records still come
			// through queryAll, and the window restarts where Salesforce accepts it.
			now := c.cfg.Clock.Now().UTC()
			mark := now.Add(-DeletedRetention + 24*time.Hour)
			if !start.Before(mark) {
				mark = now.Add(-time.Minute)
			}
			return nil, mark, nil
		}
		return nil, time.Time{}, err
	}
	var body struct {
		DeletedRecords *[]struct {
			ID          string `json:"id"`
			DeletedDate string `json:"deletedDate"`
		} `json:"deletedRecords"`
		LatestDateCovered string `json:"latestDateCovered"`
	}
	if err := resp.DecodeJSON(&body); err != nil {
		return nil, time.Time{}, err
	}
	covered, ok := parseSFTime(body.LatestDateCovered)
	if body.DeletedRecords == nil || !ok {
		return nil, time.Time{}, malformedPage(op, resp.Status, "the getDeleted result lacks deletedRecords or latestDateCovered")
	}
	out := make([]connectors.Record, 0, len(*body.DeletedRecords))
	for _, d := range *body.DeletedRecords {
		at, ok := parseSFTime(d.DeletedDate)
		if d.ID == "" || !ok {
			return nil, time.Time{}, malformedPage(op, resp.Status, "a deleted record without id or deletedDate")
		}
		out = append(out, connectors.Record{ID: d.ID, Deleted: true, ModifiedAt: at})
	}
	if covered.Before(cur.Del) {
		covered = cur.Del
	}
	return out, covered, nil
}

// ListIDs streams the id of every live record of object, a page at a time, ordered by Id.
func (c *Connector) ListIDs(ctx context.Context, object string, yield func(ids []string) error) error {
	op := opName("list ids of", object)
	p := c.newPager(op, "query", "SELECT Id FROM "+object+" ORDER BY Id", MaxQueryBatch)
	for {
		raws, done, err := p.page(ctx)
		if err != nil {
			return err
		}
		if len(raws) > 0 {
			ids := make([]string, 0, len(raws))
			for _, raw := range raws {
				id, _ := raw["Id"].(string)
				if id == "" {
					return malformedPage(op, http.StatusOK, "a record without Id")
				}
				ids = append(ids, id)
			}
			if err := yield(ids); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}
