package controller

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/sqltable"
	"github.com/crmsync/crmsync/internal/mapping"
)

// endpoint is one resolved end of a SyncJob: a connector, the remote object and the compiled mapping.
type endpoint struct {
	role      string // "source" or "destination", for messages
	connector connectors.Connector
	object    string
	mapping   *mapping.Mapping
	// connection is set for CRM endpoints: the live connection whose connector this is.
	connection *connections.Live
	// upsertKey is the remote field creates upsert by, when the connector can.
	upsertKey string
}

// errDependencyNotReady marks a missing or not-yet-ready CRMConnection, FieldMapping or Secret. It is
// retried on a short schedule: those objects become ready on their own, and their changes are watched.
var errDependencyNotReady = errors.New("dependency not ready")

// dependencyError is an errDependencyNotReady with a message for a person.
type dependencyError struct{ msg string }

func (e *dependencyError) Error() string        { return e.msg }
func (e *dependencyError) Is(target error) bool { return target == errDependencyNotReady }

func notReady(format string, args ...any) error {
	return &dependencyError{msg: fmt.Sprintf(format, args...)}
}

// resolveEndpoint resolves one end of job. role is "source" or "destination".
func (r *SyncJobReconciler) resolveEndpoint(ctx context.Context, job *crmv1.SyncJob, ep crmv1.Endpoint, role string) (*endpoint, error) {
	if ep.SQL != nil {
		return r.resolveSQL(ctx, job, ep.SQL, role)
	}
	return r.resolveCRM(ctx, job, ep, role)
}

func (r *SyncJobReconciler) resolveCRM(ctx context.Context, job *crmv1.SyncJob, ep crmv1.Endpoint, role string) (*endpoint, error) {
	connKey := types.NamespacedName{Namespace: job.Namespace, Name: ep.ConnectionRef.Name}
	var conn crmv1.CRMConnection
	if err := r.Client.Get(ctx, connKey, &conn); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notReady("%s CRMConnection %s not found: create it or fix spec.%s.connectionRef", role, connKey, role)
		}
		return nil, err
	}
	if !meta.IsStatusConditionTrue(conn.Status.Conditions, crmv1.ConditionReady) {
		return nil, notReady("%s CRMConnection %s is not Ready: see kubectl describe crmconnection -n %s %s", role, connKey, connKey.Namespace, connKey.Name)
	}
	live, ok := r.Connections.Get(connKey)
	if !ok {
		return nil, notReady("%s CRMConnection %s has not connected in this manager yet", role, connKey)
	}
	m, err := r.fieldMapping(ctx, job, ep.FieldMappingRef.Name, role, conn.Spec.Provider)
	if err != nil {
		return nil, err
	}
	e := &endpoint{role: role, connector: live.Connector, object: m.RemoteObject(), mapping: m, connection: live}
	if live.Connector.Capabilities().UpsertByExternalID {
		if e.upsertKey, err = upsertKey(ctx, live.Connector, m, matchField(job)); err != nil {
			return nil, fmt.Errorf("describe %s %s: %w", role, m.RemoteObject(), err)
		}
	}
	return e, nil
}

// upsertKey returns the remote field that creates on a CRM upsert by: the match field, when the CRM says
// that its value identifies a record (a unique HubSpot property, a Salesforce external id), else none.
// Upserting by any other field, such as a deal's name, would fail every create.
func upsertKey(ctx context.Context, conn connectors.Connector, m *mapping.Mapping, field string) (string, error) {
	f, ok := m.Field(field)
	if !ok {
		return "", nil
	}
	meta, err := conn.Describe(ctx, m.RemoteObject())
	if err != nil {
		return "", err
	}
	if fm, ok := meta.Field(f.RemoteName); ok && fm.UpsertKey {
		return f.RemoteName, nil
	}
	return "", nil
}

