package controller

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/auth"
)

// secretTokenStore keeps a CRMConnection's tokens in its token Secret, which the CRMConnection owns (so it
// is garbage-collected with it) and which carries the connection label. The user's credentials Secret is
// never written.
type secretTokenStore struct {
	client   client.Client
	reader   client.Reader // uncached: a token read must never be stale
	owner    *crmv1.CRMConnection
	provider string
}

var _ auth.TokenStore = (*secretTokenStore)(nil)

func (s *secretTokenStore) key() client.ObjectKey {
	return client.ObjectKey{Namespace: s.owner.Namespace, Name: auth.TokenSecretName(s.owner.Name)}
}

// Load reads the token Secret; a missing one means nothing is stored yet.
func (s *secretTokenStore) Load(ctx context.Context) (*auth.StoredToken, error) {
	var secret corev1.Secret
	if err := s.reader.Get(secretContext(ctx), s.key(), &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read token Secret %s: %w", s.key(), err)
	}
	return auth.ParseSecretData(secret.Data)
}

// Save creates or replaces the token Secret. It returns only when the API server has stored it, so a
// rotated refresh token survives a restart before it is used.
func (s *secretTokenStore) Save(ctx context.Context, t auth.StoredToken) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.owner.Namespace, Name: s.key().Name}}
	_, err := controllerutil.CreateOrUpdate(secretContext(ctx), s.client, secret, func() error {
		if secret.Labels == nil {
			secret.Labels = map[string]string{}
		}
		secret.Labels[auth.ConnectionLabel] = s.owner.Name
		secret.Labels["app.kubernetes.io/managed-by"] = "crmsync"
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = t.SecretData(s.provider)
		return controllerutil.SetControllerReference(s.owner, secret, s.client.Scheme())
	})
	if err != nil {
		return fmt.Errorf("write token Secret %s: %w", s.key(), err)
	}
	return nil
}

// secretContext returns ctx for API calls that carry Secret data. client-go logs every request and
// response body through the context's logger at verbosity 8 and above, and a Secret's body holds
// credentials and tokens, so these calls get a logger that logs nothing.
func secretContext(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}
