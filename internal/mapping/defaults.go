package mapping

import "github.com/crmsync/crmsync/internal/connectors"

// defaultField is one built-in mapping of a canonical field to a CRM field.
type defaultField struct {
	name       string // canonical
	remote     string // remote name, in the FieldSpec.RemoteName syntax
	remoteType string // the CRM's own type name, as its describe call reports it
	values     map[string]string
	readOnly   bool
	required   bool
	format     wireFormat // overrides the format derived from the types, when the CRM's JSON differs
	scale      int        // canonical = remote × 10^scale
}

type objectDefaults struct {
	remoteObject string
	fields       []defaultField
}

// Enum maps of the default mappings. Stage ids of Pipedrive and the stages of every CRM are per account:
// override them in a FieldMapping when the account's pipeline differs.
var (
	hubspotLifecycle = map[string]string{
		"subscriber": "subscriber", "lead": "lead", "marketingQualifiedLead": "marketingqualifiedlead",
		"salesQualifiedLead": "salesqualifiedlead", "opportunity": "opportunity", "customer": "customer",
		"evangelist": "evangelist", "other": "other",
	}
	hubspotDealStages = map[string]string{
		"prospecting": "appointmentscheduled", "qualification": "qualifiedtobuy",
		"needsAnalysis": "presentationscheduled", "decisionMakers": "decisionmakerboughtin",
		"negotiation": "contractsent", "closedWon": "closedwon", "closedLost": "closedlost",
	}
	salesforceDealStages = map[string]string{
		"prospecting": "Prospecting", "qualification": "Qualification", "needsAnalysis": "Needs Analysis",
		"valueProposition": "Value Proposition", "decisionMakers": "Id. Decision Makers",
		"perceptionAnalysis": "Perception Analysis", "proposal": "Proposal/Price Quote",
		"negotiation": "Negotiation/Review", "closedWon": "Closed Won", "closedLost": "Closed Lost",
	}
	// dynamicsSalesStages maps to the opportunity salesstage option set (0 Qualify, 1 Develop, 2 Propose,
	// 3 Close). Won and lost are the opportunity's state, not a stage.
	dynamicsSalesStages = map[string]string{
		"qualification": "0", "needsAnalysis": "1", "proposal": "2", "negotiation": "3",
	}
	// pipedriveDealStages maps to the stage ids of the default pipeline of a new Pipedrive company
	// (Qualified, Contact Made, Demo Scheduled, Proposal Made, Negotiations Started). Won and lost are the
	// deal's status, not a stage.
	pipedriveDealStages = map[string]string{
		"qualification": "1", "needsAnalysis": "2", "valueProposition": "3", "proposal": "4", "negotiation": "5",
	}
	zohoDealStages = map[string]string{
		"qualification": "Qualification", "needsAnalysis": "Needs Analysis", "valueProposition": "Value Proposition",
		"decisionMakers": "Identify Decision Makers", "proposal": "Proposal/Price Quote",
		"negotiation": "Negotiation/Review", "closedWon": "Closed Won", "closedLost": "Closed Lost",
		"closedLostToCompetition": "Closed-Lost to Competition",
	}
)

