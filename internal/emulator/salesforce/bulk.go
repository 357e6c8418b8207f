package salesforce

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const maxBulkUpload = 150 << 20

type bulkJob struct {
	id, object, operation, extField, lineEnding, delimiter, state, errMsg string
	created, modstamp                                                     time.Time
	closedAt                                                              time.Time // real time of UploadComplete
	header                                                                []string
	rows                                                                  [][]string
	success, failed, unprocessed                                          [][]string
	processed, failedCount                                                int
	timer                                                                 *time.Timer
}

var delimiters = map[string]rune{"COMMA": ',', "TAB": '\t', "PIPE": '|', "SEMICOLON": ';', "CARET": '^', "BACKQUOTE": '`'}

func (s *Server) jobInfo(c *apiCall, j *bulkJob, full bool) map[string]any {
	v, _ := strconv.ParseFloat(strings.TrimPrefix(c.version, "v"), 64)
	info := map[string]any{
		"id": j.id, "operation": j.operation, "object": j.object, "createdById": s.creds.UserID,
		"createdDate": fmtTime(j.created), "systemModstamp": fmtTime(j.modstamp), "state": j.state,
		"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": v,
		"contentUrl": strings.TrimPrefix(c.prefix(), "/") + "/jobs/ingest/" + j.id + "/batches",
		"lineEnding": j.lineEnding, "columnDelimiter": j.delimiter,
	}
	if j.extField != "" {
		info["externalIdFieldName"] = j.extField
	}
	if full {
		info["jobType"] = "V2Ingest"
		info["retries"] = 0
		info["numberRecordsProcessed"] = j.processed
		info["numberRecordsFailed"] = j.failedCount
		ms := int(j.processed / 10)
		info["totalProcessingTime"] = ms
		info["apiActiveProcessingTime"] = ms
		info["apexProcessingTime"] = 0
		if j.errMsg != "" {
			info["errorMessage"] = j.errMsg
		}
	}
	return info
}

func (s *Server) dispatchBulk(c *apiCall) {
	segs, m := c.segs, c.r.Method
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(segs) == 2 {
		switch m {
		case http.MethodPost:
			s.createJob(c)
		case http.MethodGet:
			var list []map[string]any
			ids := make([]string, 0, len(s.jobs))
			for id := range s.jobs {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				list = append(list, s.jobInfo(c, s.jobs[id], false))
			}
			writeJSON(c.w, 200, map[string]any{"done": true, "records": list, "nextRecordsUrl": nil})
		default:
			writeErr(c.w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "HTTP Method '"+m+"' not allowed. Allowed are GET,POST")
		}
		return
	}
	j := s.jobs[segs[2]]
	if j == nil {
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	s.advance(j)
	switch {
	case len(segs) == 3 && m == http.MethodGet:
		writeJSON(c.w, 200, s.jobInfo(c, j, true))
	case len(segs) == 3 && m == http.MethodPatch:
		s.changeJobState(c, j)
	case len(segs) == 3 && m == http.MethodDelete:
		switch j.state {
		case "UploadComplete", "InProgress":
			writeErr(c.w, http.StatusBadRequest, "INVALIDJOBSTATE", "Job isn't in a terminal state: "+j.state)
		default:
			delete(s.jobs, j.id)
			c.w.WriteHeader(http.StatusNoContent)
		}
	case len(segs) == 4 && segs[3] == "batches" && m == http.MethodPut:
		s.uploadJobData(c, j)
	case len(segs) == 4 && m == http.MethodGet && (segs[3] == "successfulResults" || segs[3] == "failedResults" || segs[3] == "unprocessedrecords"):
		s.jobResults(c, j, segs[3])
	default:
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func (s *Server) createJob(c *apiCall) {
	var req struct {
		Object              string `json:"object"`
		Operation           string `json:"operation"`
		ExternalIDFieldName string `json:"externalIdFieldName"`
		ContentType         string `json:"contentType"`
		LineEnding          string `json:"lineEnding"`
		ColumnDelimiter     string `json:"columnDelimiter"`
	}
	if !readJSON(c, &req) {
		return
	}
	var o *sobject
	for n, so := range s.objects {
		if strings.EqualFold(n, req.Object) {
			o = so
		}
	}
	if o == nil {
		writeErr(c.w, http.StatusBadRequest, "INVALIDENTITY", "Entity '"+req.Object+"' is not supported by the Bulk API.")
		return
	}
	switch req.Operation {
	case "insert", "update", "upsert", "delete", "hardDelete":
	default:
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "InvalidJob : Invalid job operation: "+req.Operation)
		return
	}
	if req.Operation == "upsert" {
		f := o.field(req.ExternalIDFieldName)
		if req.ExternalIDFieldName == "" || f == nil || !f.ExternalID && f.Name != "Id" {
			writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "External ID was blank for "+o.name+". An External ID must be specified for upsert.")
			return
		}
		req.ExternalIDFieldName = f.Name
	}
	if req.ContentType == "" {
		req.ContentType = "CSV"
	}
	if req.ContentType != "CSV" {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "InvalidJob : Invalid content type: "+req.ContentType)
		return
	}
	if req.LineEnding == "" {
		req.LineEnding = "LF"
	}
	if req.LineEnding != "LF" && req.LineEnding != "CRLF" {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "InvalidJob : Invalid line ending: "+req.LineEnding)
		return
	}
	if req.ColumnDelimiter == "" {
		req.ColumnDelimiter = "COMMA"
	}
	if _, ok := delimiters[req.ColumnDelimiter]; !ok {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "InvalidJob : Invalid column delimiter: "+req.ColumnDelimiter)
		return
	}
	now := s.now()
	j := &bulkJob{id: s.newID("750"), object: o.name, operation: req.Operation, extField: req.ExternalIDFieldName,
		lineEnding: req.LineEnding, delimiter: req.ColumnDelimiter, state: "Open", created: now, modstamp: now}
	s.jobs[j.id] = j
	writeJSON(c.w, http.StatusOK, s.jobInfo(c, j, false))
}

