package auth

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"
)

// configureGrant picks the token flow of the Source's scheme; each call of s.grant is one token request.
func (s *Source) configureGrant() error {
	tokenURL := s.spec.TokenURL
	if tokenURL == "" {
		u, err := ResolveTokenURL(s.spec.Provider, s.spec.AuthType, Endpoint{LoginURL: s.spec.LoginURL})
		if err != nil {
			return err
		}
		tokenURL = u
	}
	s.spec.TokenURL = tokenURL
	c := s.creds
	switch s.spec.AuthType {
	case OAuth2RefreshToken:
		cfg := &oauth2.Config{
			ClientID:     c[KeyClientID],
			ClientSecret: c[KeyClientSecret],
			Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: authStyle(s.spec.Provider)},
			Scopes:       s.spec.Scopes,
		}
		s.grant = func(ctx context.Context, refreshToken string) (*oauth2.Token, error) {
			// A token with only a refresh token is never valid, so this is exactly one refresh request.
			return cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
		}
	case JWTBearer:
		audience := s.spec.LoginURL
		if audience == "" {
			audience = SalesforceLoginURL
		}
		cfg := &jwt.Config{
			Email:      c[KeyClientID],
			Subject:    c[KeyUsername],
			PrivateKey: []byte(c[KeyPrivateKey]),
			TokenURL:   tokenURL,
			Audience:   audience,
			Expires:    JWTAssertionLifetime,
		}
		s.grant = func(ctx context.Context, _ string) (*oauth2.Token, error) {
			return cfg.TokenSource(ctx).Token()
		}
	case OAuth2ClientCredentials:
		if s.spec.Provider == Salesforce && isSalesforceSharedLogin(tokenURL) {
			return errors.New("the client credentials flow needs the org's My Domain: set spec.salesforce.loginURL to https://<domain>.my.salesforce.com")
		}
		if s.spec.Provider == Dynamics && len(s.spec.Scopes) == 0 {
			return errors.New("the client credentials flow needs the scope https://<org>.crm.dynamics.com/.default: set spec.dynamics.orgURL")
		}
		cfg := &clientcredentials.Config{
			ClientID:     c[KeyClientID],
			ClientSecret: c[KeyClientSecret],
			TokenURL:     tokenURL,
			Scopes:       s.spec.Scopes,
			AuthStyle:    authStyle(s.spec.Provider),
		}
		s.grant = func(ctx context.Context, _ string) (*oauth2.Token, error) {
			return cfg.Token(ctx)
		}
	default:
		return fmt.Errorf("auth type %q has no token flow", s.spec.AuthType)
	}
	return nil
}

// authStyle is how the client authenticates to provider's token endpoint. It is never left to
// auto-detection, which costs a second request after every failure.
func authStyle(provider string) oauth2.AuthStyle {
	if provider == Pipedrive {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}
