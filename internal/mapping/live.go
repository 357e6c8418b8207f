package mapping

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
)

// ValidateLive checks a compiled mapping against the CRM's live metadata of its remote object and returns
// every finding: a remote field that does not exist; a field crmsync writes into this CRM that is read-only
// there; a remote type that cannot hold the canonical type, or that is stored differently than the mapping
// assumes; enum map values that are not among the CRM's picklist options (writes would be rejected); and
// picklist options that the enum map lacks (reads of records holding them would fail).
//
// written reports whether crmsync writes a canonical field into this CRM, which is the case when the other
// endpoint of the sync owns the field; nil means every writable field is written. Read-only mapped fields
// are never written. ValidateLive has no side effects.
func ValidateLive(m *Mapping, meta connectors.ObjectMeta, written func(field string) bool) []Problem {
	var out []Problem
	for i := range m.fields {
		f := &m.fields[i]
		report := func(format string, args ...any) {
			out = append(out, Problem{Field: f.Name, Message: fmt.Sprintf("%s %s: field %s maps to %s %s, ",
				m.provider, m.object, f.Name, m.prof.noun, f.RemoteName) + fmt.Sprintf(format, args...)})
		}
		live, ok := lookupLive(f, meta)
		if !ok {
			report("which does not exist in %s %s; create it in %s or change spec.fields[%s].remoteName",
				m.prof.title, m.remoteObject, m.prof.title, f.Name)
			continue
		}
		writes := !f.ReadOnly && (written == nil || written(f.Name))
		if writes && live.ReadOnly {
			report("which is read-only in %s, but crmsync writes %s there because the other side owns it; make it writable in %s, set spec.fields[%s].readOnly, or let %s own %s in the SyncJob",
				m.prof.title, f.Name, m.prof.title, f.Name, m.prof.title, f.Name)
		}
		if live.Type != "" {
			checkLiveType(f, live, report)
		}
		if (f.Type == TypeEnum || f.Type == TypeMultiEnum) && len(f.fwdWire) > 0 && len(live.Options) > 0 {
			checkOptions(f, live, writes, report)
		}
	}
	return out
}

// lookupLive finds the live metadata of f under the names a connector may report it by.
func lookupLive(f *Field, meta connectors.ObjectMeta) (connectors.FieldMeta, bool) {
	names := []string{f.RemoteName}
	switch f.format {
	case wRefBind:
		attr := strings.TrimSuffix(strings.TrimPrefix(f.readKey, "_"), "_value")
		names = []string{attr, f.readKey}
	case wListEntry:
		// Pipedrive's personFields call the emails and phones arrays "email" and "phone".
		names = []string{f.readKey, strings.TrimSuffix(f.readKey, "s")}
	}
	for _, n := range names {
		if live, ok := meta.Field(n); ok {
			return live, true
		}
	}
	return connectors.FieldMeta{}, false
}

func checkLiveType(f *Field, live connectors.FieldMeta, report func(string, ...any)) {
	got := f.prof.format(f.Type, live.Type)
	if got == wNone {
		report("whose type %s cannot hold %s values; change spec.fields[%s].type or map another %s",
			live.Type, f.Type, f.Name, f.prof.noun)
		return
	}
	if f.format == wListEntry || live.Type == f.RemoteType {
		return
	}
	if want := f.prof.format(f.Type, f.RemoteType); want != f.format {
		return // the default declares a format of its own, which the live type does not change
	}
	if got != f.format {
		report("whose type %s is stored as %s, but the mapping assumes %s (%s); map a %s of type %s instead",
			live.Type, wireText[got], f.RemoteType, wireText[f.format], f.prof.noun, f.RemoteType)
	}
}

func checkOptions(f *Field, live connectors.FieldMeta, writes bool, report func(string, ...any)) {
	options := make(map[string]bool, len(live.Options))
	for _, o := range live.Options {
		options[o] = true
	}
	mapped := make(map[string]bool, len(f.Values))
	var notOffered []string
	for _, remote := range f.Values {
		mapped[remote] = true
		if !options[remote] {
			notOffered = append(notOffered, remote)
		}
	}
	if writes && len(notOffered) > 0 {
		slices.Sort(notOffered)
		report("whose options do not include %s; add %s in %s or change spec.fields[%s].values",
			quoteList(notOffered), pronoun(notOffered), f.prof.title, f.Name)
	}
	var unmapped []string
	for _, o := range live.Options {
		if !mapped[o] {
			unmapped = append(unmapped, o)
		}
	}
	if len(unmapped) > 0 {
		report("whose options %s are not in spec.fields[%s].values; records holding them fail to sync until they are mapped",
			quoteList(unmapped), f.Name)
	}
}

