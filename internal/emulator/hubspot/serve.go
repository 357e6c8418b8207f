package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Endpoint is the line Serve prints: where the emulator listens and the credentials it accepts.
type Endpoint struct {
	Provider        string `json:"provider"`
	BaseURL         string `json:"baseURL"`
	TokenURL        string `json:"tokenURL"`
	AdminURL        string `json:"adminURL"`
	ClientID        string `json:"clientID"`
	ClientSecret    string `json:"clientSecret"`
	RefreshToken    string `json:"refreshToken"`
	PrivateAppToken string `json:"privateAppToken"`
}

// Serve runs an emulator on addr (e.g. "127.0.0.1:8081"; port 0 picks one), writes one JSON line
// describing it (an Endpoint) to out, and serves until ctx is done. It then shuts down gracefully and
// returns nil.
func Serve(ctx context.Context, addr string, opts Options, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("hubspot emulator: listen on %s: %w", addr, err)
	}
	s := New(opts)
	base := "http://" + ln.Addr().String()
	c := s.Credentials()
	line, err := json.Marshal(Endpoint{
		Provider: "hubspot", BaseURL: base, TokenURL: base + "/oauth/v1/token", AdminURL: base + "/_admin",
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RefreshToken: c.RefreshToken, PrivateAppToken: c.PrivateAppToken,
	})
	if err != nil {
		_ = ln.Close()
		return err
	}
	if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
