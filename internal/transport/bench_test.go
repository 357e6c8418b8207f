package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

type benchTokens struct{ tok *oauth2.Token }

func (b benchTokens) Token(context.Context) (*oauth2.Token, error) { return b.tok, nil }

// BenchmarkClientDo measures the client's own cost per call against a local server: one small JSON
// answer with HubSpot's rate-limit headers, a token and a budget with a burst window too large to wait.
func BenchmarkClientDo(b *testing.B) {
	body := []byte(`{"results":[{"id":"1","properties":{"email":"a@example.com"}}],"paging":{}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-HubSpot-RateLimit-Max", "1000000000")
		h.Set("X-HubSpot-RateLimit-Remaining", "999999999")
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
		w.Write(body)
	}))
	defer srv.Close()
	for _, withBudget := range []bool{false, true} {
		b.Run(fmt.Sprintf("budget=%v", withBudget), func(b *testing.B) {
			cfg := Config{Provider: "hubspot", BaseURL: srv.URL, Tokens: benchTokens{&oauth2.Token{AccessToken: "t", TokenType: "Bearer"}}}
			if withBudget {
				cfg.Budget = NewBudget(BudgetConfig{BurstRequests: 1 << 30, BurstWindow: 10 * time.Second, DailyRequests: 1 << 30, MaxConcurrency: 64}, nil)
			}
			c, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			req := Request{Op: "list contacts", Path: "/crm/v3/objects/contacts"}
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Do(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		})
	}
}
