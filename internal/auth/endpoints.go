package auth

import (
	"fmt"
	"net/url"
	"strings"
)

// Default endpoints of the providers' token flows.
const (
	SalesforceLoginURL = "https://login.salesforce.com"
	HubSpotTokenURL    = "https://api.hubapi.com/oauth/v1/token"
	PipedriveTokenURL  = "https://oauth.pipedrive.com/oauth/token"
	// AzureTokenURLFormat takes the tenant (a GUID or a verified domain).
	AzureTokenURLFormat = "https://login.microsoftonline.com/%s/oauth2/v2.0/token"
)

// ZohoAccountsHosts maps a Zoho data centre to the accounts server that issues its tokens. A refresh
// token works only against the server that issued it.
var ZohoAccountsHosts = map[string]string{
	"us": "accounts.zoho.com",
	"eu": "accounts.zoho.eu",
	"in": "accounts.zoho.in",
	"au": "accounts.zoho.com.au",
	"jp": "accounts.zoho.jp",
	"ca": "accounts.zohocloud.ca",
	"cn": "accounts.zoho.com.cn",
	"sa": "accounts.zoho.sa",
}

// Endpoint holds the CRMConnection settings that decide where tokens come from.
type Endpoint struct {
	// TokenURL, when set, overrides everything else (emulators, proxies).
	TokenURL string
	// LoginURL is the Salesforce login host: https://login.salesforce.com (the default),
	// https://test.salesforce.com for sandboxes, or the org's My Domain.
	LoginURL string
	// TenantID is the Azure AD tenant of a Dynamics app registration.
	TenantID string
	// OrgURL is the Dynamics environment URL (https://acme.crm.dynamics.com); it gives the default scope.
	OrgURL string
	// DataCenter is the Zoho data centre (us, eu, in, au, jp, ca, cn, sa); empty means us.
	DataCenter string
}

// ResolveTokenURL returns the token endpoint of (provider, authType) for e. Static tokens have none and
// return "". It fails when a setting the provider needs is missing or unknown.
func ResolveTokenURL(provider, authType string, e Endpoint) (string, error) {
	s, err := lookupScheme(provider, authType)
	if err != nil {
		return "", err
	}
	if s.static {
		return "", nil
	}
	if e.TokenURL != "" {
		return e.TokenURL, nil
	}
	switch provider {
	case Salesforce:
		login := e.LoginURL
		if login == "" {
			login = SalesforceLoginURL
		}
		return strings.TrimSuffix(login, "/") + "/services/oauth2/token", nil
	case HubSpot:
		return HubSpotTokenURL, nil
	case Dynamics:
		if e.TenantID == "" {
			return "", fmt.Errorf("dynamics: the Azure AD tenant is not set: set spec.dynamics.tenantID")
		}
		return fmt.Sprintf(AzureTokenURLFormat, url.PathEscape(e.TenantID)), nil
	case Pipedrive:
		return PipedriveTokenURL, nil
	case Zoho:
		host, err := zohoAccountsHost(e.DataCenter)
		if err != nil {
			return "", err
		}
		return "https://" + host + "/oauth/v2/token", nil
	}
	return "", &UnsupportedError{Provider: provider, AuthType: authType}
}

func zohoAccountsHost(dc string) (string, error) {
	if dc == "" {
		dc = "us"
	}
	host, ok := ZohoAccountsHosts[strings.ToLower(dc)]
	if !ok {
		return "", fmt.Errorf("zoho: unknown data centre %q: use us, eu, in, au, jp, ca, cn or sa", dc)
	}
	return host, nil
}

// DefaultScopes returns the scopes a client-credentials grant of provider must request: for Dynamics,
// "<environment>/.default" built from e.OrgURL (an API host such as acme.api.crm.dynamics.com is mapped
// to the resource acme.crm.dynamics.com). Other providers take their scopes from the app and return nil.
func DefaultScopes(provider string, e Endpoint) ([]string, error) {
	if provider != Dynamics {
		return nil, nil
	}
	u, err := url.Parse(e.OrgURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("dynamics: spec.dynamics.orgURL must be the environment URL, like https://acme.crm.dynamics.com")
	}
	host := strings.Replace(strings.ToLower(u.Host), ".api.crm", ".crm", 1)
	return []string{"https://" + host + "/.default"}, nil
}

// isSalesforceSharedLogin reports whether tokenURL is on login.salesforce.com or test.salesforce.com,
// which do not serve the client credentials flow: that needs the org's My Domain.
func isSalesforceSharedLogin(tokenURL string) bool {
	u, err := url.Parse(tokenURL)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "login.salesforce.com" || h == "test.salesforce.com"
}
