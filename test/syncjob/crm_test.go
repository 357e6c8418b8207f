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

package syncjob

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	hsemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
	sfemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

// unpaced is the API budget of connections whose pacing is not under test: the emulators' burst limits are
// off as well, so that the tests spend their time syncing, not waiting. HubSpot's search limit (5 a
// second) stays on: the connector paces it on its own.
var unpaced = &crmv1.RateLimitSpec{
	BurstRequests:  ptr.To[int32](100_000),
	BurstWindow:    &metav1.Duration{Duration: time.Second},
	MaxConcurrency: ptr.To[int32](8),
}

// hubspot is an emulated HubSpot portal served over HTTP behind a recorder of write calls.
type hubspot struct {
	emu *hsemu.Server
	srv *httptest.Server
	// writes counts the API calls that can change data: creates, updates, upserts and archives.
	writes atomic.Int64
	// onWrite, when set, handles a write call instead of the emulator (see crashAfterWrite).
	onWrite atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

func newHubSpot(t *testing.T, opts hsemu.Options) *hubspot {
	t.Helper()
	opts.BurstLimit = -1
	h := &hubspot{emu: hsemu.New(opts)}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

var hubspotWrite = regexp.MustCompile(`^/crm/v3/objects/[^/]+(/batch/(create|update|upsert|archive))?(/[^/]+)?$`)

// isWrite reports whether r is a HubSpot API call that writes: POST to an object or a write batch, PATCH
// and DELETE. Searches and batch reads do not write.
func isHubSpotWrite(r *http.Request) bool {
	switch r.Method {
	case http.MethodPatch, http.MethodDelete:
		return strings.HasPrefix(r.URL.Path, "/crm/")
	case http.MethodPost:
		return hubspotWrite.MatchString(r.URL.Path) && !strings.HasSuffix(r.URL.Path, "/search")
	}
	return false
}

func (h *hubspot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isHubSpotWrite(r) {
		h.writes.Add(1)
		if f := h.onWrite.Load(); f != nil && (*f)(w, r) {
			return
		}
	}
	h.emu.ServeHTTP(w, r)
}

// writeCalls is how many calls that write the emulator has answered, by its own statistics: every route
// but reads (GET) and searches.
func (h *hubspot) writeCalls() int {
	n := 0
	for route, calls := range h.emu.Stats().ByRoute {
		if !strings.HasPrefix(route, http.MethodGet+" ") && !strings.HasSuffix(route, "/search") {
			n += calls
		}
	}
	return n
}

// privateAppConnection is the spec and credentials of a CRMConnection to the portal with its private app
// token.
func (h *hubspot) privateAppConnection() (crmv1.CRMConnectionSpec, map[string]string) {
	return crmv1.CRMConnectionSpec{
		Provider:  crmv1.ProviderHubSpot,
		BaseURL:   h.srv.URL,
		Auth:      crmv1.AuthSpec{Type: crmv1.AuthPrivateAppToken},
		RateLimit: unpaced,
	}, map[string]string{crmv1.SecretKeyToken: h.emu.Credentials().PrivateAppToken}
}

// oauthConnection is the spec and credentials of a CRMConnection to the portal through OAuth with a
// refresh token.
func (h *hubspot) oauthConnection() (crmv1.CRMConnectionSpec, map[string]string) {
	c := h.emu.Credentials()
	return crmv1.CRMConnectionSpec{
			Provider:  crmv1.ProviderHubSpot,
			BaseURL:   h.srv.URL,
			TokenURL:  h.srv.URL + "/oauth/v1/token",
			Auth:      crmv1.AuthSpec{Type: crmv1.AuthOAuth2RefreshToken},
			RateLimit: unpaced,
		}, map[string]string{
			crmv1.SecretKeyClientID:     c.ClientID,
			crmv1.SecretKeyClientSecret: c.ClientSecret,
			crmv1.SecretKeyRefreshToken: c.RefreshToken,
		}
}

// liveRecords returns the portal's live (not archived) records of object.
func (h *hubspot) liveRecords(t *testing.T, object string) []hsemu.Record {
	t.Helper()
	all, err := h.emu.Records(object)
	if err != nil {
		t.Fatalf("read HubSpot %s: %v", object, err)
	}
	var out []hsemu.Record
	for _, r := range all {
		if !r.Archived {
			out = append(out, r)
		}
	}
	return out
}

// crashAfterWrite arms a crash: the n-th write call from now reaches the portal, which performs it, and
// then crash runs while the call is still open, so that the caller never learns the outcome, as when a
// process dies between a write and its bookkeeping. It returns a function reporting whether the crash
// happened.
func (h *hubspot) crashAfterWrite(n int64, crash func()) func() bool {
	var seen atomic.Int64
	var once sync.Once
	var fired atomic.Bool
	f := func(w http.ResponseWriter, r *http.Request) bool {
		if seen.Add(1) != n {
			return false
		}
		once.Do(func() {
			h.emu.ServeHTTP(httptest.NewRecorder(), r)
			fired.Store(true)
			crash()
		})
		<-r.Context().Done()
		return true
	}
	h.onWrite.Store(&f)
	return fired.Load
}

// salesforce is an emulated Salesforce org served over HTTP.
type salesforce struct {
	emu *sfemu.Server
	srv *httptest.Server
}

func newSalesforce(t *testing.T, opts sfemu.Options) *salesforce {
	t.Helper()
	s := &salesforce{emu: sfemu.New(opts)}
	s.srv = httptest.NewServer(s.emu)
	t.Cleanup(s.srv.Close)
	return s
}

// oauthConnection is the spec and credentials of a CRMConnection to the org through OAuth with a refresh
// token. API calls go to the instance_url of the token response, as with a real org.
func (s *salesforce) oauthConnection() (crmv1.CRMConnectionSpec, map[string]string) {
	c := s.emu.Credentials()
	return crmv1.CRMConnectionSpec{
			Provider:  crmv1.ProviderSalesforce,
			TokenURL:  s.srv.URL + "/services/oauth2/token",
			Auth:      crmv1.AuthSpec{Type: crmv1.AuthOAuth2RefreshToken},
			RateLimit: unpaced,
		}, map[string]string{
			crmv1.SecretKeyClientID:     c.ClientID,
			crmv1.SecretKeyClientSecret: c.ClientSecret,
			crmv1.SecretKeyRefreshToken: c.RefreshToken,
		}
}
