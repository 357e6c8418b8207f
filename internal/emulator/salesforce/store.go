package salesforce

import (
	"encoding/json"
	"fmt"
	"math"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sfTime is Salesforce's datetime wire format.
const sfTime = "2006-01-02T15:04:05.000-0700"

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000+0000") }

type sobject struct {
	name, label, plural, prefix string
	fields                      []*Field
	byLower                     map[string]*Field
	records                     map[string]*record
	unique                      map[string]map[string]string // field -> lower(value) -> id, live records only
}

type record struct {
	id        string
	values    map[string]any // writable fields by canonical name: string, float64, bool, nil
	created   time.Time
	modified  time.Time
	modstamp  time.Time
	deleted   bool
	deletedAt time.Time
}

func sysField(name, typ string) Field {
	return Field{Name: name, Label: labelOf(name), Type: typ, ReadOnly: true}
}

func labelOf(name string) string {
	name = strings.TrimSuffix(name, "__c")
	name = strings.TrimSuffix(name, "Id")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		if r == '_' {
			r = ' '
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "Record ID"
	}
	return b.String()
}

func txt(name string, n int) Field {
	return Field{Name: name, Label: labelOf(name), Type: "string", Length: n}
}
func area(name string, n int) Field {
	return Field{Name: name, Label: labelOf(name), Type: "textarea", Length: n}
}
func typed(name, typ string) Field { return Field{Name: name, Label: labelOf(name), Type: typ} }
func pick(name string, vals ...string) Field {
	return Field{Name: name, Label: labelOf(name), Type: "picklist", Length: 255, Picklist: vals}
}

var opportunityStages = []string{"Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
	"Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"}

func standardFields(object string) []Field {
	head := []Field{sysField("Id", "id"), sysField("IsDeleted", "boolean")}
	owner := Field{Name: "OwnerId", Label: "Owner ID", Type: "reference", Defaulted: true}
	tail := []Field{owner, sysField("CreatedDate", "datetime"), sysField("CreatedById", "reference"),
		sysField("LastModifiedDate", "datetime"), sysField("LastModifiedById", "reference"), sysField("SystemModstamp", "datetime")}
	var body []Field
	switch object {
	case "Contact":
		last := txt("LastName", 80)
		last.Required = true
		acct := typed("AccountId", "reference")
		name := txt("Name", 121)
		name.ReadOnly = true
		email := typed("Email", "email")
		email.Length = 80
		phone, mobile := typed("Phone", "phone"), typed("MobilePhone", "phone")
		phone.Length, mobile.Length = 40, 40
		birth := typed("Birthdate", "date")
		opted, dnc := typed("HasOptedOutOfEmail", "boolean"), typed("DoNotCall", "boolean")
		opted.Defaulted, dnc.Defaulted = true, true
		body = []Field{sysField("MasterRecordId", "reference"), acct, last, txt("FirstName", 40),
			pick("Salutation", "Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."), name, txt("Title", 128), txt("Department", 80),
			email, phone, mobile, pick("LeadSource", "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
			area("MailingStreet", 255), txt("MailingCity", 40), txt("MailingState", 80), txt("MailingPostalCode", 20),
			txt("MailingCountry", 80), birth, area("Description", 32000), opted, dnc}
	case "Account":
		name := txt("Name", 255)
		name.Required = true
		site := typed("Website", "url")
		site.Length = 255
		phone := typed("Phone", "phone")
		phone.Length = 40
		body = []Field{name, pick("Type", "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
			"Installation Partner", "Technology Partner", "Other"),
			pick("Industry", "Agriculture", "Apparel", "Banking", "Chemicals", "Communications", "Construction", "Consulting",
				"Education", "Electronics", "Energy", "Engineering", "Finance", "Healthcare", "Insurance", "Manufacturing",
				"Media", "Retail", "Technology", "Telecommunications", "Transportation", "Other"),
			phone, site, typed("AnnualRevenue", "currency"), typed("NumberOfEmployees", "int"),
			area("BillingStreet", 255), txt("BillingCity", 40), txt("BillingState", 80), txt("BillingPostalCode", 20),
			txt("BillingCountry", 80), area("Description", 32000)}
	case "Opportunity":
		name := txt("Name", 120)
		name.Required = true
		stage := pick("StageName", opportunityStages...)
		stage.Required, stage.Restricted = true, true
		closeDate := typed("CloseDate", "date")
		closeDate.Required = true
		closed, won := sysField("IsClosed", "boolean"), sysField("IsWon", "boolean")
		body = []Field{typed("AccountId", "reference"), name, area("Description", 32000), stage, typed("Amount", "currency"),
			typed("Probability", "percent"), closeDate,
			pick("Type", "Existing Customer - Upgrade", "Existing Customer - Replacement", "Existing Customer - Downgrade", "New Customer"),
			txt("NextStep", 255), pick("LeadSource", "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
			closed, won}
	}
	return append(append(head, body...), tail...)
}

var keyPrefixes = map[string]string{"Account": "001", "Contact": "003", "Opportunity": "006"}
var plurals = map[string]string{"Account": "Accounts", "Contact": "Contacts", "Opportunity": "Opportunities"}

func newSObject(name string, custom []Field) *sobject {
	o := &sobject{name: name, label: name, plural: plurals[name], prefix: keyPrefixes[name],
		byLower: map[string]*Field{}, records: map[string]*record{}, unique: map[string]map[string]string{}}
	for _, f := range append(standardFields(name), custom...) {
		f := f
		if f.Label == "" {
			f.Label = labelOf(f.Name)
		}
		if f.Length == 0 && isText(f.Type) {
			f.Length = 255
		}
		o.fields = append(o.fields, &f)
		o.byLower[strings.ToLower(f.Name)] = &f
		if f.Unique || f.ExternalID {
			o.unique[f.Name] = map[string]string{}
		}
	}
	return o
}

func isText(t string) bool {
	switch t {
	case "string", "textarea", "picklist", "multipicklist", "email", "phone", "url":
		return true
	}
	return false
}

func (o *sobject) field(name string) *Field { return o.byLower[strings.ToLower(name)] }

// referenceTo names the object a reference field points at.
func referenceTo(f *Field) string {
	switch f.Name {
	case "AccountId":
		return "Account"
	case "MasterRecordId":
		return ""
	}
	return "User"
}

// id generation ------------------------------------------------------------------------------------

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// withChecksum turns a 15-character case-sensitive id into the 18-character case-insensitive form.
func withChecksum(id15 string) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	out := []byte(id15)
	for chunk := 0; chunk < 3; chunk++ {
		flag := 0
		for j := 0; j < 5; j++ {
			c := id15[chunk*5+j]
			if c >= 'A' && c <= 'Z' {
				flag |= 1 << j
			}
		}
		out = append(out, alpha[flag])
	}
	return string(out)
}

// normalizeID returns the 18-character form of a 15- or 18-character id, or "" when it is malformed.
func normalizeID(id string) string {
	if len(id) != 15 && len(id) != 18 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune(base62, rune(id[i])) {
			return ""
		}
	}
	full := withChecksum(id[:15])
	if len(id) == 18 && !strings.EqualFold(full, id) {
		return ""
	}
	return full
}

// newID returns a fresh 18-character id with the object's key prefix. The caller holds s.mu.
func (s *Server) newID(prefix string) string {
	s.idSeq++
	n := s.idSeq
	var b [7]byte
	for i := 6; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return withChecksum(prefix + "5g000" + string(b[:]))
}

// values ---------------------------------------------------------------------------------------------

// saveError is one error of a SaveResult.
type saveError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// requestError fails a whole request (HTTP 400) rather than one record.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.code + ": " + e.msg }

// coerce converts a JSON or CSV value for field f into its stored form. fromCSV values are strings.
func coerce(f *Field, v any) (any, string) {
	if v == nil {
		return nil, ""
	}
	bad := func() (any, string) {
		return nil, fmt.Sprintf("Cannot deserialize instance of %s from VALUE_%s value %v or request may be missing a required field",
			soapType(f.Type), jsonKind(v), v)
	}
	switch f.Type {
	case "boolean":
		switch x := v.(type) {
		case bool:
			return x, ""
		case string:
			switch strings.ToLower(x) {
			case "true", "1":
				return true, ""
			case "false", "0", "":
				return false, ""
			}
		}
		return bad()
	case "int", "double", "currency", "percent":
		var n float64
		switch x := v.(type) {
		case float64:
			n = x
		case json.Number:
			p, err := x.Float64()
			if err != nil {
				return bad()
			}
			n = p
		case string:
			if x == "" {
				return nil, ""
			}
			p, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return bad()
			}
			n = p
		default:
			return bad()
		}
		if f.Type == "int" && n != math.Trunc(n) {
			return bad()
		}
		return n, ""
	case "date":
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		if x == "" {
			return nil, ""
		}
		if _, err := time.Parse("2006-01-02", x); err != nil {
			return bad()
		}
		return x, ""
	case "datetime":
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		if x == "" {
			return nil, ""
		}
		t, ok := parseDateTime(x)
		if !ok {
			return bad()
		}
		return t, ""
	default:
		switch x := v.(type) {
		case string:
			if x == "" {
				return nil, ""
			}
			return x, ""
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), ""
		case json.Number:
			return x.String(), ""
		case bool:
			return strconv.FormatBool(x), ""
		}
		return bad()
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "STRING"
	case float64, json.Number:
		return "NUMBER_FLOAT"
	case bool:
		return "TRUE"
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	}
	return "NULL"
}

