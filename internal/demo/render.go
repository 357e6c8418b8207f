package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	crmv1 "github.com/crmsync/crmsync/api/v1alpha1"
)

// screen writes the demo's output. Interactive, it keeps the status table at the bottom and redraws it
// in place with ANSI escapes, printing event lines above it. Otherwise it prints event lines as they come
// and a status line whenever a job's or a connection's state changes.
type screen struct {
	mu          sync.Mutex
	w           io.Writer
	interactive bool
	width       func() int
	drawn       int      // lines of the table on screen
	last        []string // the table last drawn
	plain       map[string]string
}

func newScreen(w io.Writer, interactive bool, width func() int) *screen {
	return &screen{w: w, interactive: interactive, width: width, plain: map[string]string{}}
}

func (s *screen) clear() {
	if s.interactive && s.drawn > 0 {
		fmt.Fprintf(s.w, "\x1b[%dA\x1b[J", s.drawn)
		s.drawn = 0
	}
}

func (s *screen) draw() {
	if !s.interactive {
		return
	}
	cols := 0
	if s.width != nil {
		cols = s.width()
	}
	for _, l := range s.last {
		// A wrapped line would take two rows, and the next redraw would leave one behind.
		if r := []rune(l); cols > 1 && len(r) >= cols {
			l = string(r[:cols-1])
		}
		fmt.Fprintln(s.w, l)
	}
	s.drawn = len(s.last)
}

// event prints one line above the table.
func (s *screen) event(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clear()
	if !s.interactive {
		line = time.Now().Format("15:04:05 ") + line
	}
	fmt.Fprintln(s.w, line)
	s.draw()
}

// table shows the current state: the whole table when interactive, else the plain lines that changed
// (each plain line is keyed by what it describes, the text before the first ':').
func (s *screen) table(lines, plain []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interactive {
		s.clear()
		s.last = lines
		s.draw()
		return
	}
	for _, l := range plain {
		key, _, _ := strings.Cut(l, ":")
		if s.plain[key] != l {
			s.plain[key] = l
			fmt.Fprintln(s.w, time.Now().Format("15:04:05 ")+l)
		}
	}
}

// done leaves the last table on screen and stops redrawing it.
func (s *screen) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drawn, s.last = 0, nil
}

// tableLines renders the status table: the SyncJobs, then the CRMConnections.
func (d *demo) tableLines(snap *snapshot) []string {
	var jobs strings.Builder
	tw := tabwriter.NewWriter(&jobs, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SYNC JOB\tREADY\tSYNCED\tREAD\tCREATED\tUPDATED\tFAILED\tRUN\tFLOW\n")
	for _, name := range d.manifests.names("SyncJob") {
		j := snap.job(name)
		if j == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\tnot found\t-\n", name)
			continue
		}
		t := crmv1.RecordCounters{}
		if j.Status.Totals != nil {
			t = *j.Status.Totals
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", j.Name,
			conditionStatus(j.Status.Conditions, crmv1.ConditionReady), conditionStatus(j.Status.Conditions, crmv1.ConditionSynced),
			t.Read, t.Created, t.Updated, j.Status.FailedRecords, runState(j, snap.at), flow(j))
	}
	tw.Flush()
	var conns strings.Builder
	tw = tabwriter.NewWriter(&conns, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "CONNECTION\tREADY\tTOKEN EXPIRES\tREFRESHED\tCALLS TODAY\tLAST 10s\tACCOUNT\n")
	for _, name := range d.manifests.names("CRMConnection") {
		c := snap.conn(name)
		if c == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tnot found\n", name)
			continue
		}
		burst := "-"
		if name == hubspotConn {
			burst = fmt.Sprintf("%d/%d", d.hubEmu.rec.burst(hubspotBurstWindow, snap.at).inLast, hubspotBurstLimit)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, conditionStatus(c.Status.Conditions, crmv1.ConditionReady),
			tokenExpiry(c, snap.at), refreshed(c, snap.at), budget(c), burst, account(c))
	}
	tw.Flush()
	header := fmt.Sprintf("── %s, up %s ", time.Now().Format("15:04:05"), short(time.Since(d.started)))
	lines := []string{header + strings.Repeat("─", max(0, 100-len([]rune(header))))}
	lines = append(lines, strings.Split(strings.TrimRight(jobs.String(), "\n"), "\n")...)
	lines = append(lines, "")
	return append(lines, strings.Split(strings.TrimRight(conns.String(), "\n"), "\n")...)
}

