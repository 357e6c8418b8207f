package demo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var demoDir = filepath.Join("..", "..", ManifestsDir)

func allVars() map[string]string {
	return map[string]string{
		"HUBSPOT_URL": "http://127.0.0.1:1", "HUBSPOT_CLIENT_ID": "id", "HUBSPOT_CLIENT_SECRET": "secret",
		"HUBSPOT_REFRESH_TOKEN": "refresh", "SALESFORCE_URL": "http://127.0.0.1:2", "SALESFORCE_CLIENT_ID": "id",
		"SALESFORCE_CLIENT_SECRET": "secret", "SALESFORCE_REFRESH_TOKEN": "refresh", "APP_DATABASE": "/tmp/it's here/app.db",
	}
}

// TestManifestsFillEveryPlaceholder loads the demo manifests as the demo does: every placeholder is one
// the demo provides, and none is left in what reaches the API server.
func TestManifestsFillEveryPlaceholder(t *testing.T) {
	m, err := loadManifests(demoDir, allVars())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.counts(), "3 Secrets, 2 CRMConnections, 3 FieldMappings, 2 SyncJobs"; got != want {
		t.Errorf("objects = %s, want %s", got, want)
	}
	for _, o := range m.objects {
		raw, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(raw), "${") {
			t.Errorf("%s %s keeps a placeholder: %s", o.GetKind(), o.GetName(), raw)
		}
		if o.GetNamespace() != "crmsync-demo" {
			t.Errorf("%s %s is in namespace %q, want crmsync-demo", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	if diff := cmp.Diff([]string{contactsJob, dealsJob}, m.names("SyncJob")); diff != "" {
		t.Errorf("SyncJobs (-the demo watches +the manifests hold):\n%s", diff)
	}
	if diff := cmp.Diff([]string{hubspotConn, "salesforce"}, m.names("CRMConnection")); diff != "" {
		t.Errorf("CRMConnections (-want +got):\n%s", diff)
	}
}

// TestManifestsRejectUnknownPlaceholder keeps a typo in a manifest from reaching the cluster as text.
func TestManifestsRejectUnknownPlaceholder(t *testing.T) {
	vars := allVars()
	delete(vars, "APP_DATABASE")
	_, err := loadManifests(demoDir, vars)
	if err == nil || !strings.Contains(err.Error(), "${APP_DATABASE}") {
		t.Fatalf("loadManifests without APP_DATABASE: error %v, want one naming ${APP_DATABASE}", err)
	}
}

// TestKustomizationListsEveryManifest keeps `kubectl apply -k config/samples/demo` and the demo in step.
func TestKustomizationListsEveryManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(demoDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(demoDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			names = append(names, base)
		}
	}
	slices.Sort(k.Resources)
	if diff := cmp.Diff(names, k.Resources); diff != "" {
		t.Errorf("files in %s (-) vs kustomization resources (+):\n%s", ManifestsDir, diff)
	}
}

// TestSeedMatchesExpectations ties the expected counts to the seeded rows, so that changing one without
// the other fails here rather than in the end-to-end run.
func TestSeedMatchesExpectations(t *testing.T) {
	rows := appRows()
	if got, want := len(rows), overlapping+appOnly+invalidAppRows; got != want {
		t.Errorf("app rows = %d, want %d", got, want)
	}
	hubspot := map[string]bool{}
	for k := 0; k < hubspotContacts; k++ {
		email := hubspotContact(k)["email"]
		if hubspot[email] {
			t.Fatalf("HubSpot contact %d repeats email %s", k, email)
		}
		hubspot[email] = true
	}
	shared := 0
	for _, r := range rows {
		if hubspot[strings.ToLower(r.email)] {
			shared++
		}
	}
	if shared != overlapping {
		t.Errorf("app users who are HubSpot contacts too = %d, want %d", shared, overlapping)
	}
	names := map[string]bool{}
	for _, d := range deals() {
		if names[d.name] {
			t.Errorf("deal name %q repeats", d.name)
		}
		names[d.name] = true
	}
	e := expectations()
	if e.AppContacts != len(rows)+hubspotContacts-overlapping || e.HubSpotContacts != hubspotContacts+appOnly {
		t.Errorf("expectations %+v do not follow from the seed", e)
	}
}
