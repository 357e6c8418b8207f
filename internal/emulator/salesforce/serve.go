package salesforce

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

// Endpoint is the JSON line Serve prints: where the emulator listens and the credentials it trusts.
type Endpoint struct {
	Provider     string `json:"provider"`
	BaseURL      string `json:"baseURL"`
	TokenURL     string `json:"tokenURL"`
	ClientID     string `json:"clientID"`
	ClientSecret string `json:"clientSecret"`
	RefreshToken string `json:"refreshToken"`
	Username     string `json:"username"`
	InstanceURL  string `json:"instanceURL"`
}

// Serve runs an emulated org on addr (e.g. "127.0.0.1:8082"; port 0 picks one), prints one JSON Endpoint
// line to out, and serves until ctx is done. The login URL and the instance URL are the same server.
func Serve(ctx context.Context, addr string, opts Options, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("salesforce emulator: listen on %s: %w", addr, err)
	}
	base := "http://" + ln.Addr().String()
	if opts.InstanceURL == "" {
		opts.InstanceURL = base
	}
	s := New(opts)
	c := s.Credentials()
	line, _ := json.Marshal(Endpoint{Provider: "salesforce", BaseURL: base, TokenURL: base + "/services/oauth2/token",
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, RefreshToken: c.RefreshToken, Username: c.Username,
		InstanceURL: opts.InstanceURL})
	if _, err := fmt.Fprintln(out, string(line)); err != nil {
		_ = ln.Close()
		return fmt.Errorf("salesforce emulator: print endpoint: %w", err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("salesforce emulator: %w", err)
		}
		return nil
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("salesforce emulator: serve: %w", err)
	}
}
