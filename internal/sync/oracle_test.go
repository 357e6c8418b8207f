package sync_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors/memory"
	"github.com/crmsync/crmsync/internal/sync"
)

// model is the test oracle: every contact as it must look on both sides when each field's owner wins,
// keyed by lower-cased email. It shares no code with the engine.
type model struct {
	owners map[string]sync.Owner
	people map[string]sync.Canonical
}

func (m *model) owner(field string) sync.Owner {
	if o, ok := m.owners[field]; ok {
		return o
	}
	return sync.Source
}

// seen records what one side held of a contact created or matched in a round.
func (m *model) merge(key string, src, dst sync.Canonical) {
	out := sync.Canonical{}
	for _, f := range canonicalFields {
		switch {
		case src == nil:
			out[f] = dst[f]
		case dst == nil:
			out[f] = src[f]
		case m.owner(f) == sync.Source:
			out[f] = src[f]
		default:
			out[f] = dst[f]
		}
	}
	m.people[key] = out
}

// person returns random canonical values for a new contact.
func person(rng *rand.Rand, email, tag string) sync.Canonical {
	c := sync.Canonical{"email": email}
	for _, f := range canonicalFields[1:] {
		c[f] = randomValue(rng, f, tag)
	}
	return c
}

func randomValue(rng *rand.Rand, field, tag string) any {
	if rng.IntN(10) == 0 {
		return nil
	}
	return nonNilValue(rng, field, tag)
}

func nonNilValue(rng *rand.Rand, field, tag string) any {
	if field == "score" {
		return int64(rng.IntN(1_000_000))
	}
	return fmt.Sprintf("%s-%s-%d", field, tag, rng.IntN(1_000_000))
}

// wire converts canonical values to a side's remote fields, leaving out nulls.
func wire(m fieldMapper, c sync.Canonical) map[string]any {
	fields := make([]string, 0, len(c))
	for f, v := range c {
		if v != nil {
			fields = append(fields, f)
		}
	}
	out, err := m.ToRemote(c, fields)
	if err != nil {
		panic(err)
	}
	return out
}

// idsByEmail maps lower-cased email to id for a backend's live records.
func idsByEmail(c *memory.Connector, m fieldMapper) map[string]string {
	out := map[string]string{}
	for id, fields := range c.Snapshot("contacts") {
		email, _ := fields[m.remote["email"]].(string)
		out[strings.ToLower(email)] = id
	}
	return out
}

type roundEdit struct {
	side  sync.Owner
	key   string
	field string
	value any
}

// TestTwoWayAgainstOracle syncs two backends that start with 1,200 contacts each, 400 of them the same
// people by email in other letter case, through ten rounds of random edits, creates and deletes on both
// sides, some editing the same field on both sides. After every run both sides must equal the oracle, with
// no duplicates, and every same-field edit must be reported as a conflict.
func TestTwoWayAgainstOracle(t *testing.T) {
	for name, store := range testStores(t) {
		t.Run(name, func(t *testing.T) { testTwoWayAgainstOracle(t, store) })
	}
}

