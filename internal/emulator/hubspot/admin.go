package hubspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Record is a stored record as the admin controls show it.
type Record struct {
	ID string `json:"id"`
	// Properties holds every set value, including hs_object_id, createdate and the modified date.
	Properties map[string]string `json:"properties"`
	CreatedAt  time.Time         `json:"createdAt"`
	UpdatedAt  time.Time         `json:"updatedAt"`
	Archived   bool              `json:"archived"`
	ArchivedAt time.Time         `json:"archivedAt,omitzero"`
}

func (st *objectStore) export(r *record) Record {
	props := make(map[string]string, len(r.props)+3)
	for k, v := range r.props {
		props[k] = v
	}
	for _, name := range []string{"hs_object_id", "createdate", st.def.ModProp} {
		v, _ := st.propValue(r, name)
		props[name] = v
	}
	out := Record{ID: strconv.FormatInt(r.id, 10), Properties: props, CreatedAt: time.UnixMilli(r.created).UTC(),
		UpdatedAt: time.UnixMilli(r.modified).UTC(), Archived: r.archived}
	if r.archived {
		out.ArchivedAt = time.UnixMilli(r.archivedAt).UTC()
	}
	return out
}

func (s *Server) store(object string) (*objectStore, error) {
	st := s.objects[canonicalObject(object)]
	if st == nil {
		return nil, fmt.Errorf("hubspot emulator: unknown object %q (want contacts, companies or deals)", object)
	}
	return st, nil
}

func stringProps(props map[string]string) map[string]any {
	in := make(map[string]any, len(props))
	for k, v := range props {
		in[k] = v
	}
	return in
}

func validationErr(errs []propError) error {
	return errors.New("hubspot emulator: " + validationMessage(errs))
}

// Create creates a record as a person in HubSpot's UI would: values are validated, the timestamps are
// the server's now, and no API call is counted. It returns the new id.
func (s *Server) Create(object string, props map[string]string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return "", err
	}
	vals, errs := s.validate(st.def, stringProps(props), true)
	if len(errs) > 0 {
		return "", validationErr(errs)
	}
	if prop, existing, dup := st.conflict(0, vals); dup {
		return "", errors.New("hubspot emulator: " + st.conflictMessage(prop, existing))
	}
	return strconv.FormatInt(s.createLocked(st, vals).id, 10), nil
}

// Update changes a live record as a person would, bumping its modified date when a value changes. An
// empty value clears the property.
func (s *Server) Update(object, id string, props map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return err
	}
	rec := st.lookup("", id)
	if rec == nil {
		return fmt.Errorf("hubspot emulator: no live %s with id %s", st.def.Name, id)
	}
	vals, errs := s.validate(st.def, stringProps(props), false)
	if len(errs) > 0 {
		return validationErr(errs)
	}
	if prop, existing, dup := st.conflict(rec.id, vals); dup {
		return errors.New("hubspot emulator: " + st.conflictMessage(prop, existing))
	}
	s.updateLocked(st, rec, vals)
	return nil
}

// Archive archives a record as deleting it in the UI does. Its modified date does not change.
func (s *Server) Archive(object, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return err
	}
	rec := st.get(id)
	if rec == nil {
		return fmt.Errorf("hubspot emulator: no %s with id %s", st.def.Name, id)
	}
	st.archive(rec, s.nowLocked())
	return nil
}

// SetModifiedAt forces the modified date (and updatedAt) of records, to build timestamp ties.
func (s *Server) SetModifiedAt(object string, ids []string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return err
	}
	ms := at.UnixMilli()
	for _, id := range ids {
		rec := st.get(id)
		if rec == nil {
			return fmt.Errorf("hubspot emulator: no %s with id %s", st.def.Name, id)
		}
		rec.modified = ms
	}
	st.dirty = true
	return nil
}

// Records returns every record of an object (live and archived), by id.
func (s *Server) Records(object string) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(st.all))
	for i, r := range st.all {
		out[i] = st.export(r)
	}
	return out, nil
}

