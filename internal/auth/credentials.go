package auth

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
)

// The providers this package authenticates to, as spelled in CRMConnection spec.provider.
const (
	Salesforce = "salesforce"
	HubSpot    = "hubspot"
	Dynamics   = "dynamics"
	Pipedrive  = "pipedrive"
	Zoho       = "zoho"
)

// The auth types, as spelled in CRMConnection spec.auth.type.
const (
	OAuth2RefreshToken      = "OAuth2RefreshToken"
	OAuth2ClientCredentials = "OAuth2ClientCredentials"
	JWTBearer               = "JWTBearer"
	PrivateAppToken         = "PrivateAppToken"
	APIToken                = "APIToken"
)

// The keys of the user's credentials Secret.
const (
	KeyClientID     = "client_id"
	KeyClientSecret = "client_secret"
	KeyRefreshToken = "refresh_token"
	KeyUsername     = "username"
	KeyPrivateKey   = "private_key"
	KeyToken        = "token"
)

// secretKeys are the credential keys whose values are secret: they are never logged, never put in an
// error, and are scrubbed from anything a CRM echoes back.
var secretKeys = []string{KeyClientSecret, KeyRefreshToken, KeyPrivateKey, KeyToken}

// Credentials is the data of the user's credentials Secret, key -> value. crmsync only reads it.
type Credentials map[string]string

// scheme describes the credentials of one (provider, auth type).
type scheme struct {
	required []string
	optional []string
	// identity lists the keys whose change means the user re-authorised: a changed value makes the
	// cached token (and any rotated refresh token) stale. Keys outside it (a client secret rotated in
	// the app, a note the user added) never discard a rotated refresh token, which the Secret's own
	// refresh_token can no longer replace.
	identity []string
	static   bool
}

type schemeKey struct{ provider, authType string }

var schemes = map[schemeKey]scheme{
	{Salesforce, OAuth2RefreshToken}: {
		required: []string{KeyClientID, KeyRefreshToken},
		optional: []string{KeyClientSecret},
		identity: []string{KeyClientID, KeyRefreshToken},
	},
	{Salesforce, JWTBearer}: {
		required: []string{KeyClientID, KeyUsername, KeyPrivateKey},
		identity: []string{KeyClientID, KeyUsername, KeyPrivateKey},
	},
	{Salesforce, OAuth2ClientCredentials}: {
		required: []string{KeyClientID, KeyClientSecret},
		identity: []string{KeyClientID, KeyClientSecret},
	},
	{HubSpot, PrivateAppToken}: {
		required: []string{KeyToken},
		identity: []string{KeyToken},
		static:   true,
	},
	{HubSpot, OAuth2RefreshToken}: {
		required: []string{KeyClientID, KeyClientSecret, KeyRefreshToken},
		identity: []string{KeyClientID, KeyRefreshToken},
	},
	{Dynamics, OAuth2ClientCredentials}: {
		required: []string{KeyClientID, KeyClientSecret},
		identity: []string{KeyClientID, KeyClientSecret},
	},
	{Pipedrive, APIToken}: {
		required: []string{KeyToken},
		identity: []string{KeyToken},
		static:   true,
	},
	{Pipedrive, OAuth2RefreshToken}: {
		required: []string{KeyClientID, KeyClientSecret, KeyRefreshToken},
		identity: []string{KeyClientID, KeyRefreshToken},
	},
	{Zoho, OAuth2RefreshToken}: {
		required: []string{KeyClientID, KeyClientSecret, KeyRefreshToken},
		identity: []string{KeyClientID, KeyRefreshToken},
	},
}

func lookupScheme(provider, authType string) (scheme, error) {
	s, ok := schemes[schemeKey{provider, authType}]
	if !ok {
		return scheme{}, &UnsupportedError{Provider: provider, AuthType: authType}
	}
	return s, nil
}

// UnsupportedError reports a (provider, auth type) pair that crmsync cannot authenticate with.
type UnsupportedError struct {
	Provider, AuthType string
}

func (e *UnsupportedError) Error() string {
	var types []string
	for k := range schemes {
		if k.provider == e.Provider {
			types = append(types, k.authType)
		}
	}
	if len(types) == 0 {
		return fmt.Sprintf("unknown provider %q", e.Provider)
	}
	slices.Sort(types)
	return fmt.Sprintf("%s does not support auth type %q: use one of %s", e.Provider, e.AuthType, strings.Join(types, ", "))
}

// RequiredKeys returns the credentials Secret keys that (provider, authType) needs, in a stable order, or
// nil when the pair is unsupported.
func RequiredKeys(provider, authType string) []string {
	s, err := lookupScheme(provider, authType)
	if err != nil {
		return nil
	}
	return slices.Clone(s.required)
}

