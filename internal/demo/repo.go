package demo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath identifies the crmsync repository's go.mod.
const modulePath = "github.com/crmsync/crmsync"

// DefaultK8sVersion is the Kubernetes version of the envtest binaries the Makefile builds.
const DefaultK8sVersion = "1.37.2"

// FindRepoRoot returns the crmsync repository that holds the CRDs and the demo manifests: the first
// directory holding crmsync's go.mod, walking up from the working directory and then from the directory
// of the running binary (bin/crmsync sits inside the repository).
func FindRepoRoot() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			if isRepoRoot(dir) {
				return dir, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", errors.New("the demo reads the CRDs (config/crd/bases) and its manifests (config/samples/demo) from a " +
		"crmsync checkout, and none was found above the working directory or the binary: run it from the repository " +
		"(git clone, then `make demo`), or pass --repo with the checkout's path")
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.TrimSpace(mod) == modulePath && dirExists(filepath.Join(dir, "config", "crd", "bases"))
		}
	}
	return false
}

func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func hasAssets(dir string) bool {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		st, err := os.Stat(filepath.Join(dir, bin))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// findAssets returns the directory of the envtest kube-apiserver and etcd: KUBEBUILDER_ASSETS when it
// holds both, else bin/k8s/<version>/ of the repository, else what hack/envtest-assets.sh builds (it
// shows its progress on stderr; the first build takes several minutes).
func findAssets(root, version string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if hasAssets(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is %s, which lacks kube-apiserver or etcd: unset it, or point it at "+
			"the output of hack/envtest-assets.sh", dir)
	}
	if dir := filepath.Join(root, "bin", "k8s", version); hasAssets(dir) {
		return dir, nil
	}
	script := filepath.Join(root, "hack", "envtest-assets.sh")
	fmt.Fprintf(os.Stderr, "Building the envtest kube-apiserver and etcd %s from Go modules (once; cached afterwards)...\n", version)
	cmd := exec.Command(script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "K8S_VERSION="+version)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build the envtest binaries with %s: %w", script, err)
	}
	dir := strings.TrimSpace(string(out))
	if !hasAssets(dir) {
		return "", fmt.Errorf("%s printed %q, which lacks kube-apiserver or etcd", script, dir)
	}
	return dir, nil
}
