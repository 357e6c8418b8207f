package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	crmv1alpha1 "github.com/crmsync/crmsync/api/v1alpha1"
	"github.com/crmsync/crmsync/internal/connections"
	"github.com/crmsync/crmsync/internal/controller"
	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/version"
)

// managerFlags are the manager's settings; every one is explained in `crmsync manager --help`.
type managerFlags struct {
	metricsAddr             string
	metricsSecure           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	stateStore              string
	sqliteDir               string
	maxConcurrentSyncs      int
	gracefulShutdown        time.Duration
	zap                     zap.Options
}

func parseManagerFlags(args []string) (*managerFlags, error) {
	f := &managerFlags{zap: zap.Options{Development: false}}
	fs := flag.NewFlagSet("crmsync manager", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: crmsync manager [flags]\n\nRuns the operator: reconciles CRMConnections, FieldMappings and SyncJobs in every namespace.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443",
		"Address of the Prometheus metrics endpoint. Use :8080 with --metrics-secure=false for plain HTTP, or 0 to disable.")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, allowing only callers that Kubernetes authenticates and authorises (a ServiceAccount with get on /metrics).")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081",
		"Address of the liveness (/healthz) and readiness (/readyz) probes.")
	fs.BoolVar(&f.leaderElect, "leader-elect", false,
		"Elect a leader through a Lease so that only one replica reconciles. Enable it whenever more than one replica may run.")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader-election Lease. Empty means the namespace the manager runs in.")
	fs.StringVar(&f.stateStore, "state-store", "sqlite:///var/lib/crmsync/state.db",
		"Where durable sync state (record links, fingerprints, retry queue) lives: sqlite:///path/to/file.db (single replica, "+
			"put the file on a PersistentVolume), env:VAR (a postgres:// URL read from environment variable VAR) or file:/path "+
			"(a postgres:// URL read from a file, e.g. a mounted Secret). A password is never accepted on the command line.")
	fs.StringVar(&f.sqliteDir, "sqlite-dir", "/var/lib/crmsync/app",
		"Directory of the application databases of SQLite SyncJob endpoints that name no Secret (one file per namespace).")
	fs.IntVar(&f.maxConcurrentSyncs, "max-concurrent-syncs", 4,
		"Size of the worker pool that runs SyncJobs. One job never runs twice at once; a slow CRM occupies one worker only.")
	fs.DurationVar(&f.gracefulShutdown, "graceful-shutdown-timeout", 30*time.Second,
		"How long running syncs get to checkpoint and stop after SIGTERM.")
	f.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return f, nil
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(crmv1alpha1.AddToScheme(scheme))
	return scheme
}

func runManager(args []string) int {
	f, err := parseManagerFlags(args)
	if err == flag.ErrHelp {
		return 0
	} else if err != nil {
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	log := ctrl.Log.WithName("setup")
	log.Info("starting", "version", version.String())

	if err := startManager(f); err != nil {
		log.Error(err, "manager stopped with an error")
		return 1
	}
	return 0
}

func startManager(f *managerFlags) error {
	metricsOpts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.metricsSecure}
	if f.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	shutdown := f.gracefulShutdown
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                        newScheme(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        f.probeAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              "crmsync.crm.crmsync.io",
		LeaderElectionNamespace:       f.leaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       &shutdown,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	store, err := state.OpenFromFlag(ctx, f.stateStore)
	if err != nil {
		return fmt.Errorf("open the state store (--state-store): %w", err)
	}
	defer func() { _ = store.Close() }()
	if err := os.MkdirAll(f.sqliteDir, 0o700); err != nil {
		return fmt.Errorf("create --sqlite-dir: %w", err)
	}
	err = controller.SetupAll(mgr, controller.Options{
		StateStore:         store,
		SQLiteDir:          f.sqliteDir,
		MaxConcurrentSyncs: f.maxConcurrentSyncs,
		SyncMetrics:        controller.NewSyncMetrics(metrics.Registry),
		Connections: &connections.Registry{
			Logger:  ctrl.Log.WithName("connections"),
			Metrics: connections.NewMetrics(metrics.Registry),
		},
	})
	if err != nil {
		return fmt.Errorf("set up controllers: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
