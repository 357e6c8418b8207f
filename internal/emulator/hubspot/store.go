package hubspot

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxStringLength is HubSpot's limit on a string property value.
const maxStringLength = 65536

// record is one stored CRM record. Times are Unix milliseconds of the server's (possibly skewed) clock.
type record struct {
	id         int64
	props      map[string]string // set values only; a cleared property is absent
	created    int64
	modified   int64
	archived   bool
	archivedAt int64
	visibleAt  int64 // the record is invisible to search before this time (index lag)
}

// objectStore holds the records of one object type.
type objectStore struct {
	def    *objectDef
	byID   map[int64]*record
	all    []*record                   // every record, by id (ids only grow)
	unique map[string]map[string]int64 // unique property -> lower-cased value -> id, live records only
	order  []*record                   // live records by (modified, id); rebuilt when dirty
	dirty  bool
}

func newObjectStore(d *objectDef) *objectStore {
	return &objectStore{def: d, byID: map[int64]*record{}, unique: map[string]map[string]int64{}}
}

func (st *objectStore) sorted() []*record {
	if !st.dirty && st.order != nil {
		return st.order
	}
	st.order = st.order[:0]
	for _, r := range st.all {
		if !r.archived {
			st.order = append(st.order, r)
		}
	}
	slices.SortFunc(st.order, func(a, b *record) int {
		if a.modified != b.modified {
			return cmpInt(a.modified, b.modified)
		}
		return cmpInt(a.id, b.id)
	})
	st.dirty = false
	return st.order
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// get returns a live or archived record by its id string.
func (st *objectStore) get(id string) *record {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	return st.byID[n]
}

// lookup finds a live record by a unique property's value, or by id when prop is "" or hs_object_id.
func (st *objectStore) lookup(prop, value string) *record {
	if prop == "" || prop == "hs_object_id" {
		r := st.get(value)
		if r == nil || r.archived {
			return nil
		}
		return r
	}
	id, ok := st.unique[prop][strings.ToLower(value)]
	if !ok {
		return nil
	}
	return st.byID[id]
}

func (st *objectStore) index(r *record) {
	for name, p := range st.def.Props {
		if !p.Unique {
			continue
		}
		v, ok := r.props[name]
		if !ok || v == "" {
			continue
		}
		m := st.unique[name]
		if m == nil {
			m = map[string]int64{}
			st.unique[name] = m
		}
		m[strings.ToLower(v)] = r.id
	}
}

func (st *objectStore) unindex(r *record) {
	for name, m := range st.unique {
		if v, ok := r.props[name]; ok {
			if m[strings.ToLower(v)] == r.id {
				delete(m, strings.ToLower(v))
			}
		}
	}
}

// conflict returns the id of another live record that already holds one of vals' unique values.
func (st *objectStore) conflict(self int64, vals map[string]*string) (prop string, existing int64, found bool) {
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := vals[name]
		p := st.def.Props[name]
		if v == nil || *v == "" || p == nil || !p.Unique {
			continue
		}
		if id, ok := st.unique[name][strings.ToLower(*v)]; ok && id != self {
			return name, id, true
		}
	}
	return "", 0, false
}

// conflictError is HubSpot's answer to a duplicate unique value.
func (st *objectStore) conflictMessage(prop string, existing int64) string {
	if prop == "email" && st.def.UniqueEmail {
		return fmt.Sprintf("Contact already exists. Existing ID: %d", existing)
	}
	return fmt.Sprintf("A %s with the same %s already exists. Existing ID: %d", strings.ToLower(st.def.Singular), prop, existing)
}

// apply writes normalised values to r and stamps it modified at now.
func (st *objectStore) apply(r *record, vals map[string]*string, now, visible int64) {
	st.unindex(r)
	for name, v := range vals {
		if v == nil || *v == "" {
			delete(r.props, name)
		} else {
			r.props[name] = *v
		}
	}
	r.modified = now
	r.visibleAt = visible
	st.index(r)
	st.dirty = true
}

func (st *objectStore) insert(r *record) {
	st.byID[r.id] = r
	st.all = append(st.all, r)
	st.index(r)
	st.dirty = true
}

func (st *objectStore) archive(r *record, now int64) {
	if r.archived {
		return
	}
	st.unindex(r)
	r.archived = true
	r.archivedAt = now
	st.dirty = true
}

// propValue returns the wire value of a property of r, including the computed ones.
func (st *objectStore) propValue(r *record, name string) (string, bool) {
	switch name {
	case "hs_object_id":
		return strconv.FormatInt(r.id, 10), true
	case "createdate":
		return formatTime(r.created), true
	case st.def.ModProp:
		return formatTime(r.modified), true
	}
	v, ok := r.props[name]
	return v, ok
}

