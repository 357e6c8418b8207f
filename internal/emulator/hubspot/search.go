package hubspot

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Search limits HubSpot documents.
const (
	maxSearchLimit   = 200
	maxFilterGroups  = 5
	maxGroupFilters  = 6
	maxTotalFilters  = 18
	defaultSearchLim = 10
)

type searchFilter struct {
	PropertyName string            `json:"propertyName"`
	Operator     string            `json:"operator"`
	Value        json.RawMessage   `json:"value"`
	HighValue    json.RawMessage   `json:"highValue"`
	Values       []json.RawMessage `json:"values"`
}

type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      *int              `json:"limit"`
	After      json.RawMessage   `json:"after"`
	Query      string            `json:"query"`
}

// scalar reads a JSON string or number as a string.
func scalar(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// compiled filter
type cfilter struct {
	prop   *property
	op     string
	value  string
	high   string
	values []string
	num    float64 // value as a number or a time, when the property is one
	numHi  float64
	nums   []float64
}

type sortSpec struct {
	prop string
	desc bool
}

func (s *Server) compileSearch(d *objectDef, req *searchRequest) ([][]cfilter, sortSpec, int, int, string) {
	limit := defaultSearchLim
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 0 || limit > maxSearchLimit {
		return nil, sortSpec{}, 0, 0, "limit must be between 0 and " + strconv.Itoa(maxSearchLimit)
	}
	offset := 0
	if a := scalar(req.After); a != "" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return nil, sortSpec{}, 0, 0, "Invalid after: " + a
		}
		offset = n
	}
	if len(req.FilterGroups) > maxFilterGroups {
		return nil, sortSpec{}, 0, 0, "Too many filter groups: at most " + strconv.Itoa(maxFilterGroups) + " are allowed"
	}
	total := 0
	groups := make([][]cfilter, 0, len(req.FilterGroups))
	for _, g := range req.FilterGroups {
		if len(g.Filters) > maxGroupFilters {
			return nil, sortSpec{}, 0, 0, "Too many filters in a group: at most " + strconv.Itoa(maxGroupFilters) + " are allowed"
		}
		total += len(g.Filters)
		var cg []cfilter
		for _, f := range g.Filters {
			p := d.Props[f.PropertyName]
			if p == nil {
				return nil, sortSpec{}, 0, 0, "Property \"" + f.PropertyName + "\" does not exist"
			}
			cf := cfilter{prop: p, op: strings.ToUpper(f.Operator), value: scalar(f.Value), high: scalar(f.HighValue)}
			for _, v := range f.Values {
				cf.values = append(cf.values, scalar(v))
			}
			if msg := cf.compile(); msg != "" {
				return nil, sortSpec{}, 0, 0, msg
			}
			cg = append(cg, cf)
		}
		groups = append(groups, cg)
	}
	if total > maxTotalFilters {
		return nil, sortSpec{}, 0, 0, "Too many filters: at most " + strconv.Itoa(maxTotalFilters) + " are allowed"
	}
	if len(req.Sorts) > 1 {
		return nil, sortSpec{}, 0, 0, "Only one sort is allowed per search"
	}
	sort := sortSpec{prop: "hs_object_id"}
	if len(req.Sorts) == 1 {
		var asText string
		var asObj struct {
			PropertyName string `json:"propertyName"`
			Direction    string `json:"direction"`
		}
		switch {
		case json.Unmarshal(req.Sorts[0], &asText) == nil:
			sort.prop, sort.desc = strings.TrimPrefix(asText, "-"), strings.HasPrefix(asText, "-")
		case json.Unmarshal(req.Sorts[0], &asObj) == nil:
			sort.prop, sort.desc = asObj.PropertyName, strings.EqualFold(asObj.Direction, "DESCENDING")
		default:
			return nil, sortSpec{}, 0, 0, "Invalid sort"
		}
		if d.Props[sort.prop] == nil {
			return nil, sortSpec{}, 0, 0, "Property \"" + sort.prop + "\" does not exist"
		}
	}
	return groups, sort, limit, offset, ""
}

