package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

func jsonInt(s string) any { return json.Number(s) }

// ToCanonical converts a record read from the CRM into canonical form. A remote field absent from
// rec.Fields leaves its canonical field absent; a null, or an empty string where the CRM does not keep
// empty text, becomes a nil value. Remote fields the mapping does not name are ignored.
//
// A value that cannot be converted (a malformed number, an enum value outside the map) does not stop the
// others: c holds every field that converted, and err joins one *crmerr.Error of kind InvalidRecord per
// failed field, naming the field and the value. The record must not be synced while err is not nil.
func (m *Mapping) ToCanonical(rec connectors.Record) (c Canonical, err error) {
	c = make(Canonical, len(m.fields))
	var errs []error
	for i := range m.fields {
		f := &m.fields[i]
		v, ok := rec.Fields[f.readKey]
		if !ok {
			continue
		}
		cv, err := f.decode(v)
		if err != nil {
			errs = append(errs, m.fieldError("read", f, err))
			continue
		}
		c[f.Name] = cv
	}
	return c, joinErrors(errs)
}

// ToRemote converts canonical fields into the wire values of a record to write. fields names the
// canonical fields to write; nil means every field of the mapping. Only fields present in c are written
// (an absent field stays untouched in the CRM, a nil one is cleared), and read-only fields are never
// written. A required field set to nil is an InvalidRecord error: the CRM would refuse to clear it.
//
// Pipedrive emails and phones entries are written as a whole array; see ToRemoteOver to keep the entries
// the mapping does not name.
//
// The error joins one *crmerr.Error per failed field: InvalidRecord for a value that cannot be written,
// Permanent for a name in fields that the mapping does not have.
func (m *Mapping) ToRemote(c Canonical, fields []string) (map[string]any, error) {
	return m.ToRemoteOver(c, fields, nil)
}

// ToRemoteOver is ToRemote for an update of a record whose current remote fields are known. Pipedrive
// emails and phones arrays start from the current entries, so that entries the mapping does not name
// (a second email, a home phone) survive. current is not modified.
func (m *Mapping) ToRemoteOver(c Canonical, fields []string, current map[string]any) (map[string]any, error) {
	n := len(fields)
	if fields == nil {
		n = len(m.fields)
	}
	out := make(map[string]any, n)
	var errs []error
	write := func(f *Field) {
		v, ok := c[f.Name]
		if !ok || f.ReadOnly {
			return
		}
		if err := m.writeField(out, current, f, v); err != nil {
			errs = append(errs, m.fieldError("write", f, err))
		}
	}
	if fields == nil {
		for i := range m.fields {
			write(&m.fields[i])
		}
		return out, joinErrors(errs)
	}
	for _, name := range fields {
		i, ok := m.byName[name]
		if !ok {
			errs = append(errs, &crmerr.Error{Kind: crmerr.Permanent, Provider: string(m.provider), Op: m.op("write"),
				Message: fmt.Sprintf("field %s is not in the %s mapping of %s", name, m.prof.title, m.object)})
			continue
		}
		write(&m.fields[i])
	}
	return out, joinErrors(errs)
}

func (m *Mapping) writeField(out, current map[string]any, f *Field, v any) error {
	if v == nil && f.Required {
		return fmt.Errorf("%s is required by %s and cannot be cleared", f.Name, m.prof.title)
	}
	switch f.format {
	case wListEntry:
		return f.writeListEntry(out, current, v)
	case wRefBind:
		w, err := f.encodeBind(v)
		if err != nil {
			return err
		}
		out[f.writeKey] = w
		return nil
	}
	w, err := f.encode(v)
	if err != nil {
		return err
	}
	out[f.writeKey] = w
	return nil
}

// writeListEntry sets the entry f selects in a Pipedrive emails/phones array, creating the array from the
// current record's entries (copied) or from scratch. A nil or empty value removes the entry.
func (f *Field) writeListEntry(out, current map[string]any, v any) error {
	var s string
	if v != nil {
		str, ok := v.(string)
		if !ok {
			return wrongCanonical(v, "string")
		}
		s = str
	}
	arr, ok := out[f.writeKey].([]any)
	if !ok {
		arr = cloneEntries(current[f.writeKey])
	}
	idx := -1
	for i, e := range arr {
		if entry, ok := e.(map[string]any); ok && f.selects(entry) {
			idx = i
			break
		}
	}
	switch {
	case s == "" && idx >= 0:
		arr = append(arr[:idx], arr[idx+1:]...)
	case s == "":
	case idx >= 0:
		arr[idx].(map[string]any)["value"] = s
	case f.selector == "":
		arr = append([]any{map[string]any{"value": s, "primary": true, "label": "work"}}, arr...)
	default:
		arr = append(arr, map[string]any{"value": s, "primary": false, "label": f.selector})
	}
	out[f.writeKey] = arr
	return nil
}

func cloneEntries(v any) []any {
	src, _ := v.([]any)
	out := make([]any, 0, len(src)+1)
	for _, e := range src {
		entry, ok := e.(map[string]any)
		if !ok {
			continue
		}
		cp := make(map[string]any, len(entry))
		for k, x := range entry {
			cp[k] = x
		}
		out = append(out, cp)
	}
	return out
}

// CheckCreate reports, as one InvalidRecord error, the required fields that c lacks or holds as null;
// call it before creating a record.
func (m *Mapping) CheckCreate(c Canonical) error {
	var missing []string
	for i := range m.fields {
		f := &m.fields[i]
		if f.Required && c[f.Name] == nil {
			missing = append(missing, f.Name)
		}
	}
	if missing == nil {
		return nil
	}
	return &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: string(m.provider), Op: m.op("create"),
		Message: fmt.Sprintf("required fields are empty: %s", strings.Join(missing, ", "))}
}

func (m *Mapping) op(verb string) string { return verb + " " + string(m.object) }

func (m *Mapping) fieldError(verb string, f *Field, err error) error {
	return &crmerr.Error{Kind: crmerr.InvalidRecord, Provider: string(m.provider), Op: m.op(verb),
		Field: f.RemoteName, Message: fmt.Sprintf("field %s: %v", f.Name, err)}
}

func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
