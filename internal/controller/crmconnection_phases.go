package controller

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

const (
	// budgetReportInterval is how often the budget in status is refreshed: status is written at most
	// this often for budget changes alone.
	budgetReportInterval = 30 * time.Second
	// identityInterval is how often a healthy connection repeats its identity call.
	identityInterval = time.Hour
	// versionCheckInterval is how often the CRM's list of API versions is read.
	versionCheckInterval = 24 * time.Hour
)

type connScope = scope[*crmv1.CRMConnection]

func connKey(c *crmv1.CRMConnection) types.NamespacedName {
	return types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
}

// connect reads the credentials Secret and builds (or reuses) the live connection. A missing Secret or key
// stalls the connection until the Secret changes, which the controller watches: no retry storm.
func (r *CRMConnectionReconciler) connect(ctx context.Context, s *connScope) (phaseResult, error) {
	conn := s.obj
	secret, err := r.credentials(ctx, conn)
	if err != nil {
		s.setCondition(crmv1.ConditionAuthenticated, metav1.ConditionFalse, reasonOf(err), err.Error())
		return phaseResult{}, err
	}
	store := &secretTokenStore{client: r.Client, reader: r.APIReader, owner: conn, provider: string(conn.Spec.Provider)}
	live, err := r.Connections.Ensure(connKey(conn), settingsFrom(conn, secret), store, restoredUsage(conn))
	switch {
	case errors.Is(err, connections.ErrProviderNotSupported):
		s.markNotReady(crmv1.ReasonNotImplemented, fmt.Sprintf("%s: %v", s.name(), err))
		return phaseResult{stop: true}, nil
	case err != nil:
		return phaseResult{}, stall(crmv1.ReasonInvalidConfiguration, err)
	}
	if !auth.IsStatic(live.Provider, string(conn.Spec.Auth.Type)) {
		conn.Status.TokenSecretName = auth.TokenSecretName(conn.Name)
	}
	return phaseResult{}, nil
}

// credentials returns the credentials Secret's data, or a stall error naming the Secret and what to fix.
func (r *CRMConnectionReconciler) credentials(ctx context.Context, conn *crmv1.CRMConnection) (*corev1.Secret, error) {
	ref := types.NamespacedName{Namespace: conn.Namespace, Name: conn.Spec.Auth.SecretRef.Name}
	var secret corev1.Secret
	if err := r.Client.Get(secretContext(ctx), ref, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			keys := auth.RequiredKeys(string(conn.Spec.Provider), string(conn.Spec.Auth.Type))
			return nil, stall(crmv1.ReasonSecretNotFound, fmt.Errorf("Secret %s not found: create it with keys %v (see docs/credentials.md)", ref, keys))
		}
		return nil, fmt.Errorf("read Secret %s: %w", ref, err)
	}
	err := auth.ValidateCredentials(string(conn.Spec.Provider), string(conn.Spec.Auth.Type), credentialsOf(&secret))
	var ce *auth.CredentialsError
	if errors.As(err, &ce) {
		return nil, stall(crmv1.ReasonSecretInvalid, errors.New(ce.Describe(ref.String())))
	} else if err != nil {
		return nil, stall(crmv1.ReasonSecretInvalid, fmt.Errorf("Secret %s: %w", ref, err))
	}
	return &secret, nil
}

// refreshToken refreshes the access token when it is due and schedules the next refresh. Only the live
// connection's Source refreshes, so syncs using the connection at the same time cause no second refresh.
func (r *CRMConnectionReconciler) refreshToken(ctx context.Context, s *connScope) (phaseResult, error) {
	live, _ := r.Connections.Get(connKey(s.obj))
	before := live.Source.LastRefresh()
	if err := live.Source.Refresh(ctx); err != nil {
		if r.tokenStillValid(live, err) {
			// The current token keeps working: the connection stays Ready, identify reports the failing
			// refresh, and the Source's own backoff paces the retries.
			r.Connections.Metrics.TokenRefreshed(live.Key, "error")
			return phaseResult{requeueAfter: refreshRetryAfter(live.Source.Expiry().Sub(r.Now()))}, nil
		}
		return phaseResult{}, r.authFailure(s, live, err)
	}
	st := &s.obj.Status
	// A sync may have refreshed the token since the last reconcile (Source.Token refreshes a due token), so
	// the status follows the Source, not only this reconcile's refresh.
	if last := live.Source.LastRefresh(); !last.IsZero() {
		if !last.Equal(before) {
			r.Connections.Metrics.TokenRefreshed(live.Key, "success")
		}
		st.LastTokenRefreshTime = metaTime(last)
	}
	expiry := live.Source.Expiry()
	if expiry.IsZero() {
		st.TokenExpiresAt, st.NextTokenRefreshTime = nil, nil
		return phaseResult{}, nil
	}
	st.TokenExpiresAt = metaTime(expiry)
	r.Connections.Metrics.TokenExpiresIn(live.Key, expiry.Sub(r.Now()).Seconds())
	wait := live.Source.NextRefresh(tokenJitter(live.Key, live.Source.LastRefresh()))
	if wait == auth.Never {
		st.NextTokenRefreshTime = nil
		return phaseResult{}, nil
	}
	st.NextTokenRefreshTime = metaTime(r.Now().Add(wait))
	return phaseResult{requeueAfter: max(wait, time.Second)}, nil
}