func numericType(p *property) bool {
	return p.Type == TypeNumber || p.Type == TypeDate || p.Type == TypeDateTime
}

func toNum(p *property, v string) (float64, bool) {
	if p.Type == TypeNumber {
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	ms, ok := parseTimeValue(v)
	return float64(ms), ok
}

func (f *cfilter) compile() string {
	switch f.op {
	case "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
		"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
	default:
		return "Invalid operator: " + f.op
	}
	if !numericType(f.prop) {
		return ""
	}
	var ok bool
	switch f.op {
	case "EQ", "NEQ", "GT", "GTE", "LT", "LTE":
		if f.num, ok = toNum(f.prop, f.value); !ok {
			return "Invalid value for " + f.prop.Name + ": " + f.value
		}
	case "BETWEEN":
		f.num, ok = toNum(f.prop, f.value)
		hi, ok2 := toNum(f.prop, f.high)
		if !ok || !ok2 {
			return "Invalid value for " + f.prop.Name
		}
		f.numHi = hi
	case "IN", "NOT_IN":
		for _, v := range f.values {
			n, ok := toNum(f.prop, v)
			if !ok {
				return "Invalid value for " + f.prop.Name + ": " + v
			}
			f.nums = append(f.nums, n)
		}
	}
	return ""
}

// recordNum returns a numeric view of a record's property.
func (st *objectStore) recordNum(r *record, p *property) (float64, bool) {
	switch p.Name {
	case "hs_object_id":
		return float64(r.id), true
	case "createdate":
		return float64(r.created), true
	case st.def.ModProp:
		return float64(r.modified), true
	}
	v, ok := r.props[p.Name]
	if !ok {
		return 0, false
	}
	return toNum(p, v)
}

func (st *objectStore) match(r *record, f *cfilter) bool {
	if numericType(f.prop) {
		n, ok := st.recordNum(r, f.prop)
		switch f.op {
		case "HAS_PROPERTY":
			return ok
		case "NOT_HAS_PROPERTY":
			return !ok
		}
		if !ok {
			return f.op == "NEQ" || f.op == "NOT_IN"
		}
		switch f.op {
		case "EQ":
			return n == f.num
		case "NEQ":
			return n != f.num
		case "GT":
			return n > f.num
		case "GTE":
			return n >= f.num
		case "LT":
			return n < f.num
		case "LTE":
			return n <= f.num
		case "BETWEEN":
			return n >= f.num && n <= f.numHi
		case "IN":
			return slices.Contains(f.nums, n)
		case "NOT_IN":
			return !slices.Contains(f.nums, n)
		}
		return false
	}
	raw, has := st.propValue(r, f.prop.Name)
	has = has && raw != ""
	switch f.op {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	}
	v := strings.ToLower(raw)
	want := strings.ToLower(f.value)
	switch f.op {
	case "EQ":
		return has && v == want
	case "NEQ":
		return v != want
	case "GT":
		return has && v > want
	case "GTE":
		return has && v >= want
	case "LT":
		return has && v < want
	case "LTE":
		return has && v <= want
	case "BETWEEN":
		return has && v >= want && v <= strings.ToLower(f.high)
	case "IN":
		return has && slices.ContainsFunc(f.values, func(x string) bool { return strings.EqualFold(x, raw) })
	case "NOT_IN":
		return !slices.ContainsFunc(f.values, func(x string) bool { return strings.EqualFold(x, raw) })
	case "CONTAINS_TOKEN":
		return has && containsToken(v, want)
	case "NOT_CONTAINS_TOKEN":
		return !has || !containsToken(v, want)
	}
	return false
}

func containsToken(v, token string) bool {
	token = strings.Trim(token, "*")
	return token == "" || strings.Contains(v, token)
}

// queryProps are searched by the free-text "query".
var queryFields = []string{"email", "firstname", "lastname", "phone", "company", "name", "domain", "dealname"}

func (st *objectStore) matches(r *record, groups [][]cfilter, query string) bool {
	if query != "" {
		q := strings.ToLower(query)
		if !slices.ContainsFunc(queryFields, func(name string) bool {
			v, ok := r.props[name]
			return ok && strings.Contains(strings.ToLower(v), q)
		}) {
			return false
		}
	}
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		all := true
		for i := range g {
			if !st.match(r, &g[i]) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// lowerBound returns the smallest modified time that every filter group requires, for the fast path.
func (st *objectStore) lowerBound(groups [][]cfilter) (int64, bool) {
	if len(groups) == 0 {
		return 0, false
	}
	var lo int64
	for i, g := range groups {
		glo, found := int64(0), false
		for _, f := range g {
			if f.prop.Name != st.def.ModProp {
				continue
			}
			switch f.op {
			case "GT", "GTE", "EQ", "BETWEEN":
				if !found || int64(f.num) > glo {
					glo, found = int64(f.num), true
				}
			}
		}
		if !found {
			return 0, false
		}
		if i == 0 || glo < lo {
			lo = glo
		}
	}
	return lo, true
}

// handleSearch answers POST /crm/v3/objects/{object}/search: {total, results, paging.next.after}, where
// after is an offset. Paging past SearchResultCap answers 400.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	var req searchRequest
	if err := decodeJSON(r, &req); err != nil {
		s.invalidJSON(w, err)
		return
	}
	groups, sort, limit, offset, msg := s.compileSearch(d, &req)
	if msg != "" {
		s.badRequest(w, "%s", msg)
		return
	}
	if offset >= s.opts.SearchResultCap {
		s.badRequest(w, "Search results are limited to %d. There are no results past after=%d: narrow the filters instead of paging further.",
			s.opts.SearchResultCap, offset)
		return
	}
	sel := selectProps(d, req.Properties)

	s.mu.Lock()
	st := s.objects[d.Name]
	now := s.nowLocked()
	visible := func(rec *record) bool {
		return rec.visibleAt <= now && st.matches(rec, groups, req.Query)
	}
	var page []*record
	total := 0
	if sort.prop == d.ModProp {
		order := st.sorted()
		start := 0
		if lo, ok := st.lowerBound(groups); ok && !sort.desc {
			start, _ = slices.BinarySearchFunc(order, lo, func(rec *record, t int64) int { return cmpInt(rec.modified, t) })
		}
		each := func(rec *record) {
			if !visible(rec) {
				return
			}
			if total >= offset && len(page) < limit {
				page = append(page, rec)
			}
			total++
		}
		if sort.desc {
			for i := len(order) - 1; i >= 0; i-- {
				each(order[i])
			}
		} else {
			for _, rec := range order[start:] {
				each(rec)
			}
		}
	} else {
		var all []*record
		for _, rec := range st.all {
			if !rec.archived && visible(rec) {
				all = append(all, rec)
			}
		}
		sortRecords(st, all, sort)
		total = len(all)
		if offset < len(all) {
			page = all[offset:min(offset+limit, len(all))]
		}
	}
	results := make([]recordJSON, len(page))
	for i, rec := range page {
		results[i] = st.toJSON(rec, sel)
	}
	s.mu.Unlock()

	body := pageJSON{Total: &total, Results: results}
	if next := offset + len(page); next < total && len(page) > 0 {
		body.Paging = &pagingJSON{Next: nextJSON{After: strconv.Itoa(next), Link: "?after=" + strconv.Itoa(next)}}
	}
	s.writeJSON(w, http.StatusOK, body)
}

func sortRecords(st *objectStore, recs []*record, sort sortSpec) {
	p := st.def.Props[sort.prop]
	slices.SortStableFunc(recs, func(a, b *record) int {
		c := 0
		if numericType(p) {
			x, okx := st.recordNum(a, p)
			y, oky := st.recordNum(b, p)
			switch {
			case okx && oky:
				c = cmpFloat(x, y)
			case okx:
				c = -1
			case oky:
				c = 1
			}
		} else {
			x, _ := st.propValue(a, sort.prop)
			y, _ := st.propValue(b, sort.prop)
			c = strings.Compare(strings.ToLower(x), strings.ToLower(y))
		}
		if sort.desc {
			c = -c
		}
		if c == 0 {
			c = cmpInt(a.id, b.id)
		}
		return c
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
