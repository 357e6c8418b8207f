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
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// traffic sits between crmsync and an emulator and records what crmsync sent: every token the emulator
// issued, with the fake time it was issued at, and every API call with its status and the age of the
// access token it carried.
type traffic struct {
	clock     *fakeClock
	tokenPath string
	next      http.Handler

	mu     sync.Mutex
	issued map[string]time.Time // access token -> when it was issued
	issues []issue
	calls  []apiCall
	// tokenRequests counts every request of the token endpoint, answered or not.
	tokenRequests int
	// gate, when set, holds token requests until it is closed.
	gate chan struct{}
	// outage is how many more token requests are answered 503, as by a token endpoint that is down.
	outage int
}

// issue is one successful token request.
type issue struct {
	at time.Time
	// used is the refresh token the request presented; access and refresh are what it got.
	used, access, refresh string
}

// apiCall is one request to the CRM's API (anything but the token endpoint).
type apiCall struct {
	at     time.Time
	method string
	path   string
	status int
	// known is false when the call carried a token the emulator never issued (a static token, or none).
	known bool
	age   time.Duration
}

func newTraffic(clock *fakeClock, tokenPath string, next http.Handler) *traffic {
	return &traffic{clock: clock, tokenPath: tokenPath, next: next, issued: map[string]time.Time{}}
}

func (t *traffic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == t.tokenPath {
		t.serveToken(w, r)
		return
	}
	at := t.clock.Now()
	bearer := strings.TrimSpace(r.Header.Get("Authorization"))
	if i := strings.IndexByte(bearer, ' '); i >= 0 {
		bearer = strings.TrimSpace(bearer[i+1:])
	}
	sw := &statusWriter{ResponseWriter: w}
	t.next.ServeHTTP(sw, r)
	t.mu.Lock()
	defer t.mu.Unlock()
	issuedAt, known := t.issued[bearer]
	t.calls = append(t.calls, apiCall{at: at, method: r.Method, path: r.URL.Path, status: sw.code(), known: known, age: at.Sub(issuedAt)})
}

func (t *traffic) serveToken(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.tokenRequests++
	gate := t.gate
	down := t.outage > 0
	if down {
		t.outage--
	}
	t.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if down {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"temporarily_unavailable","error_description":"the authorization server is down for maintenance"}`))
		return
	}
	body, _ := readBody(r)
	form, _ := url.ParseQuery(string(body))
	at := t.clock.Now()
	rec := httptest.NewRecorder()
	t.next.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
	if rec.Code != http.StatusOK {
		return
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.issued[tok.AccessToken] = at
	t.issues = append(t.issues, issue{at: at, used: form.Get("refresh_token"), access: tok.AccessToken, refresh: tok.RefreshToken})
}

// readBody reads the request body and puts it back for the emulator.
func readBody(r *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	if r.Body != nil {
		if _, err := buf.ReadFrom(r.Body); err != nil {
			return nil, err
		}
	}
	r.Body = readCloser{bytes.NewReader(buf.Bytes())}
	return buf.Bytes(), nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// failTokenRequests answers the next n token requests with 503 Service Unavailable.
func (t *traffic) failTokenRequests(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.outage = n
}

// holdTokenRequests makes token requests wait until release is called.
func (t *traffic) holdTokenRequests() (release func()) {
	gate := make(chan struct{})
	t.mu.Lock()
	t.gate = gate
	t.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			t.mu.Lock()
			t.gate = nil
			t.mu.Unlock()
			close(gate)
		})
	}
}

func (t *traffic) Issues() []issue {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]issue(nil), t.issues...)
}

func (t *traffic) lastIssue() (issue, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.issues) == 0 {
		return issue{}, false
	}
	return t.issues[len(t.issues)-1], true
}

func (t *traffic) Calls() []apiCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]apiCall(nil), t.calls...)
}

func (t *traffic) TokenRequests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tokenRequests
}

// secrets returns every access and refresh token the emulator issued.
func (t *traffic) secrets() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, i := range t.issues {
		out = append(out, i.access, i.refresh)
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
