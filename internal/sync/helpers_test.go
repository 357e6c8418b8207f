package sync_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/sync"
)

// fakeClock is a clock that moves only when told, one millisecond per reading so that modification times
// are distinct.
type fakeClock struct {
	mu gosync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The canonical fields of the test contacts.
var canonicalFields = []string{"email", "first", "last", "phone", "title", "score"}

// fieldMapper renames fields and converts the score, whose wire type differs per side (int on the source,
// a float on the destination) while its canonical value is an int64.
type fieldMapper struct {
	remote    map[string]string // canonical -> remote
	floatWire bool
}

var (
	sourceMapper = fieldMapper{remote: map[string]string{
		"email": "Email", "first": "FirstName", "last": "LastName", "phone": "Phone", "title": "Title", "score": "Score",
	}}
	destMapper = fieldMapper{floatWire: true, remote: map[string]string{
		"email": "email", "first": "first_name", "last": "last_name", "phone": "phone", "title": "title", "score": "score",
	}}
)

func (m fieldMapper) Fields() []string { return slices.Sorted(maps.Keys(m.remote)) }

func (m fieldMapper) RemoteFields() []string { return slices.Sorted(maps.Values(m.remote)) }

func (m fieldMapper) ToCanonical(r connectors.Record) (sync.Canonical, error) {
	c := make(sync.Canonical, len(m.remote))
	for canon, remote := range m.remote {
		v := r.Fields[remote]
		if canon == "score" && v != nil {
			switch n := v.(type) {
			case int64:
				v = n
			case float64:
				v = int64(n)
			default:
				return nil, fmt.Errorf("score: unexpected wire value %T", v)
			}
		}
		c[canon] = v
	}
	return c, nil
}

func (m fieldMapper) ToRemote(c sync.Canonical, fields []string) (map[string]any, error) {
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		remote, ok := m.remote[f]
		if !ok {
			return nil, fmt.Errorf("no mapping for %s", f)
		}
		v := c[f]
		if f == "score" && v != nil && m.floatWire {
			v = float64(v.(int64))
		}
		out[remote] = v
	}
	return out, nil
}

// env is two in-memory backends, a store and a job between them.
type env struct {
	clock    *fakeClock
	src, dst *memory.Connector
	store    sync.StateStore
	mem      *memStore // the store when it is a memStore
	engine   *sync.Engine
	job      sync.Job
}

type envOptions struct {
	direction   sync.Direction
	policy      sync.DeletePolicy
	archiveSrc  bool
	archiveDst  bool
	owners      map[string]sync.Owner
	store       sync.StateStore
	maxBuffered int
	srcOpts     memory.Options
	dstOpts     memory.Options
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	clock := newClock()
	o.srcOpts.Now, o.dstOpts.Now = clock.Now, clock.Now
	if o.srcOpts.IDPrefix == "" {
		o.srcOpts.IDPrefix = "s"
	}
	if o.dstOpts.IDPrefix == "" {
		o.dstOpts.IDPrefix = "d"
	}
	e := &env{clock: clock}
	var srcConn, dstConn connectors.Connector
	e.src, srcConn = newMemory(o.srcOpts, o.archiveSrc)
	e.dst, dstConn = newMemory(o.dstOpts, o.archiveDst)
	if o.store == nil {
		e.mem = newMemStore()
		o.store = e.mem
	}
	if m, ok := o.store.(*memStore); ok && m.now == nil {
		m.now = clock.Now
	}
	e.store = o.store
	if o.direction == "" {
		o.direction = sync.TwoWay
	}
	if o.policy == "" {
		o.policy = sync.Propagate
	}
	e.engine = sync.New(o.store, sync.Options{MaxBuffered: o.maxBuffered})
	e.job = sync.Job{
		Name:         "default/contacts",
		Source:       sync.Side{Connector: srcConn, Object: "contacts", Mapper: sourceMapper},
		Dest:         sync.Side{Connector: dstConn, Object: "contacts", Mapper: destMapper},
		Direction:    o.direction,
		Owners:       o.owners,
		DefaultOwner: sync.Source,
		Match:        sync.Match{Field: "email", CaseInsensitive: true},
		Lookback:     5 * time.Millisecond,
		DeletePolicy: o.policy,
		MaxAttempts:  3,
		Clock:        clock,
	}
	return e
}

func newMemory(o memory.Options, archive bool) (*memory.Connector, connectors.Connector) {
	if archive {
		a := memory.NewArchiving(o)
		return a.Connector, a
	}
	c := memory.New(o)
	return c, c
}

// run runs the job with ctx and stores the returned cursors in the job, as the controller does.
func (e *env) runCtx(ctx context.Context) (sync.Result, error) {
	res, err := e.engine.Run(ctx, e.job, nil)
	e.job.Source.Cursor, e.job.Dest.Cursor = res.SourceCursor, res.DestCursor
	return res, err
}

// run runs the job and fails the test on error.
func (e *env) run(t testing.TB) sync.Result {
	t.Helper()
	res, err := e.runCtx(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// settle runs until a run writes nothing, at most n times, and returns the number of runs.
func (e *env) settle(t testing.TB, n int) int {
	t.Helper()
	for i := 1; i <= n; i++ {
		res := e.run(t)
		c := res.Counters
		if c.Created+c.Updated+c.Deleted == 0 {
			return i
		}
	}
	t.Fatalf("no quiet run after %d runs", n)
	return n
}

func contact(email, first, last string) map[string]any {
	return map[string]any{"Email": email, "FirstName": first, "LastName": last}
}

func (e *env) mustCreate(t testing.TB, c *memory.Connector, fields map[string]any) string {
	t.Helper()
	id, err := c.Create("contacts", fields)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) mustUpdate(t testing.TB, c *memory.Connector, id string, fields map[string]any) {
	t.Helper()
	if err := c.Update("contacts", id, fields); err != nil {
		t.Fatal(err)
	}
}

// byEmail returns a backend's live records keyed by lower-cased email, in canonical form, and the emails
// that occur more than once.
func byEmail(t testing.TB, c *memory.Connector, m fieldMapper) (map[string]sync.Canonical, []string) {
	t.Helper()
	out := map[string]sync.Canonical{}
	var dups []string
	for id, fields := range c.Snapshot("contacts") {
		rec, err := m.ToCanonical(connectors.Record{ID: id, Fields: fields})
		if err != nil {
			t.Fatal(err)
		}
		email, _ := rec["email"].(string)
		k := strings.ToLower(email)
		if _, ok := out[k]; ok {
			dups = append(dups, k)
		}
		out[k] = rec
	}
	slices.Sort(dups)
	return out, dups
}

// findByEmail returns the id of the live record with the email (case-insensitive).
func findByEmail(t testing.TB, c *memory.Connector, m fieldMapper, email string) string {
	t.Helper()
	for id, fields := range c.Snapshot("contacts") {
		if e, _ := fields[m.remote["email"]].(string); strings.EqualFold(e, email) {
			return id
		}
	}
	t.Fatalf("no record with email %s", email)
	return ""
}
