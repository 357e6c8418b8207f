package mapping

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors"
)

func TestDefaultsCompile(t *testing.T) {
	for _, p := range Providers {
		for _, o := range connectors.Objects {
			t.Run(string(p)+"/"+string(o), func(t *testing.T) {
				m, err := Default(p, o)
				if err != nil {
					t.Fatalf("Default: %v", err)
				}
				schema, _ := SchemaOf(o)
				if m.Len() == 0 || m.Len() > len(schema.Fields) {
					t.Errorf("Len() = %d, want 1..%d", m.Len(), len(schema.Fields))
				}
				for _, f := range m.Fields() {
					if f.Custom || !f.Default || f.Wire() == "" {
						t.Errorf("field %s: Custom=%v Default=%v Wire=%q, want a default with a wire format", f.Name, f.Custom, f.Default, f.Wire())
					}
				}
				if want, _ := DefaultRemoteObject(p, o); m.RemoteObject() != want || want == "" {
					t.Errorf("RemoteObject() = %q, want %q", m.RemoteObject(), want)
				}
			})
		}
	}
}

func TestCompileListsEveryProblem(t *testing.T) {
	spec := MappingSpec{Provider: "hubspot", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
		{Name: "lifecycleStage", Values: map[string]string{"lead": "lead", "prospect": "lead", "customer": "customer"}},
		{Name: "email", Type: "text"},
		{Name: "nickname", RemoteName: "nickname"},
		{Name: "score", Type: "integer"},
		{Name: "tier", Type: "enum", RemoteName: "city"},
		{Name: "firstName", Values: map[string]string{"a": "b"}},
		{Name: "lastName", Type: "integer"},
		{Name: "lifecycleStage", RemoteName: "other"},
		{Name: "vip", Type: "boolean", RemoteName: "vip", ReadOnly: true, Required: true},
		{Name: "", RemoteName: "x"},
		{Name: "interests", Type: "multiEnum", RemoteName: "interests", Values: map[string]string{"a;b": "a;b", "c": ""}},
	}}
	_, err := Compile(spec)
	var problems ValidationErrors
	if !errors.As(err, &problems) {
		t.Fatalf("Compile: %v, want ValidationErrors", err)
	}
	want := []string{
		"spec.fields[7].name: field lifecycleStage is listed twice (also spec.fields[0]); list each field once",
		"spec.fields[9].name: name is empty",
		`spec.fields[1].type: unknown type "text": want one of "string", "email", "phone", "number", "integer", "boolean", "date", "datetime", "enum", "multiEnum", "currency", "reference"`,
		"spec.fields[5].values: values is only for enum and multiEnum fields; firstName is string",
		"spec.fields[6].type: lastName is string in the canonical contacts schema; type integer would change its values (omit type, or map a custom field)",
		`spec.fields[0].values: "lead", "prospect" all map to "lead"; each remote value must come from one canonical value, or reading it back is ambiguous`,
		`spec.fields[2].type: custom field nickname needs a type (one of "string", "email", "phone", "number", "integer", "boolean", "date", "datetime", "enum", "multiEnum", "currency", "reference")`,
		"spec.fields[3].remoteName: HubSpot has no default contacts property for score; set remoteName",
		"spec.fields[8]: field vip cannot be both readOnly and required",
		`spec.fields[10].values: "a;b" (for "a;b") contains ';', which HubSpot uses to separate values`,
		`spec.fields[10].values: empty value in the map ("c": ""); map non-empty values only`,
		"spec.fields[4].remoteName: fields city and tier both map to HubSpot property city; map each remote field once",
	}
	got := make([]string, len(problems))
	for i, p := range problems {
		got[i] = p.String()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems: -want, +got:\n%s", diff)
	}
	if problems[0].Field != "lifecycleStage" {
		t.Errorf("problems[0].Field = %q, want lifecycleStage", problems[0].Field)
	}
}

