package hubspot

import (
	"net/http"
	"slices"
	"strings"
)

// Property types, as HubSpot names them in the properties API.
const (
	TypeString      = "string"
	TypeNumber      = "number"
	TypeBool        = "bool"
	TypeDate        = "date"
	TypeDateTime    = "datetime"
	TypeEnumeration = "enumeration"
	TypePhoneNumber = "phone_number"
)

// Option is one allowed value of an enumeration property.
type Option struct {
	Label  string `json:"label"`
	Value  string `json:"value"`
	Hidden bool   `json:"hidden"`
}

// CustomProperty declares a portal-specific property of an object, as an admin would create in HubSpot's
// settings. Its values are validated like a standard property's.
type CustomProperty struct {
	// Object is "contacts", "companies" or "deals".
	Object string `json:"object"`
	// Name is the internal name ("favourite_colour"); Label the display name.
	Name  string `json:"name"`
	Label string `json:"label"`
	// Type is one of the Type* constants; FieldType the UI control ("text", "select", "checkbox", ...).
	// An empty FieldType is derived from Type.
	Type      string   `json:"type"`
	FieldType string   `json:"fieldType"`
	Options   []Option `json:"options,omitempty"`
	// ReadOnly rejects writes through the API.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Unique makes the property an idProperty for batch read and upsert (hasUniqueValue).
	Unique bool `json:"unique,omitempty"`
}

// property is the emulator's definition of one property.
type property struct {
	Name      string
	Label     string
	Type      string
	FieldType string
	Group     string
	Options   []Option
	ReadOnly  bool
	Unique    bool
	HubSpot   bool // hubspotDefined
	External  bool // externalOptions (owners)
	Email     bool // validated as an email address
}

func (p *property) allows(v string) bool {
	return slices.ContainsFunc(p.Options, func(o Option) bool { return o.Value == v })
}

func (p *property) optionValues() string {
	vals := make([]string, len(p.Options))
	for i, o := range p.Options {
		vals[i] = o.Value
	}
	return strings.Join(vals, ", ")
}

func defaultFieldType(typ string) string {
	switch typ {
	case TypeNumber:
		return "number"
	case TypeBool:
		return "booleancheckbox"
	case TypeDate, TypeDateTime:
		return "date"
	case TypeEnumeration:
		return "select"
	case TypePhoneNumber:
		return "phonenumber"
	default:
		return "text"
	}
}

func opts(pairs ...string) []Option {
	out := make([]Option, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, Option{Value: pairs[i], Label: pairs[i+1]})
	}
	return out
}

var lifecycleStages = opts(
	"subscriber", "Subscriber",
	"lead", "Lead",
	"marketingqualifiedlead", "Marketing Qualified Lead",
	"salesqualifiedlead", "Sales Qualified Lead",
	"opportunity", "Opportunity",
	"customer", "Customer",
	"evangelist", "Evangelist",
	"other", "Other",
)

var leadStatuses = opts(
	"NEW", "New",
	"OPEN", "Open",
	"IN_PROGRESS", "In Progress",
	"OPEN_DEAL", "Open Deal",
	"UNQUALIFIED", "Unqualified",
	"ATTEMPTED_TO_CONTACT", "Attempted to Contact",
	"CONNECTED", "Connected",
	"BAD_TIMING", "Bad Timing",
)

