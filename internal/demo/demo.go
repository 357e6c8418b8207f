// Package demo runs crmsync end to end on one machine: a control plane, the CRM emulators, the manager
// and an application database, driven through the Kubernetes API as a user would.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/controller"
	hubspotemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
	salesforceemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
	"github.com/crmsync/crmsync/internal/state"
)

// Options configure a demo run. The zero value runs until ctx ends against a local control plane.
type Options struct {
	// Once stops after the first full sync of every SyncJob and the change checks, with a Summary.
	Once bool
	// Timeout bounds a Once run (default 4 minutes); the run fails when it passes.
	Timeout time.Duration
	// UseExistingCluster runs against the cluster of the current kubeconfig instead of a local control
	// plane. The demo's CRDs are installed (or updated) there, and its namespace is deleted at the end.
	UseExistingCluster bool
	// RepoRoot is the crmsync checkout with config/crd/bases and config/samples/demo; empty finds it
	// above the working directory or the binary.
	RepoRoot string
	// AssetsDir holds the envtest kube-apiserver and etcd; empty looks at KUBEBUILDER_ASSETS, then
	// bin/k8s/<K8sVersion>/ of the checkout, then builds them with hack/envtest-assets.sh.
	AssetsDir string
	// K8sVersion is the version of the envtest binaries to look for (default DefaultK8sVersion).
	K8sVersion string
	// WorkDir receives the kubeconfig, the databases and the manager's log; empty makes a temporary
	// directory that is removed at the end unless Keep is set.
	WorkDir string
	Keep    bool
	// Out receives the demo's output (default os.Stdout). Interactive redraws the status table in place
	// with ANSI escapes; otherwise changes are printed as plain lines.
	Out         io.Writer
	Interactive bool
	// Width returns the terminal's width in columns, to keep the redrawn table from wrapping; nil or 0
	// means no limit.
	Width func() int
}

// Summary is the result of a demo run.
type Summary struct {
	Jobs        []JobResult
	Connections []ConnectionResult
	Checks      []Check
	// Expected is what the first sync must do with the seeded data; Final is what the two sides hold at
	// the end.
	Expected Expectations
	Final    Holdings
	// FirstSync is how long after the manifests were applied every SyncJob had finished its first sync.
	FirstSync time.Duration
	Elapsed   time.Duration
	// Problems say why the run failed; empty means it succeeded.
	Problems []string
}

// OK reports whether the run succeeded.
func (s *Summary) OK() bool { return len(s.Problems) == 0 }

// Holdings counts the records each side holds.
type Holdings struct {
	HubSpotContacts, AppContacts, HubSpotDeals int
}

// demo is one run: what it started, in start order, so that close stops it in reverse.
type demo struct {
	opts    Options
	out     io.Writer
	started time.Time
	closers []func()

	root, work, kubeconfig string
	env                    *envtest.Environment
	cfg                    *rest.Config
	client                 client.Client

	hub            *hubspotemu.Server
	hubEmu, orgEmu *emulator
	org            *salesforceemu.Server
	hubIDs         map[int]string
	app            *appDB
	manifests      *manifests
	applied        time.Time
	exp            Expectations
	screen         *screen
	watch          *watcher
	interrupted    bool // the run was stopped from outside (Ctrl-C)
}

// Run runs the demo: it starts everything, applies the demo manifests and shows the sync until ctx
// ends (or, with Once, until the first sync and the checks are done). Everything it started is stopped
// before it returns. The Summary is nil only when the demo could not start.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 4 * time.Minute
	}
	if opts.K8sVersion == "" {
		opts.K8sVersion = DefaultK8sVersion
	}
	d := &demo{opts: opts, out: opts.Out, started: time.Now(), exp: expectations()}
	d.screen = newScreen(opts.Out, opts.Interactive, opts.Width)
	defer d.close()
	if err := d.setUp(ctx); err != nil {
		return nil, err
	}
	if opts.Once {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	return d.run(ctx), nil
}

func (d *demo) onClose(f func()) { d.closers = append(d.closers, f) }