// fieldMapping reads and compiles a FieldMapping of the job's namespace, checking that it fits the job.
func (r *SyncJobReconciler) fieldMapping(ctx context.Context, job *crmv1.SyncJob, name, role string, provider crmv1.Provider) (*mapping.Mapping, error) {
	key := types.NamespacedName{Namespace: job.Namespace, Name: name}
	var fm crmv1.FieldMapping
	if err := r.Client.Get(ctx, key, &fm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notReady("%s FieldMapping %s not found: create it or fix spec.%s.fieldMappingRef", role, key, role)
		}
		return nil, err
	}
	if fm.Spec.Provider != provider || fm.Spec.Object != job.Spec.Object {
		return nil, stall(crmv1.ReasonInvalidConfiguration, fmt.Errorf("%s FieldMapping %s maps %s %s, but the job syncs %s through a %s connection: point spec.%s.fieldMappingRef at a %s %s mapping",
			role, key, fm.Spec.Provider, fm.Spec.Object, job.Spec.Object, provider, role, provider, job.Spec.Object))
	}
	m, err := mapping.Compile(mappingSpecFrom(&fm))
	if err != nil {
		return nil, stall(crmv1.ReasonInvalidConfiguration, fmt.Errorf("%s FieldMapping %s is invalid: %w", role, key, err))
	}
	return m, nil
}

// resolveSQL opens (or reuses) the SQL table endpoint. The DSN comes from the Secret named by secretRef;
// an SQLite endpoint without one uses a database file of the namespace next to the state store.
func (r *SyncJobReconciler) resolveSQL(ctx context.Context, job *crmv1.SyncJob, spec *crmv1.SQLEndpoint, role string) (*endpoint, error) {
	dsn, version, err := r.sqlDSN(ctx, job, spec, role)
	if err != nil {
		return nil, err
	}
	extra, err := r.sqlExtraFields(ctx, job, role)
	if err != nil {
		return nil, err
	}
	m, err := mapping.ForSQL(connectors.Object(job.Spec.Object), spec.Table, extra)
	if err != nil {
		return nil, stall(crmv1.ReasonInvalidConfiguration, err)
	}
	for _, f := range extra {
		version += "/" + f.Name + ":" + f.Type // a new custom field reopens (and validates) the table
	}
	cfg := sqltable.Config{
		Driver: string(spec.Driver), DSN: dsn, Table: spec.Table, Object: connectors.Object(job.Spec.Object),
		Fields: sqlFieldSpecs(job, m), Columns: sqlColumns(spec), CreateTable: spec.CreateTable,
		JobName: job.Namespace + "/" + job.Name,
	}
	conn, err := r.sqlEndpoints.get(ctx, jobKey(job)+"/"+role, version, cfg)
	if err != nil {
		if strings.Contains(err.Error(), "has no column") {
			err = fmt.Errorf("%w (or map the field to an existing column with spec.%s.sql.columns)", err, role)
		}
		return nil, stall(crmv1.ReasonInvalidConfiguration, fmt.Errorf("%s SQL table %s: %w", role, spec.Table, err))
	}
	return &endpoint{role: role, connector: conn, object: spec.Table, mapping: m, upsertKey: ""}, nil
}

// sqlExtraFields returns the custom fields of the CRM endpoint at the other end of job, which the SQL table
// of role holds too, in columns named after them (unless spec.sql.columns maps them).
func (r *SyncJobReconciler) sqlExtraFields(ctx context.Context, job *crmv1.SyncJob, role string) ([]mapping.FieldSpec, error) {
	other, otherRole := job.Spec.Destination, "destination"
	if role == "destination" {
		other, otherRole = job.Spec.Source, "source"
	}
	if other.SQL != nil || other.FieldMappingRef == nil {
		return nil, nil
	}
	key := types.NamespacedName{Namespace: job.Namespace, Name: other.FieldMappingRef.Name}
	var fm crmv1.FieldMapping
	if err := r.Client.Get(ctx, key, &fm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, notReady("%s FieldMapping %s not found: create it or fix spec.%s.fieldMappingRef", otherRole, key, otherRole)
		}
		return nil, err
	}
	m, err := r.fieldMapping(ctx, job, key.Name, otherRole, fm.Spec.Provider)
	if err != nil {
		return nil, err
	}
	return m.CustomFields(), nil
}

