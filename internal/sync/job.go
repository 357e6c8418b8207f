// Package sync is the engine of one SyncJob run: it reads both sides' changes, links records, diffs them by
// field ownership, writes in batches and advances cursors only past committed work.
package sync

import (
	"fmt"
	"slices"
	"time"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/state"
)

// Owner names one end of a job: the side that owns a field, or the side a record lives on. It is the
// state store's Side, so retry entries need no conversion.
type Owner = state.Side

// The two ends of a job.
const (
	Source      Owner = state.SourceSide
	Destination Owner = state.DestSide
)

// other returns the opposite end.
func other(s Owner) Owner {
	if s == Source {
		return Destination
	}
	return Source
}

// Direction says which way records flow.
type Direction string

const (
	// OneWay mirrors the source into the destination: every field is owned by the source, records are
	// created and deleted only on the destination, and edits made on the destination are overwritten.
	OneWay Direction = "OneWay"
	// TwoWay syncs both ways: each field flows from its owner, and records are created on both sides.
	TwoWay Direction = "TwoWay"
)

// DeletePolicy says what a deletion on one side does to the counterpart.
type DeletePolicy string

const (
	// Propagate deletes the counterpart with the connector's Delete and forgets the link.
	Propagate DeletePolicy = "Propagate"
	// Archive soft-deletes the counterpart: through Archiver when the connector has one (an SQL table with a
	// deleted_at column), else through Delete, which is an archive in the CRMs that keep deleted records
	// (HubSpot archive, Salesforce and Zoho recycle bin, Pipedrive's 30-day soft delete). The link is
	// forgotten.
	Archive DeletePolicy = "Archive"
	// Ignore leaves the counterpart alone and keeps the link, marked so that the survivor's later changes
	// are skipped; a restored record resumes syncing.
	Ignore DeletePolicy = "Ignore"
)

// Match says how a record seen for the first time finds its counterpart.
type Match struct {
	// Field is the canonical field compared, e.g. "email". Empty disables matching: records are linked
	// only by the engine's own creates.
	Field string
	// CaseInsensitive compares lower-cased values, as email addresses should be.
	CaseInsensitive bool
}

// Side is one endpoint of a job.
type Side struct {
	Connector connectors.Connector
	// Object is the remote object name ("contacts", "Contact", a table name).
	Object string
	Mapper Mapper
	// Cursor is where the previous run ended on this side; empty on the first run.
	Cursor connectors.Cursor
	// UpsertKey, when set and the connector can upsert by an external id, is the remote field by which
	// creates on this side upsert (UpsertOptions.ExternalIDField), so that a repeated create cannot
	// duplicate. Typically the remote name of the match field.
	UpsertKey string
}

// Clock is the engine's time source.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// DefaultMaxAttempts is how many failed attempts turn a record into a dead letter when Job.MaxAttempts is 0.
const DefaultMaxAttempts = 5

// Job is everything one run needs to know about a SyncJob.
type Job struct {
	// Name keys the job's state, "namespace/name".
	Name         string
	Source, Dest Side
	Direction    Direction
	// Owners maps canonical fields to the side that owns them in a TwoWay job; fields not listed are owned
	// by DefaultOwner (Source when empty). OneWay jobs ignore both.
	Owners       map[string]Owner
	DefaultOwner Owner
	Match        Match
	// Lookback re-reads this much time before each cursor (connectors.ChangesRequest.Lookback).
	Lookback     time.Duration
	DeletePolicy DeletePolicy
	// FullResync compares the ids of both sides with the link table after the incremental work.
	FullResync bool
	// MaxAttempts is how many failures make a record a dead letter; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Clock defaults to the system clock.
	Clock Clock
}

// layout is what a job's configuration decides once per run: the synced fields and who owns them.
type layout struct {
	fields []string           // canonical fields synced (read on both sides, written on the owner's other side), sorted
	owned  map[Owner][]string // fields owned by each side, sorted
}

func (j *Job) side(s Owner) *Side {
	if s == Source {
		return &j.Source
	}
	return &j.Dest
}

// canCreateOn reports whether records are created on side s.
func (j *Job) canCreateOn(s Owner) bool { return j.Direction == TwoWay || s == Destination }

