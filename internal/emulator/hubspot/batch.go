package hubspot

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// batchResponse is the body of a batch answer: 200/201 on full success, 207 with errors otherwise.
type batchResponse struct {
	Status      string       `json:"status"`
	Results     []recordJSON `json:"results"`
	NumErrors   int          `json:"numErrors,omitempty"`
	Errors      []apiError   `json:"errors,omitempty"`
	StartedAt   string       `json:"startedAt"`
	CompletedAt string       `json:"completedAt"`
}

type batchRequest struct {
	Inputs     []writeInput `json:"inputs"`
	Properties []string     `json:"properties"`
	IDProperty string       `json:"idProperty"`
}

// handleBatch answers POST /crm/v3/objects/{object}/batch/{read|create|update|upsert|archive}.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	var req batchRequest
	if err := decodeJSON(r, &req); err != nil {
		s.invalidJSON(w, err)
		return
	}
	if len(req.Inputs) > maxBatchInputs {
		s.badRequest(w, "Too many inputs: %d. The maximum number of inputs per batch is %d.", len(req.Inputs), maxBatchInputs)
		return
	}
	started := formatTime(s.nowMS())
	switch r.PathValue("op") {
	case "read":
		s.batchRead(w, r, d, req, started)
	case "create":
		s.batchCreate(w, d, req, started)
	case "update":
		s.batchUpdate(w, d, req, started)
	case "upsert":
		s.batchUpsert(w, d, req, started)
	case "archive":
		s.batchArchive(w, d, req)
	default:
		s.notFound(w, "Unknown batch operation "+r.PathValue("op"))
	}
}

// duplicateIDs reports the ids that occur more than once (case-insensitively for idProperty values).
func duplicateIDs(inputs []writeInput, fold bool) []string {
	seen := map[string]bool{}
	var dups []string
	for _, in := range inputs {
		k := in.ID
		if fold {
			k = strings.ToLower(k)
		}
		if seen[k] && !slices.Contains(dups, in.ID) {
			dups = append(dups, in.ID)
		}
		seen[k] = true
	}
	return dups
}

func (s *Server) rejectDuplicates(w http.ResponseWriter, dups []string) {
	s.badRequest(w, "Duplicate IDs found in batch input: [%s]. IDs must be unique", strings.Join(dups, ", "))
}

// finish writes a batch answer with the given full-success status, or 207 when there were errors.
func (s *Server) finish(w http.ResponseWriter, ok int, results []recordJSON, errs []apiError, started string) {
	if !s.opts.OrderedBatchResults {
		s.mu.Lock()
		s.rng.Shuffle(len(results), func(i, j int) { results[i], results[j] = results[j], results[i] })
		s.mu.Unlock()
	}
	for i := range errs {
		errs[i].Status = "error"
	}
	resp := batchResponse{Status: "COMPLETE", Results: results, NumErrors: len(errs), Errors: errs, StartedAt: started, CompletedAt: formatTime(s.nowMS())}
	if resp.Results == nil {
		resp.Results = []recordJSON{}
	}
	status := ok
	if len(errs) > 0 {
		status = http.StatusMultiStatus
	}
	s.writeJSON(w, status, resp)
}

func (s *Server) notFoundError(d *objectDef, ids []string) apiError {
	return apiError{
		Category: "OBJECT_NOT_FOUND",
		Message:  fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", d.Singular),
		Context:  map[string][]string{"ids": ids},
	}
}

// inputContext is how a per-input error names its input: by objectWriteTraceId when the input had one,
// otherwise by id.
func inputContext(in writeInput) map[string][]string {
	if in.ObjectWriteTraceID != "" {
		return map[string][]string{"objectWriteTraceId": {in.ObjectWriteTraceID}}
	}
	return map[string][]string{"ids": {in.ID}}
}

func validationError(in writeInput, errs []propError) apiError {
	return apiError{Category: "VALIDATION_ERROR", Message: validationMessage(errs), Context: inputContext(in), Errors: validationDetails(errs)}
}