func (d *demo) close() {
	d.screen.done()
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) setUp(ctx context.Context) error {
	if err := d.prepareDirs(); err != nil {
		return err
	}
	d.say("crmsync demo: a Kubernetes control plane, HubSpot and Salesforce emulators, the crmsync manager and an")
	d.say("application database, all on this machine. Manifests: %s. Work directory: %s", ManifestsDir, d.work)
	d.say("")
	steps := []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"control plane", d.startControlPlane},
		{"HubSpot", d.startHubSpot},
		{"Salesforce", d.startSalesforce},
		{"app database", d.startAppDB},
		{"manager", d.startManager},
		{"manifests", d.applyManifests},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := time.Now()
		what, err := s.run(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		d.say("  %-14s %s (%s)", s.name, what, since(t))
	}
	d.say("")
	return nil
}

func (d *demo) prepareDirs() error {
	root := d.opts.RepoRoot
	if root == "" {
		var err error
		if root, err = FindRepoRoot(); err != nil {
			return err
		}
	} else if !isRepoRoot(root) {
		return fmt.Errorf("%s is not a crmsync checkout (no go.mod of %s with config/crd/bases)", root, modulePath)
	}
	d.root = root
	if d.opts.WorkDir != "" {
		if err := os.MkdirAll(d.opts.WorkDir, 0o700); err != nil {
			return err
		}
		d.work = d.opts.WorkDir
		return nil
	}
	work, err := os.MkdirTemp("", "crmsync-demo-")
	if err != nil {
		return fmt.Errorf("make a work directory: %w", err)
	}
	d.work = work
	if !d.opts.Keep {
		d.onClose(func() { _ = os.RemoveAll(work) })
	}
	return nil
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(crmv1.AddToScheme(s))
	return s
}

