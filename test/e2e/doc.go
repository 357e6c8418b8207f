// Package e2e runs the demo end to end, as `crmsync demo --once` does, and checks what it synced.
package e2e