// industries is a subset of HubSpot's industry picklist (the real one has about 150 values).
var industries = opts(
	"ACCOUNTING", "Accounting",
	"AIRLINES_AVIATION", "Airlines/Aviation",
	"APPAREL_FASHION", "Apparel & Fashion",
	"AUTOMOTIVE", "Automotive",
	"BANKING", "Banking",
	"BIOTECHNOLOGY", "Biotechnology",
	"BROADCAST_MEDIA", "Broadcast Media",
	"CHEMICALS", "Chemicals",
	"COMPUTER_HARDWARE", "Computer Hardware",
	"COMPUTER_NETWORKING", "Computer Networking",
	"COMPUTER_SOFTWARE", "Computer Software",
	"CONSTRUCTION", "Construction",
	"CONSUMER_ELECTRONICS", "Consumer Electronics",
	"CONSUMER_GOODS", "Consumer Goods",
	"EDUCATION_MANAGEMENT", "Education Management",
	"ENTERTAINMENT", "Entertainment",
	"FINANCIAL_SERVICES", "Financial Services",
	"FOOD_BEVERAGES", "Food & Beverages",
	"HOSPITAL_HEALTH_CARE", "Hospital & Health Care",
	"INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology and Services",
	"INSURANCE", "Insurance",
	"INTERNET", "Internet",
	"LEGAL_SERVICES", "Legal Services",
	"LOGISTICS_AND_SUPPLY_CHAIN", "Logistics and Supply Chain",
	"MANAGEMENT_CONSULTING", "Management Consulting",
	"MARKETING_AND_ADVERTISING", "Marketing and Advertising",
	"MEDICAL_DEVICES", "Medical Devices",
	"NONPROFIT_ORGANIZATION_MANAGEMENT", "Non-Profit Organization Management",
	"OIL_ENERGY", "Oil & Energy",
	"PHARMACEUTICALS", "Pharmaceuticals",
	"REAL_ESTATE", "Real Estate",
	"RETAIL", "Retail",
	"TELECOMMUNICATIONS", "Telecommunications",
	"TRANSPORTATION_TRUCKING_RAILROAD", "Transportation/Trucking/Railroad",
	"UTILITIES", "Utilities",
)

var companyTypes = opts("PROSPECT", "Prospect", "PARTNER", "Partner", "RESELLER", "Reseller", "VENDOR", "Vendor", "OTHER", "Other")

// DealStages are the stages of HubSpot's default sales pipeline.
var dealStages = opts(
	"appointmentscheduled", "Appointment Scheduled",
	"qualifiedtobuy", "Qualified To Buy",
	"presentationscheduled", "Presentation Scheduled",
	"decisionmakerboughtin", "Decision Maker Bought-In",
	"contractsent", "Contract Sent",
	"closedwon", "Closed Won",
	"closedlost", "Closed Lost",
)

// objectDef describes one object type.
type objectDef struct {
	Name        string // contacts
	Singular    string // CONTACT, as HubSpot names it in messages
	ModProp     string // lastmodifieddate or hs_lastmodifieddate
	Defaults    []string
	Props       map[string]*property
	Order       []string // property names in a stable order
	Required    []string
	UniqueEmail bool // duplicate emails are rejected (contacts)
}

func (d *objectDef) add(p *property) {
	if p.FieldType == "" {
		p.FieldType = defaultFieldType(p.Type)
	}
	if p.Label == "" {
		p.Label = p.Name
	}
	if _, dup := d.Props[p.Name]; !dup {
		d.Order = append(d.Order, p.Name)
	}
	d.Props[p.Name] = p
}

// ownerOption turns an owner into an option of hubspot_owner_id.
func ownerOptions(owners []Owner) []Option {
	out := make([]Option, len(owners))
	for i, o := range owners {
		out[i] = Option{Value: o.ID, Label: o.Name}
	}
	return out
}

func str(name, label, group string) *property {
	return &property{Name: name, Label: label, Type: TypeString, Group: group, HubSpot: true}
}

func readOnly(p *property) *property { p.ReadOnly = true; return p }