// Record returns one record, live or archived.
func (s *Server) Record(object, id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return Record{}, false
	}
	r := st.get(id)
	if r == nil {
		return Record{}, false
	}
	return st.export(r), true
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus", "Margaret", "Dennis", "Sophie", "Tim", "Hedy", "Linus"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth", "Hamilton", "Ritchie", "Wilson", "Berners-Lee", "Lamarr", "Torvalds"}
	cities     = [][2]string{{"Boston", "United States"}, {"Dublin", "Ireland"}, {"Berlin", "Germany"}, {"Paris", "France"}, {"Tokyo", "Japan"}, {"Sydney", "Australia"}, {"Toronto", "Canada"}, {"São Paulo", "Brazil"}}
)

// Seed creates n records of an object with realistic values, their modified dates one second apart and
// the last one now. It returns their ids in creation order.
func (s *Server) Seed(object string, n int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(object)
	if err != nil {
		return nil, err
	}
	now := s.nowLocked()
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		at := now - int64(n-1-i)*1000
		id := s.newIDLocked()
		rec := &record{id: id, props: s.seedProps(st.def.Name, id), created: at, modified: at, visibleAt: at}
		st.insert(rec)
		ids = append(ids, strconv.FormatInt(id, 10))
	}
	return ids, nil
}

func (s *Server) seedProps(object string, id int64) map[string]string {
	pick := func(list []string) string { return list[s.rng.IntN(len(list))] }
	city := cities[s.rng.IntN(len(cities))]
	owner := s.opts.Owners[s.rng.IntN(len(s.opts.Owners))].ID
	switch object {
	case "contacts":
		first, last := pick(firstNames), pick(lastNames)
		return map[string]string{
			"email":            fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, "-", "")), id),
			"firstname":        first,
			"lastname":         last,
			"phone":            fmt.Sprintf("+1 617 555 %04d", id%10000),
			"jobtitle":         pick([]string{"Engineer", "CTO", "Buyer", "Head of Sales", "Analyst"}),
			"city":             city[0],
			"country":          city[1],
			"lifecyclestage":   lifecycleStages[s.rng.IntN(len(lifecycleStages))].Value,
			"hubspot_owner_id": owner,
		}
	case "companies":
		return map[string]string{
			"name":              fmt.Sprintf("%s %s", pick(lastNames), pick([]string{"Labs", "Systems", "GmbH", "Ltd", "Inc."})),
			"domain":            fmt.Sprintf("company-%d.example.com", id),
			"industry":          industries[s.rng.IntN(len(industries))].Value,
			"city":              city[0],
			"country":           city[1],
			"numberofemployees": strconv.Itoa(1 + s.rng.IntN(5000)),
			"annualrevenue":     strconv.Itoa(10000 * (1 + s.rng.IntN(10000))),
			"hubspot_owner_id":  owner,
		}
	default:
		return map[string]string{
			"dealname":         fmt.Sprintf("Deal %d", id),
			"amount":           strconv.Itoa(100 * (1 + s.rng.IntN(1000))),
			"dealstage":        dealStages[s.rng.IntN(len(dealStages))].Value,
			"pipeline":         "default",
			"closedate":        formatTime(s.nowLocked() + int64(s.rng.IntN(90))*86_400_000),
			"hubspot_owner_id": owner,
		}
	}
}