// tokenJitter returns the refresh jitter of one token of one connection: spread over [0, 1) across
// connections and tokens, but the same on every reconcile while the token lasts, so that
// status.nextTokenRefreshTime does not move (and cause a status write) on each reconcile.
func tokenJitter(key types.NamespacedName, issued time.Time) func() float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", key, issued.UnixNano())
	f := float64(h.Sum64()>>11) / (1 << 53)
	return func() float64 { return f }
}

// tokenStillValid reports whether a failed refresh leaves a usable token: the failure is not a revoked
// grant and the current token has time left.
func (r *CRMConnectionReconciler) tokenStillValid(live *connections.Live, err error) bool {
	return !auth.IsReauthorizationRequired(err) && live.Source.Expiry().Sub(r.Now()) > auth.ExpirySafety
}

// refreshRetryAfter is when a failed refresh is tried again while the token is still valid: a tenth of the
// time left, between 1 s and 30 s.
func refreshRetryAfter(left time.Duration) time.Duration {
	return min(max(left/10, time.Second), 30*time.Second)
}

// authFailure turns a token or identity failure into conditions: a revoked grant stalls the connection
// with the Secret key to replace; anything else is retried with backoff.
func (r *CRMConnectionReconciler) authFailure(s *connScope, live *connections.Live, err error) error {
	var re *auth.ReauthorizationError
	if errors.As(err, &re) || auth.IsReauthorizationRequired(err) {
		r.Connections.Metrics.TokenRefreshed(live.Key, "reauthorization_required")
		secret := s.obj.Namespace + "/" + s.obj.Spec.Auth.SecretRef.Name
		msg := fmt.Sprintf("the CRM rejected the credentials (%v): re-authorise and update Secret %s", err, secret)
		if re != nil {
			msg = re.Describe(secret)
		}
		s.setCondition(crmv1.ConditionAuthenticated, metav1.ConditionFalse, crmv1.ReasonReauthorizationRequired, msg)
		return stall(crmv1.ReasonReauthorizationRequired, errors.New(msg))
	}
	r.Connections.Metrics.TokenRefreshed(live.Key, "error")
	s.setCondition(crmv1.ConditionAuthenticated, metav1.ConditionUnknown, crmv1.ReasonReconcileFailed, err.Error())
	return err
}

// identify makes the CRM's cheap identity call, which proves the token works and names the account. It
// runs when the connection is new, after a refresh, and hourly; this is the first point at which a
// connection may be Ready.
func (r *CRMConnectionReconciler) identify(ctx context.Context, s *connScope) (phaseResult, error) {
	live, _ := r.Connections.Get(connKey(s.obj))
	account, at := live.Account()
	if account == nil || r.Now().Sub(at) > identityInterval || live.Source.LastRefresh().After(at) {
		idf, ok := live.Connector.(connectors.Identifier)
		if !ok {
			s.markNotReady(crmv1.ReasonNotImplemented, fmt.Sprintf("%s: the %s connector cannot verify its credentials yet", s.name(), live.Provider))
			return phaseResult{stop: true}, nil
		}
		a, err := idf.Identity(ctx)
		switch prev := s.obj.Status.Account; {
		case err == nil:
			live.SetAccount(a, r.Now())
			account = &a
		case crmerr.Is(err, crmerr.RateLimited) && prev != nil:
			// The API budget is spent, not the credentials: keep the account found before and verify it
			// on a later reconcile. reportBudget sets RateLimited; the connection stays Ready.
			account = &connectors.Account{ID: prev.ID, Name: prev.Name, InstanceURL: prev.InstanceURL}
		default:
			return phaseResult{}, r.identityFailure(s, live, err)
		}
	}
	s.obj.Status.Account = &crmv1.AccountStatus{ID: account.ID, Name: account.Name, InstanceURL: account.InstanceURL}
	if err := live.Source.Err(); err != nil {
		s.setCondition(crmv1.ConditionAuthenticated, metav1.ConditionTrue, crmv1.ReasonTokenRefreshFailing,
			fmt.Sprintf("authenticated to %s account %s, but refreshing the token fails (%v); the current token is valid until %s and the refresh is retried",
				live.Provider, displayName(account), err, live.Source.Expiry().UTC().Format(time.RFC3339)))
		return phaseResult{}, nil
	}
	s.setCondition(crmv1.ConditionAuthenticated, metav1.ConditionTrue, crmv1.ReasonSucceeded,
		fmt.Sprintf("authenticated to %s account %s", live.Provider, displayName(account)))
	return phaseResult{}, nil
}

