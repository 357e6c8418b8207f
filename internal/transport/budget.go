package transport

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/crmerr"
)

// Budget defaults.
const (
	DefaultDailyWindow = 24 * time.Hour
	DefaultMaxWait     = 2 * time.Minute
)

// BudgetConfig sets the limits of one connection's API budget. A zero value leaves that dimension
// unlimited until the vendor's usage headers calibrate it.
type BudgetConfig struct {
	// Provider names the CRM in errors ("hubspot"); optional.
	Provider string
	// At most BurstRequests requests start within any rolling BurstWindow (HubSpot: 100 per 10 s).
	BurstRequests int
	BurstWindow   time.Duration
	// DailyRequests is the quota of the daily window (Salesforce Developer Edition: 15,000 per 24 h). A
	// limit reported by the vendor's headers replaces it: the vendor knows the customer's tier.
	DailyRequests int
	// DailyWindow is the length of the daily window; default 24 h.
	DailyWindow time.Duration
	// NextDailyReset, when set, says when a daily window that starts at now ends, for quotas that reset
	// at a fixed hour (HubSpot and Pipedrive at midnight) rather than DailyWindow after first use.
	NextDailyReset func(now time.Time) time.Time
	// MaxConcurrency caps the requests in flight; 0 means no cap.
	MaxConcurrency int
	// ReservePercent (0..100) of the daily quota is left for the customer's other integrations: Acquire
	// refuses once usage reaches the rest. It does not apply to the burst window.
	ReservePercent int
	// MaxWait is the longest Acquire sleeps for the burst window or a pause; a longer wait returns a
	// RateLimited error with RetryAt instead. Default 2 min.
	MaxWait time.Duration
	// Calibrators read vendor usage headers in Observe; nil means DefaultCalibrators.
	Calibrators []Calibrator
}

// Usage is the daily-window usage of a budget, as persisted in a CRMConnection's status.
type Usage struct {
	// Used requests in the current daily window (org-wide where the vendor reports it so).
	Used int
	// Limit of the daily window; 0 when unknown.
	Limit int
	// Remaining requests this budget may still spend, after the reserve; -1 when the limit is unknown.
	Remaining int
	// ResetsAt is when the daily window ends.
	ResetsAt time.Time
}

// Budget paces every request of one connection. One Budget is shared by every sync that uses the
// connection; it is safe for concurrent use. A nil *Budget is unlimited.
//
// The burst window is a rolling log of request completion times: a request is admitted only when fewer
// than BurstRequests requests are in flight or completed within the last BurstWindow. Stamping completion
// (not start) times means the vendor, which counts arrivals, can never see more than the limit.
type Budget struct {
	clock       Clock
	provider    string
	sem         chan struct{}
	maxWait     time.Duration
	reserve     int
	calibrators []Calibrator

	mu          sync.Mutex
	burstLimit  int
	burstWindow time.Duration
	done        []time.Time // completion times, oldest first, kept for two burst windows
	pending     int         // admitted and not yet released
	dailyLimit  int
	dailyWindow time.Duration
	nextReset   func(time.Time) time.Time
	used        int
	resetsAt    time.Time
	pauseUntil  time.Time
	released    chan struct{} // closed on the next release; nil when nobody waits for one
}

// NewBudget returns a budget; a nil clock means SystemClock.
func NewBudget(cfg BudgetConfig, clock Clock) *Budget {
	if clock == nil {
		clock = SystemClock
	}
	b := &Budget{
		clock:       clock,
		provider:    cfg.Provider,
		maxWait:     cfg.MaxWait,
		reserve:     min(max(cfg.ReservePercent, 0), 100),
		calibrators: cfg.Calibrators,
		burstLimit:  max(cfg.BurstRequests, 0),
		burstWindow: cfg.BurstWindow,
		dailyLimit:  max(cfg.DailyRequests, 0),
		dailyWindow: cfg.DailyWindow,
		nextReset:   cfg.NextDailyReset,
	}
	if b.maxWait <= 0 {
		b.maxWait = DefaultMaxWait
	}
	if b.dailyWindow <= 0 {
		b.dailyWindow = DefaultDailyWindow
	}
	if b.calibrators == nil {
		b.calibrators = DefaultCalibrators
	}
	if cfg.MaxConcurrency > 0 {
		b.sem = make(chan struct{}, cfg.MaxConcurrency)
	}
	return b
}

func noop() {}

