// Command crmsync is the crmsync operator and its companion commands: the manager, the CRM emulators,
// the demo, and version.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/crmsync/crmsync/internal/version"
)

type command struct {
	name    string
	summary string
	run     func(args []string) int
}

func commands() []command {
	return []command{
		{"manager", "run the operator: reconcile CRMConnections, FieldMappings and SyncJobs", runManager},
		{"emulator", "serve a faithful fake CRM (hubspot or salesforce) for tests, demos and sandboxes", runEmulator},
		{"demo", "start a local control plane, emulators and the manager, and sync sample data", runDemo},
		{"version", "print the version", func([]string) int { fmt.Println(version.String()); return 0 }},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `crmsync keeps contacts, companies and deals in sync between CRMs (Salesforce, HubSpot,
Dynamics 365, Pipedrive, Zoho) and your own database, driven by Kubernetes resources.

Usage:
  crmsync <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Run 'crmsync <command> --help' for the flags of a command.
Quick start: 'make demo' runs everything locally; see README.md and docs/quickstart.md.
`)
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(os.Stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "crmsync: unknown command %q\n\n", args[0])
	usage(os.Stderr)
	return 2
}