// OptionalKeys returns the credentials Secret keys that (provider, authType) reads when present.
func OptionalKeys(provider, authType string) []string {
	s, err := lookupScheme(provider, authType)
	if err != nil {
		return nil
	}
	return slices.Clone(s.optional)
}

// IsStatic reports whether (provider, authType) uses a static token that never expires and is never
// refreshed (HubSpot PrivateAppToken, Pipedrive APIToken).
func IsStatic(provider, authType string) bool {
	s, err := lookupScheme(provider, authType)
	return err == nil && s.static
}

// CredentialsError reports every missing, empty or malformed key of a credentials Secret. It names keys,
// never values.
type CredentialsError struct {
	Provider, AuthType string
	// Missing lists the required keys that are absent or empty, in RequiredKeys order.
	Missing []string
	// Invalid maps a present key to why its value is unusable ("not a PEM-encoded RSA private key").
	Invalid map[string]string
}

// Error returns a sentence about "the credentials Secret"; Describe names the Secret instead.
func (e *CredentialsError) Error() string { return "credentials Secret " + e.predicate() }

// Describe returns the message for a person, naming the Secret, for example
// `Secret acme/hubspot-creds is missing key "refresh_token" (required for hubspot OAuth2RefreshToken)`.
func (e *CredentialsError) Describe(secret string) string {
	return "Secret " + secret + " " + e.predicate()
}

func (e *CredentialsError) predicate() string {
	var parts []string
	if len(e.Missing) > 0 {
		word := "key"
		if len(e.Missing) > 1 {
			word = "keys"
		}
		parts = append(parts, fmt.Sprintf("is missing %s %s (required for %s %s)", word, quoteJoin(e.Missing, "and"), e.Provider, e.AuthType))
	}
	keys := make([]string, 0, len(e.Invalid))
	for k := range e.Invalid {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("has an invalid key %q (%s)", k, e.Invalid[k]))
	}
	return strings.Join(parts, " and ")
}

// ValidateCredentials checks that c holds every key (provider, authType) needs, non-empty (whitespace only
// counts as empty), and that a private_key is a PEM-encoded RSA key. It returns a *CredentialsError naming
// every problem at once, an *UnsupportedError for an unknown pair, or nil. Extra keys are ignored.
func ValidateCredentials(provider, authType string, c Credentials) error {
	s, err := lookupScheme(provider, authType)
	if err != nil {
		return err
	}
	ce := &CredentialsError{Provider: provider, AuthType: authType}
	for _, k := range s.required {
		if strings.TrimSpace(c[k]) == "" {
			ce.Missing = append(ce.Missing, k)
		}
	}
	if v := c[KeyPrivateKey]; slices.Contains(s.required, KeyPrivateKey) && strings.TrimSpace(v) != "" {
		if _, err := parseRSAKey([]byte(v)); err != nil {
			ce.Invalid = map[string]string{KeyPrivateKey: err.Error()}
		}
	}
	if len(ce.Missing) == 0 && len(ce.Invalid) == 0 {
		return nil
	}
	return ce
}

// parseRSAKey parses a PEM-encoded PKCS #1 or PKCS #8 RSA private key. Its errors never quote the key.
func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("not a PEM-encoded RSA private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PEM-encoded RSA private key (PKCS #1 or PKCS #8, without a passphrase)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("not an RSA key: Salesforce signs JWT bearer assertions with RS256")
	}
	return rk, nil
}

// CredentialsHash returns a fingerprint of the keys of c that identify the grant of (provider, authType):
// the hex SHA-256 of their sorted, length-prefixed key=value pairs. It is stored next to the cached token so
// that a re-authorisation (a new refresh_token, another client_id) makes the cache stale, while unrelated
// edits to the Secret do not. It is not reversible, but treat it as sensitive all the same.
func CredentialsHash(provider, authType string, c Credentials) string {
	s, _ := lookupScheme(provider, authType)
	keys := slices.Clone(s.identity)
	slices.Sort(keys)
	h := sha256.New()
	fmt.Fprintf(h, "crmsync-credentials-v1\n%s\n%s\n", provider, authType)
	for _, k := range keys {
		v := strings.TrimSpace(c[k])
		fmt.Fprintf(h, "%s=%d:%s\n", k, len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// quoteJoin renders ["a","b","c"] as `"a", "b" and "c"`.
func quoteJoin(items []string, conj string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	if len(q) <= 1 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " " + conj + " " + q[len(q)-1]
}

// String lists the keys of c, never the values, so that printing Credentials by mistake leaks nothing.
func (c Credentials) String() string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return "Credentials{keys: " + strings.Join(keys, ", ") + "}"
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// MarshalLog keeps values out of structured logs (logr).
func (c Credentials) MarshalLog() any { return c.String() }
