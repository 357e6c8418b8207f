package connections

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/crmsync/crmsync/internal/transport"
)

// Metrics are the per-connection Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	apiCalls        *prometheus.CounterVec
	tokenRefreshes  *prometheus.CounterVec
	tokenExpiry     *prometheus.GaugeVec
	budgetRemaining *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		apiCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_api_calls_total",
			Help: "HTTP calls to a CRM, by connection, provider and status code (0: no response).",
		}, []string{"namespace", "connection", "provider", "code"}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_token_refreshes_total",
			Help: "Token refreshes by connection and result (success, reauthorization_required, error).",
		}, []string{"namespace", "connection", "result"}),
		tokenExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_token_expiry_seconds",
			Help: "Seconds until the connection's access token expires.",
		}, []string{"namespace", "connection"}),
		budgetRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crmsync_budget_remaining_requests",
			Help: "API requests the connection may still spend in its daily window, after the reserve (-1: unknown).",
		}, []string{"namespace", "connection"}),
	}
	reg.MustRegister(m.apiCalls, m.tokenRefreshes, m.tokenExpiry, m.budgetRemaining)
	return m
}

func (m *Metrics) hooks(key types.NamespacedName, provider string) transport.Hooks {
	if m == nil {
		return transport.Hooks{}
	}
	return transport.Hooks{OnCall: func(c transport.CallInfo) {
		m.apiCalls.WithLabelValues(key.Namespace, key.Name, provider, strconv.Itoa(c.Status)).Inc()
		m.budgetRemaining.WithLabelValues(key.Namespace, key.Name).Set(float64(c.BudgetRemaining))
	}}
}

// TokenRefreshed counts a refresh with its result.
func (m *Metrics) TokenRefreshed(key types.NamespacedName, result string) {
	if m != nil {
		m.tokenRefreshes.WithLabelValues(key.Namespace, key.Name, result).Inc()
	}
}

// TokenExpiresIn sets the seconds until the token expires.
func (m *Metrics) TokenExpiresIn(key types.NamespacedName, seconds float64) {
	if m != nil {
		m.tokenExpiry.WithLabelValues(key.Namespace, key.Name).Set(seconds)
	}
}

// BudgetRemaining sets the budget left.
func (m *Metrics) BudgetRemaining(key types.NamespacedName, remaining int) {
	if m != nil {
		m.budgetRemaining.WithLabelValues(key.Namespace, key.Name).Set(float64(remaining))
	}
}

// Forget drops the series of a deleted connection.
func (m *Metrics) Forget(key types.NamespacedName) {
	if m == nil {
		return
	}
	labels := prometheus.Labels{"namespace": key.Namespace, "connection": key.Name}
	m.apiCalls.DeletePartialMatch(labels)
	m.tokenRefreshes.DeletePartialMatch(labels)
	m.tokenExpiry.Delete(labels)
	m.budgetRemaining.Delete(labels)
}
