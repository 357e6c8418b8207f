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

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Direction says which way records flow between a SyncJob's endpoints.
// +kubebuilder:validation:Enum=OneWay;TwoWay
type Direction string

// The directions.
const (
	// DirectionOneWay copies changes from source to destination only.
	DirectionOneWay Direction = "OneWay"
	// DirectionTwoWay copies changes both ways; each field is written only from the side that owns it.
	DirectionTwoWay Direction = "TwoWay"
)

// Side names one endpoint of a SyncJob.
// +kubebuilder:validation:Enum=Source;Destination
type Side string

// The sides.
const (
	SideSource      Side = "Source"
	SideDestination Side = "Destination"
)

// SQLDriver names an SQL database.
// +kubebuilder:validation:Enum=postgres;sqlite
type SQLDriver string

// The SQL drivers.
const (
	SQLPostgres SQLDriver = "postgres"
	SQLSQLite   SQLDriver = "sqlite"
)

// DeletionPolicy says what a delete on one side does to the other side.
// +kubebuilder:validation:Enum=Propagate;Archive;Ignore
type DeletionPolicy string

// The deletion policies.
const (
	// DeletionPropagate deletes the linked record on the other side.
	DeletionPropagate DeletionPolicy = "Propagate"
	// DeletionArchive soft-deletes the linked record: archived in the CRM, or marked deleted in an SQL table.
	DeletionArchive DeletionPolicy = "Archive"
	// DeletionIgnore leaves the other side alone and only forgets the link.
	DeletionIgnore DeletionPolicy = "Ignore"
)

