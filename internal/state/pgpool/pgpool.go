// Package pgpool is a small, bounded pool of pgx connections, used by the SQL table endpoint.
//
// New code uses github.com/jackc/pgx/v5/pgxpool, as the PostgreSQL state store does. This package is kept
// only until the SQL table endpoint (internal/connectors/sqltable) has moved to pgxpool; then delete it.
package pgpool

import (
	"context"
	"errors"
	"sync"

	"github.com/jackc/pgx/v5"
)

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("pgpool: pool is closed")

// Pool hands out at most Max connections at a time. Connections are dialled lazily and reused while they
// are healthy and idle (not inside a transaction).
type Pool struct {
	config *pgx.ConnConfig
	slots  chan struct{}

	mu     sync.Mutex
	idle   []*pgx.Conn
	closed bool
}

// New parses connString and returns a pool of up to max connections. It dials one connection to check the
// settings, and keeps it idle. Errors from pgx never contain the password.
func New(ctx context.Context, connString string, max int) (*Pool, error) {
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, err
	}
	return NewWithConfig(ctx, cfg, max)
}

// NewWithConfig is New with a parsed configuration.
func NewWithConfig(ctx context.Context, cfg *pgx.ConnConfig, max int) (*Pool, error) {
	if max < 1 {
		max = 1
	}
	p := &Pool{config: cfg, slots: make(chan struct{}, max)}
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	p.Release(c)
	return p, nil
}

// Config returns the parsed connection settings. Callers must not modify it.
func (p *Pool) Config() *pgx.ConnConfig { return p.config }

// Acquire returns a connection, waiting for a free slot until ctx ends. Every acquired connection must be
// given back with Release.
func (p *Pool) Acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, ErrClosed
	}
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosed() {
			p.mu.Unlock()
			return c, nil
		}
	}
	p.mu.Unlock()
	c, err := pgx.ConnectConfig(ctx, p.config.Copy())
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// Release gives c back. A connection that is broken or was left inside a transaction is closed instead of
// reused.
func (p *Pool) Release(c *pgx.Conn) {
	defer func() { <-p.slots }()
	if c.IsClosed() || c.PgConn().TxStatus() != 'I' || c.PgConn().IsBusy() {
		_ = c.Close(context.Background())
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close(context.Background())
		return
	}
	p.idle = append(p.idle, c)
}

// With runs fn on an acquired connection and releases it afterwards.
func (p *Pool) With(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	defer p.Release(c)
	return fn(c)
}

// Tx runs fn in a transaction on an acquired connection: it commits when fn returns nil and rolls back
// otherwise (including when ctx ends).
func (p *Pool) Tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return p.With(ctx, func(c *pgx.Conn) error { return pgx.BeginFunc(ctx, c, fn) })
}

// Close closes the idle connections and makes later Acquire calls fail. Connections in use are closed when
// they are released. It is safe to call more than once.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close(context.Background())
	}
}
