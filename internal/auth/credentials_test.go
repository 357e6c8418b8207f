package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
	rsaKeyPEM  string
)

// testRSAKey returns a 2048-bit key and its PKCS #8 PEM, generated once per test binary.
func testRSAKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	rsaKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		rsaKey, rsaKeyPEM = k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	})
	return rsaKey, rsaKeyPEM
}

func TestValidateCredentials(t *testing.T) {
	_, keyPEM := testRSAKey(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))

	cases := map[string]struct {
		reason   string
		provider string
		authType string
		creds    Credentials
		want     string // Describe("acme/creds"), or "" for no error
	}{
		"Complete": {
			reason:   "All required keys present: no error, and extra keys are ignored.",
			provider: HubSpot, authType: OAuth2RefreshToken,
			creds: Credentials{"client_id": "a", "client_secret": "b", "refresh_token": "c", "note": "x"},
		},
		"OneMissing": {
			reason:   "The message names the Secret, the key and the scheme that needs it.",
			provider: HubSpot, authType: OAuth2RefreshToken,
			creds: Credentials{"client_id": "a", "client_secret": "b"},
			want:  `Secret acme/creds is missing key "refresh_token" (required for hubspot OAuth2RefreshToken)`,
		},
		"EveryMissingAndEmptyKey": {
			reason:   "Every missing key is named at once; a whitespace-only value counts as missing.",
			provider: Zoho, authType: OAuth2RefreshToken,
			creds: Credentials{"client_secret": " \n"},
			want:  `Secret acme/creds is missing keys "client_id", "client_secret" and "refresh_token" (required for zoho OAuth2RefreshToken)`,
		},
		"SalesforceClientSecretOptional": {
			reason:   "Salesforce refresh tokens of apps without a secret need no client_secret.",
			provider: Salesforce, authType: OAuth2RefreshToken,
			creds: Credentials{"client_id": "a", "refresh_token": "c"},
		},
		"JWTWithGoodKey": {
			reason:   "A PKCS #8 PEM RSA key is accepted.",
			provider: Salesforce, authType: JWTBearer,
			creds: Credentials{"client_id": "a", "username": "u@example.com", "private_key": keyPEM},
		},
		"JWTWithGarbageKey": {
			reason:   "A private_key that is not PEM is reported without quoting it.",
			provider: Salesforce, authType: JWTBearer,
			creds: Credentials{"client_id": "a", "username": "u@example.com", "private_key": "hunter2-not-a-key"},
			want:  `Secret acme/creds has an invalid key "private_key" (not a PEM-encoded RSA private key)`,
		},
		"JWTWithECKeyAndMissingUser": {
			reason:   "Missing and invalid keys are reported together; an EC key is not RSA.",
			provider: Salesforce, authType: JWTBearer,
			creds: Credentials{"client_id": "a", "private_key": ecPEM},
			want:  `Secret acme/creds is missing key "username" (required for salesforce JWTBearer) and has an invalid key "private_key" (not an RSA key: Salesforce signs JWT bearer assertions with RS256)`,
		},
		"PipedriveAPIToken": {
			reason:   "An API token needs only token.",
			provider: Pipedrive, authType: APIToken,
			creds: Credentials{},
			want:  `Secret acme/creds is missing key "token" (required for pipedrive APIToken)`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := ValidateCredentials(tc.provider, tc.authType, tc.creds)
			got := ""
			if err != nil {
				var ce *CredentialsError
				if !errors.As(err, &ce) {
					t.Fatalf("%s\nValidateCredentials: want *CredentialsError, got %T %v", tc.reason, err, err)
				}
				got = ce.Describe("acme/creds")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nValidateCredentials(...): -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestValidateCredentialsUnsupported(t *testing.T) {
	err := ValidateCredentials(HubSpot, JWTBearer, Credentials{})
	want := `hubspot does not support auth type "JWTBearer": use one of OAuth2RefreshToken, PrivateAppToken`
	if err == nil || err.Error() != want {
		t.Errorf("ValidateCredentials(hubspot, JWTBearer): want %q, got %v", want, err)
	}
	if got := RequiredKeys("nosuchcrm", OAuth2RefreshToken); got != nil {
		t.Errorf("RequiredKeys(unknown provider): want nil, got %v", got)
	}
}

func TestRequiredKeys(t *testing.T) {
	cases := map[string]struct {
		provider, authType string
		want               []string
	}{
		"SalesforceRefresh": {Salesforce, OAuth2RefreshToken, []string{"client_id", "refresh_token"}},
		"SalesforceJWT":     {Salesforce, JWTBearer, []string{"client_id", "username", "private_key"}},
		"SalesforceCC":      {Salesforce, OAuth2ClientCredentials, []string{"client_id", "client_secret"}},
		"HubSpotPrivateApp": {HubSpot, PrivateAppToken, []string{"token"}},
		"HubSpotRefresh":    {HubSpot, OAuth2RefreshToken, []string{"client_id", "client_secret", "refresh_token"}},
		"DynamicsCC":        {Dynamics, OAuth2ClientCredentials, []string{"client_id", "client_secret"}},
		"PipedriveAPIToken": {Pipedrive, APIToken, []string{"token"}},
		"PipedriveRefresh":  {Pipedrive, OAuth2RefreshToken, []string{"client_id", "client_secret", "refresh_token"}},
		"ZohoRefresh":       {Zoho, OAuth2RefreshToken, []string{"client_id", "client_secret", "refresh_token"}},
		"Unsupported":       {Dynamics, OAuth2RefreshToken, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, RequiredKeys(tc.provider, tc.authType)); diff != "" {
				t.Errorf("RequiredKeys(%s, %s): -want, +got:\n%s", tc.provider, tc.authType, diff)
			}
		})
	}
}

func TestCredentialsHash(t *testing.T) {
	base := refreshCreds()
	h := CredentialsHash(Salesforce, OAuth2RefreshToken, base)

	withNote := refreshCreds()
	withNote["note"] = "added by a person"
	withNote[KeyRefreshToken] += "\n"
	if got := CredentialsHash(Salesforce, OAuth2RefreshToken, withNote); got != h {
		t.Errorf("an unrelated key or a trailing newline changed the hash: a rotated refresh token would be discarded")
	}
	newSecret := refreshCreds()
	newSecret[KeyClientSecret] = "cs-rotated"
	if got := CredentialsHash(Salesforce, OAuth2RefreshToken, newSecret); got != h {
		t.Errorf("rotating the client secret changed the hash of a refresh-token grant: the cached refresh token still works")
	}
	reauth := refreshCreds()
	reauth[KeyRefreshToken] = "rt-from-a-new-consent"
	if got := CredentialsHash(Salesforce, OAuth2RefreshToken, reauth); got == h {
		t.Errorf("a new refresh token did not change the hash: the user's re-authorisation would be ignored")
	}
	if got := CredentialsHash(HubSpot, OAuth2RefreshToken, base); got == h {
		t.Errorf("the hash does not depend on the provider")
	}
}

func TestResolveTokenURL(t *testing.T) {
	cases := map[string]struct {
		reason             string
		provider, authType string
		e                  Endpoint
		want               string
		wantErr            bool
	}{
		"SalesforceDefault":  {"login.salesforce.com by default", Salesforce, OAuth2RefreshToken, Endpoint{}, "https://login.salesforce.com/services/oauth2/token", false},
		"SalesforceSandbox":  {"the login URL decides the host", Salesforce, JWTBearer, Endpoint{LoginURL: "https://test.salesforce.com/"}, "https://test.salesforce.com/services/oauth2/token", false},
		"Override":           {"an explicit token URL wins", Salesforce, OAuth2RefreshToken, Endpoint{TokenURL: "http://emulator.svc/token", LoginURL: "https://x"}, "http://emulator.svc/token", false},
		"HubSpot":            {"HubSpot's fixed endpoint", HubSpot, OAuth2RefreshToken, Endpoint{}, "https://api.hubapi.com/oauth/v1/token", false},
		"HubSpotPrivateApp":  {"static tokens have no endpoint", HubSpot, PrivateAppToken, Endpoint{}, "", false},
		"Dynamics":           {"the tenant goes into the Azure AD URL", Dynamics, OAuth2ClientCredentials, Endpoint{TenantID: "acme.onmicrosoft.com"}, "https://login.microsoftonline.com/acme.onmicrosoft.com/oauth2/v2.0/token", false},
		"DynamicsNoTenant":   {"Dynamics without a tenant is an error", Dynamics, OAuth2ClientCredentials, Endpoint{}, "", true},
		"Pipedrive":          {"Pipedrive's fixed endpoint", Pipedrive, OAuth2RefreshToken, Endpoint{}, "https://oauth.pipedrive.com/oauth/token", false},
		"ZohoDefaultUS":      {"Zoho defaults to the US data centre", Zoho, OAuth2RefreshToken, Endpoint{}, "https://accounts.zoho.com/oauth/v2/token", false},
		"ZohoEU":             {"the data centre picks the accounts server", Zoho, OAuth2RefreshToken, Endpoint{DataCenter: "eu"}, "https://accounts.zoho.eu/oauth/v2/token", false},
		"ZohoCA":             {"Canada is on zohocloud.ca", Zoho, OAuth2RefreshToken, Endpoint{DataCenter: "ca"}, "https://accounts.zohocloud.ca/oauth/v2/token", false},
		"ZohoAU":             {"Australia is on zoho.com.au", Zoho, OAuth2RefreshToken, Endpoint{DataCenter: "au"}, "https://accounts.zoho.com.au/oauth/v2/token", false},
		"ZohoUnknown":        {"an unknown data centre is an error", Zoho, OAuth2RefreshToken, Endpoint{DataCenter: "mars"}, "", true},
		"UnsupportedCombo":   {"an unsupported pair is an error", Pipedrive, JWTBearer, Endpoint{}, "", true},
		"ZohoSaudiArabia":    {"Saudi Arabia is on zoho.sa", Zoho, OAuth2RefreshToken, Endpoint{DataCenter: "sa"}, "https://accounts.zoho.sa/oauth/v2/token", false},
		"ZohoChinaUppercase": {"data centres are case-insensitive", Zoho, OAuth2RefreshToken, Endpoint{DataCenter: "CN"}, "https://accounts.zoho.com.cn/oauth/v2/token", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ResolveTokenURL(tc.provider, tc.authType, tc.e)
			if (err != nil) != tc.wantErr {
				t.Fatalf("%s\nResolveTokenURL: want error %v, got %v", tc.reason, tc.wantErr, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\nResolveTokenURL: -want, +got:\n%s", tc.reason, diff)
			}
		})
	}
}

func TestDefaultScopes(t *testing.T) {
	got, err := DefaultScopes(Dynamics, Endpoint{OrgURL: "https://Acme.api.crm4.dynamics.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"https://acme.crm4.dynamics.com/.default"}, got); diff != "" {
		t.Errorf("DefaultScopes(dynamics): the API host must map to the environment resource: -want, +got:\n%s", diff)
	}
	if _, err := DefaultScopes(Dynamics, Endpoint{}); err == nil {
		t.Errorf("DefaultScopes(dynamics) without an org URL: want an error")
	}
	if got, _ := DefaultScopes(HubSpot, Endpoint{}); got != nil {
		t.Errorf("DefaultScopes(hubspot): want nil, got %v", got)
	}
}

func TestSecretDataRoundTrip(t *testing.T) {
	st := StoredToken{
		AccessToken: "at", RefreshToken: "rt", TokenType: "Bearer",
		IssuedAt: t0, Expiry: t0.Add(2 * time.Hour), BaseURL: "https://acme.my.salesforce.com", CredentialsHash: "abc",
	}
	d := st.SecretData(Salesforce)
	if string(d["instance_url"]) != st.BaseURL || d["api_domain"] != nil {
		t.Errorf("Salesforce keeps its base URL under instance_url, got keys %v", keysOf(d))
	}
	if string(d["expiry"]) != "2026-11-02T10:00:00Z" {
		t.Errorf("expiry: want RFC 3339 UTC, got %q", d["expiry"])
	}
	got, err := ParseSecretData(d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, *got); diff != "" {
		t.Errorf("round trip: -want, +got:\n%s", diff)
	}
	zd := st.SecretData(Zoho)
	if zd["api_domain"] == nil || zd["instance_url"] != nil {
		t.Errorf("Zoho keeps its base URL under api_domain, got keys %v", keysOf(zd))
	}
	if got, err := ParseSecretData(nil); got != nil || err != nil {
		t.Errorf("empty Secret: want (nil, nil), got (%v, %v)", got, err)
	}
	if _, err := ParseSecretData(map[string][]byte{"expiry": []byte("tomorrow")}); err == nil {
		t.Errorf("a garbled expiry must be an error")
	}
	if got := TokenSecretName("acme-salesforce"); got != "acme-salesforce-token" {
		t.Errorf("TokenSecretName: got %q", got)
	}
}

func keysOf(d map[string][]byte) []string {
	var out []string
	for k := range d {
		out = append(out, k)
	}
	return out
}
