package demo

import (
	"fmt"
	"strings"
)

// The size of the seeded data. The numbers are small enough for a first sync within a minute on a laptop
// and large enough that HubSpot's burst limit is met.
const (
	hubspotContacts   = 240 // contacts in HubSpot
	overlapping       = 30  // of them, also users of the application (same email, maybe other case)
	appOnly           = 30  // users of the application that HubSpot does not know
	invalidAppRows    = 2   // application rows HubSpot cannot take (see invalidRows)
	salesforceDeals   = 80  // opportunities whose stage HubSpot's pipeline has
	unmappedDeals     = 2   // opportunities in stages HubSpot's pipeline lacks
	salesforceCompany = 12  // accounts the opportunities belong to
)

// Expectations are what the first full sync must do with the seeded data.
type Expectations struct {
	// Contacts job (HubSpot contacts <-> app database, TwoWay).
	ContactsCreated int64 // HubSpot-only contacts created in the database plus app-only users created in HubSpot
	ContactsUpdated int64 // overlapping pairs: HubSpot's fields written to the database and the app's to HubSpot
	ContactsFailed  int64 // the intentionally invalid application rows
	// Deals job (Salesforce opportunities -> HubSpot deals, OneWay).
	DealsCreated int64
	DealsFailed  int64 // opportunities in a stage HubSpot lacks
	// What each side holds afterwards.
	HubSpotContacts int // live contacts in HubSpot
	AppContacts     int // rows in the application's contacts table
	HubSpotDeals    int
}

func expectations() Expectations {
	return Expectations{
		ContactsCreated: (hubspotContacts - overlapping) + appOnly,
		ContactsUpdated: 2 * overlapping,
		ContactsFailed:  invalidAppRows,
		DealsCreated:    salesforceDeals,
		DealsFailed:     unmappedDeals,
		HubSpotContacts: hubspotContacts + appOnly,
		AppContacts:     overlapping + appOnly + invalidAppRows + (hubspotContacts - overlapping),
		HubSpotDeals:    salesforceDeals,
	}
}

var (
	firstNames = []string{
		"Amara", "Ben", "Chen", "Dana", "Elif", "Felix", "Grace", "Hiro", "Ines", "Jonas", "Kavya", "Liam",
		"Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wei", "Ximena",
		"Yusuf", "Zoe", "Aiko", "Bruno", "Clara", "Diego", "Emma", "Farid", "Greta", "Hana", "Ivan", "Julia",
		"Kofi", "Lena", "Mateo", "Nadia",
	}
	lastNames = []string{
		"Okafor", "Schmidt", "Wang", "Novak", "Yilmaz", "Moreau", "Hopper", "Tanaka", "Silva", "Berg", "Iyer",
		"Murphy", "Cohen", "Andersen", "Petrova", "Costa", "Walsh", "Romero", "Haddad", "Singh", "Farouk",
		"Lindqvist", "Zhang", "Flores", "Demir", "Dubois", "Sato", "Rossi", "Fischer", "Ortega", "Nilsson",
		"Rahman", "Keller", "Kim", "Volkov", "Meyer", "Mensah", "Weber", "Alvarez", "Karimi",
	}
	companies = []struct{ name, domain, city, country, phone string }{
		{"Northwind Traders", "northwind.example", "Seattle", "United States", "+1 206 555"},
		{"Globex", "globex.example", "Springfield", "United States", "+1 217 555"},
		{"Initech", "initech.example", "Austin", "United States", "+1 512 555"},
		{"Umbrella Analytics", "umbrella-analytics.example", "London", "United Kingdom", "+44 20 7946"},
		{"Stark Logistics", "stark-logistics.example", "Rotterdam", "Netherlands", "+31 10 555"},
		{"Wayne Biotech", "wayne-bio.example", "Basel", "Switzerland", "+41 61 555"},
		{"Tyrell Systems", "tyrell.example", "Osaka", "Japan", "+81 6 5555"},
		{"Cyberdyne Robotics", "cyberdyne.example", "Munich", "Germany", "+49 89 5555"},
		{"Soylent Foods", "soylent.example", "Lyon", "France", "+33 4 5555"},
		{"Hooli", "hooli.example", "Palo Alto", "United States", "+1 650 555"},
		{"Vandelay Industries", "vandelay.example", "Toronto", "Canada", "+1 416 555"},
		{"Pied Piper", "piedpiper.example", "São Paulo", "Brazil", "+55 11 5555"},
	}
	crmJobTitles = []string{"Head of Sales", "CTO", "Data Engineer", "Procurement Lead", "Marketing Manager", "Account Executive", "VP Operations", "Analyst"}
	appJobTitles = []string{"Staff Engineer", "Founder", "Product Designer", "Team Lead", "Operations Manager", "Support Engineer"}
	// hubspotStages are HubSpot's lifecycle stages (internal values) as the seeded contacts use them.
	hubspotStages = []string{"subscriber", "lead", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "customer", "evangelist"}
	// appStages are the canonical lifecycle stages the application stores.
	appStages = []string{"lead", "customer", "customer", "opportunity"}
	plans     = []string{"free", "team", "team", "enterprise"}
	owners    = []string{"101", "102", "103"}
	// dealStages are Salesforce stages that HubSpot's default pipeline has; unmappedStages are not.
	dealStages     = []string{"Prospecting", "Qualification", "Needs Analysis", "Id. Decision Makers", "Negotiation/Review", "Closed Won", "Closed Lost"}
	unmappedStages = []string{"Value Proposition", "Perception Analysis"}
	products       = []string{"Analytics", "Billing", "Data Platform", "Support Plus", "Security Suite"}
	regions        = map[string]string{"United States": "Americas", "Canada": "Americas", "Brazil": "Americas", "Japan": "APAC"}
)