func TestCompileProblems(t *testing.T) {
	cases := []struct {
		reason string
		spec   MappingSpec
		want   []string
	}{
		{
			reason: "unknown provider and object are both reported",
			spec:   MappingSpec{Provider: "sugarcrm", Object: "leads", InheritDefaults: true},
			want: []string{
				`spec.provider: unknown provider "sugarcrm": want one of "hubspot", "salesforce", "dynamics", "pipedrive", "zoho"`,
				`spec.object: unknown object "leads": want one of contacts, companies, deals`,
			},
		},
		{
			reason: "a mapping with nothing in it",
			spec:   MappingSpec{Provider: "zoho", Object: "deals"},
			want:   []string{"spec.fields: no fields are mapped: list fields or set inheritDefaults"},
		},
		{
			reason: "Dataverse option values must be integers",
			spec: MappingSpec{Provider: "dynamics", Object: "deals", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "stage", Values: map[string]string{"qualification": "Qualify"}},
			}},
			want: []string{`spec.fields[0].values: Dataverse option values are integer ids; "Qualify" (for "qualification") is not one`},
		},
		{
			reason: "Dataverse lookups need an entity set to bind to",
			spec: MappingSpec{Provider: "dynamics", Object: "deals", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "companyId", RemoteName: "_parentaccountid_value"},
				{Name: "partner", Type: "reference", RemoteName: "new_partnerid@"},
			}},
			want: []string{
				`spec.fields[0].remoteName: "_parentaccountid_value" is not a Dataverse lookup: want attribute[:navigationProperty]@entitySet, e.g. parentaccountid@accounts`,
				`spec.fields[1].remoteName: "new_partnerid@" is not a Dataverse lookup: want attribute[:navigationProperty]@entitySet, e.g. parentaccountid@accounts`,
			},
		},
		{
			reason: "Pipedrive entries hold text only",
			spec: MappingSpec{Provider: "pipedrive", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "homePhone", Type: "integer", RemoteName: "phones[home]"},
				{Name: "workPhone", Type: "phone", RemoteName: "phones[work"},
			}},
			want: []string{
				"spec.fields[0].remoteName: phones entries hold text; type integer cannot map to them",
				`spec.fields[1].remoteName: "phones[work" is malformed: want phones or phones[label]`,
			},
		},
		{
			reason: "a remote field must be able to hold the type",
			spec: MappingSpec{Provider: "zoho", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "firstName", Type: "enum"},
			}},
			want: []string{"spec.fields[0].type: Zoho CRM field First_Name (text) cannot hold enum values"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			_, err := Compile(tc.spec)
			var got []string
			var problems ValidationErrors
			if errors.As(err, &problems) {
				for _, p := range problems {
					got = append(got, p.String())
				}
			} else if err != nil {
				t.Fatalf("Compile: %v, want ValidationErrors", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems: -want, +got:\n%s", diff)
			}
		})
	}
}

