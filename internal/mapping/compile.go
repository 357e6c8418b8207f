package mapping

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/connectors"
)

// FieldSpec is one entry of a FieldMapping's spec.fields. The controller converts the API type into it.
type FieldSpec struct {
	// Name is the canonical field name. A name outside the object's canonical schema declares a custom
	// field, which needs Type and RemoteName.
	Name string
	// RemoteName is the CRM's field name. Empty inherits the default mapping's. Two forms carry more than a
	// name: Dataverse lookups are "attribute[:navigationProperty]@entitySet" (ownerid@systemusers,
	// parentcustomerid:parentcustomerid_account@accounts), and Pipedrive emails/phones entries are "emails"
	// (the primary entry) or "phones[mobile]" (the first non-primary entry labelled mobile).
	RemoteName string
	// Type is the canonical type; empty keeps the canonical schema's. A canonical string field may be
	// declared enum to give it a value map.
	Type string
	// Values maps canonical enum values to remote values (option ids as decimal text for Dataverse and
	// Pipedrive). It must be one-to-one. Non-empty replaces the default map entirely, and any value outside
	// it is an error on read and on write. Empty keeps the default's map when the remote name is the
	// default's, and otherwise passes values through unchanged.
	Values map[string]string
	// ReadOnly fields are read but never written. Required fields must be present when a record is created.
	ReadOnly bool
	Required bool
}

// MappingSpec is the spec of a FieldMapping: how one canonical object is stored in one CRM.
type MappingSpec struct {
	Provider     string // hubspot, salesforce, dynamics, pipedrive, zoho
	Object       string // contacts, companies, deals
	RemoteObject string // empty uses the default ("Contact", "persons", ...)
	// InheritDefaults starts from the built-in mapping; Fields then override defaults by name and add
	// fields. Without it, only the listed fields are mapped (a listed canonical field without a remoteName
	// still takes the default's).
	InheritDefaults bool
	Fields          []FieldSpec
}

