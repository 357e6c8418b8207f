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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// TestInvalidManifestsAreRejected applies manifests a person could plausibly write and checks that the
// API server rejects each with a message that says what to fix.
func TestInvalidManifestsAreRejected(t *testing.T) {
	cases := map[string]struct {
		reason   string
		manifest string
		want     string
	}{
		"ConnectionWithoutSecretRef": {
			reason: "Every auth type needs credentials, so a connection without auth.secretRef is rejected.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken}`,
			want: "spec.auth.secretRef: Required value",
		},
		"UnknownProvider": {
			reason: "Only the five supported CRMs are accepted, and the message lists them.",
			manifest: `
kind: CRMConnection
spec:
  provider: freshsales
  auth: {type: OAuth2RefreshToken, secretRef: {name: creds}}`,
			want: `spec.provider: Unsupported value: "freshsales": supported values: "salesforce", "hubspot", "dynamics", "pipedrive", "zoho"`,
		},
		"PrivateAppTokenWithSalesforce": {
			reason: "A HubSpot private app token cannot authenticate to Salesforce.",
			manifest: `
kind: CRMConnection
spec:
  provider: salesforce
  auth: {type: PrivateAppToken, secretRef: {name: creds}}`,
			want: "spec.auth.type PrivateAppToken is a HubSpot private app token and works only with provider hubspot",
		},
		"APITokenWithZoho": {
			reason: "API tokens are Pipedrive's; Zoho needs OAuth.",
			manifest: `
kind: CRMConnection
spec:
  provider: zoho
  auth: {type: APIToken, secretRef: {name: creds}}`,
			want: "spec.auth.type APIToken is a Pipedrive personal API token and works only with provider pipedrive",
		},
		"JWTBearerWithHubSpot": {
			reason: "The JWT bearer flow is a Salesforce connected app feature.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: JWTBearer, secretRef: {name: creds}}`,
			want: "spec.auth.type JWTBearer works only with provider salesforce",
		},
		"DynamicsWithoutOrgURL": {
			reason: "Dataverse has no global endpoint: the environment URL and the tenant must be given.",
			manifest: `
kind: CRMConnection
spec:
  provider: dynamics
  auth: {type: OAuth2ClientCredentials, secretRef: {name: creds}}`,
			want: "provider dynamics needs spec.dynamics.orgURL (like https://acme.crm.dynamics.com) and spec.dynamics.tenantID",
		},
		"DynamicsWithRefreshToken": {
			reason: "Dynamics is reached through an Azure AD app registration with client credentials.",
			manifest: `
kind: CRMConnection
spec:
  provider: dynamics
  dynamics: {orgURL: "https://acme.crm.dynamics.com", tenantID: acme.onmicrosoft.com}
  auth: {type: OAuth2RefreshToken, secretRef: {name: creds}}`,
			want: "provider dynamics authenticates with an Azure AD app registration: set spec.auth.type to OAuth2ClientCredentials",
		},
		"SettingsOfAnotherProvider": {
			reason: "Zoho settings on a HubSpot connection are a copy-paste mistake.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  zoho: {dataCenter: eu}
  auth: {type: PrivateAppToken, secretRef: {name: creds}}`,
			want: "spec.zoho applies only to provider zoho: remove it or change spec.provider",
		},
		"ReservePercentAbove90": {
			reason: "Reserving more than 90% of the budget leaves too little to sync.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken, secretRef: {name: creds}}
  rateLimit: {reservePercent: 95}`,
			want: "spec.rateLimit.reservePercent in body should be less than or equal to 90",
		},
		"BurstRequestsWithoutWindow": {
			reason: "A burst limit means nothing without its window.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken, secretRef: {name: creds}}
  rateLimit: {burstRequests: 100}`,
			want: "set spec.rateLimit.burstRequests and spec.rateLimit.burstWindow together",
		},
		"PlainHTTPBaseURL": {
			reason: "Tokens must not travel in clear text to a remote host.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  baseURL: "http://api.hubapi.example.com"
  auth: {type: PrivateAppToken, secretRef: {name: creds}}`,
			want: "must be an absolute https:// URL; plain http:// is accepted only for localhost, 127.0.0.1, ::1 or an in-cluster Service",
		},
		"RefreshBeforeInWords": {
			reason: "Durations are Go durations; English words are not parsed.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken, secretRef: {name: creds}, refreshBefore: 5 minutes}`,
			want: "spec.auth.refreshBefore: Invalid value: \"5 minutes\": must be a duration between 30s and 12h, written like 30s, 5m or 1h",
		},
		"SessionLifetimeOutsideSalesforce": {
			reason: "Only Salesforce tokens lack an expiry; elsewhere the setting would be silently ignored.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken, secretRef: {name: creds}, sessionLifetime: 2h}`,
			want: "spec.auth.sessionLifetime applies only to provider salesforce",
		},
		"SecretRefIntoAnotherNamespace": {
			reason: "A namespace/name reference would let one tenant read another tenant's Secret.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken, secretRef: {name: other-team/hubspot-creds}}`,
			want: "spec.auth.secretRef.name: Invalid value: \"other-team/hubspot-creds\": must be a plain name, not namespace/name",
		},
		"SecretRefWithNamespace": {
			reason: "A namespace field on a reference is rejected instead of silently dropped.",
			manifest: `
kind: CRMConnection
spec:
  provider: hubspot
  auth: {type: PrivateAppToken, secretRef: {name: hubspot-creds, namespace: other-team}}`,
			want: "spec.auth.secretRef.namespace: Invalid value: \"other-team\": cross-namespace references are not allowed",
		},
		"FieldMappingUnknownType": {
			reason: "Field types are a closed set; the message lists them.",
			manifest: `
kind: FieldMapping
spec:
  provider: hubspot
  object: contacts
  fields: [{name: leadScore, remoteName: lead_score, type: text}]`,
			want: `spec.fields[0].type: Unsupported value: "text": supported values: "string", "email"`,
		},
		"FieldMappingDuplicateNames": {
			reason: "Two mappings for one canonical field would be ambiguous.",
			manifest: `
kind: FieldMapping
spec:
  provider: hubspot
  object: contacts
  fields:
  - {name: leadScore, remoteName: lead_score, type: integer}
  - {name: leadScore, remoteName: hs_lead_score, type: integer}`,
			want: `spec.fields[1]: Duplicate value: {"name":"leadScore"}`,
		},
		"FieldMappingValuesOnString": {
			reason: "An enum value map on a plain string field would never be used.",
			manifest: `
kind: FieldMapping
spec:
  provider: hubspot
  object: contacts
  fields: [{name: jobTitle, remoteName: jobtitle, type: string, values: {ceo: CEO}}]`,
			want: "values maps enum options and is valid only when type is enum or multiEnum",
		},
		"FieldMappingReadOnlyAndRequired": {
			reason: "crmsync never writes read-only fields, so it could never fill a required one.",
			manifest: `
kind: FieldMapping
spec:
  provider: salesforce
  object: contacts
  fields: [{name: createdAt, remoteName: CreatedDate, type: datetime, readOnly: true, required: true}]`,
			want: "a field cannot be both readOnly and required",
		},
		"FieldMappingNothingToMap": {
			reason: "Without defaults and without fields there is nothing to sync.",
			manifest: `
kind: FieldMapping
spec:
  provider: zoho
  object: deals
  inheritDefaults: false`,
			want: "spec.inheritDefaults is false, so spec.fields must list at least one field",
		},
		"FieldMappingLabelAsName": {
			reason: "Canonical names are identifiers, not UI labels.",
			manifest: `
kind: FieldMapping
spec:
  provider: hubspot
  object: contacts
  fields: [{name: Lead Score, remoteName: lead_score, type: integer}]`,
			want: "must be a canonical field name: start with a lower-case letter",
		},
		"EndpointBothKinds": {
			reason: "An endpoint cannot be a CRM and a table at once.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}, sql: {driver: sqlite, table: contacts}}
  destination: {connectionRef: {name: zoho}, fieldMappingRef: {name: zoho-contacts}}`,
			want: "spec.source: Invalid value: an endpoint is either a CRM (connectionRef with fieldMappingRef) or a database table (sql), not both",
		},
		"EndpointNeitherKind": {
			reason: "An empty endpoint says nothing about where records go.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {}`,
			want: "spec.destination: Invalid value: an endpoint needs either connectionRef with fieldMappingRef (a CRM) or sql (a database table)",
		},
		"ConnectionWithoutFieldMapping": {
			reason: "A CRM endpoint needs the mapping of its fields.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}}
  destination: {sql: {driver: sqlite, table: contacts}}`,
			want: "connectionRef needs fieldMappingRef: name the FieldMapping for this CRM and spec.object",
		},
		"BothEndpointsSQL": {
			reason: "crmsync syncs CRMs; copying between databases is not its job.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {sql: {driver: sqlite, table: a}}
  destination: {sql: {driver: sqlite, table: b}}`,
			want: "spec.source and spec.destination cannot both be sql",
		},
		"SameConnectionTwice": {
			reason: "Syncing a CRM account with itself would loop.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: a}}
  destination: {connectionRef: {name: hubspot}, fieldMappingRef: {name: b}}`,
			want: "spec.source and spec.destination use the same CRMConnection",
		},
		"TwoWayWithoutOwners": {
			reason: "Two-way sync without field owners would have no source of truth.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  direction: TwoWay
  source: {connectionRef: {name: salesforce}, fieldMappingRef: {name: salesforce-contacts}}
  destination: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}`,
			want: "spec.fields must name an owner for each field in TwoWay mode",
		},
		"TwoWayOwnedBySourceOnly": {
			reason: "When the source owns every field, nothing flows back: that is OneWay.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  direction: TwoWay
  fields: [{name: email, owner: Source}]
  source: {connectionRef: {name: salesforce}, fieldMappingRef: {name: salesforce-contacts}}
  destination: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}`,
			want: "in TwoWay mode each side must own at least one field",
		},
		"IntervalTooShort": {
			reason: "Polling every 3s would burn the API budget.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts}}
  schedule: {interval: 3s}`,
			want: "spec.schedule.interval: Invalid value: \"3s\": must be a duration of at least 30s",
		},
		"IntervalNotADuration": {
			reason: "A malformed duration is reported with an example of the right form.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts}}
  schedule: {interval: every 5 minutes}`,
			want: "must be a duration of at least 30s, written like 30s, 5m or 1h",
		},
		"FullResyncTooOften": {
			reason: "Full ID reconciliation reads everything; more often than hourly is wasteful.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts}}
  schedule: {fullResyncInterval: 30m}`,
			want: "spec.schedule.fullResyncInterval: Invalid value: \"30m\": must be a duration of at least 1h",
		},
		"ConnectionRefIntoAnotherNamespace": {
			reason: "A SyncJob may only use connections of its own namespace.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot, namespace: sales}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts}}`,
			want: "spec.source.connectionRef.namespace: Invalid value: \"sales\": cross-namespace references are not allowed",
		},
		"ConnectionRefWithSlash": {
			reason: "namespace/name is the other way to write a cross-namespace reference.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: sales/hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts}}`,
			want: "spec.source.connectionRef.name: Invalid value: \"sales/hubspot\": must be a plain name, not namespace/name",
		},
		"UnknownSQLDriver": {
			reason: "Only PostgreSQL and SQLite are supported.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: mysql, table: contacts, secretRef: {name: db}}}`,
			want: `spec.destination.sql.driver: Unsupported value: "mysql": supported values: "postgres", "sqlite"`,
		},
		"PostgresWithoutDSN": {
			reason: "PostgreSQL has no embedded default: crmsync must be told where it is.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: postgres, table: contacts}}`,
			want: "driver postgres needs secretRef: name a Secret whose key (default dsn) holds a URL",
		},
		"TableNameWithSQL": {
			reason: "Table names are identifiers, never SQL fragments.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: "contacts; drop table users"}}`,
			want: "must be a table name like crm_contacts or sales.contacts",
		},
		"ColumnNameWithSpace": {
			reason: "Column names are identifiers, never SQL fragments.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts, columns: {firstName: first name}}}`,
			want: "must be a column name: letters, digits and '_'",
		},
		"UnknownDeletionPolicy": {
			reason: "The deletion policies are a closed set; the message lists them.",
			manifest: `
kind: SyncJob
spec:
  object: contacts
  source: {connectionRef: {name: hubspot}, fieldMappingRef: {name: hubspot-contacts}}
  destination: {sql: {driver: sqlite, table: contacts}}
  deletion: {policy: Delete}`,
			want: `spec.deletion.policy: Unsupported value: "Delete": supported values: "Propagate", "Archive", "Ignore"`,
		},
	}

	ns := newNamespace(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			obj := parseManifest(t, "apiVersion: crm.crmsync.io/v1alpha1\nmetadata: {name: invalid}"+tc.manifest)
			obj.SetNamespace(ns)
			err := k8sClient.Create(context.Background(), obj, client.DryRunAll)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("%s\nCreate() error = %v, want an Invalid error", tc.reason, err)
			}
			t.Logf("rejected with: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s\nCreate() error = %q\nwant it to contain %q", tc.reason, err.Error(), tc.want)
			}
		})
	}
}

