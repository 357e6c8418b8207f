package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// writeKind is the batch endpoint a record goes to.
type writeKind int

const (
	kindUpdate writeKind = iota // has an id: batch/update
	kindUpsert                  // no id, ExternalIDField set: batch/upsert with idProperty
	kindCreate                  // neither: batch/create
)

func (k writeKind) verb() string {
	return [...]string{"update", "upsert", "create"}[k]
}

// item is one record on its way into a batch.
type item struct {
	idx   int    // position in the caller's records
	key   string // what must be unique within a batch (id, idProperty value, contact email); "" for none
	id    string // record id (update) or idProperty value (upsert)
	props map[string]string
}

// writer is one Upsert call.
type writer struct {
	c       *Connector
	object  string
	path    string
	idProp  string
	results []connectors.Result
	done    []bool
}

// maxRecoveries bounds how often one create batch is checked and resent after a transient failure.
const maxRecoveries = 3

// Upsert writes records in batches of 100: records with an ID through batch/update, records without one
// through batch/upsert keyed by opts.ExternalIDField when it is set (a retry cannot duplicate), and
// through batch/create otherwise.
//
// Batch creates ask for multi-status answers (an objectWriteTraceId per input), so one invalid record
// fails alone. A batch that HubSpot rejects as a whole (a 409 for a duplicate email, a 400) is narrowed
// down: for contacts, one batch/read by email finds the duplicates, which fail with CONFLICT naming the
// existing id, and the rest is resent; otherwise the batch is split in halves until the bad record stands
// alone. Results are matched to inputs by objectWriteTraceId, id or email, never by position: HubSpot
// does not keep the input order. A contacts create that fails transiently (5xx, dropped connection) is
// checked by email before it is resent, so it cannot create a contact twice.
//
// Values go over the wire as strings: numbers and booleans are formatted, multi-select slices joined with
// ";", and nil clears the property (""). When the whole call fails, the error is returned and every record
// not written carries it in its Result; the records written before keep their ids.
func (c *Connector) Upsert(ctx context.Context, object string, records []connectors.Record, opts connectors.UpsertOptions) ([]connectors.Result, error) {
	op := "upsert " + object
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	path, err := c.objectPath(op, object)
	if err != nil {
		return nil, err
	}
	w := &writer{c: c, object: object, path: path, idProp: opts.ExternalIDField,
		results: make([]connectors.Result, len(records)), done: make([]bool, len(records))}
	groups := make([][]item, 3)
	for i, r := range records {
		kind, it, rerr := w.prepare(i, r)
		if rerr != nil {
			w.fail(i, rerr)
			continue
		}
		groups[kind] = append(groups[kind], it)
	}
	for kind, items := range groups {
		for _, batch := range chunk(items) {
			if err := w.send(ctx, writeKind(kind), batch, 0); err != nil {
				return w.abort(err)
			}
		}
	}
	return w.results, nil
}

// prepare sorts a record into its batch kind and converts its values.
func (w *writer) prepare(i int, r connectors.Record) (writeKind, item, *crmerr.Error) {
	kind := kindCreate
	switch {
	case r.ID != "":
		kind = kindUpdate
	case w.idProp != "":
		kind = kindUpsert
	}
	invalid := func(field, msg string) *crmerr.Error {
		return &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: Provider, Op: kind.verb() + " " + w.object, Field: field, Message: msg}
	}
	skip := ""
	if kind == kindUpsert {
		skip = w.idProp
	}
	props, field, err := wireProperties(r.Fields, skip)
	if err != nil {
		return kind, item{}, invalid(field, err.Error())
	}
	it := item{idx: i, props: props}
	switch kind {
	case kindUpdate:
		if _, err := strconv.ParseUint(r.ID, 10, 64); err != nil {
			e := invalid("", "HubSpot ids are numbers; "+strconv.Quote(truncate(r.ID, 40))+" cannot be one")
			e.Code = "OBJECT_NOT_FOUND"
			return kind, item{}, e
		}
		it.id, it.key = r.ID, r.ID
	case kindUpsert:
		v, err := wireValue(r.Fields[w.idProp])
		if err != nil || strings.TrimSpace(v) == "" {
			return kind, item{}, invalid(w.idProp, "the record has no value for the upsert key "+w.idProp)
		}
		it.id, it.key = v, strings.ToLower(v)
	case kindCreate:
		if isContacts(w.object) {
			it.key = strings.ToLower(props["email"])
		}
	}
	return kind, it, nil
}

