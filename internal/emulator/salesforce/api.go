package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const maxJSONBody = 50 << 20

// apiCall is one authorised API request being answered.
type apiCall struct {
	w       http.ResponseWriter
	r       *http.Request
	version string
	segs    []string
}

func (c *apiCall) prefix() string { return "/services/data/" + c.version }

// routeName names the route of an API call for Stats.ByRoute, with ids replaced by placeholders.
func routeName(method string, segs []string) string {
	var parts []string
	for i, sgm := range segs {
		switch {
		case i == 0:
			parts = append(parts, sgm)
		case segs[0] == "sobjects" && i == 1, segs[0] == "composite" && i == 2:
			parts = append(parts, "{sobject}")
		case segs[0] == "sobjects" && i == 2 && sgm != "describe" && sgm != "deleted" && sgm != "updated":
			if len(segs) == 4 {
				parts = append(parts, "{field}")
			} else {
				parts = append(parts, "{id}")
			}
		case segs[0] == "sobjects" && i == 3:
			parts = append(parts, "{value}")
		case segs[0] == "composite" && i == 3:
			parts = append(parts, "{field}")
		case (segs[0] == "query" || segs[0] == "queryAll") && i == 1:
			parts = append(parts, "{locator}")
		case segs[0] == "jobs" && i == 2:
			parts = append(parts, "{id}")
		default:
			parts = append(parts, sgm)
		}
	}
	return method + " /" + strings.Join(parts, "/")
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	version := r.PathValue("version")
	if !s.checkVersion(w, version) {
		return
	}
	rest := strings.Trim(r.PathValue("rest"), "/")
	var segs []string
	if rest != "" {
		segs = strings.Split(rest, "/")
	}
	s.mu.Lock()
	if !s.authorize(r) {
		s.mu.Unlock()
		writeInvalidSession(w)
		return
	}
	now := s.now()
	s.stats.APICalls++
	s.stats.ByRoute[routeName(r.Method, segs)]++
	usage := s.usage.total(now)
	f := s.faults
	limited := usage >= s.opts.DailyAPILimit
	if !limited && s.faults.RateLimitNext > 0 {
		s.faults.RateLimitNext--
		limited = true
	}
	if !limited {
		s.usage.add(now)
		usage++
	}
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", usage, s.opts.DailyAPILimit))
	if limited {
		s.stats.RateLimited++
		s.mu.Unlock()
		writeErr(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return
	}
	drop := f.DropRate > 0 && s.rnd.Float64() < f.DropRate
	fail := !drop && f.ErrorRate > 0 && s.rnd.Float64() < f.ErrorRate
	if drop || fail {
		s.stats.Faults++
	}
	long := 0
	wall := time.Now()
	for _, started := range s.inflight {
		if wall.Sub(started) >= s.opts.LongRunningThreshold {
			long++
		}
	}
	if long >= s.opts.MaxLongRunning {
		s.stats.RateLimited++
		s.mu.Unlock()
		writeErr(w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
		return
	}
	s.reqSeq++
	seq := s.reqSeq
	s.inflight[seq] = wall
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, seq)
		s.mu.Unlock()
	}()

	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if drop {
		dropConnection(w)
		return
	}
	if fail {
		writeFault(w, f)
		return
	}
	c := &apiCall{w: w, r: r, version: version, segs: segs}
	s.dispatch(c)
}

