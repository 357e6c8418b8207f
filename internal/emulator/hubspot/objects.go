package hubspot

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxBatchInputs is HubSpot's batch size limit.
const maxBatchInputs = 100

// recordJSON is a record on the wire.
type recordJSON struct {
	ID                 string             `json:"id"`
	Properties         map[string]*string `json:"properties"`
	CreatedAt          string             `json:"createdAt"`
	UpdatedAt          string             `json:"updatedAt"`
	Archived           bool               `json:"archived"`
	ArchivedAt         string             `json:"archivedAt,omitempty"`
	New                *bool              `json:"new,omitempty"`
	ObjectWriteTraceID string             `json:"objectWriteTraceId,omitempty"`
}

// pageJSON is a page of a list or a search.
type pageJSON struct {
	Total   *int         `json:"total,omitempty"`
	Results []recordJSON `json:"results"`
	Paging  *pagingJSON  `json:"paging,omitempty"`
}

type pagingJSON struct {
	Next nextJSON `json:"next"`
}

type nextJSON struct {
	After string `json:"after"`
	Link  string `json:"link"`
}

// selection is the set of properties a read returns.
type selection []string

// selectProps returns the requested properties (nil: the object's defaults), always with the id, create
// date and modified date, as HubSpot does.
func selectProps(d *objectDef, requested []string) selection {
	var out selection
	if len(requested) == 0 {
		out = slices.Clone(d.Defaults)
	} else {
		for _, name := range requested {
			if _, ok := d.Props[name]; ok && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	for _, name := range []string{"createdate", d.ModProp, "hs_object_id"} {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func (st *objectStore) toJSON(r *record, sel selection) recordJSON {
	props := make(map[string]*string, len(sel))
	for _, name := range sel {
		if v, ok := st.propValue(r, name); ok {
			props[name] = &v
		} else {
			props[name] = nil
		}
	}
	rj := recordJSON{
		ID:         strconv.FormatInt(r.id, 10),
		Properties: props,
		CreatedAt:  formatTime(r.created),
		UpdatedAt:  formatTime(r.modified),
		Archived:   r.archived,
	}
	if r.archived {
		rj.ArchivedAt = formatTime(r.archivedAt)
	}
	return rj
}

// writtenSelection is what a write answers with: the properties written plus the computed ones.
func writtenSelection(d *objectDef, vals map[string]*string) selection {
	names := make([]string, 0, len(vals)+3)
	for name := range vals {
		names = append(names, name)
	}
	slices.Sort(names)
	return selectProps(d, append(names, "createdate"))
}

// queryProps reads ?properties=a,b&properties=c.
func queryProps(r *http.Request) []string {
	var out []string
	for _, v := range r.URL.Query()["properties"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v)
}

// listAfter encodes a list cursor as HubSpot does: base64 of the next id and a newline ("NTI1Cg==").
func listAfter(id int64) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10) + "\n"))
}

func parseListAfter(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// handleList answers GET /crm/v3/objects/{object}?limit&after&properties&archived, in id order.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.badRequest(w, "limit must be a positive integer")
			return
		}
		limit = min(n, 100)
	}
	after, ok := parseListAfter(q.Get("after"))
	if !ok {
		s.badRequest(w, "Invalid after: %s", q.Get("after"))
		return
	}
	archived := q.Get("archived") == "true"
	sel := selectProps(d, queryProps(r))

	s.mu.Lock()
	st := s.objects[d.Name]
	start, _ := slices.BinarySearchFunc(st.all, after, func(rec *record, id int64) int { return cmpInt(rec.id, id) })
	results := make([]recordJSON, 0, limit)
	var next int64
	for _, rec := range st.all[start:] {
		if rec.archived != archived {
			continue
		}
		if len(results) == limit {
			next = rec.id
			break
		}
		results = append(results, st.toJSON(rec, sel))
	}
	s.mu.Unlock()

	body := pageJSON{Results: results}
	if next != 0 {
		a := listAfter(next)
		body.Paging = &pagingJSON{Next: nextJSON{After: a, Link: fmt.Sprintf("https://api.hubapi.com/crm/v3/objects/%s?after=%s", d.Name, a)}}
	}
	s.writeJSON(w, http.StatusOK, body)
}

