// Package envtestutil starts the envtest API server with crmsync's CRDs for the test suites that need one.
package envtestutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// Cluster is a running API server with the CRDs installed, and an uncached client (a test sees its own
// writes at once).
type Cluster struct {
	Config *rest.Config
	Scheme *kruntime.Scheme
	Client client.Client
	env    *envtest.Environment
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS and installs config/crd/bases. Without
// KUBEBUILDER_ASSETS it fails with what to run: suites that need an API server never skip.
func Start() (*Cluster, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set, so no API server can start.\n" +
			"Run `make test`, or run `export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)` from the repository root and retry")
	}
	scheme := kruntime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), crmv1.AddToScheme(scheme)); err != nil {
		return nil, fmt.Errorf("build scheme: %w", err)
	}
	crds, err := crdDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest with the assets in KUBEBUILDER_ASSETS (%s): %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &Cluster{Config: cfg, Scheme: scheme, Client: c, env: env}, nil
}

// Stop stops the API server and etcd.
func (c *Cluster) Stop() error { return c.env.Stop() }

// crdDir is config/crd/bases of the repository, found by walking up from the working directory (a test's
// package directory) to go.mod.
func crdDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "config", "crd", "bases"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("config/crd/bases not found: run the tests from inside the crmsync repository")
		}
		dir = parent
	}
}