// Acquire waits until one request may start and returns the function to call when its response has
// been read (exactly once). It returns a RateLimited *crmerr.Error at once, with RetryAt, when the daily
// window minus the reserve is spent, or when the wait would exceed MaxWait or ctx's deadline; it never
// sleeps for hours. A cancelled ctx gives a Transient error.
func (b *Budget) Acquire(ctx context.Context) (release func(), err error) {
	if b == nil {
		return noop, nil
	}
	if err := b.takeSlot(ctx); err != nil {
		return nil, err
	}
	for {
		b.mu.Lock()
		now := b.clock.Now()
		d := b.admitLocked(now)
		var released chan struct{}
		if d.untilRelease {
			if b.released == nil {
				b.released = make(chan struct{})
			}
			released = b.released
		}
		b.mu.Unlock()
		switch {
		case d.admitted:
			return b.releaser(), nil
		case d.refuse != nil:
			b.freeSlot()
			return nil, d.refuse
		}
		if dl, ok := ctx.Deadline(); ok && d.wait > time.Until(dl) {
			b.freeSlot()
			return nil, b.limited(now.Add(d.wait), "the API budget would not allow a request before the deadline")
		}
		if err := b.wait(ctx, d.wait, released); err != nil {
			b.freeSlot()
			return nil, err
		}
	}
}

type decision struct {
	admitted     bool
	refuse       *crmerr.Error
	wait         time.Duration
	untilRelease bool // no completed request to age out: wait for a release
}

func (b *Budget) admitLocked(now time.Time) decision {
	b.rollDailyLocked(now)
	if allowed := b.allowedLocked(); allowed >= 0 && b.used >= allowed {
		return decision{refuse: b.limited(b.resetsAt, fmt.Sprintf(
			"daily API budget spent (%d of %d used, %d%% reserved for other integrations)",
			b.used, b.dailyLimit, b.reserve))}
	}
	if now.Before(b.pauseUntil) {
		return b.waitOrRefuse(now, b.pauseUntil.Sub(now), "the CRM asked us to slow down")
	}
	if b.burstLimit > 0 && b.burstWindow > 0 {
		b.pruneLocked(now)
		first := b.firstInWindowLocked(now)
		if len(b.done)-first+b.pending >= b.burstLimit {
			if first == len(b.done) {
				return decision{untilRelease: true}
			}
			wake := b.done[first].Add(b.burstWindow + time.Nanosecond)
			return b.waitOrRefuse(now, wake.Sub(now), "burst window full")
		}
	}
	b.pending++
	b.used++
	return decision{admitted: true}
}

func (b *Budget) waitOrRefuse(now time.Time, wait time.Duration, why string) decision {
	if wait > b.maxWait {
		return decision{refuse: b.limited(now.Add(wait), why)}
	}
	return decision{wait: wait}
}

func (b *Budget) limited(at time.Time, msg string) *crmerr.Error {
	e := crmerr.New(crmerr.RateLimited, b.provider, "", msg)
	e.Code = "BUDGET"
	e.RetryAt = at
	return e
}

// allowedLocked is the daily usage this budget may reach, or -1 when the limit is unknown.
func (b *Budget) allowedLocked() int {
	if b.dailyLimit <= 0 {
		return -1
	}
	return b.dailyLimit * (100 - b.reserve) / 100
}

func (b *Budget) rollDailyLocked(now time.Time) {
	if b.resetsAt.IsZero() || !now.Before(b.resetsAt) {
		b.used = 0
		b.resetsAt = now.Add(b.dailyWindow)
		if b.nextReset != nil {
			if at := b.nextReset(now); at.After(now) {
				b.resetsAt = at
			}
		}
	}
}

// firstInWindowLocked returns the index of the oldest completion still inside the burst window. A
// completion exactly one window old still counts, so the vendor's boundary rule cannot matter.
func (b *Budget) firstInWindowLocked(now time.Time) int {
	edge := now.Add(-b.burstWindow)
	return sort.Search(len(b.done), func(i int) bool { return !b.done[i].Before(edge) })
}

// pruneLocked forgets completions older than two windows (one window of history is kept for Observe).
func (b *Budget) pruneLocked(now time.Time) {
	edge := now.Add(-2 * b.burstWindow)
	i := sort.Search(len(b.done), func(i int) bool { return !b.done[i].Before(edge) })
	if i > 0 {
		b.done = append(b.done[:0], b.done[i:]...)
	}
}

func (b *Budget) wait(ctx context.Context, d time.Duration, released <-chan struct{}) error {
	if released != nil {
		select {
		case <-released:
			return nil
		case <-ctx.Done():
			return crmerr.Wrap(crmerr.Transient, b.provider, "wait for API budget", ctx.Err())
		}
	}
	if err := b.clock.Sleep(ctx, d); err != nil {
		return crmerr.Wrap(crmerr.Transient, b.provider, "wait for API budget", err)
	}
	return nil
}

func (b *Budget) takeSlot(ctx context.Context) error {
	if b.sem == nil {
		return nil
	}
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return crmerr.Wrap(crmerr.Transient, b.provider, "wait for a concurrency slot", ctx.Err())
	}
}