func (r *CRMConnectionReconciler) identityFailure(s *connScope, live *connections.Live, err error) error {
	if crmerr.Is(err, crmerr.Auth) {
		return r.authFailure(s, live, err)
	}
	return err
}

// checkAPIVersion warns through APIVersionDeprecated when the CRM no longer lists the version in use or
// will retire it soon. CRMs that do not list versions report the pinned version only.
func (r *CRMConnectionReconciler) checkAPIVersion(ctx context.Context, s *connScope) (phaseResult, error) {
	live, _ := r.Connections.Get(connKey(s.obj))
	checker, ok := live.Connector.(connectors.APIVersionChecker)
	if !ok {
		s.obj.Status.APIVersion = apiVersionInUse(s.obj)
		return phaseResult{}, nil
	}
	vs, at := live.VersionStatus()
	if vs == nil || r.Now().Sub(at) > versionCheckInterval {
		got, err := checker.CheckAPIVersion(ctx)
		if crmerr.Is(err, crmerr.RateLimited) && s.obj.Status.APIVersion != "" {
			// The API budget is spent: keep what the last check found and check again later.
			return phaseResult{}, nil
		}
		if err != nil {
			return phaseResult{}, err
		}
		live.SetVersionStatus(got, r.Now())
		vs = &got
	}
	s.obj.Status.APIVersion = vs.InUse
	if !vs.Available || vs.NearRetirement {
		s.setCondition(crmv1.ConditionAPIVersionDeprecated, metav1.ConditionTrue, crmv1.ReasonAPIVersionDeprecated, vs.Message)
	} else {
		s.setCondition(crmv1.ConditionAPIVersionDeprecated, metav1.ConditionFalse, crmv1.ReasonSucceeded,
			fmt.Sprintf("API %s is supported (newest %s)", vs.InUse, vs.Latest))
	}
	return phaseResult{}, nil
}

// reportBudget copies the budget's usage into status and sets RateLimited while it is spent. The
// connection stays Ready: it works, it only has to wait.
func (r *CRMConnectionReconciler) reportBudget(_ context.Context, s *connScope) (phaseResult, error) {
	live, _ := r.Connections.Get(connKey(s.obj))
	u := live.Budget.Usage()
	s.obj.Status.RateLimit = rateLimitStatus(u)
	r.Connections.Metrics.BudgetRemaining(live.Key, u.Remaining)
	if u.Limit > 0 && u.Remaining == 0 {
		msg := fmt.Sprintf("API budget spent (%d of %d requests used); syncs resume at %s", u.Used, u.Limit, u.ResetsAt.UTC().Format(time.RFC3339))
		s.setCondition(crmv1.ConditionRateLimited, metav1.ConditionTrue, crmv1.ReasonRateLimitExceeded, msg)
		s.rateLimited = true
	}
	return phaseResult{requeueAfter: budgetReportInterval}, nil
}

func rateLimitStatus(u transport.Usage) *crmv1.RateLimitStatus {
	st := &crmv1.RateLimitStatus{Used: int64(u.Used), Limit: int64(u.Limit), Remaining: int64(max(u.Remaining, 0))}
	if !u.ResetsAt.IsZero() {
		st.ResetsAt = metaTime(u.ResetsAt)
	}
	return st
}

// restoredUsage returns the budget usage recorded in status, so that a restart does not forget what was
// spent in the current window.
func restoredUsage(conn *crmv1.CRMConnection) *transport.Usage {
	rl := conn.Status.RateLimit
	if rl == nil || rl.ResetsAt == nil {
		return nil
	}
	return &transport.Usage{Used: int(rl.Used), Limit: int(rl.Limit), Remaining: int(rl.Remaining), ResetsAt: rl.ResetsAt.Time}
}