// startControlPlane starts kube-apiserver and etcd (or connects to the current cluster), installs the
// CRDs and writes a kubeconfig.
func (d *demo) startControlPlane(context.Context) (string, error) {
	logFile, err := os.OpenFile(filepath.Join(d.work, "manager.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
	}
	d.onClose(func() { _ = logFile.Close() })
	logger := zap.New(zap.WriteTo(logFile))
	ctrl.SetLogger(logger)
	klog.SetLogger(logr.Logger(logger))

	existing := d.opts.UseExistingCluster
	d.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(d.root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		UseExistingCluster:    &existing,
		Scheme:                newScheme(),
	}
	what := "connected to the cluster of the current kubeconfig; CRDs installed"
	if !existing {
		assets := d.opts.AssetsDir
		if assets == "" {
			if assets, err = findAssets(d.root, d.opts.K8sVersion); err != nil {
				return "", err
			}
		} else if !hasAssets(assets) {
			return "", fmt.Errorf("%s lacks the envtest binaries kube-apiserver and etcd: run hack/envtest-assets.sh", assets)
		}
		d.env.BinaryAssetsDirectory = assets
		what = "kube-apiserver and etcd (envtest) started; CRDs installed"
	}
	cfg, err := d.env.Start()
	if err != nil {
		if !existing {
			_ = d.env.Stop()
		}
		return "", fmt.Errorf("start: %w", err)
	}
	d.onClose(func() {
		if err := d.env.Stop(); err != nil && !existing {
			fmt.Fprintf(os.Stderr, "crmsync demo: stop the control plane: %v\n", err)
		}
	})
	d.cfg = cfg
	if d.client, err = client.New(cfg, client.Options{Scheme: d.env.Scheme}); err != nil {
		return "", err
	}
	if !existing {
		d.kubeconfig = filepath.Join(d.work, "kubeconfig")
		if err := os.WriteFile(d.kubeconfig, d.env.KubeConfig, 0o600); err != nil {
			return "", fmt.Errorf("write the kubeconfig: %w", err)
		}
	}
	return what, nil
}

func (d *demo) startHubSpot(context.Context) (string, error) {
	hub, emu, err := startHubSpot()
	if err != nil {
		return "", err
	}
	d.hub, d.hubEmu = hub, emu
	d.onClose(emu.close)
	if d.hubIDs, err = seedHubSpot(hub); err != nil {
		return "", err
	}
	return fmt.Sprintf("emulator at %s: portal %d, %d contacts, %d requests per %s, tokens live %s",
		emu.url, hubspotPortalID, hubspotContacts, hubspotBurstLimit, human(hubspotBurstWindow), human(hubspotTokenLifetime)), nil
}

func (d *demo) startSalesforce(context.Context) (string, error) {
	org, emu, err := startSalesforce()
	if err != nil {
		return "", err
	}
	d.org, d.orgEmu = org, emu
	d.onClose(emu.close)
	if err := seedSalesforce(org); err != nil {
		return "", err
	}
	return fmt.Sprintf("emulator at %s: %d accounts, %d opportunities (%d in stages HubSpot lacks)",
		emu.url, salesforceCompany, salesforceDeals+unmappedDeals, unmappedDeals), nil
}

func (d *demo) startAppDB(ctx context.Context) (string, error) {
	app, err := createAppDB(ctx, filepath.Join(d.work, "app.db"))
	if err != nil {
		return "", err
	}
	d.app = app
	d.onClose(app.close)
	return fmt.Sprintf("SQLite file app.db, table contacts: %d users (%d also in HubSpot, %d invalid)",
		overlapping+appOnly+invalidAppRows, overlapping, invalidAppRows), nil
}

// startManager runs the manager in this process: every controller, no leader election, no metrics
// endpoint, the SQLite state store in the work directory. It stops last but one, after the demo's
// objects are gone.
func (d *demo) startManager(ctx context.Context) (string, error) {
	storePath := filepath.Join(d.work, "state.db")
	store, err := state.Open(ctx, "sqlite://"+storePath)
	if err != nil {
		return "", fmt.Errorf("open the state store: %w", err)
	}
	d.onClose(func() { _ = store.Close() })
	shutdown := 10 * time.Second
	mgr, err := ctrl.NewManager(d.cfg, ctrl.Options{
		Scheme:                  d.env.Scheme,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		GracefulShutdownTimeout: &shutdown,
	})
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	err = controller.SetupAll(mgr, controller.Options{
		Connections: &connections.Registry{Logger: mgr.GetLogger().WithName("connections")},
		StateStore:  store,
		SQLiteDir:   d.work,
	})
	if err != nil {
		return "", err
	}
	mctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mgr.Start(mctx) }()
	d.onClose(func() {
		stop()
		if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "crmsync demo: the manager stopped with an error: %v\n", err)
		}
	})
	return "running in this process: state store state.db, log manager.log", nil
}

// applyManifests fills in the demo manifests' placeholders and applies them.
func (d *demo) applyManifests(ctx context.Context) (string, error) {
	hc, sc := d.hub.Credentials(), d.org.Credentials()
	vars := map[string]string{
		"HUBSPOT_URL":              d.hubEmu.url,
		"HUBSPOT_CLIENT_ID":        hc.ClientID,
		"HUBSPOT_CLIENT_SECRET":    hc.ClientSecret,
		"HUBSPOT_REFRESH_TOKEN":    hc.RefreshToken,
		"SALESFORCE_URL":           d.orgEmu.url,
		"SALESFORCE_CLIENT_ID":     sc.ClientID,
		"SALESFORCE_CLIENT_SECRET": sc.ClientSecret,
		"SALESFORCE_REFRESH_TOKEN": sc.RefreshToken,
		"APP_DATABASE":             d.app.path,
	}
	m, err := loadManifests(filepath.Join(d.root, ManifestsDir), vars)
	if err != nil {
		return "", err
	}
	d.manifests = m
	if d.opts.UseExistingCluster {
		// Registered before apply, so that a partial apply is cleaned up too; it runs while the manager
		// still runs, which removes the finalizers.
		d.onClose(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := m.remove(ctx, d.client); err != nil {
				fmt.Fprintf(os.Stderr, "crmsync demo: remove the demo's objects from namespace %s: %v\n", m.namespace, err)
			}
		})
	}
	if err := m.apply(ctx, d.client); err != nil {
		return "", err
	}
	d.applied = time.Now()
	return fmt.Sprintf("applied to namespace %s: %s", m.namespace, m.counts()), nil
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