func (b *Budget) freeSlot() {
	if b.sem != nil {
		<-b.sem
	}
}

func (b *Budget) releaser() func() {
	var once sync.Once
	return func() { once.Do(b.release) }
}

func (b *Budget) release() {
	b.mu.Lock()
	b.pending--
	if b.burstLimit > 0 {
		b.done = append(b.done, b.clock.Now())
	}
	if b.released != nil {
		close(b.released)
		b.released = nil
	}
	b.mu.Unlock()
	b.freeSlot()
}

// PauseUntil makes Acquire wait until t (or refuse, when t is further than MaxWait). An earlier t than a
// pause already in force changes nothing.
func (b *Budget) PauseUntil(t time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	if t.After(b.pauseUntil) {
		b.pauseUntil = t
	}
	b.mu.Unlock()
}

// Observe calibrates the budget from a response's headers through the budget's calibrators. It may be
// called with any response, of any status.
func (b *Budget) Observe(h http.Header) {
	if b == nil {
		return
	}
	b.observe(h, time.Time{}, false)
}

// observe calibrates from the response to a request sent at sentAt (zero: now). The vendor's burst count
// includes only requests that arrived after sentAt-window, so comparing it with our own completions after
// that instant tells usage by others apart from our own requests in flight. The burst count of a
// rate-limit answer is ignored: "0 left" says nothing about when room frees up, and the client's backoff
// and PauseUntil handle it; counting it as a fresh full window would wait a whole window per answer.
func (b *Budget) observe(h http.Header, sentAt time.Time, rateLimited bool) {
	if b == nil || len(h) == 0 {
		return
	}
	st := unreported()
	for _, c := range b.calibrators {
		c(h, &st)
	}
	if rateLimited {
		st.BurstRemaining = -1
	}
	if st == unreported() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	if sentAt.IsZero() {
		sentAt = now
	}
	b.applyLocked(st, now, sentAt)
}

func (b *Budget) applyLocked(st BudgetState, now, sentAt time.Time) {
	if st.BurstLimit > 0 {
		b.burstLimit = st.BurstLimit
	}
	if st.BurstWindow > 0 {
		b.burstWindow = st.BurstWindow
	}
	if st.BurstRemaining >= 0 && b.burstLimit > 0 && b.burstWindow > 0 && !sentAt.Before(now.Add(-b.burstWindow)) {
		b.pruneLocked(now)
		edge := sentAt.Add(-b.burstWindow)
		first := sort.Search(len(b.done), func(i int) bool { return !b.done[i].Before(edge) })
		ours := len(b.done) - first + b.pending
		for n := b.burstLimit - st.BurstRemaining - ours; n > 0; n-- {
			b.done = append(b.done, now) // others' requests: assume they just happened
		}
	}
	b.rollDailyLocked(now)
	if st.DailyLimit > 0 {
		b.dailyLimit = st.DailyLimit
	}
	switch {
	case st.DailyUsed >= 0:
		b.used = st.DailyUsed + b.pending
	case st.DailyRemaining >= 0 && b.dailyLimit > 0:
		b.used = max(b.dailyLimit-st.DailyRemaining, 0) + b.pending
	}
	if !st.DailyResetsAt.IsZero() && st.DailyResetsAt.After(now) {
		b.resetsAt = st.DailyResetsAt
	}
	if st.PauseUntil.After(b.pauseUntil) {
		b.pauseUntil = st.PauseUntil
	}
}

// Usage reports the daily window.
func (b *Budget) Usage() Usage {
	if b == nil {
		return Usage{Remaining: -1}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rollDailyLocked(b.clock.Now())
	u := Usage{Used: b.used, Limit: b.dailyLimit, Remaining: -1, ResetsAt: b.resetsAt}
	if allowed := b.allowedLocked(); allowed >= 0 {
		u.Remaining = max(allowed-b.used, 0)
	}
	return u
}

// remaining is Usage().Remaining; -1 when the daily limit is unknown or the budget is nil.
func (b *Budget) remaining() int {
	if b == nil {
		return -1
	}
	return b.Usage().Remaining
}

// Restore loads usage persisted before a restart. Usage whose window has already reset is ignored, but
// its limit is kept. Restore never lowers usage observed since the start.
func (b *Budget) Restore(u Usage) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if u.Limit > 0 {
		b.dailyLimit = u.Limit
	}
	now := b.clock.Now()
	if u.ResetsAt.IsZero() || !now.Before(u.ResetsAt) {
		return
	}
	b.rollDailyLocked(now)
	b.used = max(b.used, u.Used)
	b.resetsAt = u.ResetsAt
}
