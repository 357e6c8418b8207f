package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	hubspotemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
)

// TestFixingTheSecretTakesEffectWithinSeconds checks the Secret watch: a connection stalled on a missing
// Secret becomes Ready once the Secret is created, without any change to the connection itself.
func TestFixingTheSecretTakesEffectWithinSeconds(t *testing.T) {
	emu := hubspotemu.New(hubspotemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)

	ns := newNamespace(t)
	conn := &crmv1.CRMConnection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hubspot"},
		Spec: crmv1.CRMConnectionSpec{
			Provider: crmv1.ProviderHubSpot,
			BaseURL:  srv.URL,
			Auth:     crmv1.AuthSpec{Type: crmv1.AuthPrivateAppToken, SecretRef: crmv1.LocalObjectReference{Name: "hubspot-credentials"}},
		},
	}
	if err := k8sClient.Create(context.Background(), conn); err != nil {
		t.Fatalf("create: %v", err)
	}
	waitFor(t, "SecretNotFound", func() error {
		return conditionReason(conn, crmv1.ConditionStalled, crmv1.ReasonSecretNotFound)
	})

	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hubspot-credentials"},
		StringData: map[string]string{crmv1.SecretKeyToken: emu.Credentials().PrivateAppToken},
	}
	if err := k8sClient.Create(context.Background(), secret); err != nil {
		t.Fatalf("create Secret: %v", err)
	}
	waitFor(t, "Ready after the Secret appeared", func() error {
		if err := conditionReason(conn, crmv1.ConditionReady, crmv1.ReasonSucceeded); err != nil {
			return err
		}
		if meta.FindStatusCondition(conn.Status.Conditions, crmv1.ConditionStalled) != nil {
			return fmt.Errorf("still Stalled")
		}
		if conn.Status.Account == nil || conn.Status.Account.ID == "" {
			return fmt.Errorf("status.account is %+v, want the portal", conn.Status.Account)
		}
		return nil
	})
}

// conditionReason re-reads obj and checks that its condition of type has reason.
func conditionReason(obj *crmv1.CRMConnection, conditionType, reason string) error {
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		return err
	}
	c := meta.FindStatusCondition(obj.Status.Conditions, conditionType)
	if c == nil || c.Reason != reason {
		return fmt.Errorf("%s condition = %+v, want reason %s", conditionType, c, reason)
	}
	return nil
}