// settingsFrom collects what the live connection is built from.
func settingsFrom(conn *crmv1.CRMConnection, secret *corev1.Secret) connections.Settings {
	spec := conn.Spec
	s := connections.Settings{
		Provider:    string(spec.Provider),
		AuthType:    string(spec.Auth.Type),
		Endpoint:    auth.Endpoint{TokenURL: spec.TokenURL},
		BaseURL:     spec.BaseURL,
		APIVersion:  spec.APIVersion,
		Credentials: credentialsOf(secret),
		Revision:    fmt.Sprintf("%d/%s", conn.Generation, secret.ResourceVersion),
	}
	if spec.Salesforce != nil {
		s.Endpoint.LoginURL = spec.Salesforce.LoginURL
	}
	if spec.Dynamics != nil {
		s.Endpoint.OrgURL, s.Endpoint.TenantID = spec.Dynamics.OrgURL, spec.Dynamics.TenantID
	}
	if spec.Zoho != nil {
		s.Endpoint.DataCenter = string(spec.Zoho.DataCenter)
	}
	if d := spec.Auth.SessionLifetime; d != nil {
		s.SessionLifetime = d.Duration
	}
	s.RefreshBefore = crmv1.DefaultRefreshBefore
	if d := spec.Auth.RefreshBefore; d != nil {
		s.RefreshBefore = d.Duration
	}
	if rl := spec.RateLimit; rl != nil {
		s.Budget = budgetFrom(rl)
	}
	return s
}

func budgetFrom(rl *crmv1.RateLimitSpec) transport.BudgetConfig {
	var b transport.BudgetConfig
	if rl.BurstRequests != nil {
		b.BurstRequests = int(*rl.BurstRequests)
	}
	if rl.BurstWindow != nil {
		b.BurstWindow = rl.BurstWindow.Duration
	}
	if rl.DailyRequests != nil {
		b.DailyRequests = int(*rl.DailyRequests)
	}
	if rl.MaxConcurrency != nil {
		b.MaxConcurrency = int(*rl.MaxConcurrency)
	}
	if rl.ReservePercent != nil {
		b.ReservePercent = int(*rl.ReservePercent)
	}
	return b
}

func credentialsOf(secret *corev1.Secret) auth.Credentials {
	c := make(auth.Credentials, len(secret.Data))
	for k, v := range secret.Data {
		c[k] = string(v)
	}
	return c
}

// apiVersionInUse is the pinned version, or the connector's built-in one.
func apiVersionInUse(conn *crmv1.CRMConnection) string {
	if conn.Spec.APIVersion != "" {
		return conn.Spec.APIVersion
	}
	return defaultAPIVersions[conn.Spec.Provider]
}

var defaultAPIVersions = map[crmv1.Provider]string{
	crmv1.ProviderHubSpot:    "v3",
	crmv1.ProviderSalesforce: "v66.0",
	crmv1.ProviderDynamics:   "v9.2",
	crmv1.ProviderPipedrive:  "v2",
	crmv1.ProviderZoho:       "v8",
}

func displayName(a *connectors.Account) string {
	switch {
	case a.Name != "" && a.ID != "":
		return fmt.Sprintf("%s (%s)", a.Name, a.ID)
	case a.Name != "":
		return a.Name
	default:
		return a.ID
	}
}

// reasonOf returns the condition reason a stall error carries, or ReconcileFailed.
func reasonOf(err error) string {
	var se *stallError
	if errors.As(err, &se) {
		return se.reason
	}
	return crmv1.ReasonReconcileFailed
}

func metaTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// budgetFlusher writes every live connection's budget usage to its status when the manager stops, so
// that the next manager restores it.
type budgetFlusher struct {
	client      client.Client
	connections *connections.Registry
}

func (f *budgetFlusher) Start(ctx context.Context) error {
	<-ctx.Done()
	flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, live := range f.connections.All() {
		var conn crmv1.CRMConnection
		if err := f.client.Get(flushCtx, live.Key, &conn); err != nil {
			continue
		}
		before := conn.DeepCopy()
		conn.Status.RateLimit = rateLimitStatus(live.Budget.Usage())
		_ = f.client.Status().Patch(flushCtx, &conn, client.MergeFrom(before))
	}
	return nil
}