func testTwoWayAgainstOracle(t *testing.T, store sync.StateStore) {
	owners := map[string]sync.Owner{"phone": sync.Destination, "title": sync.Destination, "score": sync.Destination}
	e := newEnv(t, envOptions{owners: owners, store: store, maxBuffered: 150})
	m := &model{owners: owners, people: map[string]sync.Canonical{}}
	rng := rand.New(rand.NewPCG(7, 11))

	src := map[string]sync.Canonical{}
	dst := map[string]sync.Canonical{}
	for i := range 1200 {
		key := fmt.Sprintf("p%d@corp.io", i)
		src[key] = person(rng, key, "init-s")
		e.mustCreate(t, e.src, wire(sourceMapper, src[key]))
	}
	for i := 800; i < 2000; i++ {
		key := fmt.Sprintf("p%d@corp.io", i)
		dst[key] = person(rng, strings.ToUpper(key), "init-d")
		e.mustCreate(t, e.dst, wire(destMapper, dst[key]))
	}
	for _, key := range slices.Sorted(maps.Keys(src)) {
		m.merge(key, src[key], dst[key])
	}
	for key, c := range dst {
		if src[key] == nil {
			m.merge(key, nil, c)
		}
	}
	e.run(t)
	checkOracle(t, e, m, "initial sync")

	next, same := 2000, 0
	for round := 1; round <= 10; round++ {
		conflicts := playRound(t, e, m, rng, round, &next)
		res := e.run(t)
		checkOracle(t, e, m, fmt.Sprintf("round %d", round))
		checkConflicts(t, m, res, conflicts, round)
		same += len(conflicts.same)
	}
	if same < 50 {
		t.Errorf("only %d same-field edits over ten rounds: the test no longer exercises conflicts", same)
	}
	quiet := e.run(t)
	if c := quiet.Counters; c.Created+c.Updated+c.Deleted+c.Failed != 0 {
		t.Errorf("a run after the last round changed something: %+v", c)
	}
}

// roundConflicts are the fields both sides edited in a round, as key/field, with the ids of the pair and
// the owner groups each side edited.
type roundConflicts struct {
	same    map[string]bool            // key/field edited on both sides with different values
	edited  map[string]map[string]bool // key -> side/ownerGroup edited
	keyOfID map[string]string          // source id -> key
}

func playRound(t *testing.T, e *env, m *model, rng *rand.Rand, round int, next *int) roundConflicts {
	t.Helper()
	srcIDs, dstIDs := idsByEmail(e.src, sourceMapper), idsByEmail(e.dst, destMapper)
	rc := roundConflicts{same: map[string]bool{}, edited: map[string]map[string]bool{}, keyOfID: map[string]string{}}
	for key, id := range srcIDs {
		rc.keyOfID[id] = key
	}
	keys := slices.Sorted(maps.Keys(m.people))
	pick := func() string { return keys[rng.IntN(len(keys))] }
	tag := func(s sync.Owner) string { return fmt.Sprintf("r%d%s", round, s[:1]) }

	var edits []roundEdit
	for _, s := range []sync.Owner{sync.Source, sync.Destination} {
		for range 80 {
			key, f := pick(), canonicalFields[rng.IntN(len(canonicalFields))]
			v := randomValue(rng, f, tag(s))
			if f == "email" {
				v = caseVariant(rng, key)
			}
			edits = append(edits, roundEdit{s, key, f, v})
		}
	}
	for range 10 {
		key, f := pick(), canonicalFields[1+rng.IntN(len(canonicalFields)-1)]
		edits = append(edits,
			roundEdit{sync.Source, key, f, nonNilValue(rng, f, tag(sync.Source))},
			roundEdit{sync.Destination, key, f, nonNilValue(rng, f, tag(sync.Destination))})
	}
	final := map[string]map[sync.Owner]any{} // key/field -> side -> last value written
	for _, ed := range edits {
		conn, mp, ids := e.src, sourceMapper, srcIDs
		if ed.side == sync.Destination {
			conn, mp, ids = e.dst, destMapper, dstIDs
		}
		e.mustUpdate(t, conn, ids[ed.key], wire(mp, sync.Canonical{ed.field: ed.value}))
		if ed.value == nil {
			e.mustUpdate(t, conn, ids[ed.key], map[string]any{mp.remote[ed.field]: nil})
		}
		if m.owner(ed.field) == ed.side {
			m.people[ed.key][ed.field] = ed.value
		}
		group := string(ed.side) + "/" + string(m.owner(ed.field))
		if rc.edited[ed.key] == nil {
			rc.edited[ed.key] = map[string]bool{}
		}
		rc.edited[ed.key][group] = true
		kf := ed.key + "/" + ed.field
		if final[kf] == nil {
			final[kf] = map[sync.Owner]any{}
		}
		final[kf][ed.side] = ed.value
	}
	for kf, bySide := range final {
		vs, okS := bySide[sync.Source]
		vd, okD := bySide[sync.Destination]
		if okS && okD && vs != nil && vd != nil && vs != vd {
			rc.same[kf] = true
		}
	}

	// Deletes: five per side, some of them of contacts edited this round.
	for _, s := range []sync.Owner{sync.Source, sync.Destination} {
		for range 5 {
			key := pick()
			if _, ok := m.people[key]; !ok {
				continue
			}
			if s == sync.Source {
				e.src.Remove("contacts", srcIDs[key])
			} else {
				e.dst.Remove("contacts", dstIDs[key])
			}
			delete(m.people, key)
		}
	}

	// Creates: twenty per side, and five people created on both sides in the same round.
	for _, s := range []sync.Owner{sync.Source, sync.Destination, ""} {
		n := 20
		if s == "" {
			n = 5
		}
		for range n {
			key := fmt.Sprintf("p%d@corp.io", *next)
			*next++
			var cs, cd sync.Canonical
			if s != sync.Destination {
				cs = person(rng, key, tag(sync.Source))
				e.mustCreate(t, e.src, wire(sourceMapper, cs))
			}
			if s != sync.Source {
				cd = person(rng, strings.ToUpper(key), tag(sync.Destination))
				e.mustCreate(t, e.dst, wire(destMapper, cd))
			}
			m.merge(key, cs, cd)
		}
	}
	return rc
}

