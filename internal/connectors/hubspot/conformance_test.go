package hubspot

import (
	"testing"

	"github.com/crmsync/crmsync/internal/connectors/conformance"
)

// TestConformance runs the connector contract suite against the HubSpot emulator (see env_test.go for
// the Env: OAuth with rotating refresh tokens, HubSpot's limits with a 1 s burst window and a raised
// search rate so that the suite stays fast).
func TestConformance(t *testing.T) {
	conformance.Run(t, harness{})
}
