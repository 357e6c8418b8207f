package auth

import (
	"net/http"

	"golang.org/x/oauth2"
)

// Token types of the tokens a Source returns. The type says how the token goes on a request:
//
//   - "Bearer" and "Zoho-oauthtoken": an Authorization header "<type> <token>", which is what
//     (*oauth2.Token).SetAuthHeader and oauth2.Transport already do;
//   - TokenTypeAPIToken: a header named "x-api-token" carrying the bare token (Pipedrive API tokens),
//     which only SetAuthHeader below gets right.
//
// Callers that build requests themselves should use SetAuthHeader (or Source.SetAuthHeader through an
// interface) for every token, rather than t.Type()+" "+t.AccessToken.
const (
	TokenTypeBearer   = "Bearer"
	TokenTypeZoho     = "Zoho-oauthtoken"
	TokenTypeAPIToken = "x-api-token"
)

// HeaderAPIToken is the header that carries a Pipedrive API token.
const HeaderAPIToken = "x-api-token"

// SetAuthHeader puts t on r the way its CRM expects: x-api-token for TokenTypeAPIToken, else
// "Authorization: <type> <token>". A nil t sets nothing.
func SetAuthHeader(r *http.Request, t *oauth2.Token) {
	if t == nil {
		return
	}
	if t.TokenType == TokenTypeAPIToken {
		r.Header.Del("Authorization")
		r.Header.Set(HeaderAPIToken, t.AccessToken)
		return
	}
	t.SetAuthHeader(r)
}

// tokenType returns the token type a provider's API expects for OAuth tokens.
func tokenType(provider string) string {
	if provider == Zoho {
		return TokenTypeZoho
	}
	return TokenTypeBearer
}