// chunk splits items into batches of at most MaxBatch with unique keys, keeping their order: a record
// whose key repeats starts a new batch, so the later write lands after the earlier one.
func chunk(items []item) [][]item {
	var out [][]item
	var cur []item
	keys := map[string]bool{}
	for _, it := range items {
		if len(cur) == MaxBatch || (it.key != "" && keys[it.key]) {
			out = append(out, cur)
			cur, keys = nil, map[string]bool{}
		}
		cur = append(cur, it)
		if it.key != "" {
			keys[it.key] = true
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func (w *writer) fail(i int, err error) {
	w.results[i] = connectors.Result{Err: err}
	w.done[i] = true
}

func (w *writer) succeed(i int, id string, created bool) {
	w.results[i] = connectors.Result{ID: id, Created: created}
	w.done[i] = true
}

// abort gives every record not written the whole call's error.
func (w *writer) abort(err error) ([]connectors.Result, error) {
	for i := range w.results {
		if !w.done[i] {
			w.results[i] = connectors.Result{Err: err}
		}
	}
	return w.results, err
}

type batchInput struct {
	ID                 string            `json:"id,omitempty"`
	IDProperty         string            `json:"idProperty,omitempty"`
	Properties         map[string]string `json:"properties"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId"`
}

// send writes one batch and records its results. It returns an error only when the whole call failed.
func (w *writer) send(ctx context.Context, kind writeKind, items []item, recoveries int) error {
	if len(items) == 0 {
		return nil
	}
	op := kind.verb() + " " + w.object
	inputs := make([]batchInput, len(items))
	for i, it := range items {
		inputs[i] = batchInput{Properties: it.props, ObjectWriteTraceID: strconv.Itoa(i)}
		switch kind {
		case kindUpdate:
			inputs[i].ID = it.id
		case kindUpsert:
			inputs[i].ID, inputs[i].IDProperty = it.id, w.idProp
		}
	}
	body, err := json.Marshal(map[string]any{"inputs": inputs})
	if err != nil {
		return crmerr.Wrap(crmerr.Permanent, Provider, op, err)
	}
	var b batchBody
	resp, err := w.c.call(ctx, transport.Request{Op: op, Method: http.MethodPost, Path: w.path + "/batch/" + kind.verb(), Body: body,
		Idempotent: kind != kindCreate}, &b)
	if err != nil {
		return w.failed(ctx, kind, items, recoveries, err)
	}
	if b.Results == nil {
		return malformed(crmerr.Permanent, op, resp.Status, "the answer has no results: the batch API changed shape")
	}
	w.apply(kind, op, resp.Status, items, &b)
	return nil
}

// failed handles a batch call that did not succeed.
func (w *writer) failed(ctx context.Context, kind writeKind, items []item, recoveries int, err error) error {
	var e *crmerr.Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case e.Kind == crmerr.InvalidRecord && kind == kindCreate && e.Code == "CONFLICT" && w.byEmail(items):
		return w.resolveConflicts(ctx, items, e, recoveries)
	case e.Kind == crmerr.InvalidRecord && len(items) == 1:
		w.fail(items[0].idx, e)
		return nil
	case e.Kind == crmerr.InvalidRecord:
		half := len(items) / 2
		if err := w.send(ctx, kind, items[:half], recoveries); err != nil {
			return err
		}
		return w.send(ctx, kind, items[half:], recoveries)
	case e.Kind == crmerr.Transient && kind == kindCreate && w.byEmail(items) && recoveries < maxRecoveries:
		return w.recoverCreate(ctx, items, recoveries)
	}
	return err
}

// byEmail reports whether every item is a contact with an email, so that emails identify them.
func (w *writer) byEmail(items []item) bool {
	if !isContacts(w.object) {
		return false
	}
	for _, it := range items {
		if it.key == "" {
			return false
		}
	}
	return true
}

// lookupEmails returns the ids of the live contacts holding the items' emails.
func (w *writer) lookupEmails(ctx context.Context, items []item) (map[string]string, error) {
	op := "read " + w.object
	inputs := make([]map[string]string, len(items))
	for i, it := range items {
		inputs[i] = map[string]string{"id": it.props["email"]}
	}
	body, _ := json.Marshal(map[string]any{"idProperty": "email", "properties": []string{"email"}, "inputs": inputs})
	var b batchBody
	resp, err := w.c.call(ctx, transport.Request{Op: op, Method: http.MethodPost, Path: w.path + "/batch/read", Body: body, Idempotent: true}, &b)
	if err != nil {
		var e *crmerr.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound && e.Code == "OBJECT_NOT_FOUND" {
			return map[string]string{}, nil
		}
		return nil, err
	}
	if b.Results == nil {
		return nil, malformed(crmerr.Permanent, op, resp.Status, "the answer has no results: the batch API changed shape")
	}
	found := make(map[string]string, len(*b.Results))
	for _, r := range *b.Results {
		if v := r.Properties["email"]; v != nil && r.ID != "" {
			found[strings.ToLower(*v)] = r.ID
		}
	}
	return found, nil
}

// resolveConflicts answers a batch create that HubSpot refused with 409: the contacts whose email exists
// fail with CONFLICT, and the others are sent again.
func (w *writer) resolveConflicts(ctx context.Context, items []item, conflict *crmerr.Error, recoveries int) error {
	existing, err := w.lookupEmails(ctx, items)
	if err != nil {
		return err
	}
	var rest []item
	for _, it := range items {
		id, ok := existing[it.key]
		if !ok {
			rest = append(rest, it)
			continue
		}
		w.fail(it.idx, &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: Provider, Op: conflict.Op, Status: conflict.Status,
			Code: "CONFLICT", Field: "email", Message: "Contact already exists. Existing ID: " + id})
	}
	if len(rest) == len(items) {
		// The duplicate is not visible by email (a secondary email, an index lag): narrow down by halves.
		if len(items) == 1 {
			w.fail(items[0].idx, conflict)
			return nil
		}
		half := len(items) / 2
		if err := w.send(ctx, kindCreate, items[:half], recoveries); err != nil {
			return err
		}
		return w.send(ctx, kindCreate, items[half:], recoveries)
	}
	return w.send(ctx, kindCreate, rest, recoveries)
}

// recoverCreate answers a create batch whose outcome is unknown: the contacts that exist now were created
// by it (a batch create is all or nothing for duplicates), and the others are sent again after a backoff.
func (w *writer) recoverCreate(ctx context.Context, items []item, recoveries int) error {
	base := w.c.cfg.BaseBackoff
	if base <= 0 {
		base = transport.DefaultBaseBackoff
	}
	if err := w.c.clock.Sleep(ctx, base<<recoveries); err != nil {
		return crmerr.Wrap(crmerr.Transient, Provider, "create "+w.object, err)
	}
	existing, err := w.lookupEmails(ctx, items)
	if err != nil {
		return err
	}
	var rest []item
	for _, it := range items {
		if id, ok := existing[it.key]; ok {
			w.succeed(it.idx, id, true)
		} else {
			rest = append(rest, it)
		}
	}
	return w.send(ctx, kindCreate, rest, recoveries+1)
}

// apply records a batch answer: results matched by objectWriteTraceId (then id, upsert key or email),
// errors by their context.
func (w *writer) apply(kind writeKind, op string, status int, items []item, b *batchBody) {
	byTrace := make(map[string]*item, len(items))
	byKey := make(map[string]*item, len(items))
	for i := range items {
		byTrace[strconv.Itoa(i)] = &items[i]
		if items[i].key != "" {
			byKey[items[i].key] = &items[i]
		}
		if kind == kindUpdate {
			byKey[items[i].id] = &items[i]
		}
	}
	settled := make(map[int]bool, len(items))
	for _, r := range *b.Results {
		it := byTrace[r.ObjectWriteTraceID]
		if it == nil {
			it = byKey[w.resultKey(kind, &r)]
		}
		if it == nil || settled[it.idx] {
			continue
		}
		if r.ID == "" {
			w.fail(it.idx, malformed(crmerr.Transient, op, status, "a result without an id"))
		} else {
			w.succeed(it.idx, r.ID, kind == kindCreate || (kind == kindUpsert && r.New != nil && *r.New))
		}
		settled[it.idx] = true
	}
	var orphans []*errorBody
	for i := range b.Errors {
		e := &b.Errors[i]
		matched := false
		for _, t := range e.Context["objectWriteTraceId"] {
			if it := byTrace[t]; it != nil && !settled[it.idx] {
				w.fail(it.idx, itemError(op, status, e))
				settled[it.idx], matched = true, true
			}
		}
		for _, id := range e.Context["ids"] {
			k := id
			if kind != kindUpdate {
				k = strings.ToLower(id)
			}
			if it := byKey[k]; it != nil && !settled[it.idx] {
				w.fail(it.idx, itemError(op, status, e))
				settled[it.idx], matched = true, true
			}
		}
		if !matched {
			orphans = append(orphans, e)
		}
	}
	for _, it := range items {
		if settled[it.idx] {
			continue
		}
		switch {
		case len(orphans) > 0:
			e := itemError(op, status, orphans[0])
			e.Message = "HubSpot reported an error without saying for which record: " + e.Message
			w.fail(it.idx, e)
		case kind == kindCreate:
			w.fail(it.idx, &crmerr.Error{Kind: crmerr.Permanent, Provider: Provider, Op: op, Status: status, Code: "UNMAPPED_RESULT",
				Message: "HubSpot's answer does not say whether this record was created: check it before writing it again"})
		default:
			w.fail(it.idx, &crmerr.Error{Kind: crmerr.Transient, Provider: Provider, Op: op, Status: status, Code: "UNMAPPED_RESULT",
				Message: "HubSpot's answer does not mention this record"})
		}
	}
}

// resultKey is how a result names its input when it carries no objectWriteTraceId.
func (w *writer) resultKey(kind writeKind, r *wireRecord) string {
	switch kind {
	case kindUpdate:
		return r.ID
	case kindUpsert:
		if v := r.Properties[w.idProp]; v != nil {
			return strings.ToLower(*v)
		}
	case kindCreate:
		if v := r.Properties["email"]; v != nil && isContacts(w.object) {
			return strings.ToLower(*v)
		}
	}
	return ""
}

// itemError classifies one entry of a 207's errors.
func itemError(op string, status int, e *errorBody) *crmerr.Error {
	out := &crmerr.Error{Provider: Provider, Op: op, Status: status, Code: e.Category, Field: e.field(), Message: e.Message}
	switch e.Category {
	case "VALIDATION_ERROR", "CONFLICT", "OBJECT_NOT_FOUND", "OBJECT_ALREADY_EXISTS":
		out.Kind = crmerr.InvalidRecord
		if d := e.detailCode(); d != "" && e.Category == "VALIDATION_ERROR" {
			out.Code = d
		}
	default:
		out.Kind = crmerr.Transient
	}
	if out.Message == "" {
		out.Message = "rejected by HubSpot"
	}
	return out
}

// Delete archives records through batch/archive, 100 at a time. Archiving an id that does not exist, or
// is already archived, succeeds, as it does in HubSpot.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.Result, error) {
	op := "archive " + object
	if err := c.checkOpen(op); err != nil {
		return nil, err
	}
	path, err := c.objectPath(op, object)
	if err != nil {
		return nil, err
	}
	results := make([]connectors.Result, len(ids))
	for start := 0; start < len(ids); start += MaxBatch {
		end := min(start+MaxBatch, len(ids))
		var inputs []map[string]string
		seen := map[string]bool{}
		for _, id := range ids[start:end] {
			if _, err := strconv.ParseUint(id, 10, 64); err == nil && !seen[id] {
				seen[id] = true
				inputs = append(inputs, map[string]string{"id": id})
			}
		}
		if len(inputs) > 0 {
			body, _ := json.Marshal(map[string]any{"inputs": inputs})
			if _, err := c.call(ctx, transport.Request{Op: op, Method: http.MethodPost, Path: path + "/batch/archive", Body: body, Idempotent: true}, nil); err != nil {
				for i := start; i < len(ids); i++ {
					results[i] = connectors.Result{Err: err}
				}
				return results, err
			}
		}
		for i := start; i < end; i++ {
			results[i] = connectors.Result{ID: ids[i]}
		}
	}
	return results, nil
}
