package mapping

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/connectors"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated tables of docs/mapping.md")

const (
	docsPath     = "../../docs/mapping.md"
	beginMarker  = "<!-- BEGIN GENERATED TABLES: go test ./internal/mapping -run TestDocsUpToDate -update-docs -->\n"
	endMarker    = "<!-- END GENERATED TABLES -->\n"
	docsNotFound = "—"
)

// TestDocsUpToDate checks that docs/mapping.md shows exactly the built-in defaults and conversions.
func TestDocsUpToDate(t *testing.T) {
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start, end := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if start < 0 || end < start {
		t.Fatalf("%s lacks the markers %q and %q", docsPath, beginMarker, endMarker)
	}
	want := generatedDocs(t)
	got := doc[start+len(beginMarker) : end]
	if got == want {
		return
	}
	if *updateDocs {
		doc = doc[:start+len(beginMarker)] + want + doc[end:]
		if err := os.WriteFile(docsPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the defaults; run: go test ./internal/mapping -run TestDocsUpToDate -update-docs", docsPath)
}

func generatedDocs(t *testing.T) string {
	var b strings.Builder
	mappings := map[Provider]map[connectors.Object]*Mapping{}
	for _, p := range Providers {
		mappings[p] = map[connectors.Object]*Mapping{}
		for _, o := range connectors.Objects {
			m, err := Default(p, o)
			if err != nil {
				t.Fatal(err)
			}
			mappings[p][o] = m
		}
	}
	header := func(first ...string) {
		cols := append(first, "HubSpot", "Salesforce", "Dataverse", "Pipedrive", "Zoho")
		b.WriteString("| " + strings.Join(cols, " | ") + " |\n")
		b.WriteString(strings.Repeat("| --- ", len(cols)) + "|\n")
	}

	b.WriteString("### Remote objects\n\n")
	header("canonical object")
	for _, o := range connectors.Objects {
		row := []string{string(o)}
		for _, p := range Providers {
			row = append(row, "`"+mappings[p][o].RemoteObject()+"`")
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}

	for _, o := range connectors.Objects {
		schema, _ := SchemaOf(o)
		fmt.Fprintf(&b, "\n### %s\n\n", o)
		b.WriteString("Each cell: remote field (the CRM's type; how the value travels). RO = read-only, req = required on create.\n\n")
		header("field", "type", "description")
		for _, cf := range schema.Fields {
			row := []string{"`" + cf.Name + "`", string(cf.Type), cf.Description}
			for _, p := range Providers {
				f, ok := mappings[p][o].Field(cf.Name)
				if !ok {
					row = append(row, docsNotFound)
					continue
				}
				cell := fmt.Sprintf("`%s` (%s; %s)", f.RemoteName, f.RemoteType, f.Wire())
				if f.ReadOnly {
					cell += " RO"
				}
				if f.Required {
					cell += " req"
				}
				if f.scale != 0 {
					cell += fmt.Sprintf(" ×10^%d", f.scale)
				}
				row = append(row, cell)
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}

	enums := []struct {
		object connectors.Object
		field  string
		values []string
	}{{connectors.Contacts, "lifecycleStage", LifecycleStages}, {connectors.Deals, "stage", DealStages}}
	for _, e := range enums {
		fmt.Fprintf(&b, "\n### Enum map of %s.%s\n\n", e.object, e.field)
		b.WriteString("A value a CRM's column lacks cannot be written to that CRM; a remote value no row names cannot be read. Both are InvalidRecord errors.\n\n")
		header("canonical value")
		for _, v := range e.values {
			row := []string{"`" + v + "`"}
			for _, p := range Providers {
				f, ok := mappings[p][e.object].Field(e.field)
				remote, mapped := f.Values[v]
				switch {
				case !ok:
					row = append(row, "(not mapped)")
				case !mapped:
					row = append(row, docsNotFound)
				default:
					row = append(row, "`"+remote+"`")
				}
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}

	b.WriteString("\n### Custom fields: assumed remote type and wire format per canonical type\n\n")
	header("type", "canonical Go value")
	goTypes := map[Type]string{
		TypeString: "string", TypeEmail: "string", TypePhone: "string", TypeNumber: "mapping.Decimal",
		TypeInteger: "int64", TypeBoolean: "bool", TypeDate: "mapping.Date", TypeDateTime: "time.Time (UTC)",
		TypeEnum: "string", TypeMultiEnum: "[]string (sorted, unique)", TypeCurrency: "mapping.Money", TypeReference: "string",
	}
	for _, ty := range Types {
		row := []string{string(ty), goTypes[ty]}
		for _, p := range Providers {
			prof := profiles[p]
			rt := prof.defaultRemote[ty]
			row = append(row, fmt.Sprintf("%s: %s", rt, wireText[prof.format(ty, rt)]))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}

	b.WriteString("\n### Remote types each canonical type accepts (checked against the live CRM)\n\n")
	header("type")
	remoteTypes := map[Provider][]string{
		HubSpot:    {"string", "phone_number", "enumeration", "number", "bool", "date", "datetime"},
		Salesforce: {"string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring", "multipicklist", "boolean", "int", "long", "double", "percent", "currency", "date", "datetime", "id", "reference"},
		Dynamics:   {"String", "Memo", "Integer", "BigInt", "Decimal", "Double", "Money", "Boolean", "DateTime", "DateOnly", "Picklist", "State", "Status", "MultiSelectPicklist", "Lookup", "Owner", "Customer", "Uniqueidentifier"},
		Pipedrive:  {"varchar", "varchar_auto", "text", "phone", "address", "int", "double", "monetary", "boolean", "enum", "set", "stage", "date", "datetime", "org", "people", "user"},
		Zoho:       {"text", "textarea", "email", "phone", "website", "autonumber", "picklist", "multiselectpicklist", "integer", "bigint", "double", "decimal", "percent", "currency", "boolean", "date", "datetime", "lookup", "ownerlookup"},
	}
	for _, ty := range Types {
		row := []string{string(ty)}
		for _, p := range Providers {
			var ok []string
			for _, rt := range remoteTypes[p] {
				if profiles[p].format(ty, rt) != wNone && !slices.Contains(ok, rt) {
					ok = append(ok, rt)
				}
			}
			row = append(row, strings.Join(ok, ", "))
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	return b.String()
}