// Problem is one thing wrong with a mapping, written for the person who has to fix it.
type Problem struct {
	// Field is the canonical field concerned, or empty for the mapping as a whole.
	Field string
	// Path locates the problem in the FieldMapping ("spec.fields[2].values"); empty for live findings.
	Path string
	// Message says what is wrong and, where it can, what to do.
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationErrors lists every problem found in a mapping, in spec order.
type ValidationErrors []Problem

func (v ValidationErrors) Error() string {
	parts := make([]string, len(v))
	for i, p := range v {
		parts[i] = p.String()
	}
	noun := "problems"
	if len(v) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("%d %s: %s", len(v), noun, strings.Join(parts, "; "))
}

// Field is one resolved field of a compiled Mapping. Its maps are shared and must not be modified.
type Field struct {
	Name        string
	Type        Type
	RemoteName  string // as in FieldSpec.RemoteName
	RemoteType  string // the CRM's type name the conversion assumes ("enumeration", "picklist", "Money")
	Values      map[string]string
	ReadOnly    bool
	Required    bool
	Custom      bool // not in the canonical schema
	Default     bool // taken unchanged from the built-in mapping
	Description string

	prof     *profile
	format   wireFormat
	readKey  string // the key in Record.Fields on read
	writeKey string // the key written
	selector string // Pipedrive list entries: "" for the primary entry, else the label
	bindSet  string // Dataverse lookups: the entity set of the target
	scale    int
	intOnly  bool
	rev      map[string]string
	revInt   map[int64]string
	fwdWire  map[string]any
}

// ReadKey is the key the field's value has in a record read from the CRM (for Dataverse lookups
// "_attribute_value"; for Pipedrive entries the array's name).
func (f Field) ReadKey() string { return f.readKey }

// Wire describes how the value travels in the CRM's JSON ("decimal string", "YYYY-MM-DD", ...).
func (f Field) Wire() string { return wireText[f.format] }

// Mapping is a compiled, validated FieldMapping. It is immutable and safe for concurrent use.
type Mapping struct {
	provider     Provider
	object       connectors.Object
	remoteObject string
	prof         *profile
	fields       []Field
	byName       map[string]int
	remoteFields []string
}

// Provider is the CRM the mapping is for.
func (m *Mapping) Provider() Provider { return m.provider }

// Object is the canonical object.
func (m *Mapping) Object() connectors.Object { return m.object }

// RemoteObject is the CRM's object name.
func (m *Mapping) RemoteObject() string { return m.remoteObject }

// Len is the number of mapped fields.
func (m *Mapping) Len() int { return len(m.fields) }

// Field returns the mapped field with canonical name name.
func (m *Mapping) Field(name string) (Field, bool) {
	i, ok := m.byName[name]
	if !ok {
		return Field{}, false
	}
	return m.fields[i], true
}

// Fields returns the mapped fields: defaults in schema order, then added fields in spec order.
func (m *Mapping) Fields() []Field { return slices.Clone(m.fields) }

// RemoteFields returns the remote keys to read (for ChangesRequest.Fields), each once, in field order.
func (m *Mapping) RemoteFields() []string { return slices.Clone(m.remoteFields) }

// Compile resolves spec against the canonical schema and the built-in defaults and validates it. The error,
// when not nil, is a ValidationErrors listing every problem found, not just the first.
func Compile(spec MappingSpec) (*Mapping, error) {
	c := compiler{spec: spec, paths: map[string]string{}}
	m := c.compile()
	if len(c.problems) > 0 {
		return nil, ValidationErrors(c.problems)
	}
	return m, nil
}

type compiler struct {
	spec     MappingSpec
	problems []Problem
	prof     *profile
	schema   Schema
	defs     map[string]defaultField
	known    bool              // provider and object are both valid
	paths    map[string]string // canonical name -> its place in the spec
}

func (c *compiler) problem(field, path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Field: field, Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) compile() *Mapping {
	p, o := Provider(c.spec.Provider), connectors.Object(c.spec.Object)
	c.prof = profiles[p]
	if c.prof == nil {
		c.problem("", "spec.provider", "unknown provider %q: want one of %s", c.spec.Provider, joinQuoted(Providers))
	}
	schema, err := SchemaOf(o)
	if err != nil {
		c.problem("", "spec.object", "%v", err)
	}
	c.schema = schema
	c.known = c.prof != nil && err == nil
	od := defaults[p][o]
	c.defs = make(map[string]defaultField, len(od.fields))
	for _, d := range od.fields {
		c.defs[d.name] = d
	}
	m := &Mapping{provider: p, object: o, remoteObject: c.spec.RemoteObject, prof: c.prof, byName: map[string]int{}}
	if m.remoteObject == "" {
		m.remoteObject = od.remoteObject
	}
	if !c.spec.InheritDefaults && len(c.spec.Fields) == 0 {
		c.problem("", "spec.fields", "no fields are mapped: list fields or set inheritDefaults")
	}

	specs := c.indexSpecs()
	if c.spec.InheritDefaults {
		for _, d := range od.fields {
			if i, ok := specs[d.name]; ok {
				c.add(m, c.spec.Fields[i], i)
				continue
			}
			c.add(m, FieldSpec{Name: d.name}, -1)
		}
	}
	for i, fs := range c.spec.Fields {
		if _, isDefault := c.defs[fs.Name]; c.spec.InheritDefaults && isDefault {
			continue
		}
		if specs[fs.Name] != i {
			continue // a duplicate, already reported
		}
		c.add(m, fs, i)
	}
	c.checkRemoteDuplicates(m)
	collectRemoteFields(m)
	return m
}

// indexSpecs maps names to their first position in spec.fields, reporting empty and duplicate names.
func (c *compiler) indexSpecs() map[string]int {
	idx := make(map[string]int, len(c.spec.Fields))
	for i, fs := range c.spec.Fields {
		path := fmt.Sprintf("spec.fields[%d]", i)
		if fs.Name == "" {
			c.problem("", path+".name", "name is empty")
			continue
		}
		if j, dup := idx[fs.Name]; dup {
			c.problem(fs.Name, path+".name", "field %s is listed twice (also spec.fields[%d]); list each field once", fs.Name, j)
			continue
		}
		idx[fs.Name] = i
	}
	return idx
}

// add resolves one field; index is its position in spec.fields, or -1 for an inherited default.
func (c *compiler) add(m *Mapping, fs FieldSpec, index int) {
	path := fmt.Sprintf("spec.fields[%s]", fs.Name)
	if index >= 0 {
		path = fmt.Sprintf("spec.fields[%d]", index)
	}
	if fs.Name == "" {
		return
	}
	cf, canonical := c.schema.Field(fs.Name)
	def, hasDef := c.defs[fs.Name]
	f := Field{Name: fs.Name, Custom: !canonical && c.schema.Object != "", Description: cf.Description, prof: c.prof}
	ok := c.resolveType(&f, fs, cf, canonical, path)

	f.RemoteName = fs.RemoteName
	if f.RemoteName == "" {
		if !hasDef {
			if c.known {
				c.problem(fs.Name, path+".remoteName", "%s has no default %s %s for %s; set remoteName",
					c.prof.title, m.remoteObject, c.prof.noun, fs.Name)
			}
			return
		}
		f.RemoteName = def.remote
	}
	if !c.known || !ok {
		return
	}
	c.inherit(&f, fs, cf, def, hasDef && f.RemoteName == def.remote, index < 0)
	if f.ReadOnly && f.Required {
		c.problem(f.Name, path, "field %s cannot be both readOnly and required", f.Name)
	}
	if f.format == wNone {
		f.format = c.prof.format(f.Type, f.RemoteType)
	}
	if !c.resolveRemote(&f, path) {
		return
	}
	if f.format == wNone {
		c.problem(f.Name, path+".type", "%s %s %s (%s) cannot hold %s values", c.prof.title, c.prof.noun, f.RemoteName, f.RemoteType, f.Type)
		return
	}
	if (f.Type == TypeNumber || f.Type == TypeCurrency) && in(f.RemoteType, "int", "integer", "Integer", "BigInt", "bigint", "long") {
		f.intOnly = true
	}
	if !c.resolveValues(&f, path) {
		return
	}
	c.paths[f.Name] = path
	m.byName[f.Name] = len(m.fields)
	m.fields = append(m.fields, f)
}

// inherit sets the remote side of f: from the default when f keeps the default's remote name, otherwise
// what custom fields of f's type assume; then the spec's values and flags on top.
func (c *compiler) inherit(f *Field, fs FieldSpec, cf CanonicalField, def defaultField, sameRemote, untouched bool) {
	sameType := sameRemote && f.Type == cf.Type
	f.Default = sameType && untouched
	if sameRemote {
		f.RemoteType, f.ReadOnly, f.Required = def.remoteType, def.readOnly, def.required
		if sameType {
			f.format, f.scale, f.Values = def.format, def.scale, def.values
		}
	} else {
		f.RemoteType = c.prof.defaultRemote[f.Type]
	}
	if len(fs.Values) > 0 {
		f.Values = fs.Values
	}
	f.ReadOnly = f.ReadOnly || fs.ReadOnly || cf.ReadOnly
	f.Required = f.Required || fs.Required
}

func (c *compiler) resolveType(f *Field, fs FieldSpec, cf CanonicalField, canonical bool, path string) bool {
	switch {
	case fs.Type == "" && canonical:
		f.Type = cf.Type
	case fs.Type == "":
		c.problem(fs.Name, path+".type", "custom field %s needs a type (one of %s)", fs.Name, joinQuoted(Types))
		return false
	case !Type(fs.Type).Valid():
		c.problem(fs.Name, path+".type", "unknown type %q: want one of %s", fs.Type, joinQuoted(Types))
		return false
	default:
		f.Type = Type(fs.Type)
		if canonical && f.Type != cf.Type && !(cf.Type == TypeString && f.Type == TypeEnum) {
			c.problem(fs.Name, path+".type", "%s is %s in the canonical %s schema; type %s would change its values (omit type, or map a custom field)",
				fs.Name, cf.Type, c.schema.Object, fs.Type)
			return false
		}
	}
	return true
}

// resolveRemote parses the remote name forms and sets the read and write keys.
func (c *compiler) resolveRemote(f *Field, path string) bool {
	f.readKey, f.writeKey = f.RemoteName, f.RemoteName
	name := f.RemoteName
	if c.prof.provider == Pipedrive && (strings.HasPrefix(name, "emails") || strings.HasPrefix(name, "phones")) {
		base, label, hasLabel := strings.Cut(name, "[")
		if base == "emails" || base == "phones" {
			if !f.Type.stringValued() || f.Type == TypeEnum || f.Type == TypeReference {
				c.problem(f.Name, path+".remoteName", "%s entries hold text; type %s cannot map to them", base, f.Type)
				return false
			}
			if hasLabel {
				label, ok := strings.CutSuffix(label, "]")
				if !ok || label == "" || strings.ContainsAny(label, "[]") {
					c.problem(f.Name, path+".remoteName", "%q is malformed: want %s or %s[label]", name, base, base)
					return false
				}
				f.selector = label
			}
			f.format, f.readKey, f.writeKey = wListEntry, base, base
			return true
		}
	}
	if f.format == wRefBind {
		return c.resolveBind(f, path)
	}
	if strings.ContainsAny(name, "@[]") {
		c.problem(f.Name, path+".remoteName", "%q is not a %s %s name", name, c.prof.title, c.prof.noun)
		return false
	}
	return true
}

// resolveBind parses "attribute[:navigation]@entitySet" for Dataverse lookups.
func (c *compiler) resolveBind(f *Field, path string) bool {
	bad := func() bool {
		c.problem(f.Name, path+".remoteName", "%q is not a Dataverse lookup: want attribute[:navigationProperty]@entitySet, e.g. parentaccountid@accounts", f.RemoteName)
		return false
	}
	ref, set, hasSet := strings.Cut(f.RemoteName, "@")
	attr, nav, hasNav := strings.Cut(ref, ":")
	if !hasNav {
		nav = attr
	}
	if attr == "" || nav == "" || strings.ContainsAny(attr+nav+set, "@:/()[] ") || (hasSet && set == "") {
		return bad()
	}
	if !hasSet && !f.ReadOnly {
		return bad()
	}
	f.readKey = "_" + attr + "_value"
	f.writeKey = nav + "@odata.bind"
	f.bindSet = set
	return true
}

// resolveValues checks the enum map and builds its lookup tables.
func (c *compiler) resolveValues(f *Field, path string) bool {
	if f.Values == nil {
		return true
	}
	if f.Type != TypeEnum && f.Type != TypeMultiEnum {
		c.problem(f.Name, path+".values", "values is only for enum and multiEnum fields; %s is %s", f.Name, f.Type)
		return false
	}
	ok := true
	byRemote := map[string][]string{}
	for _, canon := range slices.Sorted(maps.Keys(f.Values)) {
		remote := f.Values[canon]
		if canon == "" || remote == "" {
			c.problem(f.Name, path+".values", "empty value in the map (%q: %q); map non-empty values only", canon, remote)
			ok = false
			continue
		}
		if f.intOptions() {
			if _, err := strconv.ParseInt(remote, 10, 64); err != nil || !isCanonicalDecimal(remote) {
				c.problem(f.Name, path+".values", "%s option values are integer ids; %q (for %q) is not one", c.prof.title, remote, canon)
				ok = false
				continue
			}
		}
		if f.format == wMultiJoined && strings.Contains(remote, ";") {
			c.problem(f.Name, path+".values", "%q (for %q) contains ';', which %s uses to separate values", remote, canon, c.prof.title)
			ok = false
		}
		byRemote[remote] = append(byRemote[remote], canon)
	}
	for _, remote := range slices.Sorted(maps.Keys(byRemote)) {
		if canons := byRemote[remote]; len(canons) > 1 {
			c.problem(f.Name, path+".values", "%s all map to %q; each remote value must come from one canonical value, or reading it back is ambiguous",
				joinQuoted(canons), remote)
			ok = false
		}
	}
	if !ok {
		return false
	}
	f.fwdWire = make(map[string]any, len(f.Values))
	if f.intOptions() {
		f.revInt = make(map[int64]string, len(f.Values))
	} else {
		f.rev = make(map[string]string, len(f.Values))
	}
	for canon, remote := range f.Values {
		if f.revInt != nil {
			n, _ := strconv.ParseInt(remote, 10, 64)
			f.revInt[n] = canon
			f.fwdWire[canon] = jsonInt(remote)
			continue
		}
		f.rev[remote] = canon
		f.fwdWire[canon] = remote
	}
	return true
}

func (c *compiler) checkRemoteDuplicates(m *Mapping) {
	seen := map[string]string{}
	for _, f := range m.fields {
		key := f.readKey
		if f.format == wListEntry {
			key += "[" + f.selector + "]"
		}
		if prev, dup := seen[key]; dup {
			c.problem(f.Name, c.paths[f.Name]+".remoteName", "fields %s and %s both map to %s %s %s; map each remote field once",
				prev, f.Name, c.prof.title, c.prof.noun, f.RemoteName)
			continue
		}
		seen[key] = f.Name
	}
}

// collectRemoteFields lists the keys to read, each once: Pipedrive entries share their array.
func collectRemoteFields(m *Mapping) {
	for _, f := range m.fields {
		if !slices.Contains(m.remoteFields, f.readKey) {
			m.remoteFields = append(m.remoteFields, f.readKey)
		}
	}
}

func joinQuoted[T ~string](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Quote(string(v))
	}
	return strings.Join(parts, ", ")
}
