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

// FieldType is the canonical type of a field; it decides how values are converted between endpoints.
// +kubebuilder:validation:Enum=string;email;phone;number;integer;boolean;date;datetime;enum;multiEnum;currency;reference
type FieldType string

// The field types.
const (
	FieldString    FieldType = "string"
	FieldEmail     FieldType = "email"
	FieldPhone     FieldType = "phone"
	FieldNumber    FieldType = "number"
	FieldInteger   FieldType = "integer"
	FieldBoolean   FieldType = "boolean"
	FieldDate      FieldType = "date"
	FieldDateTime  FieldType = "datetime"
	FieldEnum      FieldType = "enum"
	FieldMultiEnum FieldType = "multiEnum"
	FieldCurrency  FieldType = "currency"
	FieldReference FieldType = "reference"
)

// FieldMapping says how the canonical fields of one object are named and typed in one CRM, including the
// customer's custom fields. A SyncJob endpoint pairs it with a CRMConnection of the same provider.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=fmap,categories=crmsync
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,description="Whether the mapping resolved against the CRM's field metadata"
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider`
// +kubebuilder:printcolumn:name="Object",type=string,JSONPath=`.spec.object`
// +kubebuilder:printcolumn:name="Fields",type=integer,JSONPath=`.status.resolvedFields`,description="Fields resolved, defaults included"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Remote Object",type=string,JSONPath=`.spec.remoteObject`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type FieldMapping struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired mapping.
	// +required
	Spec FieldMappingSpec `json:"spec"`

	// Status is the mapping as the controller last resolved it.
	// +optional
	Status FieldMappingStatus `json:"status,omitempty"`
}

// FieldMappingSpec is the desired state of a FieldMapping.
//
// +kubebuilder:validation:XValidation:rule="!has(self.inheritDefaults) || self.inheritDefaults || (has(self.fields) && size(self.fields) > 0)",message="spec.inheritDefaults is false, so spec.fields must list at least one field"
type FieldMappingSpec struct {
	// Provider is the CRM whose field names this mapping uses. It must match the provider of the
	// CRMConnection it is paired with in a SyncJob.
	// +required
	Provider Provider `json:"provider"`

	// Object is the canonical object mapped: contacts, companies or deals.
	// +required
	Object Object `json:"object"`

	// RemoteObject is the CRM's name for the object when it differs from the provider default, for
	// example a Salesforce custom object "Member__c" or a HubSpot custom object "2-1234567". Leave it empty
	// for the standard object (Salesforce Contact/Account/Opportunity, HubSpot contacts/companies/deals,
	// Dataverse contacts/accounts/opportunities, Pipedrive persons/organizations/deals, Zoho
	// Contacts/Accounts/Deals).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9][-A-Za-z0-9_.]*$')",message="must be the CRM's API name of the object, like Member__c or 2-1234567: letters, digits, '_', '-' and '.'"
	RemoteObject string `json:"remoteObject,omitempty"`

	// InheritDefaults starts from crmsync's built-in mapping for this provider and object, so spec.fields
	// only lists custom fields and overrides (an entry with the same name replaces the default). Set it to
	// false to map exactly the fields listed. Defaults to true.
	// +optional
	// +kubebuilder:default=true
	InheritDefaults *bool `json:"inheritDefaults,omitempty"`

	// Fields maps canonical fields to the CRM's fields. Names are unique.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Fields []FieldMappingField `json:"fields,omitempty"`
}

// FieldMappingField maps one canonical field to one CRM field.
//
// +kubebuilder:validation:XValidation:rule="!has(self.values) || !has(self.type) || self.type in ['enum', 'multiEnum']",message="values maps enum options and is valid only when type is enum or multiEnum"
// +kubebuilder:validation:XValidation:rule="!(has(self.readOnly) && self.readOnly && has(self.required) && self.required)",message="a field cannot be both readOnly and required: crmsync never writes read-only fields, so it could never fill a required one"
type FieldMappingField struct {
	// Name is the canonical field name, like email, firstName or a custom one such as leadScore. It starts
	// with a lower-case letter and holds letters, digits and '_'.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z][A-Za-z0-9_]*$')",message="must be a canonical field name: start with a lower-case letter, then letters, digits or '_' (like leadScore)"
	Name string `json:"name"`

	// RemoteName is the CRM's API name of the field, like Email, hs_lead_status, emailaddress1 or
	// Lead_Score__c. Check it in the CRM's object manager or API; labels shown in the UI often differ.
	// It may be omitted when the entry only overrides a built-in default field (then the default's
	// remote name is kept); a custom field must set it.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="!self.contains(' ')",message="must be the field's API name, which has no spaces; the label shown in the CRM UI is not its API name"
	RemoteName string `json:"remoteName,omitempty"`

	// Type is the canonical type: string, email, phone, number, integer, boolean, date (YYYY-MM-DD),
	// datetime (RFC 3339), enum, multiEnum, currency (a decimal amount) or reference (the id of a linked
	// record). Values that cannot be converted fail that record, not the run. It may be omitted when the
	// entry overrides a built-in default field; a custom field must set it.
	// +optional
	Type FieldType `json:"type,omitempty"`

	// Values maps canonical enum values to the CRM's option values, for type enum and multiEnum, like
	// {"customer": "Customer - Direct"}. A value missing from the map is never passed through or dropped:
	// the record fails with an InvalidRecord error naming the field and the value, so add the value here.
	// +optional
	// +kubebuilder:validation:MaxProperties=256
	Values map[string]RemoteValue `json:"values,omitempty"`

	// ReadOnly marks a field the CRM computes: crmsync reads it but never writes it.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`

	// Required marks a field the CRM needs to create a record; records without a value fail with a
	// message naming the field instead of a vendor error.
	// +optional
	Required bool `json:"required,omitempty"`
}

// RemoteValue is an option value as the CRM's API spells it.
// +kubebuilder:validation:MaxLength=255
type RemoteValue string

// FieldMappingStatus is the observed state of a FieldMapping.
type FieldMappingStatus struct {
	ReconcileStatus `json:",inline"`

	// ResolvedFields is how many fields the mapping resolved to, built-in defaults included.
	// +optional
	ResolvedFields int32 `json:"resolvedFields"`
}

// +kubebuilder:object:root=true

// FieldMappingList is a list of FieldMappings.
type FieldMappingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FieldMapping `json:"items"`
}

func init() {
	SchemeBuilder.Register(&FieldMapping{}, &FieldMappingList{})
}
