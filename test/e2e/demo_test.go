package e2e

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/demo"
)

// TestDemoOnce runs the whole demo on a local control plane: the HubSpot and Salesforce emulators, the
// application database and the manager, driven by config/samples/demo. It checks the first sync's
// counts against the seeded data, what each side holds afterwards, and the four changes the demo shows
// (an edit each way, a token refresh, a rate limit met and respected). It never skips: without envtest
// binaries it fails.
func TestDemoOnce(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set, so the demo cannot start an API server.\n" +
			"Run `make test`, or run `export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)` from the repository root and retry.")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	out := &lineLogger{t: t}
	sum, err := demo.Run(ctx, demo.Options{
		Once:      true,
		Timeout:   5 * time.Minute,
		RepoRoot:  "../..",
		AssetsDir: assets,
		WorkDir:   t.TempDir(),
		Out:       out,
	})
	out.flush()
	if err != nil {
		t.Fatalf("the demo did not start: %v", err)
	}
	if !sum.OK() {
		t.Errorf("the demo failed:\n  %s", strings.Join(sum.Problems, "\n  "))
	}

	// The seeded data: HubSpot has 240 contacts; the app 62 users, 30 of them HubSpot contacts too
	// (paired by email), 30 HubSpot lacks and 2 that HubSpot cannot take. Salesforce has 82 opportunities,
	// 2 of them in stages HubSpot's pipeline lacks.
	want := demo.Expectations{
		ContactsCreated: 210 + 30, // HubSpot-only contacts into the app, app-only users into HubSpot
		ContactsUpdated: 2 * 30,   // each pair: HubSpot's fields into the app, the app's into HubSpot
		ContactsFailed:  2,
		DealsCreated:    80,
		DealsFailed:     2,
		HubSpotContacts: 270,
		AppContacts:     272,
		HubSpotDeals:    80,
	}
	if diff := cmp.Diff(want, sum.Expected); diff != "" {
		t.Errorf("the demo's expectations differ from the seeded data this test describes (-test +demo):\n%s", diff)
	}

	type counts struct{ Created, Updated, Failed int64 }
	got := map[string]counts{}
	for _, j := range sum.Jobs {
		if j.FirstSync == nil {
			t.Errorf("SyncJob %s never finished a sync: Ready=%s %s", j.Name, j.Ready, j.Message)
			continue
		}
		got[j.Name] = counts{j.FirstSync.Created, j.FirstSync.Updated, j.FirstSyncFailed}
	}
	wantCounts := map[string]counts{
		"hubspot-contacts-app":     {want.ContactsCreated, want.ContactsUpdated, want.ContactsFailed},
		"salesforce-deals-hubspot": {want.DealsCreated, 0, want.DealsFailed},
	}
	if diff := cmp.Diff(wantCounts, got); diff != "" {
		t.Errorf("first sync of each SyncJob (-want +got):\n%s", diff)
	}

	wantHeld := demo.Holdings{HubSpotContacts: want.HubSpotContacts, AppContacts: want.AppContacts, HubSpotDeals: want.HubSpotDeals}
	if diff := cmp.Diff(wantHeld, sum.Final); diff != "" {
		t.Errorf("records each side holds at the end (-want +got):\n%s", diff)
	}

	for _, c := range sum.Connections {
		if c.Ready != "True" {
			t.Errorf("CRMConnection %s is not Ready: %s", c.Name, c.Message)
		}
	}
	var names []string
	for _, c := range sum.Checks {
		names = append(names, c.Name)
		if !c.Passed {
			t.Errorf("check %q failed: %s", c.Name, c.Line)
		}
	}
	if diff := cmp.Diff([]string{"app DB -> HubSpot", "HubSpot -> app DB", "token refresh", "rate limit"}, names); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
}

// lineLogger sends the demo's output to the test log, line by line.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.t.Log(strings.TrimRight(line, "\n"))
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.t.Log(l.buf.String())
		l.buf.Reset()
	}
}
