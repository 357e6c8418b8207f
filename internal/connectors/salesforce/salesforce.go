// Package salesforce is the Salesforce connector: SOQL change reads, sObject Collections and Bulk API 2.0
// writes, behind the common connector contract.
package salesforce

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

// APIVersion is the REST API version the connector speaks unless Config.APIVersion overrides it.
const APIVersion = "v66.0"

// Provider is the connector's provider name.
const Provider = "salesforce"

// Salesforce's limits that shape the connector.
const (
	// MaxCollection is the most records one sObject Collections call takes.
	MaxCollection = 200
	// MaxQueryBatch is the largest query page.
	MaxQueryBatch = 2000
	// DeletedRetention is how far back getDeleted and the recycle bin reach.
	DeletedRetention = 15 * 24 * time.Hour
	// DefaultBulkThreshold is the write size above which Bulk API 2.0 is used.
	DefaultBulkThreshold = 10000
)

var _ connectors.Connector = (*Connector)(nil)

// Config configures a Connector.
type Config struct {
	// InstanceURL is the org's instance ("https://acme.my.salesforce.com"). Empty means: take it from the
	// token's instance_url, as Salesforce's token response carries it.
	InstanceURL string
	// APIVersion overrides the pinned APIVersion ("v67.0"), e.g. from spec.apiVersion.
	APIVersion string
	// Tokens supplies access tokens. Required. When it implements transport.Invalidator, a 401
	// INVALID_SESSION_ID refreshes the token once and retries.
	Tokens transport.TokenSource
	// Budget paces every call of the connection; nil is unlimited.
	Budget *transport.Budget
	// HTTPClient sends the requests; nil uses transport.DefaultHTTPClient.
	HTTPClient *http.Client
	// Clock is the time source of retries, bulk polling and the getDeleted window; nil is the system clock.
	Clock transport.Clock
	// BulkThreshold: an Upsert of more records than this uses Bulk API 2.0 (default 10,000); a negative
	// value never does.
	BulkThreshold int
	// BulkPollInterval and BulkPollMax shape the polling of a bulk job: the first poll waits
	// BulkPollInterval (default 500 ms), each next one twice as long, at most BulkPollMax (default 10 s).
	BulkPollInterval, BulkPollMax time.Duration
	// BulkTimeout bounds the wait for a bulk job (default 30 min).
	BulkTimeout time.Duration
	// Transport tunables; zero values use the transport's defaults.
	MaxAttempts             int
	BaseBackoff, MaxBackoff time.Duration
	MaxRetryWait            time.Duration
	Hooks                   transport.Hooks
}

// Connector is a Salesforce org behind the connector contract. It is safe for concurrent use.
type Connector struct {
	cfg     Config
	version string

	mu       sync.Mutex
	client   *transport.Client
	base     string // https://instance/services/data/vXX.X
	describe map[string]connectors.ObjectMeta
	closed   bool
}

// New returns a connector. It makes no call: the instance URL, when not configured, is read from the
// first token.
func New(cfg Config) (*Connector, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("salesforce: Config.Tokens is required")
	}
	v := cfg.APIVersion
	if v == "" {
		v = APIVersion
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if cfg.BulkThreshold == 0 {
		cfg.BulkThreshold = DefaultBulkThreshold
	}
	if cfg.BulkPollInterval <= 0 {
		cfg.BulkPollInterval = 500 * time.Millisecond
	}
	if cfg.BulkPollMax <= 0 {
		cfg.BulkPollMax = 10 * time.Second
	}
	if cfg.BulkTimeout <= 0 {
		cfg.BulkTimeout = 30 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = transport.SystemClock
	}
	c := &Connector{cfg: cfg, version: v, describe: map[string]connectors.ObjectMeta{}}
	if cfg.InstanceURL != "" {
		if err := c.initClient(cfg.InstanceURL); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Connector) initClient(instance string) error {
	instance = strings.TrimRight(instance, "/")
	base := instance + "/services/data/" + c.version
	cl, err := transport.New(transport.Config{
		Provider: Provider, BaseURL: base, HTTPClient: c.cfg.HTTPClient, Tokens: c.cfg.Tokens,
		Budget: c.cfg.Budget, Classify: Classifier(c.version), MaxAttempts: c.cfg.MaxAttempts,
		BaseBackoff: c.cfg.BaseBackoff, MaxBackoff: c.cfg.MaxBackoff, MaxRetryWait: c.cfg.MaxRetryWait,
		Hooks: c.cfg.Hooks, Clock: c.cfg.Clock,
	})
	if err != nil {
		return &crmerr.Error{Kind: crmerr.Permanent, Provider: Provider, Op: "connect", Message: "invalid instance URL: set spec.instanceURL", Err: err}
	}
	c.client, c.base = cl, base
	return nil
}

// api returns the transport client, resolving the instance URL from the token on first use.
func (c *Connector) api(ctx context.Context) (*transport.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, crmerr.New(crmerr.Permanent, Provider, "call", "connector is closed")
	}
	if c.client != nil {
		return c.client, nil
	}
	tok, err := c.cfg.Tokens.Token(ctx)
	if err != nil {
		var ce *crmerr.Error
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, &crmerr.Error{Kind: crmerr.Auth, Provider: Provider, Op: "get access token", Message: "cannot get an access token", Err: err}
	}
	inst, _ := tok.Extra("instance_url").(string)
	if inst == "" {
		return nil, crmerr.New(crmerr.Permanent, Provider, "get access token", "the token response has no instance_url: set the connection's instance URL")
	}
	if err := c.initClient(inst); err != nil {
		return nil, err
	}
	return c.client, nil
}

func (c *Connector) do(ctx context.Context, req transport.Request) (*transport.Response, error) {
	cl, err := c.api(ctx)
	if err != nil {
		return nil, err
	}
	return cl.Do(ctx, req)
}

// Provider returns "salesforce".
func (c *Connector) Provider() string { return Provider }

// Capabilities describe Salesforce's batch sizes and delete detection.
func (c *Connector) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{
		DefaultObjects: map[connectors.Object]string{
			connectors.Contacts: "Contact", connectors.Companies: "Account", connectors.Deals: "Opportunity",
		},
		MaxPageSize:        MaxQueryBatch,
		MaxReadBatch:       MaxCollection,
		MaxWriteBatch:      MaxCollection,
		MaxDeleteBatch:     MaxCollection,
		UpsertByExternalID: true,
		DeleteDetection:    connectors.DeletesByListing,
		DeletedRetention:   DeletedRetention,
		Webhooks:           false,
	}
}

// Close releases the connector; later calls fail. It is safe to call more than once.
func (c *Connector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func opName(verb, object string) string { return fmt.Sprintf("%s %s", verb, object) }