func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func writeFault(w http.ResponseWriter, f Faults) {
	status := f.ErrorStatus
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	if f.HTMLErrors {
		writeRaw(w, status, "text/html;charset=UTF-8", []byte(`<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.</p></body></html>`))
		return
	}
	switch {
	case status == http.StatusServiceUnavailable:
		writeErr(w, status, "SERVER_UNAVAILABLE", "Server temporarily unavailable; please try again later.")
	case status >= 500:
		writeErr(w, status, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact support: 1930448720-60178 (-1021415830)")
	case status == http.StatusTooManyRequests:
		writeErr(w, status, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
	default:
		writeErr(w, status, "UNKNOWN_EXCEPTION", "Injected fault")
	}
}

func (s *Server) dispatch(c *apiCall) {
	segs, m := c.segs, c.r.Method
	n := len(segs)
	switch {
	case n == 0 && m == http.MethodGet:
		p := c.prefix()
		writeJSON(c.w, 200, map[string]string{"sobjects": p + "/sobjects", "query": p + "/query", "queryAll": p + "/queryAll",
			"limits": p + "/limits", "composite": p + "/composite", "jobs": p + "/jobs"})
	case n == 1 && segs[0] == "limits" && m == http.MethodGet:
		s.handleLimits(c)
	case (segs[0] == "query" || segs[0] == "queryAll") && m == http.MethodGet && n <= 2:
		if n == 1 {
			s.handleQuery(c, segs[0] == "queryAll")
		} else {
			s.handleQueryMore(c, segs[1])
		}
	case segs[0] == "sobjects":
		s.dispatchSObjects(c)
	case segs[0] == "composite" && n >= 2 && segs[1] == "sobjects":
		s.dispatchCollections(c)
	case segs[0] == "jobs" && n >= 2 && segs[1] == "ingest":
		s.dispatchBulk(c)
	default:
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) handleLimits(c *apiCall) {
	s.mu.Lock()
	used := s.usage.total(s.now())
	max := s.opts.DailyAPILimit
	s.mu.Unlock()
	mr := func(m, r int) map[string]int { return map[string]int{"Max": m, "Remaining": r} }
	writeJSON(c.w, 200, map[string]any{
		"ConcurrentAsyncGetReportInstances": mr(200, 200),
		"DailyApiRequests":                  mr(max, max-used),
		"DailyAsyncApexExecutions":          mr(250000, 250000),
		"DailyBulkApiBatches":               mr(15000, 15000),
		"DailyBulkV2QueryFileStorageMB":     mr(976562, 976562),
		"DailyBulkV2QueryJobs":              mr(10000, 10000),
		"DataStorageMB":                     mr(5, 5),
		"FileStorageMB":                     mr(20, 20),
	})
}

// readJSON decodes a request body, answering 400 JSON_PARSER_ERROR itself on failure.
func readJSON(c *apiCall, v any) bool {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxJSONBody))
	if err != nil {
		writeErr(c.w, http.StatusBadRequest, "JSON_PARSER_ERROR", "Unable to read request body")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		writeErr(c.w, http.StatusBadRequest, "JSON_PARSER_ERROR", "Unexpected character: was expecting a valid JSON value at [line:1, column:1] ("+err.Error()+")")
		return false
	}
	return true
}

// query --------------------------------------------------------------------------------------------

type locator struct {
	query    *soqlQuery
	records  []*record
	batch    int
	lastUsed time.Time
}

func batchSize(h string, def int) int {
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && strings.EqualFold(k, "batchSize") {
			n, err := strconv.Atoi(v)
			if err == nil {
				return min(max(n, 200), 2000)
			}
		}
	}
	return def
}

func (s *Server) handleQuery(c *apiCall, all bool) {
	q := c.r.URL.Query().Get("q")
	s.mu.Lock()
	defer s.mu.Unlock()
	sq, err := s.parseSOQL(q)
	if err != nil {
		writeErr(c.w, http.StatusBadRequest, err.code, err.msg)
		return
	}
	recs := s.run(sq, all)
	if sq.count {
		writeJSON(c.w, 200, map[string]any{"totalSize": len(recs), "done": true, "records": []any{}})
		return
	}
	batch := batchSize(c.r.Header.Get("Sforce-Query-Options"), s.opts.QueryBatchSize)
	loc := ""
	if len(recs) > batch {
		s.expireLocators()
		loc = "01g" + strings.TrimPrefix(s.newID("01g"), "01g")[:15]
		s.locators[loc] = &locator{query: sq, records: recs, batch: batch, lastUsed: s.now()}
	}
	s.writePage(c, sq, recs, 0, batch, loc)
}