// person is one human in the seeded world. Person k is the same human wherever k appears.
type person struct {
	first, last, email, company, city, country, phone string
}

// personAt returns person k: a unique first and last name pair, working at one of the companies.
func personAt(k int) person {
	// 13 and 1600 are coprime, so k -> 13k mod 1600 visits every name pair once.
	pair := (k * 13) % (len(firstNames) * len(lastNames))
	first, last := firstNames[pair%len(firstNames)], lastNames[pair/len(firstNames)]
	c := companies[k%len(companies)]
	return person{
		first: first, last: last,
		email:   strings.ToLower(first + "." + last + "@" + c.domain),
		company: c.name, city: c.city, country: c.country,
		phone: fmt.Sprintf("%s %04d", c.phone, 1000+k),
	}
}

// hubspotContact is person k as a HubSpot contact (properties by internal name).
func hubspotContact(k int) map[string]string {
	p := personAt(k)
	return map[string]string{
		"email": p.email, "firstname": p.first, "lastname": p.last, "phone": p.phone,
		"jobtitle": crmJobTitles[k%len(crmJobTitles)], "company": p.company, "city": p.city, "country": p.country,
		"lifecyclestage":   hubspotStages[k%len(hubspotStages)],
		"hubspot_owner_id": owners[k%len(owners)],
	}
}

// appRow is one row of the application's contacts table.
type appRow struct {
	id, email, first, last, phone, jobTitle, company, stage, plan string
}

// overlapIndex returns the HubSpot contact (person index) that application user i (i < overlapping)
// also is.
func overlapIndex(i int) int { return i * (hubspotContacts / overlapping) }

// appRows returns the application's users: first those HubSpot knows too (some with their email typed
// in another case), then app-only users, then the invalid rows.
func appRows() []appRow {
	var rows []appRow
	for i := 0; i < overlapping; i++ {
		k := overlapIndex(i)
		p := personAt(k)
		email := p.email
		if i%3 == 0 {
			email = capitalized(email)
		}
		rows = append(rows, appRow{
			id: fmt.Sprintf("usr_%04d", 1000+i), email: email, first: p.first, last: p.last,
			phone:    fmt.Sprintf("+1 415 555 %04d", 2000+i),
			jobTitle: appJobTitles[i%len(appJobTitles)], plan: plans[i%len(plans)],
		})
	}
	for i := 0; i < appOnly; i++ {
		k := hubspotContacts + i
		p := personAt(k)
		rows = append(rows, appRow{
			id: fmt.Sprintf("usr_%04d", 1000+overlapping+i), email: p.email, first: p.first, last: p.last,
			phone: p.phone, jobTitle: appJobTitles[i%len(appJobTitles)], company: p.company,
			stage: appStages[i%len(appStages)], plan: plans[i%len(plans)],
		})
	}
	return append(rows, invalidRows()...)
}

// invalidRows are application rows HubSpot cannot take: a lifecycle stage HubSpot has no value for
// (rejected by the mapping before any call), and an email address HubSpot rejects (INVALID_EMAIL).
func invalidRows() []appRow {
	n := overlapping + appOnly
	return []appRow{
		{id: fmt.Sprintf("usr_%04d", 1000+n), email: "vip.customer@northwind.example", first: "Vida", last: "Price",
			phone: "+1 206 555 0100", jobTitle: "Chief Buyer", stage: "vip", plan: "enterprise"},
		{id: fmt.Sprintf("usr_%04d", 1001+n), email: "sam.rivera(at)globex.example", first: "Sam", last: "Rivera",
			phone: "+1 217 555 0101", jobTitle: "Engineer", stage: "lead", plan: "free"},
	}
}

// deal is one Salesforce opportunity.
type deal struct {
	name, stage, closeDate, region string
	amount                         float64
	company                        int
}

// deals returns the opportunities: first those HubSpot's pipeline can take, then the unmapped ones.
func deals() []deal {
	var out []deal
	add := func(i int, stage string) {
		c := i % salesforceCompany
		region := regions[companies[c].country]
		if region == "" {
			region = "EMEA"
		}
		out = append(out, deal{
			name:  fmt.Sprintf("%s - %s (%d seats)", companies[c].name, products[i%len(products)], 10*(1+i%25)),
			stage: stage, amount: float64(2400 * (1 + (i*7)%40)), company: c, region: region,
			closeDate: fmt.Sprintf("2026-%02d-%02d", 1+i%12, 1+i%28),
		})
	}
	for i := 0; i < salesforceDeals; i++ {
		add(i, dealStages[i%len(dealStages)])
	}
	for i := 0; i < unmappedDeals; i++ {
		add(salesforceDeals+i, unmappedStages[i%len(unmappedStages)])
	}
	return out
}

// capitalized writes the local part of an email address as people sometimes type it: "Ada.Lovelace@...".
func capitalized(email string) string {
	local, domain, _ := strings.Cut(email, "@")
	parts := strings.Split(local, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".") + "@" + domain
}