// SyncJob keeps one canonical object in sync between two endpoints: a CRM and a database table, or two
// CRMs. It says in which direction, which side owns each field, how often to run and what a delete means.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=sjob,categories=crmsync
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Whether the job syncs as configured"
// +kubebuilder:printcolumn:name="Object",type=string,JSONPath=`.spec.object`
// +kubebuilder:printcolumn:name="Last Sync",type=date,JSONPath=`.status.lastSuccessfulSyncTime`,description="When the last successful run finished"
// +kubebuilder:printcolumn:name="Records",type=integer,JSONPath=`.status.totals.read`,description="Records read from both endpoints since the job was created"
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failedRecords`,description="Records that currently fail and wait in the retry queue"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Direction",type=string,JSONPath=`.spec.direction`,priority=1
// +kubebuilder:printcolumn:name="Next Sync",type=string,JSONPath=`.status.nextSyncTime`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type SyncJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired sync.
	// +required
	Spec SyncJobSpec `json:"spec"`

	// Status is the sync as the controller last observed it.
	// +optional
	Status SyncJobStatus `json:"status,omitempty"`
}

// SyncJobSpec is the desired state of a SyncJob.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.source.sql) && has(self.destination.sql))",message="spec.source and spec.destination cannot both be sql: at least one side must be a CRM (connectionRef)"
// +kubebuilder:validation:XValidation:rule="!(has(self.source.connectionRef) && has(self.destination.connectionRef) && self.source.connectionRef.name == self.destination.connectionRef.name)",message="spec.source and spec.destination use the same CRMConnection: to copy between two accounts of one CRM, create one CRMConnection per account"
// +kubebuilder:validation:XValidation:rule="!has(self.direction) || self.direction != 'TwoWay' || (has(self.fields) && size(self.fields) > 0)",message="spec.fields must name an owner for each field in TwoWay mode: list the fields each side owns (owner Source or Destination); unlisted fields follow spec.defaultOwner"
// +kubebuilder:validation:XValidation:rule="!has(self.direction) || self.direction != 'TwoWay' || !has(self.fields) || !has(self.defaultOwner) || self.fields.exists(f, f.owner != self.defaultOwner)",message="in TwoWay mode each side must own at least one field: give an entry in spec.fields the owner that spec.defaultOwner is not, or use direction OneWay"
type SyncJobSpec struct {
	// Object is the canonical object synced: contacts, companies or deals.
	// +required
	Object Object `json:"object"`

	// Source is the endpoint changes are read from. In TwoWay mode it is the side called Source in field
	// ownership.
	// +required
	Source Endpoint `json:"source"`

	// Destination is the endpoint changes are written to. In TwoWay mode it is the side called
	// Destination in field ownership.
	// +required
	Destination Endpoint `json:"destination"`

	// Direction is OneWay (source to destination) or TwoWay (both ways, each field written only from its
	// owner). Defaults to OneWay.
	// +optional
	// +kubebuilder:default=OneWay
	Direction Direction `json:"direction,omitempty"`

	// Fields names the owner of individual canonical fields: the single side whose value wins. Fields not
	// listed follow defaultOwner. In OneWay mode, a field owned by Destination is never overwritten on the
	// destination. TwoWay mode needs at least one entry.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Fields []FieldOwnership `json:"fields,omitempty"`

	// DefaultOwner owns every field not listed in fields: Source or Destination. Defaults to Source.
	// +optional
	// +kubebuilder:default=Source
	DefaultOwner Side `json:"defaultOwner,omitempty"`

	// Match says how a record seen for the first time is paired with an existing record on the other
	// side. Defaults to a case-insensitive match on email.
	// +optional
	// +kubebuilder:default={}
	Match MatchSpec `json:"match,omitempty"`

	// Schedule says how often the job runs. Defaults to every 5m with a 2m lookback and a full resync
	// every 24h.
	// +optional
	// +kubebuilder:default={}
	Schedule ScheduleSpec `json:"schedule,omitempty"`

	// Deletion says what a delete on one side does to the other. Defaults to Ignore.
	// +optional
	// +kubebuilder:default={}
	Deletion DeletionSpec `json:"deletion,omitempty"`

	// Suspend stops scheduling new runs while true; a running sync finishes its current batch and stops.
	// Cursors are kept, so resuming continues where it left off.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// Endpoint is one side of a SyncJob: a CRM (connectionRef with fieldMappingRef) or an SQL table (sql).
//
// +kubebuilder:validation:XValidation:rule="!(has(self.connectionRef) && has(self.sql))",message="an endpoint is either a CRM (connectionRef with fieldMappingRef) or a database table (sql), not both: remove one"
// +kubebuilder:validation:XValidation:rule="has(self.connectionRef) || has(self.sql)",message="an endpoint needs either connectionRef with fieldMappingRef (a CRM) or sql (a database table)"
// +kubebuilder:validation:XValidation:rule="!has(self.connectionRef) || has(self.fieldMappingRef)",message="connectionRef needs fieldMappingRef: name the FieldMapping for this CRM and spec.object"
// +kubebuilder:validation:XValidation:rule="!has(self.fieldMappingRef) || has(self.connectionRef)",message="fieldMappingRef applies only together with connectionRef; an sql endpoint maps columns with sql.columns"
type Endpoint struct {
	// ConnectionRef names the CRMConnection, in this namespace, of a CRM endpoint.
	// +optional
	ConnectionRef *LocalObjectReference `json:"connectionRef,omitempty"`

	// FieldMappingRef names the FieldMapping, in this namespace, that maps spec.object for the
	// connection's CRM. Required with connectionRef.
	// +optional
	FieldMappingRef *LocalObjectReference `json:"fieldMappingRef,omitempty"`

	// SQL makes this endpoint a table in a PostgreSQL or SQLite database.
	// +optional
	SQL *SQLEndpoint `json:"sql,omitempty"`
}

// SQLEndpoint is a table in an SQL database.
//
// +kubebuilder:validation:XValidation:rule="self.driver != 'postgres' || has(self.secretRef)",message="driver postgres needs secretRef: name a Secret whose key (default dsn) holds a URL like postgres://user:password@host:5432/db"
type SQLEndpoint struct {
	// Driver is the database: postgres or sqlite.
	// +required
	Driver SQLDriver `json:"driver"`

	// SecretRef selects the Secret key, in this namespace, that holds the data source name: a URL like
	// postgres://user:password@host:5432/db?sslmode=require for postgres, or a file path for sqlite.
	// Required for postgres. For sqlite, when omitted the table lives in the manager's embedded database.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`

	// Table is the table name, optionally schema-qualified, like crm_contacts or sales.contacts.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_][A-Za-z0-9_]*([.][A-Za-z_][A-Za-z0-9_]*)?$')",message="must be a table name like crm_contacts or sales.contacts: letters, digits and '_', optionally schema-qualified"
	Table string `json:"table"`

	// CreateTable creates the table, with one column per mapped field plus crmsync's key and
	// bookkeeping columns, when it does not exist. When false a missing table stops the job with a
	// message. Existing tables are never altered.
	// +optional
	CreateTable bool `json:"createTable,omitempty"`

	// Columns maps canonical field names to column names, like {"firstName": "first_name"}. Fields not
	// listed use their canonical name as the column name.
	// +optional
	// +kubebuilder:validation:MaxProperties=256
	Columns map[string]ColumnName `json:"columns,omitempty"`
}

