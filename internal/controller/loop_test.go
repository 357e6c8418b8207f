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

package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/crmerr"
)

func TestFailReportsEachErrorKind(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const prefix = "CRMConnection acme/hubspot: "
	rateLimited := &crmerr.Error{Kind: crmerr.RateLimited, Provider: "hubspot", Op: "refresh token", RetryAt: now.Add(90 * time.Second)}
	permanent := crmerr.New(crmerr.Permanent, "hubspot", "describe contacts", "missing scope crm.objects.contacts.read")
	transient := errors.New("connection reset by peer")
	revoked := stall(crmv1.ReasonReauthorizationRequired, errors.New("refresh token revoked: authorise again"))

	cases := map[string]struct {
		reason         string
		err            error
		wantConditions []metav1.Condition
		wantMinRequeue time.Duration
		wantMaxRequeue time.Duration
		wantErr        error
		wantTerminal   bool
	}{
		"RateLimited": {
			reason: "A spent budget pauses the object until it resets, without an error and without Stalled.",
			err:    rateLimited,
			wantConditions: []metav1.Condition{
				cond(crmv1.ConditionReady, metav1.ConditionFalse, crmv1.ReasonRateLimitExceeded, prefix+rateLimited.Error()+" (waiting until 2026-05-01T12:01:30Z)"),
				cond(crmv1.ConditionReconciling, metav1.ConditionTrue, crmv1.ReasonProgressing, prefix+rateLimited.Error()+" (waiting until 2026-05-01T12:01:30Z)"),
				cond(crmv1.ConditionRateLimited, metav1.ConditionTrue, crmv1.ReasonRateLimitExceeded, prefix+rateLimited.Error()+" (waiting until 2026-05-01T12:01:30Z)"),
			},
			wantMinRequeue: 90 * time.Second,
			wantMaxRequeue: 99 * time.Second,
		},
		"Permanent": {
			reason: "A configuration error stalls the object and is not retried.",
			err:    permanent,
			wantConditions: []metav1.Condition{
				cond(crmv1.ConditionReady, metav1.ConditionFalse, crmv1.ReasonInvalidConfiguration, prefix+permanent.Error()),
				cond(crmv1.ConditionReconciling, metav1.ConditionFalse, crmv1.ReasonInvalidConfiguration, prefix+permanent.Error()),
				cond(crmv1.ConditionStalled, metav1.ConditionTrue, crmv1.ReasonInvalidConfiguration, prefix+permanent.Error()),
			},
			wantErr:      permanent,
			wantTerminal: true,
		},
		"Stall": {
			reason: "A phase that knows the person must act names the reason itself.",
			err:    revoked,
			wantConditions: []metav1.Condition{
				cond(crmv1.ConditionReady, metav1.ConditionFalse, crmv1.ReasonReauthorizationRequired, prefix+revoked.Error()),
				cond(crmv1.ConditionReconciling, metav1.ConditionFalse, crmv1.ReasonReauthorizationRequired, prefix+revoked.Error()),
				cond(crmv1.ConditionStalled, metav1.ConditionTrue, crmv1.ReasonReauthorizationRequired, prefix+revoked.Error()),
			},
			wantErr:      revoked,
			wantTerminal: true,
		},
		"Transient": {
			reason: "Anything else is returned so that controller-runtime retries it with backoff.",
			err:    transient,
			wantConditions: []metav1.Condition{
				cond(crmv1.ConditionReady, metav1.ConditionFalse, crmv1.ReasonReconcileFailed, prefix+transient.Error()+" (retrying)"),
				cond(crmv1.ConditionReconciling, metav1.ConditionTrue, crmv1.ReasonProgressing, prefix+transient.Error()+" (retrying)"),
			},
			wantErr: transient,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := &crmv1.CRMConnection{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "hubspot", Generation: 3}}
			l := &loop[*crmv1.CRMConnection]{kind: "CRMConnection", now: func() time.Time { return now }}
			s := &scope[*crmv1.CRMConnection]{obj: obj, status: &obj.Status.ReconcileStatus, kind: "CRMConnection"}

			res, err := l.fail(s, tc.err)

			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s\nfail() error = %v, want %v", tc.reason, err, tc.wantErr)
			}
			if got := errors.Is(err, reconcile.TerminalError(nil)); got != tc.wantTerminal {
				t.Errorf("%s\nfail() error terminal = %t, want %t", tc.reason, got, tc.wantTerminal)
			}
			if res.RequeueAfter < tc.wantMinRequeue || res.RequeueAfter > tc.wantMaxRequeue {
				t.Errorf("%s\nfail() RequeueAfter = %s, want between %s and %s", tc.reason, res.RequeueAfter, tc.wantMinRequeue, tc.wantMaxRequeue)
			}
			for i := range tc.wantConditions {
				tc.wantConditions[i].ObservedGeneration = 3
			}
			if diff := cmp.Diff(tc.wantConditions, s.status.Conditions, conditionsIgnoringTime); diff != "" {
				t.Errorf("%s\nconditions (-want +got):\n%s", tc.reason, diff)
			}
		})
	}
}