// adminRoutes is the HTTP form of the admin controls, under /_admin/. It needs no token: bind the
// emulator to a loopback address.
func (s *Server) adminRoutes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_admin/credentials", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, s.Credentials())
	})
	m.HandleFunc("POST /_admin/seed", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Object string `json:"object"`
			Count  int    `json:"count"`
		}
		if err := decodeJSON(r, &in); err != nil || in.Count < 0 {
			adminError(w, http.StatusBadRequest, "want {\"object\":\"contacts\",\"count\":100}")
			return
		}
		ids, err := s.Seed(in.Object, in.Count)
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.writeJSON(w, http.StatusCreated, map[string]any{"ids": ids})
	})
	m.HandleFunc("GET /_admin/records/{object}", func(w http.ResponseWriter, r *http.Request) {
		recs, err := s.Records(r.PathValue("object"))
		if err != nil {
			adminError(w, http.StatusNotFound, err.Error())
			return
		}
		if a := r.URL.Query().Get("archived"); a == "true" || a == "false" {
			want := a == "true"
			recs = slices.DeleteFunc(recs, func(rec Record) bool { return rec.Archived != want })
		}
		s.writeJSON(w, http.StatusOK, map[string]any{"results": recs})
	})
	m.HandleFunc("GET /_admin/records/{object}/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, ok := s.Record(r.PathValue("object"), r.PathValue("id"))
		if !ok {
			adminError(w, http.StatusNotFound, "no such record")
			return
		}
		s.writeJSON(w, http.StatusOK, rec)
	})
	m.HandleFunc("POST /_admin/records/{object}", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Properties map[string]string `json:"properties"`
		}
		if err := decodeJSON(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		id, err := s.Create(r.PathValue("object"), in.Properties)
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	m.HandleFunc("PATCH /_admin/records/{object}/{id}", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Properties map[string]string `json:"properties"`
		}
		if err := decodeJSON(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := s.Update(r.PathValue("object"), r.PathValue("id"), in.Properties); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("DELETE /_admin/records/{object}/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Archive(r.PathValue("object"), r.PathValue("id")); err != nil {
			adminError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_admin/modified-at", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Object string    `json:"object"`
			IDs    []string  `json:"ids"`
			At     time.Time `json:"at"`
		}
		if err := decodeJSON(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := s.SetModifiedAt(in.Object, in.IDs, in.At); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, faultsToJSON(s.CurrentFaults()))
	})
	m.HandleFunc("PUT /_admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var in faultsJSON
		if err := decodeJSON(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		f, err := in.faults()
		if err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.SetFaults(f)
		s.writeJSON(w, http.StatusOK, faultsToJSON(f))
	})
	m.HandleFunc("DELETE /_admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.SetFaults(Faults{})
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_admin/clock-skew", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		skew := s.skew
		s.mu.Unlock()
		s.writeJSON(w, http.StatusOK, map[string]string{"skew": skew.String()})
	})
	m.HandleFunc("PUT /_admin/clock-skew", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Skew string `json:"skew"`
		}
		if err := decodeJSON(r, &in); err != nil {
			adminError(w, http.StatusBadRequest, err.Error())
			return
		}
		d, err := time.ParseDuration(in.Skew)
		if err != nil {
			adminError(w, http.StatusBadRequest, "skew: "+err.Error())
			return
		}
		s.SetClockSkew(d)
		s.writeJSON(w, http.StatusOK, map[string]string{"skew": d.String()})
	})
	m.HandleFunc("POST /_admin/tokens/expire", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /_admin/tokens/revoke", func(w http.ResponseWriter, _ *http.Request) {
		s.RevokeTokens()
		s.writeJSON(w, http.StatusOK, s.Credentials())
	})
	m.HandleFunc("GET /_admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, http.StatusOK, s.Stats())
	})
	m.HandleFunc("DELETE /_admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	return m
}

func adminError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// faultsJSON is Faults with a human duration ("250ms") for the admin API.
type faultsJSON struct {
	ErrorRate     float64 `json:"errorRate,omitempty"`
	ErrorStatus   int     `json:"errorStatus,omitempty"`
	HTMLErrors    bool    `json:"htmlErrors,omitempty"`
	RateLimitNext int     `json:"rateLimitNext,omitempty"`
	Latency       string  `json:"latency,omitempty"`
	DropRate      float64 `json:"dropRate,omitempty"`
}

func (f faultsJSON) faults() (Faults, error) {
	out := Faults{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, HTMLErrors: f.HTMLErrors, RateLimitNext: f.RateLimitNext, DropRate: f.DropRate}
	if f.Latency != "" {
		d, err := time.ParseDuration(f.Latency)
		if err != nil {
			return Faults{}, fmt.Errorf("latency: %w", err)
		}
		out.Latency = d
	}
	if out.ErrorRate < 0 || out.ErrorRate > 1 || out.DropRate < 0 || out.DropRate > 1 {
		return Faults{}, errors.New("errorRate and dropRate are fractions between 0 and 1")
	}
	return out, nil
}

func faultsToJSON(f Faults) faultsJSON {
	out := faultsJSON{ErrorRate: f.ErrorRate, ErrorStatus: f.ErrorStatus, HTMLErrors: f.HTMLErrors, RateLimitNext: f.RateLimitNext, DropRate: f.DropRate}
	if f.Latency > 0 {
		out.Latency = f.Latency.String()
	}
	return out
}
