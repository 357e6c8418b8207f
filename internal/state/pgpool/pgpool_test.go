package pgpool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestPoolBoundsAndHealth(t *testing.T) {
	ctx := context.Background()
	p, err := New(ctx, pgtest.Start(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third Acquire on a pool of 2 = %v, want it to wait until its context ends", err)
	}
	// A connection left inside a transaction is not reused.
	if _, err := a.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	p.Release(a)
	if !a.IsClosed() {
		t.Error("a connection released inside a transaction was kept")
	}
	p.Release(b)
	c, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c != b {
		t.Error("a healthy idle connection was not reused")
	}
	p.Release(c)
	p.Close()
	if _, err := p.Acquire(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Close = %v, want ErrClosed", err)
	}
}
