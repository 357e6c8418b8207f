package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// ManifestsDir is where the demo's manifests live, relative to the repository root.
const ManifestsDir = "config/samples/demo"

// manifests are the demo's objects, read from the kustomization in order, with their namespace.
type manifests struct {
	namespace string
	objects   []*unstructured.Unstructured
}

var placeholder = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// loadManifests reads dir/kustomization.yaml and every resource it lists, and replaces each ${NAME} in
// a string value with vars[NAME]. An unknown name is an error, so that no placeholder reaches the cluster.
func loadManifests(dir string, vars map[string]string) (*manifests, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read the demo's kustomization: %w", err)
	}
	var k struct {
		Namespace string   `json:"namespace"`
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, "kustomization.yaml"), err)
	}
	if k.Namespace == "" {
		return nil, fmt.Errorf("%s sets no namespace", filepath.Join(dir, "kustomization.yaml"))
	}
	m := &manifests{namespace: k.Namespace}
	for _, res := range k.Resources {
		file := filepath.Join(dir, res)
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read demo manifest: %w", err)
		}
		for i, doc := range splitYAML(data) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
				return nil, fmt.Errorf("%s document %d: %w", file, i+1, err)
			}
			if len(obj.Object) == 0 {
				continue
			}
			var missing []string
			obj.Object = substitute(obj.Object, vars, &missing).(map[string]any)
			if len(missing) > 0 {
				return nil, fmt.Errorf("%s uses %s, which the demo does not provide", file, strings.Join(missing, ", "))
			}
			obj.SetNamespace(k.Namespace)
			m.objects = append(m.objects, obj)
		}
	}
	return m, nil
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(doc) != "" {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

func substitute(v any, vars map[string]string, missing *[]string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = substitute(e, vars, missing)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = substitute(e, vars, missing)
		}
		return t
	case string:
		return placeholder.ReplaceAllStringFunc(t, func(m string) string {
			name := placeholder.FindStringSubmatch(m)[1]
			val, ok := vars[name]
			if !ok {
				*missing = append(*missing, m)
			}
			return val
		})
	}
	return v
}

// counts describes the objects by kind, like "3 Secrets, 2 CRMConnections".
func (m *manifests) counts() string {
	n := map[string]int{}
	var kinds []string
	for _, o := range m.objects {
		if n[o.GetKind()] == 0 {
			kinds = append(kinds, o.GetKind())
		}
		n[o.GetKind()]++
	}
	var parts []string
	for _, k := range kinds {
		name := k
		if n[k] > 1 {
			name += "s"
		}
		parts = append(parts, fmt.Sprintf("%d %s", n[k], name))
	}
	return strings.Join(parts, ", ")
}

func (m *manifests) names(kind string) []string {
	var out []string
	for _, o := range m.objects {
		if o.GetKind() == kind {
			out = append(out, o.GetName())
		}
	}
	sort.Strings(out)
	return out
}

// apply creates the namespace and every object, or updates objects that exist (a second demo against
// the same cluster), in the kustomization's order.
func (m *manifests) apply(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "crmsync-demo"}}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", m.namespace, err)
	}
	for _, obj := range m.objects {
		want := obj.DeepCopy()
		err := c.Create(ctx, want)
		if apierrors.IsAlreadyExists(err) {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(obj.GroupVersionKind())
			if err = c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err == nil {
				want.SetResourceVersion(cur.GetResourceVersion())
				err = c.Update(ctx, want)
			}
		}
		if err != nil {
			return fmt.Errorf("apply %s %s/%s from %s: %w", obj.GetKind(), m.namespace, obj.GetName(), ManifestsDir, err)
		}
	}
	return nil
}

// remove deletes the demo's objects and waits (up to ctx) until the manager has finalized them, so that
// a real cluster is left as it was. The namespace goes last.
func (m *manifests) remove(ctx context.Context, c client.Client) error {
	for i := len(m.objects) - 1; i >= 0; i-- {
		if err := c.Delete(ctx, m.objects[i].DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	for _, obj := range m.objects {
		for {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(obj.GroupVersionKind())
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur)
			if apierrors.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("%s %s/%s was not finalized in time", obj.GetKind(), m.namespace, obj.GetName())
			}
			sleep(ctx, 200*time.Millisecond)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: m.namespace}}
	if err := c.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