var defaults = map[Provider]map[connectors.Object]objectDefaults{
	HubSpot: {
		connectors.Contacts: {remoteObject: "contacts", fields: []defaultField{
			{name: "email", remote: "email", remoteType: "string"},
			{name: "firstName", remote: "firstname", remoteType: "string"},
			{name: "lastName", remote: "lastname", remoteType: "string"},
			{name: "phone", remote: "phone", remoteType: "string"},
			{name: "mobilePhone", remote: "mobilephone", remoteType: "string"},
			{name: "jobTitle", remote: "jobtitle", remoteType: "string"},
			{name: "company", remote: "company", remoteType: "string"},
			{name: "companyId", remote: "associatedcompanyid", remoteType: "number"},
			{name: "lifecycleStage", remote: "lifecyclestage", remoteType: "enumeration", values: hubspotLifecycle},
			{name: "ownerId", remote: "hubspot_owner_id", remoteType: "enumeration"},
			{name: "street", remote: "address", remoteType: "string"},
			{name: "city", remote: "city", remoteType: "string"},
			{name: "state", remote: "state", remoteType: "string"},
			{name: "postalCode", remote: "zip", remoteType: "string"},
			{name: "country", remote: "country", remoteType: "string"},
			{name: "createdAt", remote: "createdate", remoteType: "datetime"},
			{name: "updatedAt", remote: "lastmodifieddate", remoteType: "datetime"},
		}},
		connectors.Companies: {remoteObject: "companies", fields: []defaultField{
			{name: "name", remote: "name", remoteType: "string"},
			{name: "domain", remote: "domain", remoteType: "string"},
			{name: "industry", remote: "industry", remoteType: "enumeration"},
			{name: "phone", remote: "phone", remoteType: "string"},
			{name: "city", remote: "city", remoteType: "string"},
			{name: "country", remote: "country", remoteType: "string"},
			{name: "employees", remote: "numberofemployees", remoteType: "number"},
			{name: "annualRevenue", remote: "annualrevenue", remoteType: "number"},
			{name: "ownerId", remote: "hubspot_owner_id", remoteType: "enumeration"},
			{name: "createdAt", remote: "createdate", remoteType: "datetime"},
			{name: "updatedAt", remote: "hs_lastmodifieddate", remoteType: "datetime"},
		}},
		connectors.Deals: {remoteObject: "deals", fields: []defaultField{
			{name: "name", remote: "dealname", remoteType: "string"},
			{name: "amount", remote: "amount", remoteType: "number"},
			{name: "currency", remote: "deal_currency_code", remoteType: "enumeration"},
			{name: "stage", remote: "dealstage", remoteType: "enumeration", values: hubspotDealStages},
			{name: "closeDate", remote: "closedate", remoteType: "datetime"},
			{name: "pipeline", remote: "pipeline", remoteType: "enumeration"},
			// hs_deal_stage_probability is a fraction (0.2) that HubSpot derives from the stage.
			{name: "probability", remote: "hs_deal_stage_probability", remoteType: "number", scale: 2, readOnly: true},
			{name: "ownerId", remote: "hubspot_owner_id", remoteType: "enumeration"},
			{name: "createdAt", remote: "createdate", remoteType: "datetime"},
			{name: "updatedAt", remote: "hs_lastmodifieddate", remoteType: "datetime"},
		}},
	},
	Salesforce: {
		connectors.Contacts: {remoteObject: "Contact", fields: []defaultField{
			{name: "email", remote: "Email", remoteType: "email"},
			{name: "firstName", remote: "FirstName", remoteType: "string"},
			{name: "lastName", remote: "LastName", remoteType: "string", required: true},
			{name: "fullName", remote: "Name", remoteType: "string", readOnly: true},
			{name: "phone", remote: "Phone", remoteType: "phone"},
			{name: "mobilePhone", remote: "MobilePhone", remoteType: "phone"},
			{name: "jobTitle", remote: "Title", remoteType: "string"},
			{name: "companyId", remote: "AccountId", remoteType: "reference"},
			{name: "ownerId", remote: "OwnerId", remoteType: "reference"},
			{name: "street", remote: "MailingStreet", remoteType: "textarea"},
			{name: "city", remote: "MailingCity", remoteType: "string"},
			{name: "state", remote: "MailingState", remoteType: "string"},
			{name: "postalCode", remote: "MailingPostalCode", remoteType: "string"},
			{name: "country", remote: "MailingCountry", remoteType: "string"},
			{name: "createdAt", remote: "CreatedDate", remoteType: "datetime"},
			{name: "updatedAt", remote: "LastModifiedDate", remoteType: "datetime"},
		}},
		connectors.Companies: {remoteObject: "Account", fields: []defaultField{
			{name: "name", remote: "Name", remoteType: "string", required: true},
			{name: "domain", remote: "Website", remoteType: "url"},
			{name: "industry", remote: "Industry", remoteType: "picklist"},
			{name: "phone", remote: "Phone", remoteType: "phone"},
			{name: "city", remote: "BillingCity", remoteType: "string"},
			{name: "country", remote: "BillingCountry", remoteType: "string"},
			{name: "employees", remote: "NumberOfEmployees", remoteType: "int"},
			{name: "annualRevenue", remote: "AnnualRevenue", remoteType: "currency"},
			{name: "ownerId", remote: "OwnerId", remoteType: "reference"},
			{name: "createdAt", remote: "CreatedDate", remoteType: "datetime"},
			{name: "updatedAt", remote: "LastModifiedDate", remoteType: "datetime"},
		}},
		connectors.Deals: {remoteObject: "Opportunity", fields: []defaultField{
			{name: "name", remote: "Name", remoteType: "string", required: true},
			{name: "amount", remote: "Amount", remoteType: "currency"},
			{name: "stage", remote: "StageName", remoteType: "picklist", values: salesforceDealStages, required: true},
			{name: "closeDate", remote: "CloseDate", remoteType: "date", required: true},
			{name: "probability", remote: "Probability", remoteType: "percent"},
			{name: "companyId", remote: "AccountId", remoteType: "reference"},
			{name: "ownerId", remote: "OwnerId", remoteType: "reference"},
			{name: "createdAt", remote: "CreatedDate", remoteType: "datetime"},
			{name: "updatedAt", remote: "LastModifiedDate", remoteType: "datetime"},
		}},
	},
	Dynamics: {
		connectors.Contacts: {remoteObject: "contacts", fields: []defaultField{
			{name: "email", remote: "emailaddress1", remoteType: "String"},
			{name: "firstName", remote: "firstname", remoteType: "String"},
			{name: "lastName", remote: "lastname", remoteType: "String", required: true},
			{name: "fullName", remote: "fullname", remoteType: "String", readOnly: true},
			{name: "phone", remote: "telephone1", remoteType: "String"},
			{name: "mobilePhone", remote: "mobilephone", remoteType: "String"},
			{name: "jobTitle", remote: "jobtitle", remoteType: "String"},
			{name: "companyId", remote: "parentcustomerid:parentcustomerid_account@accounts", remoteType: "Customer"},
			{name: "ownerId", remote: "ownerid@systemusers", remoteType: "Owner"},
			{name: "street", remote: "address1_line1", remoteType: "String"},
			{name: "city", remote: "address1_city", remoteType: "String"},
			{name: "state", remote: "address1_stateorprovince", remoteType: "String"},
			{name: "postalCode", remote: "address1_postalcode", remoteType: "String"},
			{name: "country", remote: "address1_country", remoteType: "String"},
			{name: "createdAt", remote: "createdon", remoteType: "DateTime"},
			{name: "updatedAt", remote: "modifiedon", remoteType: "DateTime"},
		}},
		connectors.Companies: {remoteObject: "accounts", fields: []defaultField{
			{name: "name", remote: "name", remoteType: "String", required: true},
			{name: "domain", remote: "websiteurl", remoteType: "String"},
			{name: "phone", remote: "telephone1", remoteType: "String"},
			{name: "city", remote: "address1_city", remoteType: "String"},
			{name: "country", remote: "address1_country", remoteType: "String"},
			{name: "employees", remote: "numberofemployees", remoteType: "Integer"},
			{name: "annualRevenue", remote: "revenue", remoteType: "Money"},
			{name: "ownerId", remote: "ownerid@systemusers", remoteType: "Owner"},
			{name: "createdAt", remote: "createdon", remoteType: "DateTime"},
			{name: "updatedAt", remote: "modifiedon", remoteType: "DateTime"},
		}},
		connectors.Deals: {remoteObject: "opportunities", fields: []defaultField{
			{name: "name", remote: "name", remoteType: "String", required: true},
			{name: "amount", remote: "estimatedvalue", remoteType: "Money"},
			{name: "stage", remote: "salesstage", remoteType: "Picklist", values: dynamicsSalesStages},
			{name: "closeDate", remote: "estimatedclosedate", remoteType: "DateTime"},
			{name: "probability", remote: "closeprobability", remoteType: "Integer"},
			{name: "companyId", remote: "parentaccountid@accounts", remoteType: "Lookup"},
			{name: "ownerId", remote: "ownerid@systemusers", remoteType: "Owner"},
			{name: "createdAt", remote: "createdon", remoteType: "DateTime"},
			{name: "updatedAt", remote: "modifiedon", remoteType: "DateTime"},
		}},
	},
	Pipedrive: {
		connectors.Contacts: {remoteObject: "persons", fields: []defaultField{
			{name: "email", remote: "emails", remoteType: "varchar"},
			{name: "firstName", remote: "first_name", remoteType: "varchar"},
			{name: "lastName", remote: "last_name", remoteType: "varchar"},
			{name: "fullName", remote: "name", remoteType: "varchar", required: true},
			{name: "phone", remote: "phones", remoteType: "phone"},
			{name: "mobilePhone", remote: "phones[mobile]", remoteType: "phone"},
			{name: "companyId", remote: "org_id", remoteType: "org"},
			{name: "ownerId", remote: "owner_id", remoteType: "user"},
			{name: "createdAt", remote: "add_time", remoteType: "datetime"},
			{name: "updatedAt", remote: "update_time", remoteType: "datetime"},
		}},
		connectors.Companies: {remoteObject: "organizations", fields: []defaultField{
			{name: "name", remote: "name", remoteType: "varchar", required: true},
			{name: "ownerId", remote: "owner_id", remoteType: "user"},
			{name: "createdAt", remote: "add_time", remoteType: "datetime"},
			{name: "updatedAt", remote: "update_time", remoteType: "datetime"},
		}},
		connectors.Deals: {remoteObject: "deals", fields: []defaultField{
			{name: "name", remote: "title", remoteType: "varchar", required: true},
			// A deal's value is a plain number next to its own currency field, unlike custom monetary fields.
			{name: "amount", remote: "value", remoteType: "monetary", format: wMoneyNumber},
			{name: "currency", remote: "currency", remoteType: "varchar"},
			{name: "stage", remote: "stage_id", remoteType: "stage", values: pipedriveDealStages},
			{name: "closeDate", remote: "expected_close_date", remoteType: "date"},
			{name: "pipeline", remote: "pipeline_id", remoteType: "int"},
			{name: "probability", remote: "probability", remoteType: "double"},
			{name: "companyId", remote: "org_id", remoteType: "org"},
			{name: "ownerId", remote: "owner_id", remoteType: "user"},
			{name: "createdAt", remote: "add_time", remoteType: "datetime"},
			{name: "updatedAt", remote: "update_time", remoteType: "datetime"},
		}},
	},
	Zoho: {
		connectors.Contacts: {remoteObject: "Contacts", fields: []defaultField{
			{name: "email", remote: "Email", remoteType: "email"},
			{name: "firstName", remote: "First_Name", remoteType: "text"},
			{name: "lastName", remote: "Last_Name", remoteType: "text", required: true},
			{name: "fullName", remote: "Full_Name", remoteType: "text", readOnly: true},
			{name: "phone", remote: "Phone", remoteType: "phone"},
			{name: "mobilePhone", remote: "Mobile", remoteType: "phone"},
			{name: "jobTitle", remote: "Title", remoteType: "text"},
			{name: "companyId", remote: "Account_Name", remoteType: "lookup"},
			{name: "ownerId", remote: "Owner", remoteType: "ownerlookup"},
			{name: "street", remote: "Mailing_Street", remoteType: "text"},
			{name: "city", remote: "Mailing_City", remoteType: "text"},
			{name: "state", remote: "Mailing_State", remoteType: "text"},
			{name: "postalCode", remote: "Mailing_Zip", remoteType: "text"},
			{name: "country", remote: "Mailing_Country", remoteType: "text"},
			{name: "createdAt", remote: "Created_Time", remoteType: "datetime"},
			{name: "updatedAt", remote: "Modified_Time", remoteType: "datetime"},
		}},
		connectors.Companies: {remoteObject: "Accounts", fields: []defaultField{
			{name: "name", remote: "Account_Name", remoteType: "text", required: true},
			{name: "domain", remote: "Website", remoteType: "website"},
			{name: "industry", remote: "Industry", remoteType: "picklist"},
			{name: "phone", remote: "Phone", remoteType: "phone"},
			{name: "city", remote: "Billing_City", remoteType: "text"},
			{name: "country", remote: "Billing_Country", remoteType: "text"},
			{name: "employees", remote: "Employees", remoteType: "integer"},
			{name: "annualRevenue", remote: "Annual_Revenue", remoteType: "currency"},
			{name: "ownerId", remote: "Owner", remoteType: "ownerlookup"},
			{name: "createdAt", remote: "Created_Time", remoteType: "datetime"},
			{name: "updatedAt", remote: "Modified_Time", remoteType: "datetime"},
		}},
		connectors.Deals: {remoteObject: "Deals", fields: []defaultField{
			{name: "name", remote: "Deal_Name", remoteType: "text", required: true},
			{name: "amount", remote: "Amount", remoteType: "currency"},
			{name: "stage", remote: "Stage", remoteType: "picklist", values: zohoDealStages, required: true},
			{name: "closeDate", remote: "Closing_Date", remoteType: "date"},
			{name: "pipeline", remote: "Pipeline", remoteType: "picklist"},
			{name: "probability", remote: "Probability", remoteType: "integer"},
			{name: "companyId", remote: "Account_Name", remoteType: "lookup"},
			{name: "ownerId", remote: "Owner", remoteType: "ownerlookup"},
			{name: "createdAt", remote: "Created_Time", remoteType: "datetime"},
			{name: "updatedAt", remote: "Modified_Time", remoteType: "datetime"},
		}},
	},
}

// DefaultRemoteObject returns the CRM's name of a canonical object ("Contact", "persons", "opportunities").
func DefaultRemoteObject(p Provider, o connectors.Object) (string, bool) {
	d, ok := defaults[p][o]
	return d.remoteObject, ok
}

// Default returns the built-in mapping of a canonical object for a CRM, exactly what a FieldMapping with
// inheritDefaults and no fields compiles to.
func Default(p Provider, o connectors.Object) (*Mapping, error) {
	return Compile(MappingSpec{Provider: string(p), Object: string(o), InheritDefaults: true})
}
