package conformance

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/transport"
)

// refHarness wires the reference connector (or one of its broken variants) to a fresh memCRM.
type refHarness struct{ variant string }

var _ Harness = refHarness{}

func (h refHarness) New(t *testing.T) Env {
	crm := newMemCRM()
	srv := httptest.NewServer(crm)
	t.Cleanup(srv.Close)
	client, err := transport.New(transport.Config{
		Provider:    refProvider,
		BaseURL:     srv.URL,
		HTTPClient:  srv.Client(),
		Tokens:      &refTokens{url: srv.URL + "/oauth/token", client: srv.Client()},
		MaxAttempts: 10, BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &refEnv{crm: crm, conn: &refConn{client: client, variant: h.variant}}
}

// refEnv implements Env over memCRM's internals.
type refEnv struct {
	crm  *memCRM
	conn *refConn
}

var (
	_ Env          = (*refEnv)(nil)
	_ TextLimitEnv = (*refEnv)(nil)
	_ UnknownIDEnv = (*refEnv)(nil)
	_ SettleEnv    = (*refEnv)(nil)
)

func (e *refEnv) Connector() connectors.Connector { return e.conn }
func (e *refEnv) Object() string                  { return "contacts" }
func (e *refEnv) EmailField() string              { return "email" }
func (e *refEnv) TextField() string               { return "lastname" }
func (e *refEnv) MaxTextLen() int                 { return memMaxText }
func (e *refEnv) UnknownID() string               { return "m999999" }
func (e *refEnv) SettleTimeout() time.Duration    { return 0 }

func (e *refEnv) NewRecord(i int) connectors.Record {
	return connectors.Record{Fields: map[string]any{
		"email": fmt.Sprintf("person%d@example.com", i), "lastname": fmt.Sprintf("Person %d", i), "status": "lead",
	}}
}

func withFields(r connectors.Record, set map[string]any, drop string) connectors.Record {
	f := make(map[string]any, len(r.Fields))
	for k, v := range r.Fields {
		f[k] = v
	}
	for k, v := range set {
		f[k] = v
	}
	delete(f, drop)
	r.Fields = f
	return r
}

func (e *refEnv) InvalidPicklist(r connectors.Record) (connectors.Record, bool) {
	return withFields(r, map[string]any{"status": "platinum"}, ""), true
}

func (e *refEnv) MissingRequired(r connectors.Record) (connectors.Record, bool) {
	return withFields(r, nil, "lastname"), true
}

func (e *refEnv) ExternalCreate(t *testing.T, r connectors.Record) string {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	return e.crm.createLocked(r.Fields)
}

func (e *refEnv) ExternalUpdate(t *testing.T, id string, fields map[string]any) {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	rec, ok := e.crm.recs[id]
	if !ok {
		t.Fatalf("ExternalUpdate: no record %s", id)
	}
	for k, v := range fields {
		rec.Fields[k] = v
	}
	rec.Modified = e.crm.now()
}

func (e *refEnv) ExternalDelete(t *testing.T, id string) {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	e.crm.deleteLocked(id)
}

func (e *refEnv) SetModifiedAt(t *testing.T, ids []string, at time.Time) {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	for _, id := range ids {
		e.crm.recs[id].Modified = at.UTC()
	}
}

func (e *refEnv) SetClockSkew(t *testing.T, skew time.Duration) {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	e.crm.skew = skew
}

func (e *refEnv) InjectFaults(t *testing.T, f Faults) {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	e.crm.faults = f
}

func (e *refEnv) ExpireTokens(t *testing.T) bool {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	clear(e.crm.tokens)
	return true
}

func (e *refEnv) APICalls() int {
	e.crm.mu.Lock()
	defer e.crm.mu.Unlock()
	return e.crm.calls
}

// TestReferenceConnector proves the suite runs to completion against a correct connector.
func TestReferenceConnector(t *testing.T) {
	Run(t, refHarness{variant: correct})
}

const brokenVariantEnv = "CONFORMANCE_SELFTEST_BROKEN_VARIANT"

// TestSuiteCatchesBrokenConnectors runs the suite against connectors with known bugs, each in a child
// test process (a failing *testing.T cannot be contained in-process), and checks that the case made for
// that bug fails while an unrelated case still passes.
func TestSuiteCatchesBrokenConnectors(t *testing.T) {
	if v := os.Getenv(brokenVariantEnv); v != "" {
		Run(t, refHarness{variant: v})
		return
	}
	cases := []struct {
		variant  string
		mustFail string
	}{
		{dropTies, "Changes/TiesAtPageBoundary"},
		{cursorOnYieldError, "Changes/CursorNeverAdvancesOnYieldError"},
		{ourClockCursor, "Changes/ClockSkewBehind"},
	}
	for _, tc := range cases {
		t.Run(tc.variant, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSuiteCatchesBrokenConnectors$", "-test.v", "-test.count=1", "-test.timeout=5m")
			cmd.Env = append(os.Environ(), brokenVariantEnv+"="+tc.variant)
			out, err := cmd.CombinedOutput()
			text := string(out)
			if err == nil {
				t.Fatalf("the suite passed the %s connector:\n%s", tc.variant, text)
			}
			prefix := "TestSuiteCatchesBrokenConnectors/"
			if !strings.Contains(text, "--- FAIL: "+prefix+tc.mustFail+" ") {
				t.Errorf("case %s did not fail for the %s connector:\n%s", tc.mustFail, tc.variant, text)
			}
			if !strings.Contains(text, "--- PASS: "+prefix+"Upsert/CreateThenGet ") {
				t.Errorf("an unrelated case did not pass for the %s connector; the failure is not specific:\n%s", tc.variant, text)
			}
		})
	}
}