// batchRead answers batch/read: 200 when every id was found, 207 with OBJECT_NOT_FOUND for the missing
// ones, and 404 when none was found.
func (s *Server) batchRead(w http.ResponseWriter, r *http.Request, d *objectDef, req batchRequest, started string) {
	if dups := duplicateIDs(req.Inputs, req.IDProperty != ""); len(dups) > 0 {
		s.rejectDuplicates(w, dups)
		return
	}
	if req.IDProperty != "" && req.IDProperty != "hs_object_id" {
		if p := d.Props[req.IDProperty]; p == nil || !p.Unique {
			s.badRequest(w, "%s is not a unique property and cannot be used as idProperty", req.IDProperty)
			return
		}
	}
	archived := r.URL.Query().Get("archived") == "true"
	sel := selectProps(d, req.Properties)
	s.mu.Lock()
	st := s.objects[d.Name]
	var results []recordJSON
	var missing []string
	for _, in := range req.Inputs {
		var rec *record
		if archived {
			if a := st.get(in.ID); a != nil && a.archived {
				rec = a
			}
		} else {
			rec = st.lookup(req.IDProperty, in.ID)
		}
		if rec == nil {
			missing = append(missing, in.ID)
			continue
		}
		results = append(results, st.toJSON(rec, sel))
	}
	s.mu.Unlock()
	if len(results) == 0 && len(missing) > 0 {
		e := s.notFoundError(d, missing)
		s.writeError(w, http.StatusNotFound, e)
		return
	}
	var errs []apiError
	if len(missing) > 0 {
		errs = append(errs, s.notFoundError(d, missing))
	}
	s.finish(w, http.StatusOK, results, errs, started)
}

// batchCreate answers batch/create. Without an objectWriteTraceId on every input, one invalid input fails
// the whole batch (400) and nothing is created. With them (multi-status), invalid inputs are reported one
// by one in a 207 and the rest are created. A duplicate email fails the whole batch with 409 either way,
// unless Options.MultiStatusConflicts.
func (s *Server) batchCreate(w http.ResponseWriter, d *objectDef, req batchRequest, started string) {
	multi := len(req.Inputs) > 0
	traces := map[string]bool{}
	for _, in := range req.Inputs {
		if in.ObjectWriteTraceID == "" {
			multi = false
			break
		}
		if traces[in.ObjectWriteTraceID] {
			s.badRequest(w, "Duplicate objectWriteTraceId found in batch input: %s", in.ObjectWriteTraceID)
			return
		}
		traces[in.ObjectWriteTraceID] = true
	}
	vals := make([]map[string]*string, len(req.Inputs))
	var errs []apiError
	var allErrs []propError
	failed := make([]bool, len(req.Inputs))
	s.mu.Lock()
	for i, in := range req.Inputs {
		v, perrs := s.validate(d, in.Properties, true)
		vals[i] = v
		if len(perrs) > 0 {
			failed[i] = true
			allErrs = append(allErrs, perrs...)
			errs = append(errs, validationError(in, perrs))
		}
	}
	if !multi && len(allErrs) > 0 {
		s.mu.Unlock()
		s.writeValidation(w, allErrs)
		return
	}
	st := s.objects[d.Name]
	// Duplicates against stored records and within the batch.
	claimed := map[string]int64{}
	ids := make([]int64, len(req.Inputs))
	for i := range req.Inputs {
		if failed[i] {
			continue
		}
		prop, existing, dup := st.conflict(0, vals[i])
		if !dup {
			prop, existing, dup = batchConflict(d, vals[i], claimed)
		}
		if dup {
			msg := st.conflictMessage(prop, existing)
			if !multi || !s.opts.MultiStatusConflicts {
				s.mu.Unlock()
				s.writeError(w, http.StatusConflict, apiError{Message: msg, Category: "CONFLICT"})
				return
			}
			failed[i] = true
			errs = append(errs, apiError{Category: "CONFLICT", Message: msg, Context: inputContext(req.Inputs[i])})
			continue
		}
		ids[i] = s.newIDLocked()
		claim(d, vals[i], claimed, ids[i])
	}
	var results []recordJSON
	for i, in := range req.Inputs {
		if failed[i] {
			continue
		}
		rec := s.createWithIDLocked(st, ids[i], vals[i])
		rj := st.toJSON(rec, writtenSelection(d, vals[i]))
		rj.ObjectWriteTraceID = in.ObjectWriteTraceID
		results = append(results, rj)
	}
	s.mu.Unlock()
	s.finish(w, http.StatusCreated, results, errs, started)
}

// batchConflict finds a unique value already claimed by an earlier input of the same batch, and the id
// reserved for that input.
func batchConflict(d *objectDef, vals map[string]*string, claimed map[string]int64) (string, int64, bool) {
	for name, v := range vals {
		if p := d.Props[name]; p == nil || !p.Unique || v == nil || *v == "" {
			continue
		}
		if id, ok := claimed[name+"\x00"+strings.ToLower(*v)]; ok {
			return name, id, true
		}
	}
	return "", 0, false
}

