package salesforce

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// csvNull is Bulk API 2.0's "set this field to null"; an empty cell leaves the field unchanged.
const csvNull = "#N/A"

func csvCell(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return csvNull, nil
	case string:
		if x == "" {
			return csvNull, nil
		}
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	default:
		return "", fmt.Errorf("a %T value cannot go into a CSV cell", v)
	}
}

type jobInfo struct {
	ID                     string `json:"id"`
	State                  string `json:"state"`
	ErrorMessage           string `json:"errorMessage"`
	NumberRecordsProcessed int    `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int    `json:"numberRecordsFailed"`
}

// bulkWrite writes the records at idx through one Bulk API 2.0 ingest job: create the job, upload one
// CSV, close it, poll with exponential backoff until it ends, then read successfulResults and
// failedResults (and unprocessedrecords when some are missing) and map each row back to its input record
// by the columns it echoes. Records the job does not account for fail with a Transient error.
func (c *Connector) bulkWrite(ctx context.Context, object string, k writeKind, ext string, records []connectors.Record, idx []int, results []connectors.Result) error {
	operation := map[writeKind]string{kindCreate: "insert", kindUpdate: "update", kindUpsert: "upsert"}[k]
	op := fmt.Sprintf("bulk %s %s", operation, object)

	// Columns: Id first for updates, then every field any record carries, sorted.
	cols := map[string]bool{}
	for _, i := range idx {
		for f := range records[i].Fields {
			if !auditFields[f] {
				cols[f] = true
			}
		}
	}
	var header []string
	if k == kindUpdate {
		header = append(header, "Id")
	}
	for f := range cols {
		header = append(header, f)
	}
	sort.Strings(header[len(header)-len(cols):])

	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(header)
	pending := map[string][]int{} // echoed columns -> input indexes, first in first out
	row := make([]string, len(header))
	for _, i := range idx {
		r := records[i]
		bad := error(nil)
		for j, h := range header {
			if h == "Id" && k == kindUpdate {
				row[j] = r.ID
				continue
			}
			v, ok := r.Fields[h]
			if !ok {
				row[j] = ""
				continue
			}
			cell, err := csvCell(v)
			if err != nil {
				bad = fmt.Errorf("field %s: %w", h, err)
				break
			}
			row[j] = cell
		}
		if bad != nil {
			results[i] = connectors.Result{ID: r.ID, Err: &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: Provider, Op: op, Message: bad.Error()}}
			continue
		}
		_ = w.Write(row)
		key := strings.Join(row, "\x1f")
		pending[key] = append(pending[key], i)
	}
	w.Flush()
	if len(pending) == 0 {
		return nil
	}

	spec := map[string]any{"object": object, "operation": operation, "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA"}
	if k == kindUpsert {
		spec["externalIdFieldName"] = ext
	}
	body, _ := json.Marshal(spec)
	resp, err := c.do(ctx, transport.Request{Op: op + ": create job", Method: http.MethodPost, Path: "jobs/ingest", Body: body, Idempotent: true})
	if err != nil {
		return err
	}
	var job jobInfo
	if err := resp.DecodeJSON(&job); err != nil {
		return err
	}
	if job.ID == "" {
		return malformedPage(op, resp.Status, "the job info lacks an id")
	}
	jobPath := "jobs/ingest/" + job.ID
	if _, err := c.do(ctx, transport.Request{Op: op + ": upload", Method: http.MethodPut, Path: jobPath + "/batches",
		Header: http.Header{"Content-Type": {"text/csv"}}, Body: buf.Bytes()}); err != nil {
		c.abortJob(ctx, op, jobPath)
		return err
	}
	closeBody := []byte(`{"state":"UploadComplete"}`)
	if _, err := c.do(ctx, transport.Request{Op: op + ": close", Method: http.MethodPatch, Path: jobPath, Body: closeBody, Idempotent: true}); err != nil {
		// A retried close of a job that did close is refused; the job's state tells.
		if st, serr := c.jobState(ctx, op, jobPath); serr != nil || st.State == "Open" {
			c.abortJob(ctx, op, jobPath)
			return err
		}
	}
	job, err = c.waitJob(ctx, op, jobPath)
	if err != nil {
		return err
	}
	if job.State != "JobComplete" {
		msg := fmt.Sprintf("bulk job %s ended %s", job.ID, job.State)
		if job.ErrorMessage != "" {
			msg += ": " + job.ErrorMessage
		}
		for _, is := range pending {
			for _, i := range is {
				results[i] = connectors.Result{ID: records[i].ID, Err: &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: Provider, Op: op, Code: "BULK_JOB_" + strings.ToUpper(job.State), Message: msg}}
			}
		}
		return nil
	}
	files := []string{"successfulResults", "failedResults"}
	if job.NumberRecordsProcessed < len(idx) {
		files = append(files, "unprocessedrecords")
	}
	for _, f := range files {
		if err := c.readJobResults(ctx, op, jobPath, f, k, records, pending, results); err != nil {
			return err
		}
	}
	for _, is := range pending {
		for _, i := range is {
			results[i] = connectors.Result{ID: records[i].ID, Err: &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: op, Code: "NOT_REPORTED", Message: "the bulk job did not report this record: write it again"}}
		}
	}
	return nil
}

func (c *Connector) jobState(ctx context.Context, op, jobPath string) (jobInfo, error) {
	resp, err := c.do(ctx, transport.Request{Op: op + ": poll", Path: jobPath})
	if err != nil {
		return jobInfo{}, err
	}
	var job jobInfo
	if err := resp.DecodeJSON(&job); err != nil {
		return jobInfo{}, err
	}
	if job.State == "" {
		return jobInfo{}, malformedPage(op+": poll", resp.Status, "the job info lacks a state")
	}
	return job, nil
}

func (c *Connector) abortJob(ctx context.Context, op, jobPath string) {
	_, _ = c.do(context.WithoutCancel(ctx), transport.Request{Op: op + ": abort", Method: http.MethodPatch, Path: jobPath, Body: []byte(`{"state":"Aborted"}`), Idempotent: true})
}

// waitJob polls a closed job until it ends, waiting BulkPollInterval, then twice as long each time up to
// BulkPollMax, for at most BulkTimeout.
func (c *Connector) waitJob(ctx context.Context, op, jobPath string) (jobInfo, error) {
	deadline := c.cfg.Clock.Now().Add(c.cfg.BulkTimeout)
	wait := c.cfg.BulkPollInterval
	for {
		if err := c.cfg.Clock.Sleep(ctx, wait); err != nil {
			return jobInfo{}, &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: op, Message: "gave up waiting for the bulk job", Err: err}
		}
		job, err := c.jobState(ctx, op, jobPath)
		if err != nil {
			return jobInfo{}, err
		}
		switch job.State {
		case "JobComplete", "Failed", "Aborted":
			return job, nil
		}
		if c.cfg.Clock.Now().After(deadline) {
			return jobInfo{}, &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: op, Code: "BULK_TIMEOUT",
				Message: fmt.Sprintf("bulk job %s still %s after %s", job.ID, job.State, c.cfg.BulkTimeout)}
		}
		wait = min(2*wait, c.cfg.BulkPollMax)
	}
}

// readJobResults reads one result file and fills the results of the rows it reports.
func (c *Connector) readJobResults(ctx context.Context, op, jobPath, file string, k writeKind, records []connectors.Record, pending map[string][]int, results []connectors.Result) error {
	rop := op + ": " + file
	resp, err := c.do(ctx, transport.Request{Op: rop, Path: jobPath + "/" + file, Header: http.Header{"Accept": {"text/csv"}}})
	if err != nil {
		return err
	}
	rd := csv.NewReader(bytes.NewReader(resp.Body))
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		return &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: rop, Status: resp.Status, Code: "MALFORMED_RESPONSE", Message: "unreadable CSV results", Err: err}
	}
	if len(rows) == 0 {
		return nil
	}
	skip := 2
	if file == "unprocessedrecords" {
		skip = 0
	}
	for _, row := range rows[1:] {
		if len(row) < skip {
			return malformedPage(rop, resp.Status, "a result row is shorter than its header")
		}
		key := strings.Join(row[skip:], "\x1f")
		is := pending[key]
		if len(is) == 0 {
			continue
		}
		i := is[0]
		if len(is) == 1 {
			delete(pending, key)
		} else {
			pending[key] = is[1:]
		}
		switch file {
		case "successfulResults":
			results[i] = connectors.Result{ID: row[0], Created: k != kindUpdate && row[1] == "true"}
		case "failedResults":
			results[i] = connectors.Result{ID: records[i].ID, Err: bulkRowError(op, row[1])}
		default:
			results[i] = connectors.Result{ID: records[i].ID, Err: &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: op, Code: "UNPROCESSED", Message: "the bulk job did not process this record: write it again"}}
		}
	}
	return nil
}

// bulkRowError parses sf__Error, "CODE:message:field1,field2 --".
func bulkRowError(op, cell string) *crmerr.Error {
	cell = strings.TrimSuffix(strings.TrimSpace(cell), "--")
	cell = strings.TrimSpace(cell)
	code, rest, _ := strings.Cut(cell, ":")
	msg, fields := rest, ""
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		msg, fields = rest[:i], rest[i+1:]
	}
	var fl []string
	if f := strings.TrimSpace(fields); f != "" {
		fl = strings.Split(f, ",")
	}
	return recordError(op, apiError{ErrorCode: code, Message: msg, Fields: fl})
}
