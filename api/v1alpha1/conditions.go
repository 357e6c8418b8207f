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

// Finalizer is set on every crmsync object so that the controller can clean up (cached tokens, sync
// state) before the object disappears.
const Finalizer = "crm.crmsync.io/finalizer"

// ReconcileRequestAnnotation asks for an immediate reconcile when its value changes; any unique value,
// such as the current time, works:
//
//	kubectl annotate --overwrite syncjob/hubspot-to-postgres crm.crmsync.io/reconcile-requested-at="$(date +%s)"
//
// The controller copies the value it handled to status.lastHandledReconcileAt.
const ReconcileRequestAnnotation = "crm.crmsync.io/reconcile-requested-at"

// Condition types. Ready, Reconciling and Stalled follow the kstatus convention, so kubectl wait,
// Argo CD and Flux read health without custom checks.
const (
	// ConditionReady summarises the object: True only when it fully does its job.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the desired state.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress until a person acts. It is
	// removed, never set to False.
	ConditionStalled = "Stalled"
	// ConditionAuthenticated reports on a CRMConnection whether the CRM accepted its credentials.
	ConditionAuthenticated = "Authenticated"
	// ConditionRateLimited is True on a CRMConnection or SyncJob that waits for its API budget to reset.
	ConditionRateLimited = "RateLimited"
	// ConditionSynced reports on a SyncJob whether the last run finished without failed records.
	ConditionSynced = "Synced"
	// ConditionAPIVersionDeprecated is True on a CRMConnection whose pinned or default API version is
	// announced for retirement by the CRM.
	ConditionAPIVersionDeprecated = "APIVersionDeprecated"
)

// Condition reasons.
const (
	// ReasonSucceeded means the last reconcile did everything it had to.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing means the controller is working and will report again.
	ReasonProgressing = "Progressing"
	// ReasonSuspended means spec.suspend is true: the controller does nothing until it is false again.
	ReasonSuspended = "Suspended"
	// ReasonNotImplemented means this build of crmsync does not do this part of the work yet. It is
	// reported instead of pretending to be Ready.
	ReasonNotImplemented = "NotImplemented"
	// ReasonSecretNotFound means a referenced Secret does not exist in the object's namespace.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretInvalid means a referenced Secret lacks a key the auth type needs, or a value is malformed.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonReauthorizationRequired means the CRM revoked the credentials: a person must authorise again
	// and update the credentials Secret.
	ReasonReauthorizationRequired = "ReauthorizationRequired"
	// ReasonRateLimitExceeded means the API budget is spent; work resumes when it resets.
	ReasonRateLimitExceeded = "RateLimitExceeded"
	// ReasonDependencyNotReady means a referenced CRMConnection or FieldMapping is missing or not Ready.
	ReasonDependencyNotReady = "DependencyNotReady"
	// ReasonInvalidConfiguration means the spec passed schema validation but cannot work, for example a
	// field the CRM does not have. Fix the spec; retrying does not help.
	ReasonInvalidConfiguration = "InvalidConfiguration"
	// ReasonReconcileFailed means the last reconcile failed with an error that may go away; the
	// controller retries with backoff.
	ReasonReconcileFailed = "ReconcileFailed"
	// ReasonTokenRefreshFailing means the token endpoint fails for now (an outage, a timeout) while the
	// current token is still valid: the connection keeps working and the refresh is retried with backoff.
	// It becomes a problem only if the outage outlasts the token.
	ReasonTokenRefreshFailing = "TokenRefreshFailing"
	// ReasonRecordsFailed means the last sync run completed but some records were rejected; they wait in
	// the retry queue (status.failedRecords, status.recentErrors) and become dead letters after repeated
	// failures. Fix the records or the mapping named in the errors.
	ReasonRecordsFailed = "RecordsFailed"
	// ReasonAPIVersionDeprecated means the CRM announced the retirement of the API version in use.
	ReasonAPIVersionDeprecated = "APIVersionDeprecated"
)

// Keys of the credentials Secret named by a CRMConnection's spec.auth.secretRef. Which keys an auth type
// reads is listed on AuthType.
const (
	SecretKeyClientID     = "client_id"
	SecretKeyClientSecret = "client_secret"
	SecretKeyRefreshToken = "refresh_token"
	SecretKeyUsername     = "username"
	SecretKeyPrivateKey   = "private_key"
	SecretKeyToken        = "token"
)

// SecretKeyDSN is the default key of the Secret that holds an SQL endpoint's connection string.
const SecretKeyDSN = "dsn"
