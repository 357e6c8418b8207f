package hubspot

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Credentials are what a HubSpot app and portal hand to an integration.
type Credentials struct {
	ClientID     string `json:"clientID"`
	ClientSecret string `json:"clientSecret"`
	// RefreshToken is the current OAuth refresh token. With rotation on, it changes on every refresh.
	RefreshToken string `json:"refreshToken"`
	// PrivateAppToken is a static bearer token that never expires (until revoked).
	PrivateAppToken string `json:"privateAppToken"`
}

// authState holds the issued tokens. It is guarded by Server.mu.
type authState struct {
	clientID, clientSecret string
	refresh                map[string]bool  // live refresh tokens
	current                string           // the refresh token Credentials reports
	access                 map[string]int64 // access token -> expiry (server ms); expired ones are kept to say so
	pat                    string
}

func newAuthState(rng *rand.Rand) authState {
	a := authState{
		clientID:     uuidFrom(rng),
		clientSecret: uuidFrom(rng),
		refresh:      map[string]bool{},
		access:       map[string]int64{},
	}
	a.mint(rng)
	return a
}

// mint issues a fresh refresh token and private app token, as re-authorising the app would.
func (a *authState) mint(rng *rand.Rand) {
	a.current = "na1-" + uuidFrom(rng)[4:]
	a.refresh[a.current] = true
	a.pat = "pat-na1-" + uuidFrom(rng)
}

func uuidFrom(rng *rand.Rand) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

func accessTokenFrom(rng *rand.Rand) string {
	b := make([]byte, 96)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return "C" + strings.TrimRight(base64.RawURLEncoding.EncodeToString(b), "=")
}

// Credentials returns the app's client credentials, the current refresh token and the private app token.
func (s *Server) Credentials() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Credentials{ClientID: s.auth.clientID, ClientSecret: s.auth.clientSecret, RefreshToken: s.auth.current, PrivateAppToken: s.auth.pat}
}

// ExpireTokens ends the life of every issued access token now, as if their 30 minutes had passed. The
// refresh token and the private app token keep working.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	for tok, exp := range s.auth.access {
		if exp > now-1 {
			s.auth.access[tok] = now - 1
		}
	}
}

// RevokeTokens revokes every access token, refresh token and the private app token, as uninstalling the
// app and rotating the private app token would. Fresh credentials (what re-authorising would yield) are
// available from Credentials afterwards.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth.access = map[string]int64{}
	s.auth.refresh = map[string]bool{}
	s.auth.mint(s.rng)
}

// handleToken answers POST /oauth/v1/token (form-encoded; client credentials in the body, as HubSpot
// requires).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenCalls++
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, http.StatusMethodNotAllowed, apiError{Message: "Method not allowed", Category: "VALIDATION_ERROR"})
		return
	}
	if err := r.ParseForm(); err != nil {
		s.tokenError(w, "BAD_REQUEST", "malformed form body")
		return
	}
	form := r.PostForm
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case form.Get("grant_type") == "authorization_code":
		s.tokenErrorLocked(w, "BAD_AUTH_CODE", "missing or unknown auth code")
		return
	case form.Get("grant_type") != "refresh_token":
		s.tokenErrorLocked(w, "BAD_GRANT_TYPE", "missing or invalid grant type")
		return
	case form.Get("client_id") != s.auth.clientID:
		s.tokenErrorLocked(w, "BAD_CLIENT_ID", "missing or unknown client id")
		return
	case form.Get("client_secret") != s.auth.clientSecret:
		s.tokenErrorLocked(w, "BAD_CLIENT_SECRET", "missing or invalid client secret")
		return
	case !s.auth.refresh[form.Get("refresh_token")]:
		s.tokenErrorLocked(w, "BAD_REFRESH_TOKEN", "missing or invalid refresh token")
		return
	}
	refresh := form.Get("refresh_token")
	if s.opts.RotateRefreshTokens {
		delete(s.auth.refresh, refresh)
		refresh = "na1-" + uuidFrom(s.rng)[4:]
		s.auth.refresh[refresh] = true
		s.auth.current = refresh
	}
	access := accessTokenFrom(s.rng)
	s.auth.access[access] = s.nowLocked() + s.opts.AccessTokenLifetime.Milliseconds()
	s.writeJSON(w, http.StatusOK, map[string]any{
		"token_type":    "bearer",
		"refresh_token": refresh,
		"access_token":  access,
		"expires_in":    int(s.opts.AccessTokenLifetime / time.Second),
	})
}

func (s *Server) tokenError(w http.ResponseWriter, status, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenErrorLocked(w, status, message)
}

// tokenErrorLocked writes the OAuth endpoint's error shape: {"status":"BAD_REFRESH_TOKEN","message":...}.
func (s *Server) tokenErrorLocked(w http.ResponseWriter, status, message string) {
	s.writeJSON(w, http.StatusBadRequest, map[string]string{
		"status":        status,
		"message":       message,
		"correlationId": uuidFrom(s.rng),
	})
}

// authorize checks the bearer token and answers 401 in HubSpot's shape when it is missing, unknown or
// expired.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	tok = strings.TrimSpace(tok)
	s.mu.Lock()
	now := s.nowLocked()
	exp, known := s.auth.access[tok]
	valid := ok && tok != "" && (tok == s.auth.pat || (known && exp > now))
	s.mu.Unlock()
	if valid {
		return true
	}
	if ok && known {
		ago := time.Duration(now-exp) * time.Millisecond
		s.writeError(w, http.StatusUnauthorized, apiError{
			Message:  fmt.Sprintf("The OAuth token used to make this call expired %s ago.", humanAgo(ago)),
			Category: "EXPIRED_AUTHENTICATION",
			Context:  map[string][]string{"expire time": {formatTime(exp)}},
		})
		return false
	}
	s.writeError(w, http.StatusUnauthorized, apiError{
		Message:  "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
		Category: "INVALID_AUTHENTICATION",
	})
	return false
}

func humanAgo(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d second(s)", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d minute(s)", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d hour(s)", int(d/time.Hour))
	}
	return fmt.Sprintf("%d day(s)", int(d/(24*time.Hour)))
}
