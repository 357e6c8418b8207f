package demo

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Check is one thing the demo shows happening, such as an edit travelling from one side to the other.
type Check struct {
	Name   string
	Passed bool
	// Line says what happened, in one line a person can follow; empty while the check is pending.
	Line string
}

// check is a Check in progress: poll advances it with each snapshot.
type check struct {
	Check
	done bool
	poll func(ctx context.Context, snap *snapshot, w *watcher)
}

func (c *check) pass(w *watcher, line string) { c.finish(w, true, line) }
func (c *check) fail(w *watcher, line string) { c.finish(w, false, line) }

func (c *check) finish(w *watcher, passed bool, line string) {
	c.done, c.Passed, c.Line = true, passed, line
	mark := "✓"
	if !passed {
		mark = "✗"
	}
	w.d.screen.event(mark + " " + line)
}

// travelTimeout is how long an edit may take to reach the other side: two sync intervals and a run.
const travelTimeout = 2 * time.Minute

// appToHubSpotCheck edits a job title in the application database (the app owns job titles) and waits
// until HubSpot has it.
func (d *demo) appToHubSpotCheck() *check {
	k := overlapIndex(1)
	p := personAt(k)
	const title = "Head of Platform"
	var editedAt time.Time
	c := &check{Check: Check{Name: "app DB -> HubSpot"}}
	c.poll = func(ctx context.Context, _ *snapshot, w *watcher) {
		if w.first[contactsJob] == nil {
			return
		}
		if editedAt.IsZero() {
			if err := d.app.set(ctx, p.email, "job_title", title); err != nil {
				c.fail(w, fmt.Sprintf("app DB -> HubSpot: could not edit the app database: %v", err))
				return
			}
			editedAt = time.Now()
			return
		}
		rec, ok := d.hub.Record("contacts", d.hubIDs[k])
		switch {
		case ok && rec.Properties["jobtitle"] == title:
			c.pass(w, fmt.Sprintf("app DB -> HubSpot: job title of %s %s set to %q in the app DB at %s, in HubSpot %s later",
				p.first, p.last, title, clock(editedAt), short(time.Since(editedAt))))
		case time.Since(editedAt) > travelTimeout:
			c.fail(w, fmt.Sprintf("app DB -> HubSpot: the job title edited in the app database at %s had not reached HubSpot after %s (it shows %q)",
				clock(editedAt), short(travelTimeout), rec.Properties["jobtitle"]))
		}
	}
	return c
}

// hubSpotToAppCheck moves a contact to another lifecycle stage in HubSpot (marketing owns it) and waits
// until the application database has it.
func (d *demo) hubSpotToAppCheck() *check {
	k := overlapIndex(2)
	p := personAt(k)
	stage := "evangelist"
	if hubspotContact(k)["lifecyclestage"] == stage {
		stage = "customer"
	}
	var editedAt time.Time
	c := &check{Check: Check{Name: "HubSpot -> app DB"}}
	c.poll = func(ctx context.Context, _ *snapshot, w *watcher) {
		if w.first[contactsJob] == nil {
			return
		}
		if editedAt.IsZero() {
			if err := d.hub.Update("contacts", d.hubIDs[k], map[string]string{"lifecyclestage": stage}); err != nil {
				c.fail(w, fmt.Sprintf("HubSpot -> app DB: could not edit the HubSpot contact: %v", err))
				return
			}
			editedAt = time.Now()
			return
		}
		got, err := d.app.column(ctx, p.email, "lifecycle_stage")
		switch {
		case err == nil && got == stage:
			c.pass(w, fmt.Sprintf("HubSpot -> app DB: %s %s moved to lifecycle stage %s in HubSpot at %s, in the app DB %s later",
				p.first, p.last, stage, clock(editedAt), short(time.Since(editedAt))))
		case time.Since(editedAt) > travelTimeout:
			c.fail(w, fmt.Sprintf("HubSpot -> app DB: the lifecycle stage changed in HubSpot at %s had not reached the app database after %s (it shows %q)",
				clock(editedAt), short(travelTimeout), got))
		}
	}
	return c
}

// tokenCheck waits for the HubSpot connection to refresh its access token, and checks that it did so
// while the old token was still valid: status.lastTokenRefreshTime moves while the previous
// status.tokenExpiresAt is in the future.
func (d *demo) tokenCheck() *check {
	var firstRefresh, expiry time.Time
	var seenAt time.Time
	c := &check{Check: Check{Name: "token refresh"}}
	c.poll = func(_ context.Context, snap *snapshot, w *watcher) {
		conn := snap.conn(hubspotConn)
		if conn == nil || conn.Status.LastTokenRefreshTime == nil || conn.Status.TokenExpiresAt == nil {
			return
		}
		last, exp := conn.Status.LastTokenRefreshTime.Time, conn.Status.TokenExpiresAt.Time
		if firstRefresh.IsZero() {
			firstRefresh, expiry, seenAt = last, exp, snap.at
			return
		}
		if !last.After(firstRefresh) {
			expiry = exp
			if snap.at.Sub(seenAt) > hubspotTokenLifetime+time.Minute {
				c.fail(w, fmt.Sprintf("token: HubSpot's access token, which expires at %s, was not refreshed within %s", clock(expiry), short(hubspotTokenLifetime+time.Minute)))
			}
			return
		}
		unauthorized := d.hub.Stats().ByStatus[http.StatusUnauthorized]
		if !expiry.After(last) {
			c.fail(w, fmt.Sprintf("token: HubSpot's access token was refreshed at %s, after it had expired at %s", clock(last), clock(expiry)))
			return
		}
		c.pass(w, fmt.Sprintf("token: HubSpot access token (lifetime %s) refreshed at %s, %s before it expired; %d calls answered 401",
			human(hubspotTokenLifetime), clock(last), short(expiry.Sub(last)), unauthorized))
	}
	return c
}

// rateLimitCheck checks that the HubSpot connection used its whole burst window during the first syncs
// (the limit was met) and was never refused (respected): crmsync paced its calls instead.
func (d *demo) rateLimitCheck() *check {
	c := &check{Check: Check{Name: "rate limit"}}
	c.poll = func(_ context.Context, _ *snapshot, w *watcher) {
		if !w.allFirstSyncs() {
			return
		}
		st := d.hubEmu.rec.burst(hubspotBurstWindow, time.Now())
		switch {
		case st.limited > 0:
			c.fail(w, fmt.Sprintf("rate limit: HubSpot allows %d requests per %s and answered %d of crmsync's %d requests with 429",
				hubspotBurstLimit, short(hubspotBurstWindow), st.limited, st.calls))
		case st.peak >= hubspotBurstLimit:
			c.pass(w, fmt.Sprintf("rate limit: HubSpot allows %d requests per %s; crmsync sent %d over %s, never more than %d within %s, and was never refused (0 answers 429)",
				hubspotBurstLimit, human(hubspotBurstWindow), st.calls, st.span.Round(100*time.Millisecond), st.peak, human(hubspotBurstWindow)))
		case d.opts.Once && w.othersDone(c):
			c.fail(w, fmt.Sprintf("rate limit: HubSpot's limit of %d requests per %s was never reached: crmsync sent at most %d within %s",
				hubspotBurstLimit, short(hubspotBurstWindow), st.peak, short(hubspotBurstWindow)))
		}
	}
	return c
}

// othersDone reports whether every check but c is done.
func (w *watcher) othersDone(c *check) bool {
	for _, o := range w.checks {
		if o != c && !o.done {
			return false
		}
	}
	return true
}