// wireValue turns a decoded JSON value into HubSpot's string form; ok=false for objects and arrays.
func wireValue(v any) (s *string, ok bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		return &x, true
	case json.Number:
		t := x.String()
		return &t, true
	case float64:
		t := strconv.FormatFloat(x, 'f', -1, 64)
		return &t, true
	case bool:
		t := strconv.FormatBool(x)
		return &t, true
	}
	return nil, false
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s.]+$`)

// validate checks and normalises input property values. On create it also enforces required properties.
func (s *Server) validate(d *objectDef, in map[string]any, create bool) (map[string]*string, []propError) {
	vals := make(map[string]*string, len(in))
	var errs []propError
	names := make([]string, 0, len(in))
	for name := range in {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := d.Props[name]
		if p == nil {
			errs = append(errs, propError{Name: name, Code: "PROPERTY_DOESNT_EXIST", Message: fmt.Sprintf("Property %q does not exist", name)})
			continue
		}
		raw, ok := wireValue(in[name])
		if !ok {
			errs = append(errs, propError{Name: name, Code: "INVALID_VALUE", Message: fmt.Sprintf("Property %q must be a string, a number, a boolean or null", name)})
			continue
		}
		if p.ReadOnly {
			errs = append(errs, propError{Name: name, Code: "READ_ONLY_VALUE", Message: fmt.Sprintf("%s is a read only property; its value cannot be set.", name)})
			continue
		}
		if raw == nil || *raw == "" {
			vals[name] = nil
			continue
		}
		norm, perr := normalise(p, *raw)
		if perr != nil {
			errs = append(errs, *perr)
			continue
		}
		vals[name] = &norm
	}
	if create {
		for _, name := range d.Required {
			if v, ok := vals[name]; !ok || v == nil {
				if !slices.ContainsFunc(errs, func(e propError) bool { return e.Name == name }) {
					errs = append(errs, propError{Name: name, Code: "REQUIRED_PROPERTY", Message: fmt.Sprintf("Property %q is required", name)})
				}
			}
		}
	}
	return vals, errs
}

// normalise checks one value against its property's type and returns the stored form.
func normalise(p *property, v string) (string, *propError) {
	bad := func(code, format string, args ...any) (string, *propError) {
		return "", &propError{Name: p.Name, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	switch p.Type {
	case TypeNumber:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return bad("INVALID_NUMBER", "%s is not a valid number", v)
		}
		return strings.TrimSpace(v), nil
	case TypeBool:
		switch strings.ToLower(v) {
		case "true", "false":
			return strings.ToLower(v), nil
		}
		return bad("INVALID_BOOLEAN", "%s is not a valid boolean value, expected true or false", v)
	case TypeDate:
		if t, err := time.Parse("2006-01-02", v); err == nil {
			return t.Format("2006-01-02"), nil
		}
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			t := time.UnixMilli(ms).UTC()
			if !t.Equal(t.Truncate(24 * time.Hour)) {
				return bad("INVALID_DATE", "%s is not a valid date: it must be midnight UTC", v)
			}
			return t.Format("2006-01-02"), nil
		}
		return bad("INVALID_DATE", "%s is not a valid date, expected YYYY-MM-DD or milliseconds at midnight UTC", v)
	case TypeDateTime:
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return formatTime(ms), nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				return formatTime(t.UnixMilli()), nil
			}
		}
		return bad("INVALID_DATETIME", "%s is not a valid datetime, expected milliseconds or ISO 8601", v)
	case TypeEnumeration:
		if p.FieldType == "checkbox" {
			for _, part := range strings.Split(v, ";") {
				if !p.allows(part) {
					return bad("INVALID_OPTION", "%s was not one of the allowed options: [%s]", part, p.optionValues())
				}
			}
			return v, nil
		}
		if !p.allows(v) {
			return bad("INVALID_OPTION", "%s was not one of the allowed options: [%s]", v, p.optionValues())
		}
		return v, nil
	}
	if len([]rune(v)) > maxStringLength {
		return bad("INVALID_LENGTH", "Property %q is longer than %d characters", p.Name, maxStringLength)
	}
	if p.Email && !emailRE.MatchString(v) {
		return bad("INVALID_EMAIL", "Email address %s is invalid", v)
	}
	return v, nil
}

// formatTime renders Unix milliseconds as HubSpot does: ISO 8601, UTC, milliseconds, "Z".
func formatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// parseTimeValue reads a filter or property time: milliseconds or ISO 8601.
func parseTimeValue(v string) (int64, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return ms, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}
