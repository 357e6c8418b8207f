package salesforce

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "Linus", "Søren", "Zoë", "José", "Chloé"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Torvalds", "Kierkegaard", "Müller", "García", "O'Brien"}
	tiers      = []string{"Bronze", "Silver", "Gold", "Platinum"}
)

// Seed creates n contacts and n/10 accounts and opportunities (at least one each), with modification times
// one second apart ending now, as if they had been entered over time. It returns the contact ids.
func (s *Server) Seed(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	base := now.Add(-time.Duration(n) * time.Second)
	stamp := func(o *sobject, id string, i int) {
		r := o.records[id]
		t := base.Add(time.Duration(i) * time.Second)
		r.created, r.modified, r.modstamp = t, t, t
	}
	accounts := s.objects["Account"]
	var accountIDs []string
	for i := 0; i < max(1, n/10); i++ {
		id, errs := s.insert(accounts, map[string]any{"Name": fmt.Sprintf("%s Labs %d", lastNames[i%len(lastNames)], i),
			"Industry": "Technology", "NumberOfEmployees": float64(10 + i%500)}, nil)
		if len(errs) == 0 {
			accountIDs = append(accountIDs, id)
			stamp(accounts, id, i*10)
		}
	}
	contacts := s.objects["Contact"]
	hasTier := contacts.field("Loyalty_Tier__c") != nil
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		vals := map[string]any{"FirstName": first, "LastName": last,
			"Email": fmt.Sprintf("contact%d@example.com", i), "Phone": fmt.Sprintf("+1 415 555 %04d", i%10000),
			"AccountId": accountIDs[i%len(accountIDs)]}
		if hasTier {
			vals["Loyalty_Tier__c"] = tiers[i%len(tiers)]
		}
		id, errs := s.insert(contacts, vals, nil)
		if len(errs) == 0 {
			ids = append(ids, id)
			stamp(contacts, id, i)
		}
	}
	opps := s.objects["Opportunity"]
	for i := 0; i < max(1, n/10); i++ {
		id, errs := s.insert(opps, map[string]any{"Name": fmt.Sprintf("Deal %d", i), "StageName": opportunityStages[i%len(opportunityStages)],
			"CloseDate": now.AddDate(0, 1, 0).Format("2006-01-02"), "Amount": float64(1000 * (i%50 + 1)),
			"AccountId": accountIDs[i%len(accountIDs)]}, nil)
		if len(errs) == 0 {
			stamp(opps, id, i*10)
		}
	}
	return ids
}

// SaveError is a record-level error of an admin write, as a SaveResult would carry it.
type SaveError struct {
	StatusCode string
	Message    string
	Fields     []string
}

func (e *SaveError) Error() string { return e.StatusCode + ": " + e.Message }

func (s *Server) adminObject(name string) (*sobject, error) {
	for n, o := range s.objects {
		if strings.EqualFold(n, name) {
			return o, nil
		}
	}
	return nil, fmt.Errorf("salesforce emulator: unknown object %q", name)
}

func toSaveError(errs []saveError) error {
	if len(errs) == 0 {
		return nil
	}
	return &SaveError{StatusCode: errs[0].StatusCode, Message: errs[0].Message, Fields: errs[0].Fields}
}

// Create creates a record as a person in the Salesforce UI would, with the same validation as the API.
func (s *Server) Create(object string, fields map[string]any) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.adminObject(object)
	if err != nil {
		return "", err
	}
	vals, rerr := decodeFields(o, fields)
	if rerr != nil {
		return "", rerr
	}
	id, errs := s.insert(o, vals, nil)
	return id, toSaveError(errs)
}

// Update changes a record as a person in the UI would, bumping LastModifiedDate and SystemModstamp.
func (s *Server) Update(object, id string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.adminObject(object)
	if err != nil {
		return err
	}
	r, serr := s.lookup(o, id)
	if serr != nil {
		return toSaveError([]saveError{*serr})
	}
	vals, rerr := decodeFields(o, fields)
	if rerr != nil {
		return rerr
	}
	return toSaveError(s.modify(o, r, vals, nil))
}

// Delete moves a record to the recycle bin, as a person in the UI would.
func (s *Server) Delete(object, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.adminObject(object)
	if err != nil {
		return err
	}
	r, serr := s.lookup(o, id)
	if serr != nil {
		return toSaveError([]saveError{*serr})
	}
	s.remove(o, r, false, nil)
	return nil
}

// PurgeRecycleBin empties an object's recycle bin and delete log, as an administrator can: getDeleted
// then refuses windows starting before now, and queryAll no longer returns the purged records.
func (s *Server) PurgeRecycleBin(object string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.adminObject(object)
	if err != nil {
		return err
	}
	for id, r := range o.records {
		if r.deleted {
			delete(o.records, id)
		}
	}
	s.deleteLog[o.name] = nil
	s.purgedAt[o.name] = s.now().Truncate(time.Minute).Add(time.Minute)
	return nil
}

// SetModifiedAt forces LastModifiedDate and SystemModstamp of records (found by key prefix), truncated to
// the second as Salesforce stores them.
func (s *Server) SetModifiedAt(ids []string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	at = at.UTC().Truncate(time.Second)
	for _, id := range ids {
		nid := normalizeID(id)
		found := false
		for _, o := range s.objects {
			if r, ok := o.records[nid]; ok {
				r.modified, r.modstamp = at, at
				found = true
			}
		}
		if !found {
			return fmt.Errorf("salesforce emulator: no record %q", id)
		}
	}
	return nil
}

// SetClockSkew makes the org's clock run skew ahead of (positive) or behind the configured clock.
func (s *Server) SetClockSkew(skew time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew = skew
}

