package sync_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/crmsync/crmsync/internal/state"
	"github.com/crmsync/crmsync/internal/sync"
)

// memStore is an in-memory sync.StateStore with the semantics of state.Store, plus the match index.
type memStore struct {
	mu        gosync.Mutex
	links     map[string]map[string]state.Link // job -> source id -> link
	byDest    map[string]map[string]string     // job -> dest id -> source id
	retries   map[string]map[string]state.RetryItem
	runs      map[string][]state.RunRecord
	unmatched map[string]map[string]string // job/side -> id -> key
	calls     int
	now       func() time.Time // sets RetryItem.UpdatedAt
}

var _ sync.StateStore = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		links:     map[string]map[string]state.Link{},
		byDest:    map[string]map[string]string{},
		retries:   map[string]map[string]state.RetryItem{},
		runs:      map[string][]state.RunRecord{},
		unmatched: map[string]map[string]string{},
	}
}

func (m *memStore) lock() func() {
	m.mu.Lock()
	m.calls++
	return m.mu.Unlock
}

func (m *memStore) jobLinks(job string) map[string]state.Link {
	if m.links[job] == nil {
		m.links[job] = map[string]state.Link{}
		m.byDest[job] = map[string]string{}
	}
	return m.links[job]
}

func (m *memStore) UpsertLinks(_ context.Context, job string, links []state.Link) error {
	defer m.lock()()
	for _, l := range links {
		l.SourceFingerprint = slices.Clone(l.SourceFingerprint)
		l.DestFingerprint = slices.Clone(l.DestFingerprint)
		links := m.jobLinks(job)
		if old, ok := links[l.SourceID]; ok && m.byDest[job][old.DestID] == l.SourceID {
			delete(m.byDest[job], old.DestID)
		}
		links[l.SourceID] = l
		m.byDest[job][l.DestID] = l.SourceID
	}
	return nil
}

func (m *memStore) LookupBySource(_ context.Context, job string, ids []string) (map[string]state.Link, error) {
	defer m.lock()()
	out := map[string]state.Link{}
	for _, id := range ids {
		if l, ok := m.jobLinks(job)[id]; ok {
			out[id] = l
		}
	}
	return out, nil
}

func (m *memStore) LookupByDest(_ context.Context, job string, ids []string) (map[string]state.Link, error) {
	defer m.lock()()
	links := m.jobLinks(job)
	out := map[string]state.Link{}
	for _, id := range ids {
		if src, ok := m.byDest[job][id]; ok {
			out[id] = links[src]
		}
	}
	return out, nil
}

func (m *memStore) DeleteLinks(_ context.Context, job string, ids []string) error {
	defer m.lock()()
	links := m.jobLinks(job)
	for _, id := range ids {
		if l, ok := links[id]; ok && m.byDest[job][l.DestID] == id {
			delete(m.byDest[job], l.DestID)
		}
		delete(links, id)
	}
	return nil
}

func (m *memStore) IterateLinks(ctx context.Context, job string, fn func([]state.Link) error) error {
	m.mu.Lock()
	var all []state.Link
	for _, l := range m.jobLinks(job) {
		all = append(all, l)
	}
	m.mu.Unlock()
	slices.SortFunc(all, func(a, b state.Link) int { return strings.Compare(a.SourceID, b.SourceID) })
	for len(all) > 0 {
		n := min(len(all), 1000)
		if err := fn(all[:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

func retryKey(side state.Side, id string) string { return string(side) + "/" + id }

func (m *memStore) EnqueueRetry(_ context.Context, job string, items []state.RetryItem) error {
	defer m.lock()()
	if m.retries[job] == nil {
		m.retries[job] = map[string]state.RetryItem{}
	}
	for _, it := range items {
		k := retryKey(it.Side, it.RecordID)
		it.Attempts = m.retries[job][k].Attempts + 1
		if m.now != nil {
			it.UpdatedAt = m.now()
		}
		m.retries[job][k] = it
	}
	return nil
}

func (m *memStore) DueRetries(_ context.Context, job string, now time.Time, limit int) ([]state.RetryItem, error) {
	defer m.lock()()
	var out []state.RetryItem
	for _, it := range m.retries[job] {
		if !it.DeadLetter && !it.NextAttempt.After(now) {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b state.RetryItem) int { return a.NextAttempt.Compare(b.NextAttempt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memStore) DeadLetters(_ context.Context, job string, limit int) ([]state.RetryItem, error) {
	defer m.lock()()
	var out []state.RetryItem
	for _, it := range m.retries[job] {
		if it.DeadLetter {
			out = append(out, it)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (m *memStore) ResolveRetries(_ context.Context, job string, side state.Side, ids []string) error {
	defer m.lock()()
	for _, id := range ids {
		delete(m.retries[job], retryKey(side, id))
	}
	return nil
}

func (m *memStore) CountRetries(_ context.Context, job string) (pending, dead int64, err error) {
	defer m.lock()()
	for _, it := range m.retries[job] {
		if it.DeadLetter {
			dead++
		} else {
			pending++
		}
	}
	return pending, dead, nil
}

func (m *memStore) RecordRun(_ context.Context, job string, run state.RunRecord) (int64, error) {
	defer m.lock()()
	m.runs[job] = append(m.runs[job], run)
	return int64(len(m.runs[job])), nil
}

func (m *memStore) index(job string, side state.Side) map[string]string {
	k := job + "/" + string(side)
	if m.unmatched[k] == nil {
		m.unmatched[k] = map[string]string{}
	}
	return m.unmatched[k]
}

func (m *memStore) PutUnmatched(_ context.Context, job string, side state.Side, keys map[string]string) error {
	defer m.lock()()
	for id, key := range keys {
		m.index(job, side)[id] = key
	}
	return nil
}

func (m *memStore) FindUnmatched(_ context.Context, job string, side state.Side, keys []string) (map[string]string, error) {
	defer m.lock()()
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	out := map[string]string{}
	idx := m.index(job, side)
	for _, id := range slices.Sorted(maps.Keys(idx)) {
		if k := idx[id]; want[k] {
			out[k] = id
		}
	}
	return out, nil
}

func (m *memStore) DeleteUnmatched(_ context.Context, job string, side state.Side, ids []string) error {
	defer m.lock()()
	for _, id := range ids {
		delete(m.index(job, side), id)
	}
	return nil
}

// retryItems returns a job's retry queue, sorted.
func (m *memStore) retryItems(job string) []state.RetryItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.RetryItem
	for _, it := range m.retries[job] {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b state.RetryItem) int {
		return strings.Compare(retryKey(a.Side, a.RecordID), retryKey(b.Side, b.RecordID))
	})
	return out
}

func (m *memStore) linkCount(job string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.links[job])
}