func TestCompileOverrides(t *testing.T) {
	cases := []struct {
		reason string
		spec   MappingSpec
		field  string
		check  func(t *testing.T, m *Mapping, f Field)
	}{
		{
			reason: "a values map replaces the default map entirely",
			spec: MappingSpec{Provider: "hubspot", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "lifecycleStage", Values: map[string]string{"lead": "lead", "vip": "vip_customer"}},
			}},
			field: "lifecycleStage",
			check: func(t *testing.T, m *Mapping, f Field) {
				if _, err := m.ToRemote(Canonical{"lifecycleStage": "customer"}, nil); err == nil {
					t.Error("customer is still mapped after the map was replaced")
				}
				got, err := m.ToRemote(Canonical{"lifecycleStage": "vip"}, nil)
				if err != nil || got["lifecyclestage"] != "vip_customer" {
					t.Errorf("ToRemote(vip) = %v, %v; want vip_customer", got, err)
				}
				if f.Default {
					t.Error("an overridden field is reported as Default")
				}
			},
		},
		{
			reason: "a new remote name drops the default's read-only flag and scale",
			spec: MappingSpec{Provider: "hubspot", Object: "deals", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "probability", RemoteName: "hs_forecast_probability"},
			}},
			field: "probability",
			check: func(t *testing.T, m *Mapping, f Field) {
				got, err := m.ToRemote(Canonical{"probability": MustDecimal("0.4")}, nil)
				if err != nil || got["hs_forecast_probability"] != "0.4" {
					t.Errorf("ToRemote = %v, %v; want hs_forecast_probability 0.4 written unscaled", got, err)
				}
			},
		},
		{
			reason: "the same remote name keeps the default's remote type and flags",
			spec: MappingSpec{Provider: "salesforce", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "lastName", RemoteName: "LastName"},
			}},
			field: "lastName",
			check: func(t *testing.T, m *Mapping, f Field) {
				if !f.Required || f.RemoteType != "string" {
					t.Errorf("lastName: Required=%v RemoteType=%q, want the default's true and string", f.Required, f.RemoteType)
				}
			},
		},
		{
			reason: "a canonical string field may become an enum with a map",
			spec: MappingSpec{Provider: "salesforce", Object: "companies", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "industry", Type: "enum", Values: map[string]string{"banking": "Banking", "retail": "Retail"}},
			}},
			field: "industry",
			check: func(t *testing.T, m *Mapping, f Field) {
				c, err := m.ToCanonical(record(map[string]any{"Industry": "Retail"}))
				if err != nil || c["industry"] != "retail" {
					t.Errorf("ToCanonical = %v, %v; want retail", c, err)
				}
			},
		},
		{
			reason: "without inheritDefaults only listed fields are mapped, with their default remote names",
			spec: MappingSpec{Provider: "zoho", Object: "contacts", RemoteObject: "Contacts_X", Fields: []FieldSpec{
				{Name: "email"}, {Name: "lastName"}, {Name: "loyalty", Type: "integer", RemoteName: "Loyalty_Points"},
			}},
			field: "email",
			check: func(t *testing.T, m *Mapping, f Field) {
				if diff := cmp.Diff([]string{"Email", "Last_Name", "Loyalty_Points"}, m.RemoteFields()); diff != "" {
					t.Errorf("RemoteFields: -want, +got:\n%s", diff)
				}
				if m.RemoteObject() != "Contacts_X" || m.Len() != 3 {
					t.Errorf("RemoteObject %q, Len %d; want Contacts_X, 3", m.RemoteObject(), m.Len())
				}
				if l, _ := m.Field("loyalty"); !l.Custom || l.RemoteType != "integer" {
					t.Errorf("loyalty: Custom=%v RemoteType=%q, want a custom integer field", l.Custom, l.RemoteType)
				}
			},
		},
		{
			reason: "Dataverse lookups read _attr_value and Pipedrive arrays are read once",
			spec:   MappingSpec{Provider: "dynamics", Object: "contacts", InheritDefaults: true},
			field:  "companyId",
			check: func(t *testing.T, m *Mapping, f Field) {
				if f.ReadKey() != "_parentcustomerid_value" {
					t.Errorf("ReadKey() = %q, want _parentcustomerid_value", f.ReadKey())
				}
				pd, _ := Default(Pipedrive, connectors.Contacts)
				if diff := cmp.Diff([]string{"emails", "first_name", "last_name", "name", "phones", "org_id", "owner_id", "add_time", "update_time"}, pd.RemoteFields()); diff != "" {
					t.Errorf("Pipedrive RemoteFields: -want, +got:\n%s", diff)
				}
			},
		},
		{
			reason: "a read-only Dataverse lookup needs no entity set",
			spec: MappingSpec{Provider: "dynamics", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
				{Name: "createdBy", Type: "reference", RemoteName: "createdby", ReadOnly: true},
			}},
			field: "createdBy",
			check: func(t *testing.T, m *Mapping, f Field) {
				c, err := m.ToCanonical(record(map[string]any{"_createdby_value": guid1}))
				if err != nil || c["createdBy"] != guid1 {
					t.Errorf("ToCanonical = %v, %v", c, err)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			m := mustCompile(t, tc.spec)
			tc.check(t, m, mustField(t, m, tc.field))
		})
	}
}