// plainLines describes each job and connection in one line, for output that is not a terminal.
func (d *demo) plainLines(snap *snapshot) []string {
	var out []string
	for _, name := range d.manifests.names("SyncJob") {
		j := snap.job(name)
		if j == nil {
			continue
		}
		t := crmv1.RecordCounters{}
		if j.Status.Totals != nil {
			t = *j.Status.Totals
		}
		state := ""
		if reason, msg := conditionReason(j.Status.Conditions, crmv1.ConditionReady); conditionStatus(j.Status.Conditions, crmv1.ConditionReady) != "True" && reason != "" {
			state = fmt.Sprintf(" (%s: %s)", reason, oneLine(msg, 120))
		}
		if p := j.Status.Progress; p != nil {
			state = fmt.Sprintf(" running %s", progressText(p.Done, p.EstimatedTotal))
		}
		out = append(out, fmt.Sprintf("syncjob/%s: Ready=%s Synced=%s read=%d created=%d updated=%d failed=%d%s", j.Name,
			conditionStatus(j.Status.Conditions, crmv1.ConditionReady), conditionStatus(j.Status.Conditions, crmv1.ConditionSynced),
			t.Read, t.Created, t.Updated, j.Status.FailedRecords, state))
	}
	for _, name := range d.manifests.names("CRMConnection") {
		c := snap.conn(name)
		if c == nil {
			continue
		}
		state := ""
		if reason, msg := conditionReason(c.Status.Conditions, crmv1.ConditionReady); conditionStatus(c.Status.Conditions, crmv1.ConditionReady) != "True" && reason != "" {
			state = fmt.Sprintf(" (%s: %s)", reason, oneLine(msg, 120))
		}
		expires := "-"
		if c.Status.TokenExpiresAt != nil {
			expires = clock(c.Status.TokenExpiresAt.Time)
		}
		out = append(out, fmt.Sprintf("crmconnection/%s: Ready=%s account=%q token expires %s%s", c.Name,
			conditionStatus(c.Status.Conditions, crmv1.ConditionReady), account(c), expires, state))
	}
	return out
}

// runState is the RUN column: a progress bar while a run is in progress, why the job is not ready, or
// when it runs next.
func runState(j *crmv1.SyncJob, now time.Time) string {
	if p := j.Status.Progress; p != nil {
		return progressText(p.Done, p.EstimatedTotal)
	}
	if conditionStatus(j.Status.Conditions, crmv1.ConditionReady) != "True" {
		if reason, _ := conditionReason(j.Status.Conditions, crmv1.ConditionReady); reason != "" {
			return reason
		}
		return "starting"
	}
	if n := j.Status.NextSyncTime; n != nil {
		return "next in " + short(n.Sub(now))
	}
	return ""
}

// progressText draws a progress bar like "[#####-----] 50% of 240".
func progressText(done, total int64) string {
	const width = 10
	if total <= 0 {
		return fmt.Sprintf("%d records", done)
	}
	frac := min(float64(done)/float64(total), 1)
	full := int(frac * width)
	return fmt.Sprintf("[%s%s] %d%% of %d", strings.Repeat("#", full), strings.Repeat("-", width-full), int(frac*100), total)
}

func account(c *crmv1.CRMConnection) string {
	a := c.Status.Account
	switch {
	case a == nil:
		return "-"
	case a.Name != "":
		return oneLine(a.Name, 40)
	}
	return a.ID
}

func budget(c *crmv1.CRMConnection) string {
	rl := c.Status.RateLimit
	if rl == nil {
		return "-"
	}
	if rl.Limit > 0 {
		return fmt.Sprintf("%d of %d", rl.Used, rl.Limit)
	}
	return fmt.Sprintf("%d", rl.Used)
}

func tokenExpiry(c *crmv1.CRMConnection, now time.Time) string {
	if c.Status.TokenExpiresAt == nil {
		return "-"
	}
	return "in " + short(c.Status.TokenExpiresAt.Sub(now))
}

func refreshed(c *crmv1.CRMConnection, now time.Time) string {
	if c.Status.LastTokenRefreshTime == nil {
		return "-"
	}
	return short(now.Sub(c.Status.LastTokenRefreshTime.Time)) + " ago"
}