// ColumnName is an SQL column name.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_][A-Za-z0-9_]*$')",message="must be a column name: letters, digits and '_', not starting with a digit"
type ColumnName string

// FieldOwnership names the side that owns one canonical field.
type FieldOwnership struct {
	// Name is the canonical field name, like email or leadScore.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z][A-Za-z0-9_]*$')",message="must be a canonical field name: start with a lower-case letter, then letters, digits or '_' (like leadScore)"
	Name string `json:"name"`

	// Owner is the side whose value wins for this field: Source or Destination.
	// +required
	Owner Side `json:"owner"`
}

// MatchSpec says how first-time records are paired across endpoints.
type MatchSpec struct {
	// Field is the canonical field whose equal values pair two records, like email for contacts or
	// domain for companies. Defaults to email.
	// +optional
	// +kubebuilder:default=email
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z][A-Za-z0-9_]*$')",message="must be a canonical field name: start with a lower-case letter, then letters, digits or '_'"
	Field string `json:"field,omitempty"`

	// CaseInsensitive compares values ignoring case and surrounding spaces. Defaults to true.
	// +optional
	// +kubebuilder:default=true
	CaseInsensitive *bool `json:"caseInsensitive,omitempty"`
}

// ScheduleSpec says how often a SyncJob runs. All values are Go durations such as 30s, 5m or 1h30m.
type ScheduleSpec struct {
	// Interval is the time between the start of two incremental runs: at least 30s. Defaults to 5m.
	// Webhooks, where a CRM supports them, trigger earlier runs; polling always runs as the fallback.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('30s')",message="must be a duration of at least 30s, written like 30s, 5m or 1h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Lookback re-reads changes this far before each cursor, to catch records whose modification time
	// the CRM stamped late. At most 1h. Defaults to 2m.
	// +optional
	// +kubebuilder:default="2m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) <= duration('1h')",message="must be a duration of at most 1h, written like 0s, 2m or 10m"
	Lookback *metav1.Duration `json:"lookback,omitempty"`

	// FullResyncInterval is the time between full id reconciliations, which catch hard deletes and missed
	// changes: at least 1h. Defaults to 24h.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) >= duration('1h')",message="must be a duration of at least 1h, written like 6h or 24h"
	FullResyncInterval *metav1.Duration `json:"fullResyncInterval,omitempty"`
}

// DeletionSpec says what a delete means.
type DeletionSpec struct {
	// Policy is Propagate (delete the linked record on the other side), Archive (soft-delete it: archive
	// in the CRM, mark deleted in an SQL table) or Ignore (leave it and forget the link). Defaults to Ignore.
	// +optional
	// +kubebuilder:default=Ignore
	Policy DeletionPolicy `json:"policy,omitempty"`
}