func caseVariant(rng *rand.Rand, key string) string {
	b := []byte(key)
	for i := range b {
		if rng.IntN(2) == 0 {
			b[i] = strings.ToUpper(string(b[i]))[0]
		}
	}
	return string(b)
}

func checkOracle(t *testing.T, e *env, m *model, when string) {
	t.Helper()
	for _, side := range []struct {
		name string
		conn *memory.Connector
		mp   fieldMapper
	}{{"source", e.src, sourceMapper}, {"destination", e.dst, destMapper}} {
		got, dups := byEmail(t, side.conn, side.mp)
		if len(dups) > 0 {
			t.Errorf("%s: duplicates on the %s: %v", when, side.name, dups)
		}
		if diff := cmp.Diff(m.people, got); diff != "" {
			t.Fatalf("%s: the %s differs from the oracle (each field's owner wins) -want +got:\n%s", when, side.name, diff)
		}
	}
}

// checkConflicts requires every same-field edit of a surviving contact to be reported, with its owner as
// the winner, and every reported conflict to concern a contact whose owner group both sides edited.
func checkConflicts(t *testing.T, m *model, res sync.Result, rc roundConflicts, round int) {
	t.Helper()
	if int(res.Counters.Conflicts) != len(res.Conflicts) {
		t.Fatalf("round %d: %d conflicts counted, %d reported; raise the cap or lower the edits",
			round, res.Counters.Conflicts, len(res.Conflicts))
	}
	reported := map[string]bool{}
	for _, c := range res.Conflicts {
		key := rc.keyOfID[c.SourceID]
		reported[key+"/"+c.Field] = true
		if c.Winner != m.owner(c.Field) {
			t.Errorf("round %d: conflict on %s/%s won by %s, want the owner %s", round, key, c.Field, c.Winner, m.owner(c.Field))
		}
		group := string(m.owner(c.Field))
		if !rc.edited[key][string(sync.Source)+"/"+group] || !rc.edited[key][string(sync.Destination)+"/"+group] {
			t.Errorf("round %d: conflict on %s/%s, but the two sides did not both edit fields owned by %s",
				round, key, c.Field, group)
		}
	}
	for kf := range rc.same {
		key := kf[:strings.Index(kf, "/")]
		if _, alive := m.people[key]; alive && !reported[kf] {
			t.Errorf("round %d: both sides edited %s, but no conflict was reported", round, kf)
		}
	}
}