// SetFaults replaces the injected faults; Faults{} clears them.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// APICalls returns how many API calls (not token or admin calls) the org answered.
func (s *Server) APICalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.APICalls
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.DailyUsage = s.usage.total(s.now())
	st.ByRoute = make(map[string]int, len(s.stats.ByRoute))
	for k, v := range s.stats.ByRoute {
		st.ByRoute[k] = v
	}
	return st
}

// ResetStats zeroes the counters (not the daily usage, which is the org's).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByRoute: map[string]int{}}
}

// Records returns every live record of an object with all its fields in wire form, ordered by Id.
func (s *Server) Records(object string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.adminObject(object)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, r := range o.records {
		if !r.deleted {
			out = append(out, s.snapshot(o, r))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["Id"].(string) < out[j]["Id"].(string) })
	return out
}

// Record returns one record by id, including one in the recycle bin (IsDeleted true).
func (s *Server) Record(object, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.adminObject(object)
	if err != nil {
		return nil, false
	}
	r, ok := o.records[normalizeID(id)]
	if !ok {
		return nil, false
	}
	return s.snapshot(o, r), true
}

func (s *Server) snapshot(o *sobject, r *record) map[string]any {
	m := make(map[string]any, len(o.fields))
	for _, f := range o.fields {
		m[f.Name] = wire(f, o.get(s, r, f.Name))
	}
	return m
}

// admin over HTTP ----------------------------------------------------------------------------------

type adminFaults struct {
	ErrorRate     float64 `json:"errorRate"`
	ErrorStatus   int     `json:"errorStatus"`
	HTMLErrors    bool    `json:"htmlErrors"`
	Latency       string  `json:"latency"`
	DropRate      float64 `json:"dropRate"`
	RateLimitNext int     `json:"rateLimitNext"`
}

func adminErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/_admin/"), "/")
	segs := strings.Split(path, "/")
	decode := func(v any) bool {
		if err := json.NewDecoder(r.Body).Decode(v); err != nil {
			adminErr(w, http.StatusBadRequest, fmt.Errorf("decode body: %w", err))
			return false
		}
		return true
	}
	switch {
	case path == "stats" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Stats())
	case path == "stats" && r.Method == http.MethodDelete:
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	case path == "credentials" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Credentials())
	case path == "seed" && r.Method == http.MethodPost:
		var body struct {
			Count int `json:"count"`
		}
		if decode(&body) {
			writeJSON(w, 200, map[string]any{"ids": s.Seed(body.Count)})
		}
	case path == "faults" && r.Method == http.MethodPut:
		var af adminFaults
		if !decode(&af) {
			return
		}
		f := Faults{ErrorRate: af.ErrorRate, ErrorStatus: af.ErrorStatus, HTMLErrors: af.HTMLErrors, DropRate: af.DropRate, RateLimitNext: af.RateLimitNext}
		if af.Latency != "" {
			d, err := time.ParseDuration(af.Latency)
			if err != nil {
				adminErr(w, http.StatusBadRequest, err)
				return
			}
			f.Latency = d
		}
		s.SetFaults(f)
		w.WriteHeader(http.StatusNoContent)
	case path == "clock-skew" && r.Method == http.MethodPost:
		var body struct {
			Skew string `json:"skew"`
		}
		if !decode(&body) {
			return
		}
		d, err := time.ParseDuration(body.Skew)
		if err != nil {
			adminErr(w, http.StatusBadRequest, err)
			return
		}
		s.SetClockSkew(d)
		w.WriteHeader(http.StatusNoContent)
	case path == "modified-at" && r.Method == http.MethodPost:
		var body struct {
			IDs []string  `json:"ids"`
			At  time.Time `json:"at"`
		}
		if !decode(&body) {
			return
		}
		if err := s.SetModifiedAt(body.IDs, body.At); err != nil {
			adminErr(w, http.StatusNotFound, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case path == "tokens/expire" && r.Method == http.MethodPost:
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	case path == "tokens/revoke" && r.Method == http.MethodPost:
		s.RevokeTokens()
		w.WriteHeader(http.StatusNoContent)
	case path == "tokens/issue" && r.Method == http.MethodPost:
		writeJSON(w, 200, map[string]string{"refreshToken": s.IssueRefreshToken()})
	case len(segs) == 3 && segs[0] == "recycle-bin" && segs[2] == "purge" && r.Method == http.MethodPost:
		if err := s.PurgeRecycleBin(segs[1]); err != nil {
			adminErr(w, http.StatusNotFound, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case len(segs) == 2 && segs[0] == "records" && r.Method == http.MethodGet:
		writeJSON(w, 200, s.Records(segs[1]))
	case len(segs) == 2 && segs[0] == "records" && r.Method == http.MethodPost:
		var fields map[string]any
		if !decode(&fields) {
			return
		}
		id, err := s.Create(segs[1], fields)
		if err != nil {
			adminErr(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	case len(segs) == 3 && segs[0] == "records":
		var err error
		switch r.Method {
		case http.MethodGet:
			rec, ok := s.Record(segs[1], segs[2])
			if !ok {
				adminErr(w, http.StatusNotFound, errors.New("no such record"))
				return
			}
			writeJSON(w, 200, rec)
			return
		case http.MethodPatch:
			var fields map[string]any
			if !decode(&fields) {
				return
			}
			err = s.Update(segs[1], segs[2], fields)
		case http.MethodDelete:
			err = s.Delete(segs[1], segs[2])
		default:
			adminErr(w, http.StatusMethodNotAllowed, errors.New("use GET, PATCH or DELETE"))
			return
		}
		if err != nil {
			adminErr(w, http.StatusBadRequest, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		adminErr(w, http.StatusNotFound, fmt.Errorf("unknown admin route %s %s", r.Method, r.URL.Path))
	}
}