// sqlDSN returns the DSN and a version string that changes when the Secret or the spec changes.
func (r *SyncJobReconciler) sqlDSN(ctx context.Context, job *crmv1.SyncJob, spec *crmv1.SQLEndpoint, role string) (string, string, error) {
	if spec.SecretRef == nil {
		file := filepath.Join(r.SQLiteDir, job.Namespace+".db")
		return file, fmt.Sprintf("%d", job.Generation), nil
	}
	key := types.NamespacedName{Namespace: job.Namespace, Name: spec.SecretRef.Name}
	var secret corev1.Secret
	if err := r.Client.Get(secretContext(ctx), key, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", stall(crmv1.ReasonSecretNotFound, fmt.Errorf("%s Secret %s not found: create it with key %q holding the database DSN", role, key, secretKey(spec)))
		}
		return "", "", err
	}
	dsn := strings.TrimSpace(string(secret.Data[secretKey(spec)]))
	if dsn == "" {
		return "", "", stall(crmv1.ReasonSecretInvalid, fmt.Errorf("%s Secret %s has no key %q: add the database DSN under it", role, key, secretKey(spec)))
	}
	return dsn, fmt.Sprintf("%d/%s", job.Generation, secret.ResourceVersion), nil
}

func secretKey(spec *crmv1.SQLEndpoint) string {
	if spec.SecretRef.Key == "" {
		return crmv1.SecretKeyDSN
	}
	return spec.SecretRef.Key
}

// sqlFieldSpecs declares the table's fields: every writable canonical field of the object and the custom
// fields of the other endpoint's FieldMapping (createTable adds their columns; an existing table must
// have them). The match column
// is not made unique, so creates on an SQL endpoint do not upsert (see docs/sync.md, duplicates).
func sqlFieldSpecs(job *crmv1.SyncJob, m *mapping.Mapping) []sqltable.FieldSpec {
	var out []sqltable.FieldSpec
	for _, f := range m.Fields() {
		out = append(out, sqltable.FieldSpec{Name: f.Name, Type: string(f.Type)})
	}
	return out
}

func sqlColumns(spec *crmv1.SQLEndpoint) map[string]string {
	if len(spec.Columns) == 0 {
		return nil
	}
	out := make(map[string]string, len(spec.Columns))
	for k, v := range spec.Columns {
		out[k] = string(v)
	}
	return out
}

func matchField(job *crmv1.SyncJob) string {
	if job.Spec.Match.Field == "" {
		return "email"
	}
	return job.Spec.Match.Field
}

func jobKey(job *crmv1.SyncJob) string { return job.Namespace + "/" + job.Name }

// sqlEndpointCache keeps one open SQL table connector per job end, rebuilt when its version changes.
type sqlEndpointCache struct {
	mu    sync.Mutex
	conns map[string]cachedSQL
}

type cachedSQL struct {
	version string
	conn    *sqltable.Connector
}

func (c *sqlEndpointCache) get(ctx context.Context, key, version string, cfg sqltable.Config) (*sqltable.Connector, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.conns[key]; ok {
		if cur.version == version {
			return cur.conn, nil
		}
		_ = cur.conn.Close()
		delete(c.conns, key)
	}
	conn, err := sqltable.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if c.conns == nil {
		c.conns = map[string]cachedSQL{}
	}
	c.conns[key] = cachedSQL{version: version, conn: conn}
	return conn, nil
}

// forget closes the connectors of a job; with removeConsumer it also releases the job's hold on the
// change log, for a deleted job.
func (c *sqlEndpointCache) forget(ctx context.Context, job string, removeConsumer bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for key, cur := range c.conns {
		if !strings.HasPrefix(key, job+"/") {
			continue
		}
		if removeConsumer {
			errs = append(errs, cur.conn.RemoveConsumer(ctx))
		}
		errs = append(errs, cur.conn.Close())
		delete(c.conns, key)
	}
	return errors.Join(errs...)
}