func soapType(t string) string {
	switch t {
	case "boolean":
		return "boolean"
	case "int":
		return "int"
	case "double", "currency", "percent":
		return "double"
	case "date":
		return "date"
	case "datetime":
		return "datetime"
	}
	return "string"
}

func parseDateTime(s string) (time.Time, bool) {
	for _, layout := range []string{sfTime, "2006-01-02T15:04:05.000Z07:00", time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Second), true
		}
	}
	return time.Time{}, false
}

// get returns the stored or computed value of a field of a record.
func (o *sobject) get(s *Server, r *record, name string) any {
	switch name {
	case "Id":
		return r.id
	case "IsDeleted":
		return r.deleted
	case "CreatedDate":
		return r.created
	case "LastModifiedDate":
		return r.modified
	case "SystemModstamp":
		return r.modstamp
	case "CreatedById", "LastModifiedById":
		return s.creds.UserID
	case "OwnerId":
		if v, ok := r.values["OwnerId"]; ok && v != nil {
			return v
		}
		return s.creds.UserID
	case "MasterRecordId":
		return nil
	case "Name":
		if o.name == "Contact" {
			parts := []string{}
			for _, k := range []string{"Salutation", "FirstName", "LastName"} {
				if v, ok := r.values[k].(string); ok && v != "" {
					parts = append(parts, v)
				}
			}
			return strings.Join(parts, " ")
		}
	case "IsClosed", "IsWon":
		st, _ := r.values["StageName"].(string)
		if name == "IsClosed" {
			return st == "Closed Won" || st == "Closed Lost"
		}
		return st == "Closed Won"
	}
	v, ok := r.values[name]
	if !ok {
		if f := o.field(name); f != nil && f.Type == "boolean" {
			return false
		}
		return nil
	}
	return v
}

