package connections

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/transport"
)

func hubspotSettings(revision string) Settings {
	return Settings{
		Provider: auth.HubSpot, AuthType: auth.PrivateAppToken, BaseURL: "http://127.0.0.1:1",
		Credentials: auth.Credentials{auth.KeyToken: "pat-test"}, Revision: revision,
	}
}

func TestEnsureReusesUntilTheRevisionChanges(t *testing.T) {
	r := &Registry{}
	key := types.NamespacedName{Namespace: "acme", Name: "hubspot"}
	first, err := r.Ensure(key, hubspotSettings("1/100"), auth.NewMemoryStore(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Ensure(key, hubspotSettings("1/100"), auth.NewMemoryStore(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("an unchanged revision built a second connection: two token sources could refresh at once")
	}

	first.Budget.Restore(transport.Usage{Used: 42, Limit: 250_000, ResetsAt: time.Now().Add(time.Hour)})
	rebuilt, err := r.Ensure(key, hubspotSettings("1/101"), auth.NewMemoryStore(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rebuilt == first {
		t.Fatal("a changed Secret did not rebuild the connection, so a re-authorisation would not take effect")
	}
	if got := rebuilt.Budget.Usage().Used; got < 42 {
		t.Errorf("the rebuilt connection's budget used = %d, want the 42 already spent", got)
	}
	if got, _ := r.Get(key); got != rebuilt {
		t.Error("Get does not return the current connection")
	}
	r.Remove(key)
	if _, ok := r.Get(key); ok {
		t.Error("Remove left the connection in place")
	}
}

func TestEnsureRestoresUsageOfANewConnection(t *testing.T) {
	r := &Registry{}
	key := types.NamespacedName{Namespace: "acme", Name: "hubspot"}
	restore := &transport.Usage{Used: 1000, Limit: 250_000, Remaining: 249_000, ResetsAt: time.Now().Add(time.Hour)}
	l, err := r.Ensure(key, hubspotSettings("1/1"), auth.NewMemoryStore(nil), restore)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Budget.Usage().Used; got < 1000 {
		t.Errorf("used after restore = %d, want at least 1000: a restart must not forget spent budget", got)
	}
}

func TestEnsureRejectsProvidersWithoutAConnector(t *testing.T) {
	r := &Registry{}
	s := Settings{Provider: auth.Zoho, AuthType: auth.OAuth2RefreshToken, Revision: "1/1",
		Credentials: auth.Credentials{auth.KeyClientID: "id", auth.KeyClientSecret: "secret", auth.KeyRefreshToken: "rt"}}
	_, err := r.Ensure(types.NamespacedName{Namespace: "acme", Name: "zoho"}, s, auth.NewMemoryStore(nil), nil)
	if !errors.Is(err, ErrProviderNotSupported) {
		t.Fatalf("err = %v, want ErrProviderNotSupported", err)
	}
}

func TestBudgetDefaultsFollowTheProvider(t *testing.T) {
	got := budgetConfig(auth.HubSpot, transport.BudgetConfig{ReservePercent: 20})
	if got.BurstRequests != 100 || got.BurstWindow != 10*time.Second || got.DailyRequests != 250_000 || got.ReservePercent != 20 {
		t.Errorf("hubspot budget = %+v, want 100 per 10s, 250,000 a day, the user's 20%% reserve kept", got)
	}
	got = budgetConfig(auth.Salesforce, transport.BudgetConfig{DailyRequests: 100_000})
	if got.DailyRequests != 100_000 {
		t.Errorf("salesforce daily = %d, want the configured 100,000 to win over the default", got.DailyRequests)
	}
}
