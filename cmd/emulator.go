package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	hubspotemu "github.com/crmsync/crmsync/internal/emulator/hubspot"
	salesforceemu "github.com/crmsync/crmsync/internal/emulator/salesforce"
)

func runEmulator(args []string) int {
	fs := flag.NewFlagSet("crmsync emulator", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: crmsync emulator --provider hubspot|salesforce [flags]

Serves a faithful fake CRM for tests, demos and offline sandboxes: OAuth token endpoint, objects, paging,
batch writes, limits with the vendor's headers and error bodies, and an admin API under /_admin/
(see docs/emulators.md). It prints one JSON line with its base URL, token URL and credentials, then serves
until interrupted.

Flags:
`)
		fs.PrintDefaults()
	}
	provider := fs.String("provider", "", "CRM to emulate: hubspot or salesforce.")
	addr := fs.String("addr", "127.0.0.1:0", "Listen address; port 0 picks a free port.")
	seed := fs.Int("seed", 0, "Number of realistic contacts, companies and deals to create at start.")
	tokenLifetime := fs.Duration("token-lifetime", 0, "Access token lifetime (default: the vendor's, 30m for HubSpot, 2h for Salesforce).")
	rotate := fs.Bool("rotate-refresh-tokens", false, "Issue a new refresh token on every refresh and revoke the old one.")
	if err := fs.Parse(args); err == flag.ErrHelp {
		return 0
	} else if err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch *provider {
	case "hubspot":
		err = hubspotemu.Serve(ctx, *addr, hubspotemu.Options{Seed: *seed, AccessTokenLifetime: *tokenLifetime, RotateRefreshTokens: *rotate}, os.Stdout)
	case "salesforce":
		err = salesforceemu.Serve(ctx, *addr, salesforceemu.Options{Seed: *seed, SessionLifetime: *tokenLifetime, RotateRefreshTokens: *rotate}, os.Stdout)
	default:
		fmt.Fprintf(os.Stderr, "crmsync emulator: --provider must be hubspot or salesforce, got %q\n", *provider)
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "crmsync emulator: %v\n", err)
		return 1
	}
	return 0
}