// wire renders a stored value as JSON-ready data.
func wire(f *Field, v any) any {
	switch x := v.(type) {
	case time.Time:
		return fmtTime(x)
	case float64:
		if f != nil && f.Type == "int" {
			return int64(x)
		}
		return x
	}
	return v
}

// validate checks values (already coerced, canonical names) for a create (id == "") or an update of rec.
// It returns the record's errors; none means it may be saved.
func (s *Server) validate(o *sobject, rec *record, vals map[string]any) []saveError {
	var errs []saveError
	var readOnly []string
	for name := range vals {
		f := o.field(name)
		if f.ReadOnly || name == "Id" {
			readOnly = append(readOnly, name)
		}
	}
	if len(readOnly) > 0 {
		sort.Strings(readOnly)
		errs = append(errs, saveError{StatusCode: "INVALID_FIELD_FOR_INSERT_UPDATE",
			Message: "Unable to create/update fields: " + strings.Join(readOnly, ", ") + ". Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
			Fields:  readOnly})
	}
	var missing []string
	for _, f := range o.fields {
		if !f.Required {
			continue
		}
		v, present := vals[f.Name]
		if rec == nil && (!present || v == nil) || rec != nil && present && v == nil {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, saveError{StatusCode: "REQUIRED_FIELD_MISSING",
			Message: "Required fields are missing: [" + strings.Join(missing, ", ") + "]", Fields: missing})
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f := o.field(name)
		v, ok := vals[name].(string)
		if !ok {
			continue
		}
		if isText(f.Type) && f.Type != "picklist" && f.Type != "multipicklist" && utf8.RuneCountInString(v) > f.Length {
			errs = append(errs, saveError{StatusCode: "STRING_TOO_LONG",
				Message: fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, truncate(v, 40), f.Length), Fields: []string{f.Name}})
		}
		switch f.Type {
		case "email":
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v[strings.LastIndex(v, "@")+1:], ".") {
				errs = append(errs, saveError{StatusCode: "INVALID_EMAIL_ADDRESS",
					Message: fmt.Sprintf("%s: invalid email address: %s", f.Label, v), Fields: []string{f.Name}})
			}
		case "picklist", "multipicklist":
			if !f.Restricted {
				continue
			}
			vs := []string{v}
			if f.Type == "multipicklist" {
				vs = strings.Split(v, ";")
			}
			for _, one := range vs {
				if !contains(f.Picklist, one) {
					errs = append(errs, saveError{StatusCode: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
						Message: fmt.Sprintf("%s: bad value for restricted picklist field: %s", f.Label, one), Fields: []string{f.Name}})
					break
				}
			}
		case "reference":
			target := referenceTo(f)
			nid := normalizeID(v)
			switch {
			case nid == "":
				errs = append(errs, saveError{StatusCode: "MALFORMED_ID",
					Message: fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, v), Fields: []string{f.Name}})
			case target == "User":
				if !strings.HasPrefix(nid, "005") {
					errs = append(errs, saveError{StatusCode: "FIELD_INTEGRITY_EXCEPTION",
						Message: fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, v), Fields: []string{f.Name}})
				}
			default:
				t := s.objects[target]
				if r, ok := t.records[nid]; !ok || r.deleted {
					errs = append(errs, saveError{StatusCode: "INVALID_CROSS_REFERENCE_KEY",
						Message: "invalid cross reference id", Fields: []string{f.Name}})
				} else {
					vals[name] = nid
				}
			}
		}
	}
	for field, idx := range o.unique {
		v, ok := vals[field].(string)
		if !ok {
			continue
		}
		if other, taken := idx[strings.ToLower(v)]; taken && (rec == nil || other != rec.id) {
			errs = append(errs, saveError{StatusCode: "DUPLICATE_VALUE",
				Message: fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", field, other), Fields: []string{}})
		}
	}
	return errs
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "..."
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// undoLog restores records when an allOrNone request fails.
type undoLog []func()

func (u undoLog) rollback() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

func (s *Server) indexUnique(o *sobject, r *record, add bool) {
	for field, idx := range o.unique {
		v, ok := r.values[field].(string)
		if !ok {
			continue
		}
		k := strings.ToLower(v)
		if add {
			idx[k] = r.id
		} else if idx[k] == r.id {
			delete(idx, k)
		}
	}
}

// insert creates a record. The caller holds s.mu.
func (s *Server) insert(o *sobject, vals map[string]any, undo *undoLog) (string, []saveError) {
	if errs := s.validate(o, nil, vals); len(errs) > 0 {
		return "", errs
	}
	now := s.now()
	r := &record{id: s.newID(o.prefix), values: map[string]any{}, created: now, modified: now, modstamp: now}
	for k, v := range vals {
		if v != nil {
			r.values[k] = v
		}
	}
	o.records[r.id] = r
	s.indexUnique(o, r, true)
	if undo != nil {
		*undo = append(*undo, func() { s.indexUnique(o, r, false); delete(o.records, r.id) })
	}
	return r.id, nil
}

// lookup finds a live record by id, or returns the SaveResult error for it.
func (s *Server) lookup(o *sobject, id string) (*record, *saveError) {
	nid := normalizeID(id)
	if nid == "" || !strings.HasPrefix(nid, o.prefix) {
		return nil, &saveError{StatusCode: "MALFORMED_ID", Message: fmt.Sprintf("%s ID: id value of incorrect type: %s", o.label, id), Fields: []string{"Id"}}
	}
	r, ok := o.records[nid]
	if !ok {
		return nil, &saveError{StatusCode: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id", Fields: []string{}}
	}
	if r.deleted {
		return nil, &saveError{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted", Fields: []string{}}
	}
	return r, nil
}

// modify updates a live record. The caller holds s.mu.
func (s *Server) modify(o *sobject, r *record, vals map[string]any, undo *undoLog) []saveError {
	if errs := s.validate(o, r, vals); len(errs) > 0 {
		return errs
	}
	old := *r
	oldVals := make(map[string]any, len(r.values))
	for k, v := range r.values {
		oldVals[k] = v
	}
	s.indexUnique(o, r, false)
	for k, v := range vals {
		if v == nil {
			delete(r.values, k)
		} else {
			r.values[k] = v
		}
	}
	now := s.now()
	r.modified, r.modstamp = now, now
	s.indexUnique(o, r, true)
	if undo != nil {
		*undo = append(*undo, func() {
			s.indexUnique(o, r, false)
			*r = old
			r.values = oldVals
			s.indexUnique(o, r, true)
		})
	}
	return nil
}

// remove moves a live record to the recycle bin and logs the deletion. The caller holds s.mu.
func (s *Server) remove(o *sobject, r *record, hard bool, undo *undoLog) {
	old := *r
	now := s.now()
	s.indexUnique(o, r, false)
	r.deleted, r.deletedAt, r.modified, r.modstamp = true, now, now, now
	s.deleteLog[o.name] = append(s.deleteLog[o.name], deletedEntry{id: r.id, at: now})
	if hard {
		delete(o.records, r.id)
	}
	if undo != nil {
		*undo = append(*undo, func() {
			log := s.deleteLog[o.name]
			s.deleteLog[o.name] = log[:len(log)-1]
			*r = old
			o.records[r.id] = r
			s.indexUnique(o, r, true)
		})
	}
}

type deletedEntry struct {
	id string
	at time.Time
}

// expire drops recycle-bin records and delete-log entries older than the retention. The caller holds s.mu.
func (s *Server) expire(o *sobject) {
	cut := s.now().Add(-s.opts.DeletedRetention)
	log := s.deleteLog[o.name]
	i := 0
	for i < len(log) && log[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		s.deleteLog[o.name] = append([]deletedEntry(nil), log[i:]...)
		if cut.After(s.purgedAt[o.name]) {
			s.purgedAt[o.name] = cut
		}
		for _, e := range log[:i] {
			if r, ok := o.records[e.id]; ok && r.deleted && r.deletedAt.Before(cut) {
				delete(o.records, e.id)
			}
		}
	}
}

// decodeFields converts a JSON object's fields (excluding attributes) into canonical names and stored
// values. Unknown fields and undecodable values fail the whole request, as Salesforce's JSON reader does.
func decodeFields(o *sobject, raw map[string]any) (map[string]any, *requestError) {
	vals := make(map[string]any, len(raw))
	for k, v := range raw {
		if k == "attributes" {
			continue
		}
		f := o.field(k)
		if f == nil {
			return nil, &requestError{400, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.name)}
		}
		cv, msg := coerce(f, v)
		if msg != "" {
			return nil, &requestError{400, "JSON_PARSER_ERROR", msg}
		}
		vals[f.Name] = cv
	}
	return vals, nil
}
