package mapping

import "github.com/crmsync/crmsync/internal/connectors"

// Canonical enum values shared by the default mappings.
var (
	// LifecycleStages are the canonical values of contacts.lifecycleStage.
	LifecycleStages = []string{
		"subscriber", "lead", "marketingQualifiedLead", "salesQualifiedLead",
		"opportunity", "customer", "evangelist", "other",
	}
	// DealStages are the canonical values of deals.stage.
	DealStages = []string{
		"prospecting", "qualification", "needsAnalysis", "valueProposition", "decisionMakers",
		"perceptionAnalysis", "proposal", "negotiation", "closedWon", "closedLost", "closedLostToCompetition",
	}
)

var schemas = map[connectors.Object]Schema{
	connectors.Contacts: {Object: connectors.Contacts, Fields: []CanonicalField{
		{Name: "email", Type: TypeEmail, Description: "Primary email address; the usual match key."},
		{Name: "firstName", Type: TypeString, Description: "Given name."},
		{Name: "lastName", Type: TypeString, Description: "Family name."},
		{Name: "fullName", Type: TypeString, Description: "Display name (computed by most CRMs, required by Pipedrive)."},
		{Name: "phone", Type: TypePhone, Description: "Main phone number."},
		{Name: "mobilePhone", Type: TypePhone, Description: "Mobile phone number."},
		{Name: "jobTitle", Type: TypeString, Description: "Job title."},
		{Name: "company", Type: TypeString, Description: "Company name as free text."},
		{Name: "companyId", Type: TypeReference, Description: "The company (account, organization) record the contact belongs to."},
		{Name: "lifecycleStage", Type: TypeEnum, Description: "Marketing and sales lifecycle stage."},
		{Name: "ownerId", Type: TypeReference, Description: "The CRM user who owns the record."},
		{Name: "street", Type: TypeString, Description: "Street address (mailing address)."},
		{Name: "city", Type: TypeString, Description: "City."},
		{Name: "state", Type: TypeString, Description: "State, province or region."},
		{Name: "postalCode", Type: TypeString, Description: "Postal code."},
		{Name: "country", Type: TypeString, Description: "Country."},
		{Name: "createdAt", Type: TypeDateTime, Description: "When the record was created.", ReadOnly: true},
		{Name: "updatedAt", Type: TypeDateTime, Description: "When the record was last modified.", ReadOnly: true},
	}},
	connectors.Companies: {Object: connectors.Companies, Fields: []CanonicalField{
		{Name: "name", Type: TypeString, Description: "Company name."},
		{Name: "domain", Type: TypeString, Description: "Web domain or website."},
		{Name: "industry", Type: TypeString, Description: "Industry, as the CRM's picklist value (passed through unchanged)."},
		{Name: "phone", Type: TypePhone, Description: "Main phone number."},
		{Name: "city", Type: TypeString, Description: "City (billing address)."},
		{Name: "country", Type: TypeString, Description: "Country (billing address)."},
		{Name: "employees", Type: TypeInteger, Description: "Number of employees."},
		{Name: "annualRevenue", Type: TypeCurrency, Description: "Annual revenue."},
		{Name: "ownerId", Type: TypeReference, Description: "The CRM user who owns the record."},
		{Name: "createdAt", Type: TypeDateTime, Description: "When the record was created.", ReadOnly: true},
		{Name: "updatedAt", Type: TypeDateTime, Description: "When the record was last modified.", ReadOnly: true},
	}},
	connectors.Deals: {Object: connectors.Deals, Fields: []CanonicalField{
		{Name: "name", Type: TypeString, Description: "Deal name."},
		{Name: "amount", Type: TypeCurrency, Description: "Deal value."},
		{Name: "currency", Type: TypeString, Description: "ISO 4217 code of amount, where the CRM keeps it in its own field."},
		{Name: "stage", Type: TypeEnum, Description: "Sales stage."},
		{Name: "closeDate", Type: TypeDate, Description: "Expected or actual close date."},
		{Name: "pipeline", Type: TypeEnum, Description: "Sales pipeline (values pass through unless a map is given)."},
		{Name: "probability", Type: TypeNumber, Description: "Win probability in percent, 0 to 100."},
		{Name: "companyId", Type: TypeReference, Description: "The company (account, organization) the deal is with."},
		{Name: "ownerId", Type: TypeReference, Description: "The CRM user who owns the record."},
		{Name: "createdAt", Type: TypeDateTime, Description: "When the record was created.", ReadOnly: true},
		{Name: "updatedAt", Type: TypeDateTime, Description: "When the record was last modified.", ReadOnly: true},
	}},
}
