package connections

import (
	"errors"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/hubspot"
	"github.com/crmsync/crmsync/internal/connectors/salesforce"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// ErrProviderNotSupported is wrapped by the error of a provider this build has no connector for.
var ErrProviderNotSupported = errors.New("use a supported provider, or a crmsync release that has this connector")

// newConnector picks the connector of s.Provider. Each CRM's connector is constructed from the shared
// token source and budget, so every sync of the connection shares both.
func newConnector(s Settings, src *auth.Source, budget *transport.Budget, client *http.Client, clock transport.Clock, hooks transport.Hooks) (connectors.Connector, error) {
	switch s.Provider {
	case auth.HubSpot:
		return hubspot.New(hubspot.Config{BaseURL: s.BaseURL, APIVersion: s.APIVersion, Tokens: src, Budget: budget,
			HTTPClient: client, Clock: clock, Hooks: hooks})
	case auth.Salesforce:
		return salesforce.New(salesforce.Config{InstanceURL: s.BaseURL, APIVersion: s.APIVersion, Tokens: src, Budget: budget,
			HTTPClient: client, Clock: clock, Hooks: hooks})
	default:
		return nil, &crmerr.Error{Kind: crmerr.Permanent, Provider: s.Provider, Op: "connect",
			Message: "this build of crmsync has no " + s.Provider + " connector yet (supported: hubspot, salesforce)",
			Err:     ErrProviderNotSupported}
	}
}

// budgetConfig fills the limits the user left unset with the provider's documented defaults (the lowest
// tier, so that an unknown account is never overrun); vendor headers then calibrate the daily quota.
func budgetConfig(provider string, c transport.BudgetConfig) transport.BudgetConfig {
	d := providerDefaults[provider]
	c.Provider = provider
	if c.BurstRequests == 0 {
		c.BurstRequests, c.BurstWindow = d.BurstRequests, d.BurstWindow
	}
	if c.BurstWindow == 0 {
		c.BurstWindow = d.BurstWindow
	}
	if c.DailyRequests == 0 {
		c.DailyRequests = d.DailyRequests
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = d.MaxConcurrency
	}
	return c
}

// providerDefaults are the published limits of each CRM's entry tier; see docs/credentials.md.
var providerDefaults = map[string]transport.BudgetConfig{
	auth.HubSpot:    {BurstRequests: 100, BurstWindow: 10 * time.Second, DailyRequests: 250_000, MaxConcurrency: 10},
	auth.Salesforce: {DailyRequests: 15_000, MaxConcurrency: 5},
	auth.Dynamics:   {BurstRequests: 6000, BurstWindow: 5 * time.Minute, MaxConcurrency: 52},
	auth.Pipedrive:  {BurstRequests: 80, BurstWindow: 2 * time.Second, MaxConcurrency: 10},
	auth.Zoho:       {DailyRequests: 5000, MaxConcurrency: 5},
}
