package sync_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/sync"
)

func emails(t *testing.T, c *memory.Connector, m fieldMapper) []string {
	t.Helper()
	got, _ := byEmail(t, c, m)
	out := make([]string, 0, len(got))
	for k := range got {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestFullReconciliation(t *testing.T) {
	cases := map[string]struct {
		reason    string
		direction sync.Direction
		// act changes the backends behind the change streams' backs.
		act              func(t *testing.T, e *env)
		wantSrc, wantDst []string // emails after the reconciliation
	}{
		"TwoWayHardDeleteAndMissedCreate": {
			reason: "A hard delete on the source (invisible to the stream) is propagated, and a record the stream " +
				"never reported is created on the other side.",
			direction: sync.TwoWay,
			act: func(t *testing.T, e *env) {
				e.src.HardDelete("contacts", findByEmail(t, e.src, sourceMapper, "a@x.io"))
				if _, err := e.src.CreateUntracked("contacts", contact("new@x.io", "N", "N")); err != nil {
					t.Fatal(err)
				}
			},
			wantSrc: []string{"b@x.io", "c@x.io", "new@x.io"},
			wantDst: []string{"b@x.io", "c@x.io", "new@x.io"},
		},
		"TwoWayDestinationSide": {
			reason:    "The same holds for the destination side.",
			direction: sync.TwoWay,
			act: func(t *testing.T, e *env) {
				e.dst.HardDelete("contacts", findByEmail(t, e.dst, destMapper, "b@x.io"))
				if _, err := e.dst.CreateUntracked("contacts", map[string]any{"email": "dnew@x.io"}); err != nil {
					t.Fatal(err)
				}
			},
			wantSrc: []string{"a@x.io", "c@x.io", "dnew@x.io"},
			wantDst: []string{"a@x.io", "c@x.io", "dnew@x.io"},
		},
		"OneWayRecreatesHardDeletedDestination": {
			reason:    "In a OneWay job a destination record deleted behind our back is recreated from the source.",
			direction: sync.OneWay,
			act: func(t *testing.T, e *env) {
				e.dst.HardDelete("contacts", findByEmail(t, e.dst, destMapper, "c@x.io"))
			},
			wantSrc: []string{"a@x.io", "b@x.io", "c@x.io"},
			wantDst: []string{"a@x.io", "b@x.io", "c@x.io"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{direction: tc.direction})
			for _, m := range []string{"a@x.io", "b@x.io", "c@x.io"} {
				e.mustCreate(t, e.src, contact(m, "F", "L"))
			}
			e.settle(t, 3)
			tc.act(t, e)
			before := [][]string{emails(t, e.src, sourceMapper), emails(t, e.dst, destMapper)}
			e.settle(t, 3)
			if diff := cmp.Diff(before, [][]string{emails(t, e.src, sourceMapper), emails(t, e.dst, destMapper)}); diff != "" {
				t.Fatalf("%s\nwithout reconciliation the change streams must not see the change -before +after:\n%s", tc.reason, diff)
			}
			e.job.FullResync = true
			res := e.run(t)
			if !res.Reconciled {
				t.Error("Result.Reconciled is false after a full resync")
			}
			e.job.FullResync = false
			e.settle(t, 3)
			got := [][]string{emails(t, e.src, sourceMapper), emails(t, e.dst, destMapper)}
			if diff := cmp.Diff([][]string{tc.wantSrc, tc.wantDst}, got); diff != "" {
				t.Errorf("%s\n[source, destination] emails -want +got:\n%s", tc.reason, diff)
			}
		})
	}
}