// buildObjects returns the standard objects with the options' custom properties.
func buildObjects(o *Options) map[string]*objectDef {
	owner := func() *property {
		return &property{Name: "hubspot_owner_id", Label: "Contact owner", Type: TypeEnumeration, FieldType: "select",
			Group: "sales_properties", Options: ownerOptions(o.Owners), HubSpot: true, External: true}
	}
	common := func(d *objectDef, modLabel string) {
		group := strings.ToLower(d.Singular) + "information"
		d.add(readOnly(&property{Name: "hs_object_id", Label: "Record ID", Type: TypeNumber, Group: group, HubSpot: true}))
		d.add(readOnly(&property{Name: "createdate", Label: "Create Date", Type: TypeDateTime, Group: group, HubSpot: true}))
		d.add(readOnly(&property{Name: d.ModProp, Label: modLabel, Type: TypeDateTime, Group: group, HubSpot: true}))
		d.add(owner())
	}

	contacts := &objectDef{Name: "contacts", Singular: "CONTACT", ModProp: "lastmodifieddate", Props: map[string]*property{}, UniqueEmail: true,
		Defaults: []string{"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}}
	common(contacts, "Last Modified Date")
	contacts.add(&property{Name: "email", Label: "Email", Type: TypeString, Group: "contactinformation", HubSpot: true, Unique: true, Email: true})
	contacts.add(str("firstname", "First Name", "contactinformation"))
	contacts.add(str("lastname", "Last Name", "contactinformation"))
	contacts.add(&property{Name: "phone", Label: "Phone Number", Type: TypeString, FieldType: "phonenumber", Group: "contactinformation", HubSpot: true})
	contacts.add(&property{Name: "mobilephone", Label: "Mobile Phone Number", Type: TypeString, FieldType: "phonenumber", Group: "contactinformation", HubSpot: true})
	contacts.add(str("jobtitle", "Job Title", "contactinformation"))
	contacts.add(str("company", "Company Name", "contactinformation"))
	contacts.add(str("website", "Website URL", "contactinformation"))
	contacts.add(str("address", "Street Address", "contactinformation"))
	contacts.add(str("city", "City", "contactinformation"))
	contacts.add(str("state", "State/Region", "contactinformation"))
	contacts.add(str("zip", "Postal Code", "contactinformation"))
	contacts.add(str("country", "Country/Region", "contactinformation"))
	contacts.add(&property{Name: "lifecyclestage", Label: "Lifecycle Stage", Type: TypeEnumeration, FieldType: "radio", Group: "contactinformation", Options: lifecycleStages, HubSpot: true})
	contacts.add(&property{Name: "associatedcompanyid", Label: "Primary Associated Company ID", Type: TypeNumber, Group: "contactinformation", HubSpot: true})
	contacts.add(&property{Name: "hs_lead_status", Label: "Lead Status", Type: TypeEnumeration, FieldType: "radio", Group: "sales_properties", Options: leadStatuses, HubSpot: true})

	companies := &objectDef{Name: "companies", Singular: "COMPANY", ModProp: "hs_lastmodifieddate", Props: map[string]*property{},
		Defaults: []string{"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}}
	common(companies, "Last Modified Date")
	companies.Props["hubspot_owner_id"].Label = "Company owner"
	companies.add(str("name", "Company name", "companyinformation"))
	companies.add(str("domain", "Company Domain Name", "companyinformation"))
	companies.add(&property{Name: "industry", Label: "Industry", Type: TypeEnumeration, FieldType: "select", Group: "companyinformation", Options: industries, HubSpot: true})
	companies.add(&property{Name: "type", Label: "Type", Type: TypeEnumeration, FieldType: "select", Group: "companyinformation", Options: companyTypes, HubSpot: true})
	companies.add(&property{Name: "phone", Label: "Phone Number", Type: TypeString, FieldType: "phonenumber", Group: "companyinformation", HubSpot: true})
	companies.add(str("address", "Street Address", "companyinformation"))
	companies.add(str("city", "City", "companyinformation"))
	companies.add(str("state", "State/Region", "companyinformation"))
	companies.add(str("zip", "Postal Code", "companyinformation"))
	companies.add(str("country", "Country/Region", "companyinformation"))
	companies.add(&property{Name: "numberofemployees", Label: "Number of Employees", Type: TypeNumber, Group: "companyinformation", HubSpot: true})
	companies.add(&property{Name: "annualrevenue", Label: "Annual Revenue", Type: TypeNumber, Group: "companyinformation", HubSpot: true})
	companies.add(&property{Name: "lifecyclestage", Label: "Lifecycle Stage", Type: TypeEnumeration, FieldType: "radio", Group: "companyinformation", Options: lifecycleStages, HubSpot: true})

	deals := &objectDef{Name: "deals", Singular: "DEAL", ModProp: "hs_lastmodifieddate", Props: map[string]*property{},
		Defaults: []string{"amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"}}
	common(deals, "Last Modified Date")
	deals.Props["hubspot_owner_id"].Label = "Deal owner"
	deals.add(str("dealname", "Deal Name", "dealinformation"))
	deals.add(&property{Name: "amount", Label: "Amount", Type: TypeNumber, Group: "dealinformation", HubSpot: true})
	deals.add(&property{Name: "dealstage", Label: "Deal Stage", Type: TypeEnumeration, FieldType: "radio", Group: "dealinformation", Options: dealStages, HubSpot: true})
	deals.add(&property{Name: "pipeline", Label: "Pipeline", Type: TypeEnumeration, FieldType: "select", Group: "dealinformation", Options: opts("default", "Sales Pipeline"), HubSpot: true})
	deals.add(&property{Name: "closedate", Label: "Close Date", Type: TypeDateTime, Group: "dealinformation", HubSpot: true})
	deals.add(&property{Name: "deal_currency_code", Label: "Currency", Type: TypeEnumeration, FieldType: "select", Group: "dealinformation",
		Options: opts("USD", "US Dollar", "EUR", "Euro", "GBP", "British Pound", "CAD", "Canadian Dollar", "AUD", "Australian Dollar", "JPY", "Japanese Yen"), HubSpot: true})
	// HubSpot derives the probability from the deal stage; it cannot be written.
	deals.add(readOnly(&property{Name: "hs_deal_stage_probability", Label: "Deal Stage Probability", Type: TypeNumber, Group: "dealinformation", HubSpot: true}))
	deals.add(&property{Name: "dealtype", Label: "Deal Type", Type: TypeEnumeration, FieldType: "radio", Group: "dealinformation",
		Options: opts("newbusiness", "New Business", "existingbusiness", "Existing Business"), HubSpot: true})
	deals.add(&property{Name: "description", Label: "Deal Description", Type: TypeString, FieldType: "textarea", Group: "dealinformation", HubSpot: true})

	defs := map[string]*objectDef{"contacts": contacts, "companies": companies, "deals": deals}
	for obj, names := range o.RequiredProperties {
		if d := defs[obj]; d != nil {
			d.Required = slices.Clone(names)
		}
	}
	for _, cp := range o.CustomProperties {
		d := defs[cp.Object]
		if d == nil {
			continue
		}
		d.add(&property{Name: cp.Name, Label: cp.Label, Type: cp.Type, FieldType: cp.FieldType, Group: strings.ToLower(d.Singular) + "_custom",
			Options: slices.Clone(cp.Options), ReadOnly: cp.ReadOnly, Unique: cp.Unique})
	}
	return defs
}

// propertyJSON is one entry of GET /crm/v3/properties/{object}.
type propertyJSON struct {
	Name                 string         `json:"name"`
	Label                string         `json:"label"`
	Type                 string         `json:"type"`
	FieldType            string         `json:"fieldType"`
	Description          string         `json:"description"`
	GroupName            string         `json:"groupName"`
	Options              []optionJSON   `json:"options"`
	DisplayOrder         int            `json:"displayOrder"`
	Calculated           bool           `json:"calculated"`
	ExternalOptions      bool           `json:"externalOptions"`
	HasUniqueValue       bool           `json:"hasUniqueValue"`
	Hidden               bool           `json:"hidden"`
	HubspotDefined       bool           `json:"hubspotDefined,omitempty"`
	ModificationMetadata modificationMD `json:"modificationMetadata"`
	FormField            bool           `json:"formField"`
	Archived             bool           `json:"archived"`
	CreatedAt            string         `json:"createdAt,omitempty"`
	UpdatedAt            string         `json:"updatedAt,omitempty"`
}

type optionJSON struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type modificationMD struct {
	Archivable         bool `json:"archivable"`
	ReadOnlyDefinition bool `json:"readOnlyDefinition"`
	ReadOnlyValue      bool `json:"readOnlyValue"`
}

func (s *Server) propertyJSON(p *property, order int) propertyJSON {
	pj := propertyJSON{
		Name: p.Name, Label: p.Label, Type: p.Type, FieldType: p.FieldType, GroupName: p.Group,
		Options: []optionJSON{}, DisplayOrder: order, ExternalOptions: p.External, HasUniqueValue: p.Unique,
		HubspotDefined: p.HubSpot, FormField: !p.ReadOnly,
		ModificationMetadata: modificationMD{Archivable: !p.HubSpot, ReadOnlyDefinition: p.HubSpot, ReadOnlyValue: p.ReadOnly},
		CreatedAt:            formatTime(s.created), UpdatedAt: formatTime(s.created),
	}
	for i, o := range p.Options {
		pj.Options = append(pj.Options, optionJSON{Label: o.Label, Value: o.Value, DisplayOrder: i, Hidden: o.Hidden})
	}
	return pj
}

// handleProperties answers GET /crm/v3/properties/{object}.
func (s *Server) handleProperties(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	results := make([]propertyJSON, 0, len(d.Order))
	for i, name := range d.Order {
		results = append(results, s.propertyJSON(d.Props[name], i))
	}
	s.mu.Unlock()
	s.writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// handleProperty answers GET /crm/v3/properties/{object}/{name}.
func (s *Server) handleProperty(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	p := d.Props[r.PathValue("name")]
	var pj propertyJSON
	if p != nil {
		pj = s.propertyJSON(p, slices.Index(d.Order, p.Name))
	}
	s.mu.Unlock()
	if p == nil {
		s.notFound(w, "Unable to find property "+r.PathValue("name"))
		return
	}
	s.writeJSON(w, http.StatusOK, pj)
}

// handleCreateProperty answers POST /crm/v3/properties/{object}: it creates a custom property.
func (s *Server) handleCreateProperty(w http.ResponseWriter, r *http.Request) {
	d, ok := s.objectDef(w, r)
	if !ok {
		return
	}
	var in struct {
		Name      string   `json:"name"`
		Label     string   `json:"label"`
		Type      string   `json:"type"`
		FieldType string   `json:"fieldType"`
		Options   []Option `json:"options"`
		Unique    bool     `json:"hasUniqueValue"`
	}
	if err := decodeJSON(r, &in); err != nil {
		s.invalidJSON(w, err)
		return
	}
	switch in.Type {
	case TypeString, TypeNumber, TypeBool, TypeDate, TypeDateTime, TypeEnumeration, TypePhoneNumber:
	default:
		s.badRequest(w, "Invalid property type %q", in.Type)
		return
	}
	if in.Name == "" || in.Label == "" {
		s.badRequest(w, "Property name and label are required")
		return
	}
	s.mu.Lock()
	if _, exists := d.Props[in.Name]; exists {
		s.mu.Unlock()
		s.writeError(w, http.StatusConflict, apiError{Message: "Property named '" + in.Name + "' already exists.", Category: "OBJECT_ALREADY_EXISTS"})
		return
	}
	p := &property{Name: in.Name, Label: in.Label, Type: in.Type, FieldType: in.FieldType, Group: strings.ToLower(d.Singular) + "_custom", Options: in.Options, Unique: in.Unique}
	d.add(p)
	pj := s.propertyJSON(p, len(d.Order)-1)
	s.mu.Unlock()
	s.writeJSON(w, http.StatusCreated, pj)
}
