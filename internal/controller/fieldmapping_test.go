package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// TestFieldMappingReportsEveryProblem applies a FieldMapping with several mistakes that pass schema
// validation and checks that the status lists all of them, then fixes it and sees it become Ready.
func TestFieldMappingReportsEveryProblem(t *testing.T) {
	ns := newNamespace(t)
	fm := &crmv1.FieldMapping{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "contacts"},
		Spec: crmv1.FieldMappingSpec{
			Provider: crmv1.ProviderHubSpot,
			Object:   crmv1.ObjectContacts,
			Fields: []crmv1.FieldMappingField{
				// A custom field without a remote name.
				{Name: "leadScore", Type: crmv1.FieldInteger},
				// Two canonical values map to one remote value.
				{Name: "tier", RemoteName: "tier__c", Type: crmv1.FieldEnum, Values: map[string]crmv1.RemoteValue{"gold": "G", "platinum": "G"}},
				// A second field writes the same HubSpot property as the default email mapping.
				{Name: "workEmail", RemoteName: "email", Type: crmv1.FieldEmail},
			},
		},
	}
	if err := k8sClient.Create(context.Background(), fm); err != nil {
		t.Fatalf("create: %v", err)
	}
	wantParts := []string{"3 problems", "spec.fields[0].remoteName", "spec.fields[1].values", "spec.fields[2].remoteName"}
	waitFor(t, "Stalled with every problem", func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(fm), fm); err != nil {
			return err
		}
		stalled := meta.FindStatusCondition(fm.Status.Conditions, crmv1.ConditionStalled)
		if stalled == nil || stalled.Reason != crmv1.ReasonInvalidConfiguration {
			return fmt.Errorf("Stalled = %+v, want InvalidConfiguration", stalled)
		}
		for _, part := range wantParts {
			if !strings.Contains(stalled.Message, part) {
				return fmt.Errorf("message %q does not mention %q", stalled.Message, part)
			}
		}
		if meta.IsStatusConditionTrue(fm.Status.Conditions, crmv1.ConditionReady) {
			return fmt.Errorf("an invalid mapping is Ready")
		}
		return nil
	})
	t.Logf("the user sees: %s", meta.FindStatusCondition(fm.Status.Conditions, crmv1.ConditionStalled).Message)

	patchObject(t, fm, func(o client.Object) {
		f := o.(*crmv1.FieldMapping)
		f.Spec.Fields = []crmv1.FieldMappingField{
			{Name: "leadScore", RemoteName: "lead_score", Type: crmv1.FieldInteger},
			{Name: "tier", RemoteName: "tier__c", Type: crmv1.FieldEnum, Values: map[string]crmv1.RemoteValue{"gold": "G", "platinum": "P"}},
		}
	})
	waitFor(t, "Ready with the resolved field count", func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(fm), fm); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(fm.Status.Conditions, crmv1.ConditionReady) {
			return fmt.Errorf("not Ready: %+v", fm.Status.Conditions)
		}
		if meta.FindStatusCondition(fm.Status.Conditions, crmv1.ConditionStalled) != nil {
			return fmt.Errorf("Stalled is still present")
		}
		if fm.Status.ResolvedFields < 3 {
			return fmt.Errorf("status.resolvedFields = %d, want the defaults plus 2 custom fields", fm.Status.ResolvedFields)
		}
		return nil
	})
}