func (s *Server) uploadJobData(c *apiCall, j *bulkJob) {
	if j.state != "Open" {
		writeErr(c.w, http.StatusConflict, "INVALIDJOBSTATE", "Job's state must be Open to upload data; it is "+j.state)
		return
	}
	if ct := c.r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "Unsupported Content-Type "+ct+": use text/csv")
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBulkUpload+1))
	if err != nil {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "Unable to read job data")
		return
	}
	if len(body) > maxBulkUpload {
		writeErr(c.w, http.StatusRequestEntityTooLarge, "EXCEEDED_QUOTA", "Job data exceeds the 150 MB limit")
		return
	}
	rd := csv.NewReader(bytes.NewReader(body))
	rd.Comma = delimiters[j.delimiter]
	rd.FieldsPerRecord = 0
	all, err := rd.ReadAll()
	if err != nil {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "ClientInputError : Failed to parse CSV: "+err.Error())
		return
	}
	if len(all) == 0 {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "ClientInputError : Job data is empty")
		return
	}
	if j.header == nil {
		j.header = all[0]
	} else if strings.Join(j.header, "\x00") != strings.Join(all[0], "\x00") {
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOB", "ClientInputError : Every upload of a job must have the same header row")
		return
	}
	j.rows = append(j.rows, all[1:]...)
	j.modstamp = s.now()
	c.w.WriteHeader(http.StatusCreated)
}

func (s *Server) changeJobState(c *apiCall, j *bulkJob) {
	var req struct {
		State string `json:"state"`
	}
	if !readJSON(c, &req) {
		return
	}
	switch {
	case req.State == "UploadComplete" && j.state == "Open":
		j.state = "UploadComplete"
		j.closedAt = time.Now()
		j.modstamp = s.now()
		delay := s.opts.BulkProcessingDelay
		j.timer = time.AfterFunc(2*delay+time.Millisecond, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.advance(j)
		})
	case req.State == "Aborted" && (j.state == "Open" || j.state == "UploadComplete" || j.state == "InProgress"):
		j.state = "Aborted"
		j.modstamp = s.now()
		if j.timer != nil {
			j.timer.Stop()
		}
		j.unprocessed = append(j.unprocessed, j.rows...)
	default:
		writeErr(c.w, http.StatusBadRequest, "INVALIDJOBSTATE", "Invalid state transition from "+j.state+" to "+req.State)
		return
	}
	writeJSON(c.w, http.StatusOK, s.jobInfo(c, j, false))
}

// advance moves a closed job through InProgress to JobComplete as its processing delay elapses. The
// caller holds s.mu.
func (s *Server) advance(j *bulkJob) {
	if j.state != "UploadComplete" && j.state != "InProgress" {
		return
	}
	elapsed := time.Since(j.closedAt)
	delay := s.opts.BulkProcessingDelay
	if elapsed >= delay && j.state == "UploadComplete" {
		j.state = "InProgress"
		j.modstamp = s.now()
	}
	if elapsed >= 2*delay && j.state == "InProgress" {
		s.process(j)
	}
}

func sfErrorCell(e saveError) string {
	return e.StatusCode + ":" + e.Message + ":" + strings.Join(e.Fields, ",") + " --"
}

// process applies a job's rows. The caller holds s.mu.
func (s *Server) process(j *bulkJob) {
	o := s.objects[j.object]
	j.modstamp = s.now()
	if len(j.rows) == 0 && j.header == nil {
		j.state, j.errMsg = "Failed", "InvalidBatch : No data was uploaded for this job"
		return
	}
	fields := make([]*Field, len(j.header))
	idCol := -1
	for i, h := range j.header {
		f := o.field(strings.TrimSpace(h))
		if f == nil {
			j.state, j.errMsg = "Failed", "InvalidBatch : Field name not found : "+h
			j.unprocessed = append(j.unprocessed, j.rows...)
			return
		}
		fields[i] = f
		if f.Name == "Id" {
			idCol = i
		}
	}
	for _, row := range j.rows {
		id, created, errs := s.processRow(o, j, fields, idCol, row)
		if len(errs) > 0 {
			j.failed = append(j.failed, append([]string{id, sfErrorCell(errs[0])}, row...))
			j.failedCount++
		} else {
			j.success = append(j.success, append([]string{id, strconv.FormatBool(created)}, row...))
		}
		j.processed++
	}
	if s.opts.BulkShuffleResults {
		s.rnd.Shuffle(len(j.success), func(a, b int) { j.success[a], j.success[b] = j.success[b], j.success[a] })
		s.rnd.Shuffle(len(j.failed), func(a, b int) { j.failed[a], j.failed[b] = j.failed[b], j.failed[a] })
	}
	j.state = "JobComplete"
}