// handleGet answers GET /crm/v3/objects/{object}/{id}?properties&idProperty&archived.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	st := s.objects[d.Name]
	rec := st.lookup(q.Get("idProperty"), r.PathValue("id"))
	if rec == nil && q.Get("archived") == "true" {
		if a := st.get(r.PathValue("id")); a != nil && a.archived {
			rec = a
		}
	}
	var out recordJSON
	if rec != nil {
		out = st.toJSON(rec, selectProps(d, queryProps(r)))
	}
	s.mu.Unlock()
	if rec == nil {
		s.notFound(w, "resource not found")
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}

type writeInput struct {
	ID                 string         `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         map[string]any `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

func (s *Server) writeValidation(w http.ResponseWriter, errs []propError) {
	s.writeError(w, http.StatusBadRequest, apiError{Message: validationMessage(errs), Category: "VALIDATION_ERROR", Errors: validationDetails(errs)})
}

// handleCreate answers POST /crm/v3/objects/{object}: 201 with the record, 400 on invalid values, 409 on a
// duplicate email.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	var in writeInput
	if err := decodeJSON(r, &in); err != nil {
		s.invalidJSON(w, err)
		return
	}
	s.mu.Lock()
	vals, errs := s.validate(d, in.Properties, true)
	if len(errs) > 0 {
		s.mu.Unlock()
		s.writeValidation(w, errs)
		return
	}
	st := s.objects[d.Name]
	if prop, existing, dup := st.conflict(0, vals); dup {
		msg := st.conflictMessage(prop, existing)
		s.mu.Unlock()
		s.writeError(w, http.StatusConflict, apiError{Message: msg, Category: "CONFLICT"})
		return
	}
	rec := s.createLocked(st, vals)
	out := st.toJSON(rec, writtenSelection(d, vals))
	s.mu.Unlock()
	s.writeJSON(w, http.StatusCreated, out)
}

func (s *Server) createLocked(st *objectStore, vals map[string]*string) *record {
	return s.createWithIDLocked(st, s.newIDLocked(), vals)
}

func (s *Server) createWithIDLocked(st *objectStore, id int64, vals map[string]*string) *record {
	now := s.nowLocked()
	rec := &record{id: id, props: map[string]string{}, created: now}
	st.insert(rec)
	st.apply(rec, vals, now, now+s.opts.SearchLag.Milliseconds())
	return rec
}

// updateLocked applies vals to rec; it stamps the record modified only when a value changed.
func (s *Server) updateLocked(st *objectStore, rec *record, vals map[string]*string) {
	changed := false
	for name, v := range vals {
		old, had := rec.props[name]
		if (v == nil || *v == "") != !had || (v != nil && *v != old) {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	now := max(s.nowLocked(), rec.created)
	st.apply(rec, vals, now, now+s.opts.SearchLag.Milliseconds())
}

// handleUpdate answers PATCH /crm/v3/objects/{object}/{id}?idProperty.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	var in writeInput
	if err := decodeJSON(r, &in); err != nil {
		s.invalidJSON(w, err)
		return
	}
	s.mu.Lock()
	vals, errs := s.validate(d, in.Properties, false)
	if len(errs) > 0 {
		s.mu.Unlock()
		s.writeValidation(w, errs)
		return
	}
	st := s.objects[d.Name]
	rec := st.lookup(r.URL.Query().Get("idProperty"), r.PathValue("id"))
	if rec == nil {
		s.mu.Unlock()
		s.notFound(w, "resource not found")
		return
	}
	if prop, existing, dup := st.conflict(rec.id, vals); dup {
		msg := st.conflictMessage(prop, existing)
		s.mu.Unlock()
		s.writeError(w, http.StatusConflict, apiError{Message: msg, Category: "CONFLICT"})
		return
	}
	s.updateLocked(st, rec, vals)
	out := st.toJSON(rec, writtenSelection(d, vals))
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, out)
}

// handleArchive answers DELETE /crm/v3/objects/{object}/{id}: 204, whether or not the record exists.
// Archiving does not change the modified date.
func (s *Server) handleArchive(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	st := s.objects[d.Name]
	if rec := st.get(r.PathValue("id")); rec != nil {
		st.archive(rec, s.nowLocked())
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