func (s *Server) expireLocators() {
	cut := s.now().Add(-15 * time.Minute)
	for k, l := range s.locators {
		if l.lastUsed.Before(cut) {
			delete(s.locators, k)
		}
	}
}

func (s *Server) handleQueryMore(c *apiCall, ref string) {
	id, off, ok := strings.Cut(ref, "-")
	offset, err := strconv.Atoi(off)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocators()
	l := s.locators[id]
	if !ok || err != nil || l == nil || offset < 0 || offset > len(l.records) {
		writeErr(c.w, http.StatusBadRequest, "INVALID_QUERY_LOCATOR", "invalid query locator")
		return
	}
	l.lastUsed = s.now()
	s.writePage(c, l.query, l.records, offset, l.batch, id)
}

// writePage writes records[offset:offset+batch] as a query result page. The caller holds s.mu.
func (s *Server) writePage(c *apiCall, sq *soqlQuery, recs []*record, offset, batch int, loc string) {
	end := min(offset+batch, len(recs))
	var b bytes.Buffer
	b.WriteString(`{"totalSize":`)
	b.WriteString(strconv.Itoa(len(recs)))
	done := end >= len(recs)
	b.WriteString(`,"done":` + strconv.FormatBool(done))
	if !done {
		fmt.Fprintf(&b, `,"nextRecordsUrl":"%s/query/%s-%d"`, c.prefix(), loc, end)
	} else if loc != "" {
		delete(s.locators, loc)
	}
	b.WriteString(`,"records":[`)
	for i, r := range recs[offset:end] {
		if i > 0 {
			b.WriteByte(',')
		}
		s.renderRecord(&b, c.prefix(), sq.object, r, sq.fields)
	}
	b.WriteString("]}")
	writeRaw(c.w, 200, "application/json;charset=UTF-8", b.Bytes())
}

// renderRecord writes one record with its attributes and the given fields, in order.
func (s *Server) renderRecord(b *bytes.Buffer, prefix string, o *sobject, r *record, fields []*Field) {
	fmt.Fprintf(b, `{"attributes":{"type":"%s","url":"%s/sobjects/%s/%s"}`, o.name, prefix, o.name, r.id)
	for _, f := range fields {
		b.WriteString(`,"`)
		b.WriteString(f.Name)
		b.WriteString(`":`)
		v, _ := json.Marshal(wire(f, o.get(s, r, f.Name)))
		b.Write(v)
	}
	b.WriteByte('}')
}

// sobjects -----------------------------------------------------------------------------------------

func (s *Server) object(c *apiCall, name string) *sobject {
	for n, o := range s.objects {
		if strings.EqualFold(n, name) {
			return o
		}
	}
	writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	return nil
}

