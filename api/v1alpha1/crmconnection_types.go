/*
Copyright 2026 The crmsync Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AuthType names how crmsync authenticates to a CRM. The credentials Secret (spec.auth.secretRef) holds
// these keys per type:
//
//   - OAuth2RefreshToken (salesforce, hubspot, pipedrive, zoho): client_id, client_secret, refresh_token.
//   - OAuth2ClientCredentials (salesforce, dynamics): client_id, client_secret.
//   - JWTBearer (salesforce): client_id (the connected app's consumer key), username, private_key (PEM).
//   - PrivateAppToken (hubspot): token.
//   - APIToken (pipedrive): token.
//
// +kubebuilder:validation:Enum=OAuth2RefreshToken;OAuth2ClientCredentials;JWTBearer;PrivateAppToken;APIToken
type AuthType string

// The supported auth types.
const (
	AuthOAuth2RefreshToken      AuthType = "OAuth2RefreshToken"
	AuthOAuth2ClientCredentials AuthType = "OAuth2ClientCredentials"
	AuthJWTBearer               AuthType = "JWTBearer"
	AuthPrivateAppToken         AuthType = "PrivateAppToken"
	AuthAPIToken                AuthType = "APIToken"
)

// Defaults the controllers apply where the API leaves a field unset.
const (
	// DefaultSessionLifetime is Salesforce's default session timeout, used when
	// spec.auth.sessionLifetime is unset.
	DefaultSessionLifetime = 2 * time.Hour
	// DefaultRefreshBefore is how long before expiry a token is refreshed when spec.auth.refreshBefore is unset.
	DefaultRefreshBefore = 5 * time.Minute
)

// ZohoDataCenter names the Zoho data centre that hosts an organisation.
// +kubebuilder:validation:Enum=us;eu;in;au;jp;ca;cn;sa
type ZohoDataCenter string

// CRMConnection is a connection to one CRM account: which CRM, where, which Secret holds the credentials
// and how much of the API budget crmsync may spend. SyncJobs in the same namespace use it by name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=crmconn,categories=crmsync
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Whether the connection is authenticated and usable"
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.status.account.name`,description="The CRM account (org, portal, company) the credentials belong to"
// +kubebuilder:printcolumn:name="Token Expiry",type=string,JSONPath=`.status.tokenExpiresAt`,description="When the current access token expires"
// +kubebuilder:printcolumn:name="Budget Left",type=integer,JSONPath=`.status.rateLimit.remaining`,description="API calls left in the current daily window"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="API Version",type=string,JSONPath=`.status.apiVersion`,priority=1
// +kubebuilder:printcolumn:name="Next Refresh",type=string,JSONPath=`.status.nextTokenRefreshTime`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type CRMConnection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired connection.
	// +required
	Spec CRMConnectionSpec `json:"spec"`

	// Status is the connection as the controller last observed it.
	// +optional
	Status CRMConnectionStatus `json:"status,omitempty"`
}

// CRMConnectionSpec is the desired state of a CRMConnection.
//
// +kubebuilder:validation:XValidation:rule="self.auth.type != 'PrivateAppToken' || self.provider == 'hubspot'",message="spec.auth.type PrivateAppToken is a HubSpot private app token and works only with provider hubspot: pick OAuth2RefreshToken or the type your CRM supports"
// +kubebuilder:validation:XValidation:rule="self.auth.type != 'APIToken' || self.provider == 'pipedrive'",message="spec.auth.type APIToken is a Pipedrive personal API token and works only with provider pipedrive: pick OAuth2RefreshToken or the type your CRM supports"
// +kubebuilder:validation:XValidation:rule="self.auth.type != 'JWTBearer' || self.provider == 'salesforce'",message="spec.auth.type JWTBearer works only with provider salesforce: pick OAuth2RefreshToken or the type your CRM supports"
// +kubebuilder:validation:XValidation:rule="self.auth.type != 'OAuth2ClientCredentials' || self.provider in ['salesforce', 'dynamics']",message="spec.auth.type OAuth2ClientCredentials works only with provider salesforce or dynamics: use OAuth2RefreshToken for hubspot, pipedrive and zoho"
// +kubebuilder:validation:XValidation:rule="self.provider != 'dynamics' || self.auth.type == 'OAuth2ClientCredentials'",message="provider dynamics authenticates with an Azure AD app registration: set spec.auth.type to OAuth2ClientCredentials"
// +kubebuilder:validation:XValidation:rule="self.provider != 'dynamics' || has(self.dynamics)",message="provider dynamics needs spec.dynamics.orgURL (like https://acme.crm.dynamics.com) and spec.dynamics.tenantID (the Azure AD tenant of the app registration)"
// +kubebuilder:validation:XValidation:rule="!has(self.salesforce) || self.provider == 'salesforce'",message="spec.salesforce applies only to provider salesforce: remove it or change spec.provider"
// +kubebuilder:validation:XValidation:rule="!has(self.dynamics) || self.provider == 'dynamics'",message="spec.dynamics applies only to provider dynamics: remove it or change spec.provider"
// +kubebuilder:validation:XValidation:rule="!has(self.zoho) || self.provider == 'zoho'",message="spec.zoho applies only to provider zoho: remove it or change spec.provider"
// +kubebuilder:validation:XValidation:rule="!has(self.pipedrive) || self.provider == 'pipedrive'",message="spec.pipedrive applies only to provider pipedrive: remove it or change spec.provider"
// +kubebuilder:validation:XValidation:rule="!has(self.auth.sessionLifetime) || self.provider == 'salesforce'",message="spec.auth.sessionLifetime applies only to provider salesforce, whose access tokens carry no expiry: remove it"
type CRMConnectionSpec struct {
	// Provider is the CRM: salesforce, hubspot, dynamics (Microsoft Dynamics 365 / Dataverse), pipedrive
	// or zoho. It decides which endpoint settings and auth types are valid.
	// +required
	Provider Provider `json:"provider"`

	// Salesforce holds Salesforce-only settings. Only valid with provider salesforce.
	// +optional
	Salesforce *SalesforceSettings `json:"salesforce,omitempty"`

	// Dynamics holds Dynamics 365 settings. Required with provider dynamics, invalid otherwise.
	// +optional
	Dynamics *DynamicsSettings `json:"dynamics,omitempty"`

	// Zoho holds Zoho CRM settings. Only valid with provider zoho; when omitted the US data centre is used.
	// +optional
	Zoho *ZohoSettings `json:"zoho,omitempty"`

	// Pipedrive holds Pipedrive settings. Only valid with provider pipedrive.
	// +optional
	Pipedrive *PipedriveSettings `json:"pipedrive,omitempty"`

	// BaseURL overrides the CRM's API base URL, for sandboxes, proxies and the crmsync emulators. Leave it
	// empty to use the provider's production API. It must be https://, except that http:// is accepted for
	// localhost, 127.0.0.1, ::1 and in-cluster Services (*.svc, *.svc.cluster.local).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && (url(self).getHostname() in ['localhost', '127.0.0.1', '::1'] || url(self).getHostname().endsWith('.svc') || url(self).getHostname().endsWith('.svc.cluster.local'))))",message="must be an absolute https:// URL; plain http:// is accepted only for localhost, 127.0.0.1, ::1 or an in-cluster Service (*.svc), such as an emulator"
	BaseURL string `json:"baseURL,omitempty"`

	// TokenURL overrides the OAuth 2.0 token endpoint, for emulators and proxies. Leave it empty to use the
	// provider's endpoint (derived from salesforce.loginURL, dynamics.tenantID or zoho.dataCenter). The same
	// https rule as baseURL applies.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && (url(self).getHostname() in ['localhost', '127.0.0.1', '::1'] || url(self).getHostname().endsWith('.svc') || url(self).getHostname().endsWith('.svc.cluster.local'))))",message="must be an absolute https:// URL; plain http:// is accepted only for localhost, 127.0.0.1, ::1 or an in-cluster Service (*.svc), such as an emulator"
	TokenURL string `json:"tokenURL,omitempty"`

	// APIVersion pins the CRM API version, such as "v62.0" for Salesforce, "v9.2" for Dynamics, "v3" for
	// HubSpot, "v1" for Pipedrive or "v8" for Zoho. Leave it empty to use the version this build of crmsync
	// was tested with; status.apiVersion shows the version in use, and the APIVersionDeprecated condition
	// warns before the CRM retires it.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^v?[0-9]+([.][0-9]+)?$')",message="must be a version like v62.0, 62.0, v9.2 or v3"
	APIVersion string `json:"apiVersion,omitempty"`

	// Auth says how to authenticate and where the credentials are.
	// +required
	Auth AuthSpec `json:"auth"`

	// RateLimit is the API budget crmsync may spend on this CRM account, shared by every SyncJob that uses
	// this connection. When omitted, the provider's published limits apply with a 10% reserve and 4
	// concurrent requests, calibrated from the CRM's usage headers where it sends them.
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`

	// Suspend stops all work for this connection (token refresh included) while true. SyncJobs that use
	// it wait. Existing tokens are kept.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// SalesforceSettings are the Salesforce-only endpoint settings.
type SalesforceSettings struct {
	// LoginURL is the Salesforce login host used for the token flow and as the JWT audience. Use
	// https://test.salesforce.com for sandboxes, or your My Domain login URL. Defaults to
	// https://login.salesforce.com.
	// +optional
	// +kubebuilder:default="https://login.salesforce.com"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getHostname() != '' && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && (url(self).getHostname() in ['localhost', '127.0.0.1', '::1'] || url(self).getHostname().endsWith('.svc') || url(self).getHostname().endsWith('.svc.cluster.local'))))",message="must be an absolute https:// URL such as https://login.salesforce.com or https://test.salesforce.com"
	LoginURL string `json:"loginURL,omitempty"`
}

// DynamicsSettings are the Microsoft Dynamics 365 (Dataverse) endpoint settings.
type DynamicsSettings struct {
	// OrgURL is the Dataverse environment URL, like https://acme.crm.dynamics.com (Power Platform admin
	// center, Environments, Environment URL).
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname() != ''",message="must be the https:// Dataverse environment URL, like https://acme.crm.dynamics.com"
	OrgURL string `json:"orgURL"`

	// TenantID is the Azure AD (Entra ID) tenant of the app registration: a GUID or a verified domain such
	// as acme.onmicrosoft.com.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9][-A-Za-z0-9.]*$')",message="must be the Azure AD tenant ID (a GUID) or a verified domain like acme.onmicrosoft.com"
	TenantID string `json:"tenantID"`
}

// ZohoSettings are the Zoho CRM endpoint settings.
type ZohoSettings struct {
	// DataCenter is the Zoho data centre that hosts the organisation: us (zoho.com), eu (zoho.eu),
	// in (zoho.in), au (zoho.com.au), jp (zoho.jp), ca (zohocloud.ca), cn (zoho.com.cn) or sa (zoho.sa).
	// It must match the accounts server that issued the refresh token. Defaults to us.
	// +optional
	// +kubebuilder:default=us
	DataCenter ZohoDataCenter `json:"dataCenter,omitempty"`
}

// PipedriveSettings are the Pipedrive endpoint settings.
type PipedriveSettings struct {
	// CompanyDomain is the company's Pipedrive subdomain: "acme" for https://acme.pipedrive.com. OAuth2
	// apps call the API there; with an APIToken it may be left empty.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be the subdomain only, like acme for https://acme.pipedrive.com"
	CompanyDomain string `json:"companyDomain,omitempty"`
}

// AuthSpec says how crmsync authenticates to the CRM.
type AuthSpec struct {
	// Type is the auth scheme; the list of valid types per provider and the Secret keys each reads are:
	// OAuth2RefreshToken (salesforce, hubspot, pipedrive, zoho; keys client_id, client_secret, refresh_token),
	// OAuth2ClientCredentials (salesforce, dynamics; keys client_id, client_secret),
	// JWTBearer (salesforce; keys client_id, username, private_key),
	// PrivateAppToken (hubspot; key token), APIToken (pipedrive; key token).
	// +required
	Type AuthType `json:"type"`

	// SecretRef names the Secret, in this namespace, that holds the credentials under the keys listed for
	// spec.auth.type. crmsync never writes to it: rotated refresh tokens go to a separate Secret owned by
	// this CRMConnection (status.tokenSecretName). To re-authorise, update this Secret; its new values win.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// RefreshBefore is how long before an access token expires crmsync refreshes it; the actual margin is
	// the larger of this and 10% of the token's lifetime. A Go duration between 30s and 12h. Defaults to 5m.
	// Ignored for static tokens (PrivateAppToken, APIToken).
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('30s') && duration(self) <= duration('12h')",message="must be a duration between 30s and 12h, written like 30s, 5m or 1h"
	RefreshBefore *metav1.Duration `json:"refreshBefore,omitempty"`

	// SessionLifetime is the session timeout configured in the Salesforce org (Setup, Session Settings).
	// Salesforce access tokens carry no expiry, so crmsync assumes they expire this long after issue.
	// Only valid with provider salesforce. A Go duration between 15m and 24h; when unset, 2h (Salesforce's
	// default).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('15m') && duration(self) <= duration('24h')",message="must be a duration between 15m and 24h matching the org's session timeout, written like 2h or 30m"
	SessionLifetime *metav1.Duration `json:"sessionLifetime,omitempty"`
}

// RateLimitSpec is the API budget of one CRM account.
//
// +kubebuilder:validation:XValidation:rule="has(self.burstRequests) == has(self.burstWindow)",message="set spec.rateLimit.burstRequests and spec.rateLimit.burstWindow together, for example 100 requests per 10s"
type RateLimitSpec struct {
	// BurstRequests is how many requests may be sent within one burstWindow, for example 100 per 10s for
	// HubSpot private apps. Set it together with burstWindow; omit both for the provider's default.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	BurstRequests *int32 `json:"burstRequests,omitempty"`

	// BurstWindow is the length of the burst window: a Go duration between 1s and 24h, like 10s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="must be a duration between 1s and 24h, written like 10s or 1m"
	BurstWindow *metav1.Duration `json:"burstWindow,omitempty"`

	// DailyRequests is how many requests the account may make per rolling 24 hours, for example 15000 for
	// a Salesforce org. Omit it to use the limit the CRM reports.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000000
	DailyRequests *int64 `json:"dailyRequests,omitempty"`

	// MaxConcurrency is how many requests crmsync keeps in flight to this account at once, across all
	// SyncJobs. Between 1 and 64; defaults to 4.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	MaxConcurrency *int32 `json:"maxConcurrency,omitempty"`

	// ReservePercent is the share of every budget, in percent from 0 to 90, that crmsync leaves unused
	// for your other integrations. Defaults to 10.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=90
	ReservePercent *int32 `json:"reservePercent,omitempty"`
}

// CRMConnectionStatus is the observed state of a CRMConnection.
type CRMConnectionStatus struct {
	ReconcileStatus `json:",inline"`

	// TokenExpiresAt is when the current access token expires. Empty for static tokens.
	// +optional
	TokenExpiresAt *metav1.Time `json:"tokenExpiresAt,omitempty"`

	// NextTokenRefreshTime is when crmsync will next refresh the access token, truncated to the second.
	// +optional
	NextTokenRefreshTime *metav1.Time `json:"nextTokenRefreshTime,omitempty"`

	// LastTokenRefreshTime is when the access token was last refreshed successfully.
	// +optional
	LastTokenRefreshTime *metav1.Time `json:"lastTokenRefreshTime,omitempty"`

	// APIVersion is the CRM API version in use: spec.apiVersion when pinned, otherwise this build's default.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// Account identifies the CRM account the credentials belong to. Check it to be sure a connection
	// points at the intended org, portal or company before a SyncJob writes to it.
	// +optional
	Account *AccountStatus `json:"account,omitempty"`

	// RateLimit is the API budget use in the current daily window. It survives manager restarts.
	// +optional
	RateLimit *RateLimitStatus `json:"rateLimit,omitempty"`

	// TokenSecretName is the Secret, owned by this CRMConnection, where crmsync keeps the current access
	// token and rotated refresh tokens. Deleting the CRMConnection deletes it.
	// +optional
	TokenSecretName string `json:"tokenSecretName,omitempty"`
}

// AccountStatus identifies a CRM account.
type AccountStatus struct {
	// ID is the CRM's id of the account: the Salesforce org id, HubSpot portal id, Dataverse organization
	// id, Pipedrive company id or Zoho organization id.
	// +optional
	ID string `json:"id,omitempty"`

	// Name is the account's display name in the CRM.
	// +optional
	Name string `json:"name,omitempty"`

	// InstanceURL is the URL the API calls go to, such as a Salesforce instance URL.
	// +optional
	InstanceURL string `json:"instanceURL,omitempty"`
}

// RateLimitStatus is the API budget use of one account in the current daily window.
type RateLimitStatus struct {
	// Used is how many requests were made in the current window, by crmsync and, where the CRM reports
	// org-wide usage, by everything else too.
	// +optional
	Used int64 `json:"used"`

	// Limit is the daily window's request limit, as configured or as the CRM reports it (the reserve is not taken off).
	// +optional
	Limit int64 `json:"limit"`

	// Remaining is how many requests crmsync may still spend in the window, after the reserve kept for
	// other integrations; never below zero. When it reaches zero SyncJobs pause with the RateLimited
	// condition until ResetsAt.
	// +optional
	Remaining int64 `json:"remaining"`

	// ResetsAt is when the current window ends and the budget is refilled.
	// +optional
	ResetsAt *metav1.Time `json:"resetsAt,omitempty"`
}

// +kubebuilder:object:root=true

// CRMConnectionList is a list of CRMConnections.
type CRMConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CRMConnection `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CRMConnection{}, &CRMConnectionList{})
}