// SyncJobStatus is the observed state of a SyncJob.
type SyncJobStatus struct {
	ReconcileStatus `json:",inline"`

	// LastSyncTime is when the last run finished, successful or not.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// LastSuccessfulSyncTime is when the last run finished without a run-level error. Alert when it
	// falls far behind.
	// +optional
	LastSuccessfulSyncTime *metav1.Time `json:"lastSuccessfulSyncTime,omitempty"`

	// NextSyncTime is when the next run is scheduled, truncated to the second.
	// +optional
	NextSyncTime *metav1.Time `json:"nextSyncTime,omitempty"`

	// Cursors are each endpoint's position in its change stream after the last committed work. They are
	// opaque; clear them (kubectl edit --subresource=status) to force a run from the beginning.
	// +optional
	Cursors *SyncCursors `json:"cursors,omitempty"`

	// LastFullResyncTime is when a full reconciliation of both sides' record ids last ran to the end; the
	// next one runs spec.schedule.fullResyncInterval later.
	// +optional
	LastFullResyncTime *metav1.Time `json:"lastFullResyncTime,omitempty"`

	// LastRun counts what the last run did.
	// +optional
	LastRun *RunStats `json:"lastRun,omitempty"`

	// Totals counts what all runs did since the job was created.
	// +optional
	Totals *RecordCounters `json:"totals,omitempty"`

	// FailedRecords is how many records currently fail and wait in the retry queue.
	// +optional
	FailedRecords int64 `json:"failedRecords"`

	// RecentErrors are the latest distinct errors, newest first, at most 10.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	RecentErrors []string `json:"recentErrors,omitempty"`

	// Progress tracks a run in progress, such as a first full sync.
	// +optional
	Progress *SyncProgress `json:"progress,omitempty"`
}

// SyncCursors holds one opaque change-stream cursor per endpoint.
type SyncCursors struct {
	// Source is the source endpoint's cursor.
	// +optional
	Source string `json:"source,omitempty"`

	// Destination is the destination endpoint's cursor.
	// +optional
	Destination string `json:"destination,omitempty"`
}

// RecordCounters counts records and API calls.
type RecordCounters struct {
	// Read is how many records were read from both endpoints.
	// +optional
	Read int64 `json:"read,omitempty"`

	// Created is how many records were created.
	// +optional
	Created int64 `json:"created,omitempty"`

	// Updated is how many records were updated.
	// +optional
	Updated int64 `json:"updated,omitempty"`

	// Deleted is how many records were deleted or archived under the deletion policy.
	// +optional
	Deleted int64 `json:"deleted,omitempty"`

	// Skipped is how many changes needed no write: unchanged fingerprint or a field not owned by the
	// side that changed.
	// +optional
	Skipped int64 `json:"skipped,omitempty"`

	// Failed is how many record writes failed; they go to the retry queue.
	// +optional
	Failed int64 `json:"failed,omitempty"`

	// Conflicts is how many records changed on both sides in an owned field; the owner won.
	// +optional
	Conflicts int64 `json:"conflicts,omitempty"`

	// APICalls is how many CRM API requests were made.
	// +optional
	APICalls int64 `json:"apiCalls,omitempty"`
}

// RunStats describes one run.
type RunStats struct {
	// Started is when the run started.
	// +optional
	Started *metav1.Time `json:"started,omitempty"`

	// Finished is when the run finished; empty while it runs.
	// +optional
	Finished *metav1.Time `json:"finished,omitempty"`

	RecordCounters `json:",inline"`
}

// SyncProgress tracks a run in progress.
type SyncProgress struct {
	// Done is how many records the run has processed.
	// +optional
	Done int64 `json:"done,omitempty"`

	// EstimatedTotal is how many records the run expects to process, when the endpoints can tell.
	// +optional
	EstimatedTotal int64 `json:"estimatedTotal,omitempty"`
}

// +kubebuilder:object:root=true

// SyncJobList is a list of SyncJobs.
type SyncJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SyncJob `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SyncJob{}, &SyncJobList{})
}
