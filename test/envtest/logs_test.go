/*
Copyright 2026 The crmsync Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package envtest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// TestNoSecretInLogsEventsOrStatus runs the whole token lifecycle (create, refresh, rotation, restart,
// revocation, re-authorisation) of every auth scheme the emulators speak, with every logger at its most
// verbose, and looks for each secret value in every log line, event, status, condition and error.
func TestNoSecretInLogsEventsOrStatus(t *testing.T) {
	mark := logCapture.len()
	var secrets, texts []string
	seen := func(what string, s string) { texts = append(texts, what+": "+s) }
	crms := []struct {
		name   string
		newCRM func(t *testing.T, clock *fakeClock) *crm
	}{
		{name: "salesforce", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newSalesforce(t, clock, crmOptions{lifetime: 15 * time.Minute, rotate: true})
		}},
		{name: "hubspot", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newHubSpot(t, clock, crmv1.AuthOAuth2RefreshToken, crmOptions{lifetime: 5 * time.Minute, rotate: true})
		}},
		{name: "hubspot-pat", newCRM: func(t *testing.T, clock *fakeClock) *crm {
			return newHubSpot(t, clock, crmv1.AuthPrivateAppToken, crmOptions{})
		}},
	}
	for _, cc := range crms {
		clock := newFakeClock()
		c := cc.newCRM(t, clock)
		e := newEnvLogging(t, clock, maxVerbosity)
		name := cc.name
		secrets = append(secrets, c.secretValues()...)
		rng := rand.New(rand.NewPCG(6, 6))
		reconcile := func() {
			t.Helper()
			if _, err := e.reconcile(name); err != nil {
				seen("reconcile error", err.Error()) // what the manager would log
			}
		}
		use := func() {
			t.Helper()
			if err := c.call(e.ctx, e.live(name).Connector, rng); err != nil {
				seen("sync error", err.Error()) // what a SyncJob would log and report
			}
		}
		advance := func() {
			if next := e.get(name).Status.NextTokenRefreshTime; next != nil {
				clock.Set(next.Add(time.Second))
			} else {
				clock.Advance(time.Hour)
			}
		}

		e.connect(name, c)
		reconcile()
		e.expectConditions(name, e.readyConditions(name, c)...)
		for range 3 { // refreshes, with rotation
			use()
			advance()
			reconcile()
			use()
		}
		e.restart()
		reconcile()
		use()
		advance()
		reconcile()

		c.revoke()
		clock.Advance(time.Minute)
		use()
		if err := c.read(e.ctx, e.live(name).Connector); err != nil {
			seen("sync error", err.Error())
		} else {
			t.Fatalf("%s: a call after the revocation succeeded", name)
		}
		reconcile()
		reconcile()
		if r := condition(e.get(name), crmv1.ConditionReady); r == nil || r.Reason != crmv1.ReasonReauthorizationRequired {
			t.Fatalf("%s: Ready after the revocation is %+v, want reason %s", name, r, crmv1.ReasonReauthorizationRequired)
		}

		fresh := c.reauthorize()
		secrets = append(secrets, fresh)
		e.setSecretKey(name, c.replaceKey, fresh)
		reconcile()
		use()
		advance()
		reconcile()
		use()
		e.expectConditions(name, e.readyConditions(name, c)...)

		secrets = append(secrets, c.traffic.secrets()...)
		conn := e.get(name)
		status, err := json.Marshal(conn.Status)
		if err != nil {
			t.Fatal(err)
		}
		seen(name+" status", string(status))
		seen(name+" annotations", fmt.Sprint(conn.Annotations))
		for _, ev := range e.events.all() {
			seen(name+" event", fmt.Sprintf("%s %s %s %s", ev.eventType, ev.reason, ev.action, ev.note))
		}
	}

	lines := logCapture.since(mark)
	for _, want := range []string{
		"Access token refreshed",        // info
		"Requesting a new access token", // V(1)
		"Using the cached token",        // V(1), after the restart
		"Credentials rejected",          // error
		"Static token rejected",         // error
	} {
		if !containsLine(lines, want) {
			t.Errorf("no log line says %q: the capture missed part of the lifecycle", want)
		}
	}
	for _, l := range lines {
		seen("log", l)
		// client-go logs request and response bodies at verbosity 8 as hex dumps, 16 bytes a line.
		if dump := undump(l); dump != "" {
			seen("log (hex dump decoded)", dump)
		}
	}
	checked := 0
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("a secret value of %d characters cannot be searched for reliably", len(s))
		}
		checked++
		// Secret data travels base64-encoded in JSON.
		forms := []string{s, base64.StdEncoding.EncodeToString([]byte(s))}
		for _, text := range texts {
			for _, f := range forms {
				if strings.Contains(text, f) {
					where, _, _ := strings.Cut(text, ":")
					t.Errorf("a secret value (%d characters, starting %.4s) appears in a %s", len(s), s, where)
				}
			}
		}
	}
	t.Logf("looked for %d secret values in %d log lines and %d other texts", checked, len(lines), len(texts)-len(lines))
}

// hexDumpLine matches one line of an encoding/hex dump: offset, up to 16 bytes, and the text column.
var hexDumpLine = regexp.MustCompile(`[0-9a-f]{8}((?:\s+[0-9a-f]{2}){1,16})\s+\|`)

// undump returns the bytes of the hex dumps in a log line, or "".
func undump(line string) string {
	var b strings.Builder
	for _, m := range hexDumpLine.FindAllStringSubmatch(line, -1) {
		raw, err := hex.DecodeString(strings.Join(strings.Fields(m[1]), ""))
		if err == nil {
			b.Write(raw)
		}
	}
	return b.String()
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