func (s *Server) processRow(o *sobject, j *bulkJob, fields []*Field, idCol int, row []string) (string, bool, []saveError) {
	if len(row) != len(fields) {
		return "", false, []saveError{{StatusCode: "INVALID_FIELD", Message: fmt.Sprintf("Row has %d columns, header has %d", len(row), len(fields)), Fields: []string{}}}
	}
	id := ""
	if idCol >= 0 {
		id = row[idCol]
	}
	switch j.operation {
	case "delete", "hardDelete":
		if id == "" {
			return "", false, []saveError{{StatusCode: "MISSING_ARGUMENT", Message: "Id not specified in a delete call", Fields: []string{}}}
		}
		r, serr := s.lookup(o, id)
		if serr != nil {
			return id, false, []saveError{*serr}
		}
		s.remove(o, r, j.operation == "hardDelete", nil)
		return r.id, false, nil
	}
	vals := map[string]any{}
	for i, f := range fields {
		cell := row[i]
		if f.Name == "Id" || cell == "" {
			continue
		}
		if cell == "#N/A" {
			vals[f.Name] = nil
			continue
		}
		v, msg := coerce(f, cell)
		if msg != "" {
			return id, false, []saveError{{StatusCode: "INVALID_TYPE_ON_FIELD_IN_RECORD", Message: fmt.Sprintf("%s: value not of required type: %s", f.Label, cell), Fields: []string{f.Name}}}
		}
		vals[f.Name] = v
	}
	switch j.operation {
	case "insert":
		if id != "" {
			return "", false, []saveError{{StatusCode: "INVALID_FIELD", Message: "cannot specify Id in an insert call", Fields: []string{"Id"}}}
		}
		nid, errs := s.insert(o, vals, nil)
		return nid, true, errs
	case "update":
		if id == "" {
			return "", false, []saveError{{StatusCode: "MISSING_ARGUMENT", Message: "Id not specified in an update call", Fields: []string{}}}
		}
		r, serr := s.lookup(o, id)
		if serr != nil {
			return id, false, []saveError{*serr}
		}
		return r.id, false, s.modify(o, r, vals, nil)
	default: // upsert
		f := o.field(j.extField)
		if f.Name == "Id" {
			if id == "" {
				nid, errs := s.insert(o, vals, nil)
				return nid, true, errs
			}
			r, serr := s.lookup(o, id)
			if serr != nil {
				return id, false, []saveError{*serr}
			}
			return r.id, false, s.modify(o, r, vals, nil)
		}
		v, _ := vals[f.Name].(string)
		if v == "" {
			return "", false, []saveError{{StatusCode: "MISSING_ARGUMENT", Message: f.Name + " not specified", Fields: []string{}}}
		}
		delete(vals, f.Name)
		res, _ := s.upsertOne(o, f, v, vals, nil)
		if !res.Success {
			return "", false, res.Errors
		}
		return *res.ID, *res.Created, nil
	}
}

func writeCSVRow(b *bytes.Buffer, row []string, eol string) {
	for i, v := range row {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(v, `"`, `""`))
		b.WriteByte('"')
	}
	b.WriteString(eol)
}

func (s *Server) jobResults(c *apiCall, j *bulkJob, kind string) {
	if kind != "unprocessedrecords" && j.state != "JobComplete" && j.state != "Failed" && j.state != "Aborted" {
		writeErr(c.w, http.StatusConflict, "INVALIDJOBSTATE", "Job isn't complete: its state is "+j.state)
		return
	}
	eol := "\n"
	if j.lineEnding == "CRLF" {
		eol = "\r\n"
	}
	var b bytes.Buffer
	var rows [][]string
	switch kind {
	case "successfulResults":
		writeCSVRow(&b, append([]string{"sf__Id", "sf__Created"}, j.header...), eol)
		rows = j.success
	case "failedResults":
		writeCSVRow(&b, append([]string{"sf__Id", "sf__Error"}, j.header...), eol)
		rows = j.failed
	default:
		if j.header != nil {
			writeCSVRow(&b, j.header, eol)
		}
		rows = j.unprocessed
	}
	for _, row := range rows {
		writeCSVRow(&b, row, eol)
	}
	writeRaw(c.w, http.StatusOK, "text/csv", b.Bytes())
}
