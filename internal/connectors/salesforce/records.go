package salesforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// auditFields are maintained by Salesforce and never written: Upsert leaves them out of the request so
// that a record read from Changes or Get can be written back as it is.
var auditFields = map[string]bool{
	"Id": true, "attributes": true, "IsDeleted": true, "CreatedDate": true, "CreatedById": true,
	"LastModifiedDate": true, "LastModifiedById": true, "SystemModstamp": true,
}

type describeField struct {
	Name              string `json:"name"`
	Label             string `json:"label"`
	Type              string `json:"type"`
	Createable        bool   `json:"createable"`
	Updateable        bool   `json:"updateable"`
	Nillable          bool   `json:"nillable"`
	DefaultedOnCreate bool   `json:"defaultedOnCreate"`
	Custom            bool   `json:"custom"`
	ExternalID        bool   `json:"externalId"`
	PicklistValues    []struct {
		Value  string `json:"value"`
		Active bool   `json:"active"`
	} `json:"picklistValues"`
}

// Describe returns the live field metadata of object: ReadOnly when the field is neither createable nor
// updateable, Required when it is createable, not nillable and not defaulted on create, and Options from
// the active picklist values. The answer is cached for the connector's life.
func (c *Connector) Describe(ctx context.Context, object string) (connectors.ObjectMeta, error) {
	c.mu.Lock()
	m, ok := c.describe[object]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	op := opName("describe", object)
	resp, err := c.do(ctx, transport.Request{Op: op, Path: "sobjects/" + url.PathEscape(object) + "/describe"})
	if err != nil {
		return connectors.ObjectMeta{}, err
	}
	var d struct {
		Name   string           `json:"name"`
		Fields *[]describeField `json:"fields"`
	}
	if err := resp.DecodeJSON(&d); err != nil {
		return connectors.ObjectMeta{}, err
	}
	if d.Fields == nil || d.Name == "" {
		return connectors.ObjectMeta{}, malformedPage(op, resp.Status, "the describe result lacks name or fields: unexpected response shape")
	}
	m = connectors.ObjectMeta{Name: d.Name}
	for _, f := range *d.Fields {
		fm := connectors.FieldMeta{Name: f.Name, Label: f.Label, Type: f.Type, Custom: f.Custom, UpsertKey: f.ExternalID,
			ReadOnly: !f.Createable && !f.Updateable,
			Required: f.Createable && !f.Nillable && !f.DefaultedOnCreate}
		for _, p := range f.PicklistValues {
			if p.Active {
				fm.Options = append(fm.Options, p.Value)
			}
		}
		m.Fields = append(m.Fields, fm)
	}
	c.mu.Lock()
	c.describe[object] = m
	c.mu.Unlock()
	return m, nil
}