func claim(d *objectDef, vals map[string]*string, claimed map[string]int64, id int64) {
	for name, v := range vals {
		if p := d.Props[name]; p != nil && p.Unique && v != nil && *v != "" {
			claimed[name+"\x00"+strings.ToLower(*v)] = id
		}
	}
}

// batchUpdate answers batch/update: 200, or 207 with per-input VALIDATION_ERROR/CONFLICT errors and one
// OBJECT_NOT_FOUND error naming every unknown id.
func (s *Server) batchUpdate(w http.ResponseWriter, d *objectDef, req batchRequest, started string) {
	if dups := duplicateIDs(req.Inputs, false); len(dups) > 0 {
		s.rejectDuplicates(w, dups)
		return
	}
	var errs []apiError
	var missing []string
	var results []recordJSON
	s.mu.Lock()
	st := s.objects[d.Name]
	for _, in := range req.Inputs {
		vals, perrs := s.validate(d, in.Properties, false)
		rec := st.lookup(in.IDProperty, in.ID)
		switch {
		case rec == nil:
			missing = append(missing, in.ID)
			continue
		case len(perrs) > 0:
			errs = append(errs, validationError(in, perrs))
			continue
		}
		if prop, existing, dup := st.conflict(rec.id, vals); dup {
			errs = append(errs, apiError{Category: "CONFLICT", Message: st.conflictMessage(prop, existing), Context: inputContext(in)})
			continue
		}
		s.updateLocked(st, rec, vals)
		rj := st.toJSON(rec, writtenSelection(d, vals))
		rj.ObjectWriteTraceID = in.ObjectWriteTraceID
		results = append(results, rj)
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		errs = append(errs, s.notFoundError(d, missing))
	}
	s.finish(w, http.StatusOK, results, errs, started)
}

// batchUpsert answers batch/upsert: inputs {id, idProperty, properties} update the record whose unique
// idProperty equals id, or create it with that value. Results carry "new".
func (s *Server) batchUpsert(w http.ResponseWriter, d *objectDef, req batchRequest, started string) {
	for _, in := range req.Inputs {
		idp := in.IDProperty
		if idp == "" {
			idp = req.IDProperty
		}
		if idp == "" || idp == "hs_object_id" {
			continue
		}
		if p := d.Props[idp]; p == nil || !p.Unique {
			s.badRequest(w, "%s is not a unique property and cannot be used as idProperty", idp)
			return
		}
	}
	if dups := duplicateIDs(req.Inputs, true); len(dups) > 0 {
		s.rejectDuplicates(w, dups)
		return
	}
	var errs []apiError
	var missing []string
	var results []recordJSON
	s.mu.Lock()
	st := s.objects[d.Name]
	for _, in := range req.Inputs {
		idp := in.IDProperty
		if idp == "" {
			idp = req.IDProperty
		}
		rec := st.lookup(idp, in.ID)
		if rec == nil && (idp == "" || idp == "hs_object_id") {
			missing = append(missing, in.ID)
			continue
		}
		props := in.Properties
		if rec == nil {
			props = make(map[string]any, len(in.Properties)+1)
			for k, v := range in.Properties {
				props[k] = v
			}
			props[idp] = in.ID
		}
		vals, perrs := s.validate(d, props, rec == nil)
		if len(perrs) > 0 {
			errs = append(errs, validationError(in, perrs))
			continue
		}
		self := int64(0)
		if rec != nil {
			self = rec.id
		}
		if prop, existing, dup := st.conflict(self, vals); dup {
			errs = append(errs, apiError{Category: "CONFLICT", Message: st.conflictMessage(prop, existing), Context: inputContext(in)})
			continue
		}
		created := rec == nil
		if created {
			rec = s.createLocked(st, vals)
		} else {
			s.updateLocked(st, rec, vals)
		}
		rj := st.toJSON(rec, writtenSelection(d, vals))
		rj.New = &created
		rj.ObjectWriteTraceID = in.ObjectWriteTraceID
		results = append(results, rj)
	}
	s.mu.Unlock()
	if len(missing) > 0 {
		errs = append(errs, s.notFoundError(d, missing))
	}
	s.finish(w, http.StatusOK, results, errs, started)
}

// batchArchive answers batch/archive: 204 whatever the ids.
func (s *Server) batchArchive(w http.ResponseWriter, d *objectDef, req batchRequest) {
	s.mu.Lock()
	st := s.objects[d.Name]
	now := s.nowLocked()
	for _, in := range req.Inputs {
		if _, err := strconv.ParseInt(in.ID, 10, 64); err != nil {
			continue
		}
		if rec := st.get(in.ID); rec != nil {
			st.archive(rec, now)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
