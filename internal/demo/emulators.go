package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	hubspotemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
	salesforceemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

// The HubSpot portal's settings: short-lived tokens, so that a refresh happens while the demo runs, and a
// low burst limit, so that the first sync meets it.
const (
	hubspotTokenLifetime = 2 * time.Minute
	hubspotBurstLimit    = 10
	hubspotBurstWindow   = 10 * time.Second
	hubspotPortalID      = 24681357
)

// emulator is one CRM emulator served on a loopback port.
type emulator struct {
	url string
	srv *http.Server
	rec *callRecorder
}

func serveEmulator(h http.Handler, ln net.Listener) *emulator {
	rec := &callRecorder{}
	e := &emulator{url: "http://" + ln.Addr().String(), rec: rec,
		srv: &http.Server{Handler: rec.wrap(h), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = e.srv.Serve(ln) }()
	return e
}

func (e *emulator) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		_ = e.srv.Close()
	}
}

func listenLoopback() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on a loopback port for an emulator: %w", err)
	}
	return ln, nil
}

// startHubSpot starts the HubSpot emulator with the demo portal's settings and its custom deal property.
func startHubSpot() (*hubspotemu.Server, *emulator, error) {
	ln, err := listenLoopback()
	if err != nil {
		return nil, nil, err
	}
	hub := hubspotemu.New(hubspotemu.Options{
		AccessTokenLifetime: hubspotTokenLifetime,
		BurstLimit:          hubspotBurstLimit,
		BurstWindow:         hubspotBurstWindow,
		PortalID:            hubspotPortalID,
		CustomProperties: []hubspotemu.CustomProperty{
			// The portal's own properties.
			{Object: "deals", Name: "salesforce_opportunity_id", Label: "Salesforce opportunity ID", Type: hubspotemu.TypeString, Unique: true},
			{Object: "deals", Name: "sales_region", Label: "Sales region", Type: hubspotemu.TypeEnumeration, FieldType: "select",
				Options: []hubspotemu.Option{{Label: "EMEA", Value: "emea"}, {Label: "Americas", Value: "americas"}, {Label: "APAC", Value: "apac"}}},
		},
	})
	return hub, serveEmulator(hub, ln), nil
}

// startSalesforce starts the Salesforce emulator; its login URL and instance URL are the same server.
func startSalesforce() (*salesforceemu.Server, *emulator, error) {
	ln, err := listenLoopback()
	if err != nil {
		return nil, nil, err
	}
	url := "http://" + ln.Addr().String()
	ext := salesforceemu.Field{Name: "External_Id__c", Label: "External Id", Type: "string", Length: 255, ExternalID: true, Unique: true}
	org := salesforceemu.New(salesforceemu.Options{
		InstanceURL: url,
		LoginURL:    url,
		CustomFields: map[string][]salesforceemu.Field{
			"Contact": {ext},
			"Account": {ext},
			"Opportunity": {ext, {Name: "Region__c", Label: "Region", Type: "picklist",
				Picklist: []string{"EMEA", "Americas", "APAC"}, Restricted: true}},
		},
	})
	return org, serveEmulator(org, ln), nil
}

// seedHubSpot creates the portal's contacts as people in HubSpot's UI would. It returns the contact id of
// every person index.
func seedHubSpot(hub *hubspotemu.Server) (map[int]string, error) {
	ids := make(map[int]string, hubspotContacts)
	for k := 0; k < hubspotContacts; k++ {
		id, err := hub.Create("contacts", hubspotContact(k))
		if err != nil {
			return nil, fmt.Errorf("seed HubSpot contact %d: %w", k, err)
		}
		ids[k] = id
	}
	return ids, nil
}

// seedSalesforce creates the org's accounts and opportunities.
func seedSalesforce(org *salesforceemu.Server) error {
	accounts := make([]string, salesforceCompany)
	for i := range accounts {
		c := companies[i]
		id, err := org.Create("Account", map[string]any{"Name": c.name, "Website": "https://www." + c.domain,
			"BillingCity": c.city, "BillingCountry": c.country})
		if err != nil {
			return fmt.Errorf("seed Salesforce account %s: %w", c.name, err)
		}
		accounts[i] = id
	}
	for _, d := range deals() {
		_, err := org.Create("Opportunity", map[string]any{"Name": d.name, "StageName": d.stage, "CloseDate": d.closeDate,
			"Amount": d.amount, "AccountId": accounts[d.company], "Region__c": d.region})
		if err != nil {
			return fmt.Errorf("seed Salesforce opportunity %q: %w", d.name, err)
		}
	}
	return nil
}

// callRecorder notes when each API call reached an emulator and how it was answered, as the CRM's own
// request log would. It only observes: the emulator's answers are untouched.
type callRecorder struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	at     time.Time
	status int
}

func (r *callRecorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/_admin") || strings.Contains(req.URL.Path, "/oauth") {
			h.ServeHTTP(w, req)
			return
		}
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		at := time.Now()
		h.ServeHTTP(sw, req)
		r.mu.Lock()
		r.calls = append(r.calls, call{at: at, status: sw.status})
		r.mu.Unlock()
	})
}

// burstStats describes the API calls against a rolling burst window. Search calls count too: HubSpot
// limits them separately, but crmsync's budget paces every call of the connection.
type burstStats struct {
	calls   int           // API calls
	peak    int           // the most calls that arrived within one window
	inLast  int           // calls within the last window before now
	limited int           // answers 429
	span    time.Duration // from the first to the last counted call
}

func (r *callRecorder) burst(window time.Duration, now time.Time) burstStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var st burstStats
	var times []time.Time
	for _, c := range r.calls {
		if c.status == http.StatusTooManyRequests {
			st.limited++
		}
		times = append(times, c.at)
	}
	st.calls = len(times)
	first := 0
	for i, t := range times {
		for !times[first].After(t.Add(-window)) {
			first++
		}
		st.peak = max(st.peak, i-first+1)
		if t.After(now.Add(-window)) {
			st.inLast++
		}
	}
	if len(times) > 1 {
		st.span = times[len(times)-1].Sub(times[0])
	}
	return st
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