// propagatesFrom reports whether deletes on side s reach the other side.
func (j *Job) propagatesFrom(s Owner) bool { return j.Direction == TwoWay || s == Source }

func invalidJob(format string, args ...any) error {
	return crmerr.New(crmerr.Permanent, "sync", "validate job", fmt.Sprintf(format, args...))
}

// validate checks the job and returns its layout. Its errors are Permanent: the SyncJob must be fixed.
func (j *Job) validate() (layout, error) {
	if j.Name == "" {
		return layout{}, invalidJob("the job has no name")
	}
	for _, s := range []Owner{Source, Destination} {
		sd := j.side(s)
		if sd.Connector == nil || sd.Mapper == nil || sd.Object == "" {
			return layout{}, invalidJob("job %s: the %s needs a connector, an object and a mapping", j.Name, s)
		}
	}
	switch j.Direction {
	case OneWay, TwoWay:
	default:
		return layout{}, invalidJob("job %s: direction %q: want OneWay or TwoWay", j.Name, j.Direction)
	}
	switch j.DeletePolicy {
	case Propagate, Archive, Ignore:
	default:
		return layout{}, invalidJob("job %s: delete policy %q: want Propagate, Archive or Ignore", j.Name, j.DeletePolicy)
	}
	fields := intersect(j.Source.Mapper.Fields(), j.Dest.Mapper.Fields())
	if len(fields) == 0 {
		return layout{}, invalidJob("job %s: no canonical field is mapped on both sides", j.Name)
	}
	if j.Match.Field != "" && !slices.Contains(fields, j.Match.Field) {
		return layout{}, invalidJob("job %s: match field %q is not mapped on both sides", j.Name, j.Match.Field)
	}
	return j.ownership(fields)
}

// ownership splits the fields read on both sides into owner groups. A field flows from its owner to the
// other side, so a field the other side cannot write (read-only there) is owned by the side that can only
// be read: in a OneWay job it is not synced, in a TwoWay job its owner is the read-only side whatever the
// default owner. A field read-only on both sides is not synced; it can still be the match key.
func (j *Job) ownership(fields []string) (layout, error) {
	l := layout{owned: map[Owner][]string{}}
	writable := func(s Owner, f string) bool { return !readOnly(j.side(s).Mapper, f) }
	if j.Direction == OneWay {
		for _, f := range fields {
			if writable(Destination, f) {
				l.owned[Source] = append(l.owned[Source], f)
			}
		}
		return l.finish(j)
	}
	def := j.DefaultOwner
	if def == "" {
		def = Source
	}
	for f, o := range j.Owners {
		if !slices.Contains(fields, f) {
			return layout{}, invalidJob("job %s: owner set for field %q, which is not mapped on both sides", j.Name, f)
		}
		if o != Source && o != Destination {
			return layout{}, invalidJob("job %s: field %q: owner %q: want %s or %s", j.Name, f, o, Source, Destination)
		}
		if !writable(other(o), f) {
			return layout{}, invalidJob("job %s: field %q is owned by the %s, but it is read-only on the %s, which cannot be written: own it by the %s or remove it from the owners",
				j.Name, f, o, other(o), other(o))
		}
	}
	if def != Source && def != Destination {
		return layout{}, invalidJob("job %s: default owner %q: want %s or %s", j.Name, def, Source, Destination)
	}
	for _, f := range fields {
		o, ok := j.Owners[f]
		if !ok {
			o = def
			if !writable(other(o), f) {
				o = other(o)
			}
		}
		if writable(other(o), f) {
			l.owned[o] = append(l.owned[o], f)
		}
	}
	return l.finish(j)
}

// finish sets the synced fields, the union of the owner groups, sorted.
func (l layout) finish(j *Job) (layout, error) {
	l.fields = append(slices.Clone(l.owned[Source]), l.owned[Destination]...)
	slices.Sort(l.fields)
	if len(l.fields) == 0 {
		return layout{}, invalidJob("job %s: every field mapped on both sides is read-only on the side it would be written to", j.Name)
	}
	return l, nil
}

func intersect(a, b []string) []string {
	var out []string
	for _, f := range a {
		if slices.Contains(b, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
