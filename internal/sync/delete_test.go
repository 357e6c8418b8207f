package sync_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/sync"
)

// outcome is what a deletion left behind.
type outcome struct {
	SourceLive, DestLive         bool
	SourceArchived, DestArchived bool
	Links                        int
	// WritesAfterEdit counts writes caused by an edit of the survivor after the deletion.
	WritesAfterEdit int64
}

func TestDeletePolicies(t *testing.T) {
	cases := map[string]struct {
		reason     string
		direction  sync.Direction
		policy     sync.DeletePolicy
		archiveSrc bool
		archiveDst bool
		deleteOn   sync.Owner
		want       outcome
	}{
		"PropagateSourceToDest": {
			reason:    "Propagate deletes the destination counterpart and forgets the link.",
			direction: sync.TwoWay, policy: sync.Propagate, deleteOn: sync.Source,
			want: outcome{},
		},
		"PropagateDestToSource": {
			reason:    "In a TwoWay job deletes travel from the destination too.",
			direction: sync.TwoWay, policy: sync.Propagate, deleteOn: sync.Destination,
			want: outcome{},
		},
		"ArchiveWithArchiver": {
			reason:    "Archive soft-deletes through the destination's Archiver (an SQL deleted_at column).",
			direction: sync.TwoWay, policy: sync.Archive, archiveDst: true, deleteOn: sync.Source,
			want: outcome{DestArchived: true},
		},
		"ArchiveFallsBackToDelete": {
			reason:    "Without an Archiver, Archive uses Delete, which is an archive in the CRMs that keep deleted records.",
			direction: sync.TwoWay, policy: sync.Archive, deleteOn: sync.Destination,
			want: outcome{},
		},
		"ArchiveDestToSourceWithArchiver": {
			reason:    "Archive works from the destination to an archiving source as well.",
			direction: sync.TwoWay, policy: sync.Archive, archiveSrc: true, deleteOn: sync.Destination,
			want: outcome{SourceArchived: true},
		},
		"IgnoreSourceDelete": {
			reason:    "Ignore keeps the counterpart and the link; the survivor's later edits go nowhere.",
			direction: sync.TwoWay, policy: sync.Ignore, deleteOn: sync.Source,
			want: outcome{DestLive: true, Links: 1},
		},
		"IgnoreDestDelete": {
			reason:    "Ignore works the same from the destination.",
			direction: sync.TwoWay, policy: sync.Ignore, deleteOn: sync.Destination,
			want: outcome{SourceLive: true, Links: 1},
		},
		"OneWayPropagate": {
			reason:    "OneWay propagates source deletes.",
			direction: sync.OneWay, policy: sync.Propagate, deleteOn: sync.Source,
			want: outcome{},
		},
		"OneWayArchive": {
			reason:    "OneWay archives through the destination's Archiver.",
			direction: sync.OneWay, policy: sync.Archive, archiveDst: true, deleteOn: sync.Source,
			want: outcome{DestArchived: true},
		},
		"OneWayIgnore": {
			reason:    "OneWay with Ignore leaves the destination record alone.",
			direction: sync.OneWay, policy: sync.Ignore, deleteOn: sync.Source,
			want: outcome{DestLive: true, Links: 1},
		},
		"OneWayDestinationDeleteRecreates": {
			reason: "OneWay never deletes on the source: a destination delete only drops the link, and the next " +
				"source edit recreates the record.",
			direction: sync.OneWay, policy: sync.Propagate, deleteOn: sync.Destination,
			want: outcome{SourceLive: true, DestLive: true, Links: 1, WritesAfterEdit: 1},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: tc.direction, policy: tc.policy, archiveSrc: tc.archiveSrc, archiveDst: tc.archiveDst})
			srcID := e.mustCreate(t, e.src, contact("a@x.io", "Ann", "Lee"))
			e.mustCreate(t, e.src, contact("other@x.io", "O", "O"))
			e.settle(t, 3)
			dstID := findByEmail(t, e.dst, destMapper, "a@x.io")
			if tc.deleteOn == sync.Source {
				e.src.Remove("contacts", srcID)
			} else {
				e.dst.Remove("contacts", dstID)
			}
			e.settle(t, 3)

			survivor, survivorID := e.src, srcID
			if tc.deleteOn == sync.Source {
				survivor, survivorID = e.dst, dstID
			}
			var got outcome
			if _, live := survivor.Record("contacts", survivorID); live {
				e.src.ResetCalls()
				e.dst.ResetCalls()
				field := "FirstName"
				if survivor == e.dst {
					field = "first_name"
				}
				e.mustUpdate(t, survivor, survivorID, map[string]any{field: "Edited"})
				e.settle(t, 3)
				got.WritesAfterEdit = e.src.Writes() + e.dst.Writes()
			}
			got.Links = e.mem.linkCount(e.job.Name) - 1 // without the other contact's
			got.SourceLive, got.SourceArchived = recordState(e.src, srcID)
			got.DestLive, got.DestArchived = recordState(e.dst, dstID)
			if tc.want.DestLive && !got.DestLive && tc.deleteOn == sync.Destination {
				// Recreated under a new id.
				_, got.DestLive = e.dst.Record("contacts", findByEmail(t, e.dst, destMapper, "a@x.io"))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s\n-want +got:\n%s", tc.reason, diff)
			}
		})
	}
}

// recordState reports whether a record is live and whether it was archived.
func recordState(c *memory.Connector, id string) (live, archived bool) {
	_, live = c.Record("contacts", id)
	for _, a := range c.Archived("contacts") {
		if a == id {
			archived = true
		}
	}
	return live, archived
}