// readFields returns the fields to read: want plus must, or every field of object when want is empty.
func (c *Connector) readFields(ctx context.Context, object string, want []string, must ...string) ([]string, error) {
	if len(want) == 0 {
		m, err := c.Describe(ctx, object)
		if err != nil {
			return nil, err
		}
		for _, f := range m.Fields {
			want = append(want, f.Name)
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range append(append([]string{}, must...), want...) {
		if k := strings.ToLower(f); !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out, nil
}

// Get reads records by id through sObject Collections, 200 ids a call. Ids that do not exist (or are in
// the recycle bin) are left out.
func (c *Connector) Get(ctx context.Context, object string, ids []string, fields []string) ([]connectors.Record, error) {
	op := opName("get", object)
	fields, err := c.readFields(ctx, object, fields, "Id", "SystemModstamp")
	if err != nil {
		return nil, err
	}
	var out []connectors.Record
	for start := 0; start < len(ids); start += MaxCollection {
		chunk := ids[start:min(start+MaxCollection, len(ids))]
		q := url.Values{"ids": {strings.Join(chunk, ",")}, "fields": {strings.Join(fields, ",")}}
		resp, err := c.do(ctx, transport.Request{Op: op, Path: "composite/sobjects/" + url.PathEscape(object), Query: q})
		if err != nil {
			return out, err
		}
		var raws []map[string]any
		if err := resp.DecodeJSON(&raws); err != nil {
			return out, err
		}
		if len(raws) != len(chunk) {
			return out, malformedPage(op, resp.Status, fmt.Sprintf("asked for %d ids, got %d answers", len(chunk), len(raws)))
		}
		for _, raw := range raws {
			if raw == nil {
				continue
			}
			r, err := toRecord(op, raw)
			if err != nil {
				return out, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

type saveResult struct {
	ID      string      `json:"id"`
	Success *bool       `json:"success"`
	Errors  []saveError `json:"errors"`
	Created *bool       `json:"created"`
}

// saveError is one error of a SaveResult; it names its code statusCode, unlike the REST error array.
type saveError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// firstError returns a failed SaveResult's first error in the REST error shape.
func (s saveResult) firstError() apiError {
	if len(s.Errors) == 0 {
		return apiError{ErrorCode: "UNKNOWN_EXCEPTION", Message: "Salesforce reported a failure without an error"}
	}
	e := s.Errors[0]
	return apiError{ErrorCode: e.StatusCode, Message: e.Message, Fields: e.Fields}
}

// writeKind is how one record is written.
type writeKind int

const (
	kindCreate writeKind = iota // no id, no external id: POST
	kindUpdate                  // id: PATCH
	kindUpsert                  // external id: PATCH /{SObject}/{ExtIdField}
)

func classifyWrite(r connectors.Record, ext string) writeKind {
	switch {
	case r.ID != "":
		return kindUpdate
	case ext != "":
		if v, ok := r.Fields[ext]; ok && v != nil && v != "" {
			return kindUpsert
		}
	}
	return kindCreate
}

// Upsert writes records: with an ID they are updated, without one they are upserted by
// opts.ExternalIDField when the record carries it, otherwise created. Audit fields (Id, SystemModstamp,
// CreatedDate, ...) are never sent. Up to Config.BulkThreshold records go through sObject Collections, 200
// a call with allOrNone=false; more go through one Bulk API 2.0 job per kind of write. Results come in
// input order. Updates and external-id upserts are safe to retry; creates are not retried after they may
// have reached Salesforce.
func (c *Connector) Upsert(ctx context.Context, object string, records []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	groups := map[writeKind][]int{}
	for i, r := range records {
		k := classifyWrite(r, opts.ExternalIDField)
		groups[k] = append(groups[k], i)
	}
	results := make([]connectors.Result, len(records))
	bulk := c.cfg.BulkThreshold >= 0 && len(records) > c.cfg.BulkThreshold
	for _, k := range []writeKind{kindUpdate, kindUpsert, kindCreate} {
		idx := groups[k]
		if len(idx) == 0 {
			continue
		}
		var err error
		if bulk {
			err = c.bulkWrite(ctx, object, k, opts.ExternalIDField, records, idx, results)
		} else {
			err = c.collectionWrite(ctx, object, k, opts.ExternalIDField, records, idx, results)
		}
		if err != nil {
			return knownPrefix(results), err
		}
	}
	return results, nil
}

// knownPrefix trims results, when a whole call failed, to the longest prefix of records whose outcome is
// known, so that len(results) tells how many were attempted.
func knownPrefix(results []connectors.Result) []connectors.Result {
	n := 0
	for n < len(results) && (results[n].ID != "" || results[n].Err != nil) {
		n++
	}
	return results[:n]
}

// body builds the JSON of one record for a collection write.
func writeBody(object string, r connectors.Record, k writeKind) map[string]any {
	m := make(map[string]any, len(r.Fields)+2)
	for f, v := range r.Fields {
		if !auditFields[f] {
			m[f] = v
		}
	}
	m["attributes"] = map[string]string{"type": object}
	if k == kindUpdate {
		m["id"] = r.ID
	}
	return m
}

// collectionWrite writes the records at idx through sObject Collections and fills their results. A call
// rejected as a whole for its content (400) fails each of its records with that error; any other whole-call
// failure is returned.
func (c *Connector) collectionWrite(ctx context.Context, object string, k writeKind, ext string, records []connectors.Record, idx []int, results []connectors.Result) error {
	op := opName("upsert", object)
	req := transport.Request{Op: op, Method: http.MethodPatch, Path: "composite/sobjects", Idempotent: true}
	switch k {
	case kindCreate:
		op = opName("create", object)
		req = transport.Request{Op: op, Method: http.MethodPost, Path: "composite/sobjects"}
	case kindUpdate:
		op = opName("update", object)
		req.Op = op
	case kindUpsert:
		req.Path = "composite/sobjects/" + url.PathEscape(object) + "/" + url.PathEscape(ext)
	}
	for start := 0; start < len(idx); start += MaxCollection {
		chunk := idx[start:min(start+MaxCollection, len(idx))]
		recs := make([]map[string]any, len(chunk))
		for j, i := range chunk {
			recs[j] = writeBody(object, records[i], k)
		}
		body, err := json.Marshal(map[string]any{"allOrNone": false, "records": recs})
		if err != nil {
			for _, i := range chunk {
				results[i] = connectors.Result{ID: records[i].ID, Err: &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: Provider, Op: op, Message: "a field value cannot be encoded as JSON", Err: err}}
			}
			continue
		}
		req.Body = body
		resp, err := c.do(ctx, req)
		if err != nil {
			if crmerr.Is(err, crmerr.InvalidRecord) || crmerr.Is(err, crmerr.Permanent) && isContentError(err) {
				for _, i := range chunk {
					results[i] = connectors.Result{ID: records[i].ID, Err: err}
				}
				continue
			}
			return err
		}
		var saved []saveResult
		if err := resp.DecodeJSON(&saved); err != nil {
			return err
		}
		if len(saved) != len(chunk) {
			return malformedPage(op, resp.Status, fmt.Sprintf("sent %d records, got %d SaveResults", len(chunk), len(saved)))
		}
		for j, i := range chunk {
			results[i] = saveToResult(op, records[i], k, saved[j])
		}
	}
	return nil
}

// isContentError tells a 400 about the request's records (unknown field, bad JSON value) from one about
// the connection's configuration.
func isContentError(err error) bool {
	var ce *crmerr.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest {
		return false
	}
	return ce.Code == "INVALID_FIELD" || ce.Code == "JSON_PARSER_ERROR" || ce.Code == "INVALID_TYPE"
}

func saveToResult(op string, r connectors.Record, k writeKind, s saveResult) connectors.Result {
	res := connectors.Result{ID: s.ID}
	if res.ID == "" {
		res.ID = r.ID
	}
	if s.Success == nil {
		res.Err = malformedPage(op, http.StatusOK, "a SaveResult without success")
		return res
	}
	if !*s.Success {
		res.Err = recordError(op, s.firstError())
		return res
	}
	switch k {
	case kindCreate:
		res.Created = true
	case kindUpsert:
		res.Created = s.Created != nil && *s.Created
	}
	return res
}

// Delete moves records to the recycle bin through sObject Collections, 200 ids a call with
// allOrNone=false. A record already deleted (ENTITY_IS_DELETED) or unknown (INVALID_CROSS_REFERENCE_KEY)
// counts as deleted. Deleting is safe to retry.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	op := opName("delete", object)
	results := make([]connectors.Result, 0, len(ids))
	for start := 0; start < len(ids); start += MaxCollection {
		chunk := ids[start:min(start+MaxCollection, len(ids))]
		q := url.Values{"ids": {strings.Join(chunk, ",")}, "allOrNone": {"false"}}
		resp, err := c.do(ctx, transport.Request{Op: op, Method: http.MethodDelete, Path: "composite/sobjects", Query: q})
		if err != nil {
			return results, err
		}
		var saved []saveResult
		if err := resp.DecodeJSON(&saved); err != nil {
			return results, err
		}
		if len(saved) != len(chunk) {
			return results, malformedPage(op, resp.Status, fmt.Sprintf("sent %d ids, got %d results", len(chunk), len(saved)))
		}
		for j, id := range chunk {
			s := saved[j]
			res := connectors.Result{ID: id}
			if s.Success == nil {
				res.Err = malformedPage(op, resp.Status, "a delete result without success")
			} else if !*s.Success {
				e := s.firstError()
				if e.ErrorCode != "ENTITY_IS_DELETED" && e.ErrorCode != "INVALID_CROSS_REFERENCE_KEY" {
					res.Err = recordError(op, e)
				}
			}
			results = append(results, res)
		}
	}
	return results, nil
}
