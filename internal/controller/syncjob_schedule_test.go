package controller

import (
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/crmerr"
)

func TestSyncJobSchedule(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { mt := metav1.NewTime(now.Add(d)); return &mt }
	cases := []struct {
		reason    string
		status    crmv1.SyncJobStatus
		requested bool
		wantDue   bool
	}{
		{reason: "a job that never ran runs now", wantDue: true},
		{reason: "a run request runs now, even within the interval",
			status: crmv1.SyncJobStatus{LastSyncTime: at(-time.Minute), LastSuccessfulSyncTime: at(-time.Minute)}, requested: true, wantDue: true},
		{reason: "a successful run waits for the interval",
			status: crmv1.SyncJobStatus{LastSyncTime: at(-time.Minute), LastSuccessfulSyncTime: at(-time.Minute)}},
		{reason: "the interval has passed",
			status: crmv1.SyncJobStatus{LastSyncTime: at(-6 * time.Minute), LastSuccessfulSyncTime: at(-6 * time.Minute)}, wantDue: true},
		{reason: "a failed run waits for its retry time, whatever else wakes the job (a connection's status update)",
			status: crmv1.SyncJobStatus{LastSyncTime: at(-time.Second), LastSuccessfulSyncTime: at(-time.Hour), NextSyncTime: at(30 * time.Minute)}},
		{reason: "a failed run retries once its retry time has come",
			status: crmv1.SyncJobStatus{LastSyncTime: at(-time.Minute), LastSuccessfulSyncTime: at(-time.Hour), NextSyncTime: at(-time.Second)}, wantDue: true},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			r := &SyncJobReconciler{Now: func() time.Time { return now }}
			job := &crmv1.SyncJob{Status: tc.status}
			job.Generation = 1
			job.Status.ObservedGeneration = 1
			s := &jobScope{obj: job, status: &job.Status.ReconcileStatus, requested: tc.requested}
			if _, due := r.due(s); due != tc.wantDue {
				t.Errorf("due = %t, want %t", due, tc.wantDue)
			}
		})
	}
}

func TestFailedRunRetry(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	limited := &crmerr.Error{Kind: crmerr.RateLimited, Provider: "salesforce", RetryAt: now.Add(3 * time.Hour)}
	if got := failedRunRetry(limited, 5*time.Minute, now); got != 3*time.Hour {
		t.Errorf("rate-limited retry = %v, want 3h: a spent daily budget is waited out, not hammered", got)
	}
	if got := failedRunRetry(errors.New("connection reset"), 5*time.Minute, now); got != time.Minute {
		t.Errorf("transient retry = %v, want 1m", got)
	}
	if got := failedRunRetry(errors.New("connection reset"), 30*time.Second, now); got != 30*time.Second {
		t.Errorf("transient retry with a 30s interval = %v, want 30s", got)
	}
}