func quoteList(vs []string) string { return joinQuoted(vs) }

func pronoun(vs []string) string {
	if len(vs) == 1 {
		return "it"
	}
	return "them"
}

// DescribeFunc reads the live metadata of a remote object, as connectors.Connector.Describe does.
type DescribeFunc func(ctx context.Context, object string) (connectors.ObjectMeta, error)

// LiveValidator caches live metadata per (connection, remote object) for a TTL and validates mappings
// against it, so that the sync engine can check before every run without a Describe call each time.
// Concurrent requests for the same key share one Describe call. Failed calls are not cached. It is safe
// for concurrent use; the zero value is not usable, call NewLiveValidator.
type LiveValidator struct {
	ttl     time.Duration
	now     func() time.Time
	mu      sync.Mutex
	entries map[liveKey]*liveEntry
}

type liveKey struct{ connection, object string }

type liveEntry struct {
	meta    connectors.ObjectMeta
	fetched time.Time
	// flight is non-nil while a Describe call for the key is running.
	flight *describeCall
}

type describeCall struct {
	done chan struct{}
	meta connectors.ObjectMeta
	err  error
}

// NewLiveValidator returns a validator whose metadata lives for ttl; now is the clock (nil for time.Now).
func NewLiveValidator(ttl time.Duration, now func() time.Time) *LiveValidator {
	if now == nil {
		now = time.Now
	}
	return &LiveValidator{ttl: ttl, now: now, entries: map[liveKey]*liveEntry{}}
}

// Validate runs ValidateLive for m against the metadata of connection's m.RemoteObject(), describing the
// object through describe when the cache has no fresh copy. The error is describe's; problems are nil
// then.
func (v *LiveValidator) Validate(ctx context.Context, connection string, describe DescribeFunc, m *Mapping, written func(field string) bool) ([]Problem, error) {
	meta, err := v.Meta(ctx, connection, m.RemoteObject(), describe)
	if err != nil {
		return nil, err
	}
	return ValidateLive(m, meta, written), nil
}

// Meta returns the cached metadata of (connection, object), calling describe when it is missing or older
// than the TTL. Callers that arrive while a call is running wait for it instead of calling again. When the
// running call fails only because its caller's context ended, a waiter whose context is alive calls again.
func (v *LiveValidator) Meta(ctx context.Context, connection, object string, describe DescribeFunc) (connectors.ObjectMeta, error) {
	key := liveKey{connection, object}
	for {
		v.mu.Lock()
		e := v.entries[key]
		if e != nil && e.flight == nil && v.now().Sub(e.fetched) < v.ttl {
			v.mu.Unlock()
			return e.meta, nil
		}
		if e != nil && e.flight != nil {
			call := e.flight
			v.mu.Unlock()
			select {
			case <-call.done:
			case <-ctx.Done():
				return connectors.ObjectMeta{}, ctx.Err()
			}
			if isContextError(call.err) && ctx.Err() == nil {
				continue
			}
			return call.meta, call.err
		}
		call := &describeCall{done: make(chan struct{})}
		mine := &liveEntry{flight: call}
		v.entries[key] = mine
		v.mu.Unlock()

		call.meta, call.err = describe(ctx, object)

		v.mu.Lock()
		if v.entries[key] == mine {
			if call.err == nil {
				v.entries[key] = &liveEntry{meta: call.meta, fetched: v.now()}
			} else {
				delete(v.entries, key)
			}
		}
		close(call.done)
		v.mu.Unlock()
		return call.meta, call.err
	}
}

// Invalidate drops the cached metadata of (connection, object), for example after the user changed the
// CRM's fields. The next Meta calls describe again; a call already running is not cached when it ends.
func (v *LiveValidator) Invalidate(connection, object string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.entries, liveKey{connection, object})
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
