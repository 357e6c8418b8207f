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

// Provider names a CRM.
// +kubebuilder:validation:Enum=salesforce;hubspot;dynamics;pipedrive;zoho
type Provider string

// The supported CRMs.
const (
	ProviderSalesforce Provider = "salesforce"
	ProviderHubSpot    Provider = "hubspot"
	ProviderDynamics   Provider = "dynamics"
	ProviderPipedrive  Provider = "pipedrive"
	ProviderZoho       Provider = "zoho"
)

// Object names a canonical object: the CRM-independent shape that every endpoint maps to and from.
// +kubebuilder:validation:Enum=contacts;companies;deals
type Object string

// The canonical objects.
const (
	ObjectContacts  Object = "contacts"
	ObjectCompanies Object = "companies"
	ObjectDeals     Object = "deals"
)

// LocalObjectReference names an object in the namespace of the object that holds the reference.
// References never cross namespaces, so one tenant cannot point at another tenant's objects or Secrets.
type LocalObjectReference struct {
	// Name of the referenced object, in this object's namespace. Write the plain name ("hubspot-creds"),
	// not "namespace/name".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.contains('/')",message="must be a plain name, not namespace/name: references cannot leave this object's namespace"
	// +kubebuilder:validation:XValidation:rule="self.contains('/') || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be a DNS-1123 name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// Namespace is not supported and must stay unset: the referenced object always lives in this object's
	// namespace. The field exists only so that a manifest that sets it is rejected with a clear message
	// instead of having the value silently dropped.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="size(self) == 0",message="cross-namespace references are not allowed: remove namespace and create the referenced object in this object's namespace"
	Namespace string `json:"namespace,omitempty"`
}

// SecretKeyReference selects one key of a Secret in the namespace of the object that holds the reference.
type SecretKeyReference struct {
	// Name of the Secret, in this object's namespace. Write the plain name, not "namespace/name".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!self.contains('/')",message="must be a plain Secret name, not namespace/name: references cannot leave this object's namespace"
	// +kubebuilder:validation:XValidation:rule="self.contains('/') || self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be a DNS-1123 name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`

	// Key in the Secret's data that holds the value. Defaults to "dsn".
	// +optional
	// +kubebuilder:default=dsn
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[-._a-zA-Z0-9]+$')",message="must be a Secret data key: letters, digits, '-', '_' and '.'"
	Key string `json:"key,omitempty"`

	// Namespace is not supported and must stay unset: the Secret always lives in this object's namespace.
	// The field exists only so that a manifest that sets it is rejected with a clear message.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="size(self) == 0",message="cross-namespace references are not allowed: remove namespace and create the Secret in this object's namespace"
	Namespace string `json:"namespace,omitempty"`
}

// ReconcileStatus is the part of the status that every crmsync kind shares.
type ReconcileStatus struct {
	// Conditions describe the latest observed state. Ready is the summary: True only when the object
	// does its job; when False its reason and message say why and what to do. Reconciling is True while
	// work is in progress, and Stalled is present (and True) only when the controller cannot continue
	// until someone changes the spec or a referenced Secret.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the metadata.generation the controller last acted on. When it is lower than
	// metadata.generation, the conditions still describe an older spec.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastHandledReconcileAt is the value of the crm.crmsync.io/reconcile-requested-at annotation that the
	// controller last acted on. Compare it with the annotation to see whether a requested reconcile ran.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}