func (s *Server) dispatchSObjects(c *apiCall) {
	segs, m := c.segs, c.r.Method
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(segs) == 1 {
		if m != http.MethodGet {
			writeErr(c.w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "HTTP Method '"+m+"' not allowed. Allowed are GET")
			return
		}
		var list []map[string]any
		for _, name := range []string{"Account", "Contact", "Opportunity"} {
			o := s.objects[name]
			list = append(list, map[string]any{"name": o.name, "label": o.label, "labelPlural": o.plural, "keyPrefix": o.prefix,
				"custom": false, "createable": true, "updateable": true, "deletable": true, "queryable": true,
				"urls": map[string]string{"sobject": c.prefix() + "/sobjects/" + o.name, "describe": c.prefix() + "/sobjects/" + o.name + "/describe"}})
		}
		writeJSON(c.w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
		return
	}
	o := s.object(c, segs[1])
	if o == nil {
		return
	}
	switch {
	case len(segs) == 2 && m == http.MethodPost:
		s.createOne(c, o)
	case len(segs) == 2 && m == http.MethodGet:
		writeJSON(c.w, 200, map[string]any{"objectDescribe": map[string]any{"name": o.name, "label": o.label, "keyPrefix": o.prefix}, "recentItems": []any{}})
	case len(segs) == 3 && segs[2] == "describe" && m == http.MethodGet:
		writeJSON(c.w, 200, s.describe(c, o))
	case len(segs) == 3 && segs[2] == "deleted" && m == http.MethodGet:
		s.getDeleted(c, o)
	case len(segs) == 3:
		s.recordOne(c, o, segs[2])
	case len(segs) == 4:
		s.byExternalID(c, o, segs[2], segs[3])
	default:
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

type saveResult struct {
	ID      *string     `json:"id,omitempty"`
	Success bool        `json:"success"`
	Errors  []saveError `json:"errors"`
	Created *bool       `json:"created,omitempty"`
}

func okResult(id string) saveResult { return saveResult{ID: &id, Success: true, Errors: []saveError{}} }

func failResult(errs []saveError) saveResult { return saveResult{Errors: errs} }

func writeSaveErrors(w http.ResponseWriter, status int, errs []saveError) {
	out := make([]sfError, len(errs))
	for i, e := range errs {
		out[i] = sfError{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}
		if out[i].Fields == nil {
			out[i].Fields = []string{}
		}
	}
	writeJSON(w, status, out)
}

func (s *Server) createOne(c *apiCall, o *sobject) {
	var raw map[string]any
	if !readJSON(c, &raw) {
		return
	}
	vals, rerr := decodeFields(o, raw)
	if rerr != nil {
		writeErr(c.w, rerr.status, rerr.code, rerr.msg)
		return
	}
	id, errs := s.insert(o, vals, nil)
	if len(errs) > 0 {
		writeSaveErrors(c.w, http.StatusBadRequest, errs)
		return
	}
	writeJSON(c.w, http.StatusCreated, okResult(id))
}

func (s *Server) recordOne(c *apiCall, o *sobject, id string) {
	r, serr := s.lookup(o, id)
	if serr != nil {
		if serr.StatusCode == "ENTITY_IS_DELETED" && c.r.Method == http.MethodDelete {
			writeErr(c.w, http.StatusNotFound, "ENTITY_IS_DELETED", "entity is deleted")
			return
		}
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		fields, ok := s.fieldList(c, o)
		if !ok {
			return
		}
		var b bytes.Buffer
		s.renderRecord(&b, c.prefix(), o, r, fields)
		writeRaw(c.w, 200, "application/json;charset=UTF-8", b.Bytes())
	case http.MethodPatch:
		var raw map[string]any
		if !readJSON(c, &raw) {
			return
		}
		vals, rerr := decodeFields(o, raw)
		if rerr != nil {
			writeErr(c.w, rerr.status, rerr.code, rerr.msg)
			return
		}
		if errs := s.modify(o, r, vals, nil); len(errs) > 0 {
			writeSaveErrors(c.w, http.StatusBadRequest, errs)
			return
		}
		c.w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.remove(o, r, false, nil)
		c.w.WriteHeader(http.StatusNoContent)
	default:
		writeErr(c.w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "HTTP Method '"+c.r.Method+"' not allowed. Allowed are GET,PATCH,DELETE")
	}
}

// fieldList reads the fields query parameter (default: every field). It answers errors itself.
func (s *Server) fieldList(c *apiCall, o *sobject) ([]*Field, bool) {
	param := c.r.URL.Query().Get("fields")
	if param == "" {
		return o.fields, true
	}
	var out []*Field
	for _, name := range strings.Split(param, ",") {
		f := o.field(strings.TrimSpace(name))
		if f == nil {
			writeErr(c.w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", strings.TrimSpace(name), o.name))
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}

// matchExternal returns the live records whose external id field equals value (case-insensitive).
func (s *Server) matchExternal(o *sobject, f *Field, value string) []*record {
	if idx, ok := o.unique[f.Name]; ok && f.Unique {
		if id, ok := idx[strings.ToLower(value)]; ok {
			return []*record{o.records[id]}
		}
		return nil
	}
	var out []*record
	for _, r := range o.records {
		if v, ok := r.values[f.Name].(string); ok && !r.deleted && strings.EqualFold(v, value) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) byExternalID(c *apiCall, o *sobject, field, value string) {
	f := o.field(field)
	if f == nil || !f.ExternalID && f.Name != "Id" {
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+field)
		return
	}
	value, _ = url.PathUnescape(value)
	matches := s.matchExternal(o, f, value)
	if len(matches) > 1 {
		var urls []string
		for _, r := range matches {
			urls = append(urls, c.prefix()+"/sobjects/"+o.name+"/"+r.id)
		}
		writeJSON(c.w, http.StatusMultipleChoices, urls)
		return
	}
	switch c.r.Method {
	case http.MethodGet:
		if len(matches) == 0 {
			writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		var b bytes.Buffer
		s.renderRecord(&b, c.prefix(), o, matches[0], o.fields)
		writeRaw(c.w, 200, "application/json;charset=UTF-8", b.Bytes())
	case http.MethodPatch:
		var raw map[string]any
		if !readJSON(c, &raw) {
			return
		}
		vals, rerr := decodeFields(o, raw)
		if rerr != nil {
			writeErr(c.w, rerr.status, rerr.code, rerr.msg)
			return
		}
		if _, ok := vals[f.Name]; ok {
			writeErr(c.w, http.StatusBadRequest, "INVALID_FIELD", "The field "+f.Name+" is specified in the URL and in the request body. Specify it only in the URL.")
			return
		}
		res, code := s.upsertOne(o, f, value, vals, nil)
		if !res.Success {
			writeSaveErrors(c.w, http.StatusBadRequest, res.Errors)
			return
		}
		writeJSON(c.w, code, res)
	default:
		writeErr(c.w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "HTTP Method '"+c.r.Method+"' not allowed. Allowed are GET,PATCH")
	}
}

// upsertOne creates or updates the record whose external id field f equals value. The caller holds s.mu.
func (s *Server) upsertOne(o *sobject, f *Field, value string, vals map[string]any, undo *undoLog) (saveResult, int) {
	matches := s.matchExternal(o, f, value)
	if len(matches) > 1 {
		var ids []string
		for _, r := range matches {
			ids = append(ids, r.id)
		}
		return failResult([]saveError{{StatusCode: "DUPLICATE_EXTERNAL_ID",
			Message: fmt.Sprintf("%s: more than one record found for external id field: %v", f.Label, ids), Fields: []string{f.Name}}}), 300
	}
	if len(matches) == 1 {
		if errs := s.modify(o, matches[0], vals, undo); len(errs) > 0 {
			return failResult(errs), 400
		}
		res := okResult(matches[0].id)
		created := false
		res.Created = &created
		return res, http.StatusOK
	}
	vals[f.Name] = value
	id, errs := s.insert(o, vals, undo)
	if len(errs) > 0 {
		return failResult(errs), 400
	}
	res := okResult(id)
	created := true
	res.Created = &created
	return res, http.StatusCreated
}

// describe -----------------------------------------------------------------------------------------

func (s *Server) describe(c *apiCall, o *sobject) map[string]any {
	var fields []map[string]any
	for _, f := range o.fields {
		createable := !f.ReadOnly
		nillable := !f.Required && f.Type != "boolean" && f.Type != "id" && !(f.ReadOnly && f.Type == "datetime") && f.Name != "OwnerId"
		pv := []map[string]any{}
		for i, v := range f.Picklist {
			pv = append(pv, map[string]any{"active": true, "defaultValue": i == 0 && f.Name == "StageName", "label": v, "validFor": nil, "value": v})
		}
		var ref []string
		if f.Type == "reference" {
			ref = []string{referenceTo(f)}
			if f.Name == "MasterRecordId" {
				ref = []string{o.name}
			}
		} else {
			ref = []string{}
		}
		length := f.Length
		if !isText(f.Type) {
			length = 0
		}
		if f.Type == "id" || f.Type == "reference" {
			length = 18
		}
		fields = append(fields, map[string]any{
			"name": f.Name, "label": f.Label, "type": f.Type, "soapType": "xsd:" + soapType(f.Type),
			"length": length, "custom": strings.HasSuffix(f.Name, "__c"),
			"createable": createable, "updateable": createable, "nillable": nillable,
			"defaultedOnCreate": f.Defaulted || f.ReadOnly || f.Type == "boolean",
			"externalId":        f.ExternalID, "unique": f.Unique, "idLookup": f.ExternalID || f.Name == "Id" || f.Name == "Email",
			"filterable": f.Type != "textarea", "sortable": f.Type != "textarea" && f.Type != "multipicklist",
			"restrictedPicklist": f.Restricted, "picklistValues": pv, "referenceTo": ref,
			"calculated": f.Name == "Name" && o.name == "Contact", "autoNumber": false, "caseSensitive": false,
			"precision": map[bool]int{true: 18}[f.Type == "currency" || f.Type == "double" || f.Type == "percent"],
			"scale":     map[bool]int{true: 2}[f.Type == "currency"],
			"digits":    map[bool]int{true: 8}[f.Type == "int"],
		})
	}
	p := c.prefix() + "/sobjects/" + o.name
	return map[string]any{
		"name": o.name, "label": o.label, "labelPlural": o.plural, "keyPrefix": o.prefix, "custom": false,
		"createable": true, "updateable": true, "deletable": true, "queryable": true, "retrieveable": true,
		"searchable": true, "undeletable": true, "replicateable": true, "fields": fields,
		"urls": map[string]string{"sobject": p, "describe": p + "/describe", "rowTemplate": p + "/{ID}"},
	}
}

// getDeleted ---------------------------------------------------------------------------------------

func parseReplicationDate(v string) (time.Time, bool) {
	v = strings.ReplaceAll(v, " ", "+")
	return parseDateTime(v)
}

func (s *Server) getDeleted(c *apiCall, o *sobject) {
	q := c.r.URL.Query()
	start, ok1 := parseReplicationDate(q.Get("start"))
	end, ok2 := parseReplicationDate(q.Get("end"))
	if !ok1 || !ok2 {
		writeErr(c.w, http.StatusBadRequest, "INVALID_DATE_FORMAT", "start and end must be ISO 8601 date-times, e.g. 2026-05-05T00:00:00+00:00")
		return
	}
	s.expire(o)
	start, end = start.Truncate(time.Minute), end.Truncate(time.Minute)
	now := s.now()
	if !start.Before(end) {
		writeErr(c.w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate by more than one minute")
		return
	}
	day := now.Truncate(24 * time.Hour)
	if start.Before(day.Add(-s.opts.DeletedRetention)) {
		writeErr(c.w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", fmt.Sprintf("startDate cannot be more than %d days ago", int(s.opts.DeletedRetention/(24*time.Hour))))
		return
	}
	earliest := s.purgedAt[o.name]
	if !earliest.IsZero() && start.Before(earliest) {
		writeErr(c.w, http.StatusBadRequest, "INVALID_REPLICATION_DATE", "startDate is before the earliest date available for replication: "+fmtTime(earliest))
		return
	}
	covered := end
	if now.Truncate(time.Minute).Before(covered) {
		covered = now.Truncate(time.Minute)
	}
	var b bytes.Buffer
	b.WriteString(`{"deletedRecords":[`)
	first := true
	for _, e := range s.deleteLog[o.name] {
		if e.at.Before(start) || e.at.After(covered) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, `{"id":"%s","deletedDate":"%s"}`, e.id, fmtTime(e.at))
	}
	if earliest.IsZero() {
		earliest = now.Add(-s.opts.DeletedRetention).Truncate(time.Minute)
	}
	fmt.Fprintf(&b, `],"earliestDateAvailable":"%s","latestDateCovered":"%s"}`, fmtTime(earliest), fmtTime(covered))
	writeRaw(c.w, 200, "application/json;charset=UTF-8", b.Bytes())
}
