package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/crmsync/crmsync/internal/demo"
)

func runDemo(args []string) int {
	fs := flag.NewFlagSet("crmsync demo", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: crmsync demo [flags]

Runs the whole product on this machine: a local Kubernetes control plane (envtest's kube-apiserver and
etcd), HubSpot and Salesforce emulators with sample data, an SQLite application database and the crmsync
manager. It applies config/samples/demo and shows the sync live: HubSpot contacts <-> the app database
(two-way) and Salesforce opportunities -> HubSpot deals. It runs until Ctrl-C, then stops everything.
See docs/quickstart.md.

With --once it exits after the first full sync and the change checks, printing a summary; the exit status
is 1 when a SyncJob did not sync, a connection is not Ready, a check failed or records failed beyond the
ones invalid on purpose.

Flags:
`)
		fs.PrintDefaults()
	}
	once := fs.Bool("once", false, "Exit after the first full sync and the change checks, with a summary and a non-zero status on failure.")
	timeout := fs.Duration("timeout", 4*time.Minute, "With --once, give up after this long.")
	existing := fs.Bool("use-existing-cluster", false,
		"Use the cluster of the current kubeconfig instead of a local control plane: the CRDs are installed or updated there, "+
			"the demo runs in namespace crmsync-demo, which is deleted at the end. Do not use it where crmsync is deployed.")
	repo := fs.String("repo", "", "The crmsync checkout with config/crd/bases and config/samples/demo (default: found above the working directory or the binary).")
	workDir := fs.String("work-dir", "", "Directory for the kubeconfig, the databases and the manager's log (default: a temporary directory).")
	keep := fs.Bool("keep", false, "Keep the work directory at the end.")
	plain := fs.Bool("plain", false, "Print plain lines instead of redrawing the status table (the default when stdout is not a terminal).")
	if err := fs.Parse(args); err == flag.ErrHelp {
		return 0
	} else if err != nil {
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "\nStopping: the manager, the emulators and the control plane...")
		cancel()
		for range signals {
			fmt.Fprintln(os.Stderr, "Still stopping; the control plane takes a few seconds.")
		}
	}()

	sum, err := demo.Run(ctx, demo.Options{
		Once:               *once,
		Timeout:            *timeout,
		UseExistingCluster: *existing,
		RepoRoot:           *repo,
		WorkDir:            *workDir,
		Keep:               *keep || *workDir != "",
		Out:                os.Stdout,
		Interactive:        !*plain && term.IsTerminal(int(os.Stdout.Fd())),
		Width: func() int {
			w, _, err := term.GetSize(int(os.Stdout.Fd()))
			if err != nil {
				return 0
			}
			return w
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return 130
		}
		fmt.Fprintf(os.Stderr, "crmsync demo: %v\n", err)
		return 1
	}
	if *once && !sum.OK() {
		return 1
	}
	return 0
}
