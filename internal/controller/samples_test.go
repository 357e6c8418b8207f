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
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const samplesDir = "../../config/samples"

// TestSamplesAreAccepted applies every manifest in config/samples, as a user following the docs would, and
// checks that the API server accepts all of them.
func TestSamplesAreAccepted(t *testing.T) {
	files := sampleFiles(t)
	ns := newNamespace(t)
	for _, file := range files {
		for i, doc := range yamlDocuments(t, file) {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(doc, &obj.Object); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			obj.SetNamespace(ns)
			if err := k8sClient.Create(context.Background(), obj); err != nil {
				t.Errorf("%s: %s %s was rejected: %v", file, obj.GetKind(), obj.GetName(), err)
			}
		}
	}
}

// TestSamplesKustomizationListsEverySample keeps `kubectl apply -k config/samples` and the sample files in
// step: a sample missing from the kustomization would never be installed by the demo.
func TestSamplesKustomizationListsEverySample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(samplesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatalf("parse kustomization.yaml: %v", err)
	}
	var names []string
	for _, f := range sampleFiles(t) {
		names = append(names, filepath.Base(f))
	}
	slices.Sort(k.Resources)
	if diff := cmp.Diff(names, k.Resources); diff != "" {
		t.Errorf("config/samples files (-) vs kustomization resources (+):\n%s", diff)
	}
}

func sampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return filepath.Base(f) == "kustomization.yaml" })
	if len(files) == 0 {
		t.Fatalf("no samples found in %s", samplesDir)
	}
	slices.Sort(files)
	return files
}

func yamlDocuments(t *testing.T, file string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, doc := range bytes.Split(raw, []byte("\n---")) {
		if strings.TrimSpace(stripComments(string(doc))) != "" {
			docs = append(docs, doc)
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteString("\n")
		}
	}
	return b.String()
}
