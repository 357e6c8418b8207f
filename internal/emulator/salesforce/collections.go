package salesforce

import (
	"bytes"
	"net/http"
	"strings"
)

const maxCollection = 200

func writeIDLimit(w http.ResponseWriter) {
	writeErr(w, http.StatusBadRequest, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
}

type collectionBody struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
	IDs       []string         `json:"ids"`
	Fields    []string         `json:"fields"`
}

func (s *Server) dispatchCollections(c *apiCall) {
	segs, m := c.segs, c.r.Method
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(segs) == 2 && m == http.MethodPost:
		s.collectionSave(c, nil, nil, false)
	case len(segs) == 2 && m == http.MethodPatch:
		s.collectionSave(c, nil, nil, true)
	case len(segs) == 2 && m == http.MethodDelete:
		s.collectionDelete(c)
	case len(segs) == 3 && (m == http.MethodGet || m == http.MethodPost):
		if o := s.object(c, segs[2]); o != nil {
			s.collectionRetrieve(c, o)
		}
	case len(segs) == 4 && m == http.MethodPatch:
		o := s.object(c, segs[2])
		if o == nil {
			return
		}
		f := o.field(segs[3])
		if f == nil || !f.ExternalID && f.Name != "Id" {
			writeErr(c.w, http.StatusBadRequest, "INVALID_FIELD", "Field name provided, "+segs[3]+" does not match an External ID, Salesforce Id, or indexed field for "+o.name)
			return
		}
		s.collectionSave(c, o, f, false)
	default:
		writeErr(c.w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func recordType(raw map[string]any) string {
	attrs, _ := raw["attributes"].(map[string]any)
	t, _ := attrs["type"].(string)
	return t
}

func popID(raw map[string]any) (string, bool) {
	for _, k := range []string{"id", "Id", "ID"} {
		if v, ok := raw[k]; ok {
			delete(raw, k)
			s, _ := v.(string)
			return s, true
		}
	}
	return "", false
}

// collectionSave answers POST (create), PATCH (update) and PATCH /{SObject}/{ExtIdField} (upsert) of
// sObject Collections. The caller holds s.mu.
func (s *Server) collectionSave(c *apiCall, upsertObj *sobject, extField *Field, update bool) {
	var body collectionBody
	if !readJSON(c, &body) {
		return
	}
	if len(body.Records) > maxCollection {
		writeIDLimit(c.w)
		return
	}
	type item struct {
		o    *sobject
		id   string
		hasI bool
		vals map[string]any
	}
	items := make([]item, len(body.Records))
	for i, raw := range body.Records {
		t := recordType(raw)
		if t == "" {
			writeErr(c.w, http.StatusBadRequest, "INVALID_TYPE", "Must send a concrete entity type.")
			return
		}
		var o *sobject
		for n, so := range s.objects {
			if strings.EqualFold(n, t) {
				o = so
			}
		}
		if o == nil {
			writeErr(c.w, http.StatusBadRequest, "INVALID_TYPE", "sObject type '"+t+"' is not supported.")
			return
		}
		if upsertObj != nil && o != upsertObj {
			writeErr(c.w, http.StatusBadRequest, "INVALID_TYPE", "Record type "+o.name+" does not match the sObject type "+upsertObj.name+" in the URL.")
			return
		}
		id, hasID := popID(raw)
		vals, rerr := decodeFields(o, raw)
		if rerr != nil {
			writeErr(c.w, rerr.status, rerr.code, rerr.msg)
			return
		}
		items[i] = item{o: o, id: id, hasI: hasID, vals: vals}
	}
	results := make([]saveResult, len(items))
	var undo undoLog
	var undoPtr *undoLog
	if body.AllOrNone {
		undoPtr = &undo
	}
	failed := false
	for i, it := range items {
		switch {
		case extField != nil:
			v, ok := it.vals[extField.Name].(string)
			if extField.Name == "Id" {
				v, ok = it.id, it.hasI && it.id != ""
			}
			if !ok || v == "" {
				results[i] = failResult([]saveError{{StatusCode: "MISSING_ARGUMENT", Message: extField.Name + " not specified", Fields: []string{}}})
				break
			}
			if extField.Name == "Id" {
				r, serr := s.lookup(it.o, v)
				if serr != nil {
					results[i] = failResult([]saveError{*serr})
					break
				}
				if errs := s.modify(it.o, r, it.vals, undoPtr); len(errs) > 0 {
					results[i] = failResult(errs)
					break
				}
				results[i] = okResult(r.id)
				f := false
				results[i].Created = &f
				break
			}
			delete(it.vals, extField.Name)
			results[i], _ = s.upsertOne(it.o, extField, v, it.vals, undoPtr)
		case update:
			if !it.hasI || it.id == "" {
				results[i] = failResult([]saveError{{StatusCode: "MISSING_ARGUMENT", Message: "Id not specified in an update call", Fields: []string{}}})
				break
			}
			r, serr := s.lookup(it.o, it.id)
			if serr != nil {
				results[i] = failResult([]saveError{*serr})
				break
			}
			if errs := s.modify(it.o, r, it.vals, undoPtr); len(errs) > 0 {
				results[i] = failResult(errs)
				break
			}
			results[i] = okResult(r.id)
		default:
			if it.hasI {
				results[i] = failResult([]saveError{{StatusCode: "INVALID_FIELD", Message: "cannot specify Id in an insert call", Fields: []string{"Id"}}})
				break
			}
			id, errs := s.insert(it.o, it.vals, undoPtr)
			if len(errs) > 0 {
				results[i] = failResult(errs)
				break
			}
			results[i] = okResult(id)
		}
		if !results[i].Success {
			failed = true
		}
	}
	if body.AllOrNone && failed {
		undo.rollback()
		for i := range results {
			if results[i].Success {
				results[i] = failResult([]saveError{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK",
					Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}})
			}
		}
	}
	writeJSON(c.w, http.StatusOK, results)
}

func splitIDs(v string) []string {
	var out []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) collectionDelete(c *apiCall) {
	q := c.r.URL.Query()
	ids := splitIDs(q.Get("ids"))
	if len(ids) == 0 {
		writeErr(c.w, http.StatusBadRequest, "MISSING_ARGUMENT", "ids parameter is required")
		return
	}
	if len(ids) > maxCollection {
		writeIDLimit(c.w)
		return
	}
	allOrNone := strings.EqualFold(q.Get("allOrNone"), "true")
	var undo undoLog
	var undoPtr *undoLog
	if allOrNone {
		undoPtr = &undo
	}
	results := make([]saveResult, len(ids))
	failed := false
	for i, id := range ids {
		var o *sobject
		if nid := normalizeID(id); nid != "" {
			for _, so := range s.objects {
				if strings.HasPrefix(nid, so.prefix) {
					o = so
				}
			}
		}
		if o == nil {
			results[i] = failResult([]saveError{{StatusCode: "MALFORMED_ID", Message: "malformed id " + id, Fields: []string{}}})
			failed = true
			continue
		}
		r, serr := s.lookup(o, id)
		if serr != nil {
			results[i] = failResult([]saveError{*serr})
			results[i].ID = &id
			failed = true
			continue
		}
		s.remove(o, r, false, undoPtr)
		results[i] = okResult(r.id)
	}
	if allOrNone && failed {
		undo.rollback()
		for i := range results {
			if results[i].Success {
				results[i] = failResult([]saveError{{StatusCode: "ALL_OR_NONE_OPERATION_ROLLED_BACK",
					Message: "Record rolled back because not all records were valid and the request was using AllOrNone header", Fields: []string{}}})
			}
		}
	}
	writeJSON(c.w, http.StatusOK, results)
}

func (s *Server) collectionRetrieve(c *apiCall, o *sobject) {
	var ids, names []string
	if c.r.Method == http.MethodPost {
		var body collectionBody
		if !readJSON(c, &body) {
			return
		}
		ids, names = body.IDs, body.Fields
	} else {
		q := c.r.URL.Query()
		ids, names = splitIDs(q.Get("ids")), splitIDs(q.Get("fields"))
	}
	if len(ids) == 0 {
		writeErr(c.w, http.StatusBadRequest, "MISSING_ARGUMENT", "ids parameter is required")
		return
	}
	if len(names) == 0 {
		writeErr(c.w, http.StatusBadRequest, "MISSING_ARGUMENT", "fields parameter is required")
		return
	}
	if len(ids) > 2000 {
		writeErr(c.w, http.StatusBadRequest, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 records into this call")
		return
	}
	var fields []*Field
	for _, n := range names {
		f := o.field(n)
		if f == nil {
			writeErr(c.w, http.StatusBadRequest, "INVALID_FIELD", "No such column '"+n+"' on entity '"+o.name+"'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.")
			return
		}
		fields = append(fields, f)
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		nid := normalizeID(id)
		if nid == "" || !strings.HasPrefix(nid, o.prefix) {
			b.Reset()
			writeErr(c.w, http.StatusBadRequest, "MALFORMED_ID", o.label+" ID: id value of incorrect type: "+id)
			return
		}
		r, ok := o.records[nid]
		if !ok || r.deleted {
			b.WriteString("null")
			continue
		}
		s.renderRecord(&b, c.prefix(), o, r, fields)
	}
	b.WriteByte(']')
	writeRaw(c.w, http.StatusOK, "application/json;charset=UTF-8", b.Bytes())
}
