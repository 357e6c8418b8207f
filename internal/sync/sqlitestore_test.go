package sync_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/sync"
)

// The real state store satisfies the engine's interface as it is.
var _ sync.StateStore = state.Store(nil)

func openSQLite(tb testing.TB) state.Store {
	tb.Helper()
	st, err := state.Open(context.Background(), "sqlite://"+filepath.Join(tb.TempDir(), "state.db"))
	if err != nil {
		tb.Fatalf("open the SQLite state store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// testStores returns a fresh in-memory store and a fresh SQLite store.
func testStores(t *testing.T) map[string]sync.StateStore {
	return map[string]sync.StateStore{"memory": newMemStore(), "sqlite": openSQLite(t)}
}
