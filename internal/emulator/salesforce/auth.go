package salesforce

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials are what the emulated org trusts: a connected app (client id and secret), a refresh token
// issued to Username, and the RSA private key whose certificate is uploaded to the connected app for the
// JWT bearer flow.
type Credentials struct {
	ClientID      string `json:"clientID"`
	ClientSecret  string `json:"clientSecret"`
	RefreshToken  string `json:"refreshToken"`
	Username      string `json:"username"`
	PrivateKeyPEM string `json:"privateKeyPEM"`
	OrgID         string `json:"orgID"`
	UserID        string `json:"userID"`
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	keyPEM  string
)

// sharedKey generates one RSA key per process: key generation is slow and tests make many servers.
func sharedKey() (*rsa.PrivateKey, string) {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic("salesforce emulator: generate RSA key: " + err.Error())
		}
		rsaKey = k
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: mustPKCS8(k)}))
	})
	return rsaKey, keyPEM
}

func mustPKCS8(k *rsa.PrivateKey) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return b
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newCredentials() Credentials {
	_, p := sharedKey()
	return Credentials{
		ClientID:      "3MVG9" + randomToken(60)[:80],
		ClientSecret:  strings.ToUpper(hex.EncodeToString([]byte(randomToken(24))))[:64],
		RefreshToken:  "5Aep861" + randomToken(64)[:80],
		Username:      "integration@crmsync-emulator.example",
		PrivateKeyPEM: p,
		OrgID:         withChecksum("00D5g00000EMUL8"),
		UserID:        withChecksum("0055g00000EMUL8"),
	}
}

// Credentials returns the connected app, user and key the org trusts.
func (s *Server) Credentials() Credentials {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds
}

type session struct {
	expires time.Time
	dead    bool
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Signature    string `json:"signature"`
	Scope        string `json:"scope"`
	InstanceURL  string `json:"instance_url"`
	ID           string `json:"id"`
	TokenType    string `json:"token_type"`
	IssuedAt     string `json:"issued_at"`
}

type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "malformed form body"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.TokenCalls++
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	grant := r.PostForm.Get("grant_type")
	if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		if clientID != s.creds.ClientID {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client_id", "client identifier invalid"})
			return
		}
		if !hmac.Equal([]byte(secret), []byte(s.creds.ClientSecret)) {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_client", "invalid client credentials"})
			return
		}
	}
	resp := tokenResponse{Scope: "api refresh_token", TokenType: "Bearer"}
	switch grant {
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", "expired access/refresh token"})
			return
		}
		if s.opts.RotateRefreshTokens {
			delete(s.refresh, rt)
			nrt := "5Aep861" + randomToken(64)[:80]
			s.refresh[nrt] = true
			s.creds.RefreshToken = nrt
			resp.RefreshToken = nrt
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if msg := s.verifyAssertion(r.PostForm.Get("assertion"), baseURL(r)); msg != "" {
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_grant", msg})
			return
		}
		resp.Scope = "api"
	case "client_credentials":
		resp.Scope = "api"
	case "":
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "grant type not supported"})
		return
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "grant type not supported"})
		return
	}
	now := s.now()
	tok := s.creds.OrgID[:15] + "!AQ" + randomToken(72)
	s.sessions[tok] = &session{expires: now.Add(s.opts.SessionLifetime)}
	resp.AccessToken = tok
	resp.InstanceURL = s.opts.InstanceURL
	if resp.InstanceURL == "" {
		resp.InstanceURL = baseURL(r)
	}
	resp.ID = s.opts.LoginURL + "/id/" + s.creds.OrgID + "/" + s.creds.UserID
	resp.IssuedAt = strconv.FormatInt(s.opts.Clock().Add(s.skew).UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(s.creds.ClientSecret))
	mac.Write([]byte(resp.ID + resp.IssuedAt))
	resp.Signature = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	writeJSON(w, http.StatusOK, resp)
}

// verifyAssertion checks an RS256 JWT bearer assertion and returns "" or the error description.
func (s *Server) verifyAssertion(assertion, self string) string {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "invalid assertion"
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil {
		return "invalid assertion"
	}
	if hdr.Alg != "RS256" {
		return "invalid assertion"
	}
	key, _ := sharedKey()
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "invalid assertion"
	}
	if claims.Iss != s.creds.ClientID {
		return "invalid client credentials"
	}
	if claims.Sub != s.creds.Username {
		return "user hasn't approved this consumer"
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else {
		_ = json.Unmarshal(claims.Aud, &auds)
	}
	okAud := false
	for _, a := range auds {
		a = strings.TrimSuffix(a, "/")
		if a == s.opts.LoginURL || a == self || a == "https://login.salesforce.com" || a == "https://test.salesforce.com" {
			okAud = true
		}
	}
	if !okAud {
		return "audience is invalid"
	}
	if claims.Exp == 0 || time.Unix(claims.Exp, 0).Before(s.now()) {
		return "expired authorization code"
	}
	return ""
}

// authorize checks the bearer token of an API call. The caller holds s.mu.
func (s *Server) authorize(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	var tok string
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok = strings.TrimPrefix(h, "Bearer ")
	case strings.HasPrefix(h, "OAuth "):
		tok = strings.TrimPrefix(h, "OAuth ")
	default:
		return false
	}
	ses, ok := s.sessions[tok]
	if !ok || ses.dead || !s.now().Before(ses.expires) {
		return false
	}
	return true
}

func writeInvalidSession(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Token`)
	writeErr(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
}

func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.authorize(r)
	c := s.creds
	login := s.opts.LoginURL
	s.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="Session expired or invalid"`)
		writeRaw(w, http.StatusForbidden, "text/plain", []byte("Bad_OAuth_Token"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"sub":                login + "/id/" + c.OrgID + "/" + c.UserID,
		"user_id":            c.UserID,
		"organization_id":    c.OrgID,
		"preferred_username": c.Username,
		"nickname":           "integration",
		"name":               "Integration User",
		"email":              c.Username,
		"email_verified":     true,
		"zoneinfo":           "Etc/UTC",
		"locale":             "en_US",
		"language":           "en_US",
		"user_type":          "STANDARD",
		"active":             true,
		"is_app_installed":   true,
	})
}

// ExpireTokens ends the life of every issued access token, as if the session timeout passed. Refresh
// tokens keep working.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ses := range s.sessions {
		ses.dead = true
	}
}

// RevokeTokens revokes every access and refresh token, as an admin revoking the connected app would. The
// refresh grant then answers invalid_grant until a new refresh token is issued with IssueRefreshToken.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ses := range s.sessions {
		ses.dead = true
	}
	s.refresh = map[string]bool{}
}

// IssueRefreshToken authorises the connected app again and returns the new refresh token.
func (s *Server) IssueRefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := "5Aep861" + randomToken(64)[:80]
	s.refresh[rt] = true
	s.creds.RefreshToken = rt
	return rt
}