// TestDefaultsAreApplied checks the defaults a user sees with kubectl get -o yaml after applying a minimal
// manifest.
func TestDefaultsAreApplied(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()

	conn := &crmv1.CRMConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "minimal"},
		Spec: crmv1.CRMConnectionSpec{
			Provider:  crmv1.ProviderSalesforce,
			Auth:      crmv1.AuthSpec{Type: crmv1.AuthOAuth2RefreshToken, SecretRef: crmv1.LocalObjectReference{Name: "creds"}},
			RateLimit: &crmv1.RateLimitSpec{},
		},
	}
	if err := k8sClient.Create(ctx, conn, client.DryRunAll); err != nil {
		t.Fatalf("create CRMConnection: %v", err)
	}
	wantAuth := crmv1.AuthSpec{
		Type:          crmv1.AuthOAuth2RefreshToken,
		SecretRef:     crmv1.LocalObjectReference{Name: "creds"},
		RefreshBefore: &metav1.Duration{Duration: 5 * time.Minute},
	}
	if diff := cmp.Diff(wantAuth, conn.Spec.Auth); diff != "" {
		t.Errorf("CRMConnection spec.auth defaults (-want +got):\n%s", diff)
	}
	wantRate := &crmv1.RateLimitSpec{MaxConcurrency: ptr.To[int32](4), ReservePercent: ptr.To[int32](10)}
	if diff := cmp.Diff(wantRate, conn.Spec.RateLimit); diff != "" {
		t.Errorf("CRMConnection spec.rateLimit defaults (-want +got):\n%s", diff)
	}

	fm := &crmv1.FieldMapping{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "minimal"},
		Spec:       crmv1.FieldMappingSpec{Provider: crmv1.ProviderZoho, Object: crmv1.ObjectDeals},
	}
	if err := k8sClient.Create(ctx, fm, client.DryRunAll); err != nil {
		t.Fatalf("create FieldMapping: %v", err)
	}
	if fm.Spec.InheritDefaults == nil || !*fm.Spec.InheritDefaults {
		t.Errorf("FieldMapping spec.inheritDefaults = %v, want true", fm.Spec.InheritDefaults)
	}

	job := &crmv1.SyncJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "minimal"},
		Spec: crmv1.SyncJobSpec{
			Object: crmv1.ObjectContacts,
			Source: crmv1.Endpoint{
				ConnectionRef:   &crmv1.LocalObjectReference{Name: "hubspot"},
				FieldMappingRef: &crmv1.LocalObjectReference{Name: "hubspot-contacts"},
			},
			Destination: crmv1.Endpoint{SQL: &crmv1.SQLEndpoint{
				Driver: crmv1.SQLPostgres, Table: "contacts", SecretRef: &crmv1.SecretKeyReference{Name: "db"},
			}},
		},
	}
	if err := k8sClient.Create(ctx, job, client.DryRunAll); err != nil {
		t.Fatalf("create SyncJob: %v", err)
	}
	want := crmv1.SyncJobSpec{
		Object: job.Spec.Object,
		Source: job.Spec.Source,
		Destination: crmv1.Endpoint{SQL: &crmv1.SQLEndpoint{
			Driver: crmv1.SQLPostgres, Table: "contacts", SecretRef: &crmv1.SecretKeyReference{Name: "db", Key: crmv1.SecretKeyDSN},
		}},
		Direction:    crmv1.DirectionOneWay,
		DefaultOwner: crmv1.SideSource,
		Match:        crmv1.MatchSpec{Field: "email", CaseInsensitive: ptr.To(true)},
		Schedule: crmv1.ScheduleSpec{
			Interval:           &metav1.Duration{Duration: 5 * time.Minute},
			Lookback:           &metav1.Duration{Duration: 2 * time.Minute},
			FullResyncInterval: &metav1.Duration{Duration: 24 * time.Hour},
		},
		Deletion: crmv1.DeletionSpec{Policy: crmv1.DeletionIgnore},
	}
	if diff := cmp.Diff(want, job.Spec); diff != "" {
		t.Errorf("SyncJob spec defaults (-want +got):\n%s", diff)
	}
}

func parseManifest(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatalf("parse manifest: %v\n%s", err, manifest)
	}
	return obj
}