func cond(conditionType string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{Type: conditionType, Status: status, Reason: reason, Message: message}
}

// TestLoopRecoversFromStalled runs the shared loop against a fake API: a phase that stalls, then the same
// phase succeeding once the person fixed things. Stalled must disappear and Ready become True, with one
// event per Ready transition.
func TestLoopRecoversFromStalled(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := crmv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	obj := &crmv1.CRMConnection{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "hubspot", Generation: 1}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(obj).WithObjects(obj).Build()
	recorder := events.NewFakeRecorder(10)

	var phaseErr error
	l := &loop[*crmv1.CRMConnection]{
		client:    c,
		recorder:  recorder,
		now:       time.Now,
		kind:      "CRMConnection",
		newObject: func() *crmv1.CRMConnection { return &crmv1.CRMConnection{} },
		status:    func(o *crmv1.CRMConnection) *crmv1.ReconcileStatus { return &o.Status.ReconcileStatus },
		suspended: func(o *crmv1.CRMConnection) bool { return o.Spec.Suspend },
		phases: []phase[*crmv1.CRMConnection]{
			func(context.Context, *scope[*crmv1.CRMConnection]) (phaseResult, error) {
				return phaseResult{requeueAfter: time.Minute}, phaseErr
			},
		},
	}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "acme", Name: "hubspot"}}
	ctx := context.Background()

	phaseErr = stall(crmv1.ReasonSecretNotFound, errors.New(`Secret acme/hubspot-creds not found: create it with key "token"`))
	if _, err := l.reconcile(ctx, req); !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("reconcile() with a stalling phase: error = %v, want a terminal error", err)
	}
	stalledMessage := `CRMConnection acme/hubspot: Secret acme/hubspot-creds not found: create it with key "token"`
	assertConditions(t, c, []metav1.Condition{
		cond(crmv1.ConditionReady, metav1.ConditionFalse, crmv1.ReasonSecretNotFound, stalledMessage),
		cond(crmv1.ConditionReconciling, metav1.ConditionFalse, crmv1.ReasonSecretNotFound, stalledMessage),
		cond(crmv1.ConditionStalled, metav1.ConditionTrue, crmv1.ReasonSecretNotFound, stalledMessage),
	})

	phaseErr = nil
	res, err := l.reconcile(ctx, req)
	if err != nil {
		t.Fatalf("reconcile() after the fix: %v", err)
	}
	if res.RequeueAfter < time.Minute || res.RequeueAfter > time.Minute+6*time.Second {
		t.Errorf("RequeueAfter = %s, want the phase's 1m plus at most 10%% jitter", res.RequeueAfter)
	}
	assertConditions(t, c, []metav1.Condition{
		cond(crmv1.ConditionReady, metav1.ConditionTrue, crmv1.ReasonSucceeded, "CRMConnection acme/hubspot is ready"),
		cond(crmv1.ConditionReconciling, metav1.ConditionFalse, crmv1.ReasonSucceeded, "CRMConnection acme/hubspot is ready"),
	})

	if _, err := l.reconcile(ctx, req); err != nil {
		t.Fatalf("third reconcile: %v", err)
	}
	close(recorder.Events)
	var got []string
	for e := range recorder.Events {
		got = append(got, e)
	}
	want := []string{
		"Warning SecretNotFound " + stalledMessage,
		"Normal Succeeded CRMConnection acme/hubspot is ready",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func assertConditions(t *testing.T, c client.Client, want []metav1.Condition) {
	t.Helper()
	var obj crmv1.CRMConnection
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "acme", Name: "hubspot"}, &obj); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].ObservedGeneration = obj.Generation
	}
	if diff := cmp.Diff(want, obj.Status.Conditions, conditionsIgnoringTime); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if obj.Status.ObservedGeneration != obj.Generation {
		t.Errorf("status.observedGeneration = %d, want %d", obj.Status.ObservedGeneration, obj.Generation)
	}
}

func TestWithJitterAddsAtMostTenPercent(t *testing.T) {
	if got := withJitter(0); got != 0 {
		t.Errorf("withJitter(0) = %s, want 0: no requeue must stay no requeue", got)
	}
	const d = 5 * time.Minute
	seen := map[time.Duration]bool{}
	for range 200 {
		got := withJitter(d)
		if got < d || got > d+d/10 {
			t.Fatalf("withJitter(%s) = %s, want between %s and %s", d, got, d, d+d/10)
		}
		seen[got] = true
	}
	if len(seen) < 2 {
		t.Errorf("withJitter(%s) returned the same value 200 times: no jitter", d)
	}
}

func TestTruncateKeepsMessagesValid(t *testing.T) {
	long := strings.Repeat("é", maxMessageLength)
	got := truncate(long)
	if len(got) > maxMessageLength || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("truncate() = %d bytes, valid UTF-8 %t, want at most %d valid bytes ending in ...", len(got), utf8.ValidString(got), maxMessageLength)
	}
	if got := truncate("short"); got != "short" {
		t.Errorf("truncate(short) = %q", got)
	}
}
