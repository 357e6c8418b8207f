package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	syncengine "github.com/crmsync/crmsync/internal/sync"
)

// SyncMetrics are the Prometheus metrics of sync runs. A nil *SyncMetrics records nothing.
type SyncMetrics struct {
	records  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lag      *prometheus.GaugeVec
}

// NewSyncMetrics creates the metrics and registers them with reg.
func NewSyncMetrics(reg prometheus.Registerer) *SyncMetrics {
	m := &SyncMetrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_sync_records_total",
			Help: "Records handled by sync runs, by job and operation (read, created, updated, deleted, skipped, failed, conflicts).",
		}, []string{"namespace", "syncjob", "operation"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crmsync_sync_run_duration_seconds",
			Help:    "Duration of sync runs, by job and result (success, error).",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16),
		}, []string{"namespace", "syncjob", "result"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_sync_lag_seconds",
			Help: "Seconds since the start of the last successful run: changes older than this are synced.",
		}, []string{"namespace", "syncjob"}),
	}
	reg.MustRegister(m.records, m.duration, m.lag)
	return m
}

func (m *SyncMetrics) observeRun(job *crmv1.SyncJob, res syncengine.Result, err error, took time.Duration) {
	if m == nil {
		return
	}
	c := res.Counters
	for op, n := range map[string]int64{"read": c.Read, "created": c.Created, "updated": c.Updated, "deleted": c.Deleted,
		"skipped": c.Skipped, "failed": c.Failed, "conflicts": c.Conflicts} {
		m.records.WithLabelValues(job.Namespace, job.Name, op).Add(float64(n))
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	m.duration.WithLabelValues(job.Namespace, job.Name, result).Observe(took.Seconds())
	if err == nil && !res.Started.IsZero() {
		m.lag.WithLabelValues(job.Namespace, job.Name).Set(time.Since(res.Started).Seconds())
	}
}
