package mapping

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
)

// liveMetaFor returns the metadata a CRM would describe for m when everything matches.
func liveMetaFor(m *Mapping) connectors.ObjectMeta {
	meta := connectors.ObjectMeta{Name: m.RemoteObject()}
	for _, f := range m.fields {
		name := f.RemoteName
		switch f.format {
		case wRefBind:
			name = strings.TrimSuffix(strings.TrimPrefix(f.readKey, "_"), "_value")
		case wListEntry:
			name = strings.TrimSuffix(f.readKey, "s")
		}
		if _, dup := meta.Field(name); dup {
			continue
		}
		fm := connectors.FieldMeta{Name: name, Type: f.RemoteType, ReadOnly: f.ReadOnly}
		for _, v := range f.Values {
			fm.Options = append(fm.Options, v)
		}
		slices.Sort(fm.Options)
		meta.Fields = append(meta.Fields, fm)
	}
	return meta
}

func editMeta(meta connectors.ObjectMeta, name string, edit func(*connectors.FieldMeta)) connectors.ObjectMeta {
	out := connectors.ObjectMeta{Name: meta.Name}
	for _, f := range meta.Fields {
		f.Options = slices.Clone(f.Options)
		if f.Name == name {
			if edit == nil {
				continue
			}
			edit(&f)
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}

func TestValidateLiveDefaultsMatch(t *testing.T) {
	for _, p := range Providers {
		for _, spec := range []MappingSpec{allTypesSpec(p), {Provider: string(p), Object: "deals", InheritDefaults: true}, {Provider: string(p), Object: "companies", InheritDefaults: true}} {
			m := mustCompile(t, spec)
			if problems := ValidateLive(m, liveMetaFor(m), nil); problems != nil {
				t.Errorf("%s %s against matching metadata: %v", p, spec.Object, problems)
			}
		}
	}
}

func TestValidateLive(t *testing.T) {
	hubspot := mustCompile(t, MappingSpec{Provider: "hubspot", Object: "contacts", InheritDefaults: true, Fields: []FieldSpec{
		{Name: "lifecycleStage", Values: map[string]string{"lead": "lead", "customer": "customer", "vip": "vip"}},
	}})
	hubspotMeta := liveMetaFor(hubspot)
	zoho := mustCompile(t, MappingSpec{Provider: "zoho", Object: "deals", InheritDefaults: true, Fields: []FieldSpec{
		{Name: "partner", Type: "reference", RemoteName: "Partner"},
	}})
	dynamics := mustCompile(t, MappingSpec{Provider: "dynamics", Object: "contacts", InheritDefaults: true})
	pipedrive := mustCompile(t, MappingSpec{Provider: "pipedrive", Object: "contacts", InheritDefaults: true})

	cases := []struct {
		reason  string
		m       *Mapping
		meta    connectors.ObjectMeta
		written func(string) bool
		want    []string
	}{
		{
			reason: "a remote field that does not exist",
			m:      hubspot,
			meta:   editMeta(hubspotMeta, "zip", nil),
			want:   []string{"hubspot contacts: field postalCode maps to property zip, which does not exist in HubSpot contacts; create it in HubSpot or change spec.fields[postalCode].remoteName"},
		},
		{
			reason: "a written field that is read-only in the CRM",
			m:      hubspot,
			meta:   editMeta(hubspotMeta, "jobtitle", func(f *connectors.FieldMeta) { f.ReadOnly = true }),
			want:   []string{"hubspot contacts: field jobTitle maps to property jobtitle, which is read-only in HubSpot, but crmsync writes jobTitle there because the other side owns it; make it writable in HubSpot, set spec.fields[jobTitle].readOnly, or let HubSpot own jobTitle in the SyncJob"},
		},
		{
			reason:  "a read-only field that HubSpot owns is fine",
			m:       hubspot,
			meta:    editMeta(hubspotMeta, "jobtitle", func(f *connectors.FieldMeta) { f.ReadOnly = true }),
			written: func(field string) bool { return field != "jobTitle" },
		},
		{
			reason: "an incompatible type",
			m:      hubspot,
			meta:   editMeta(hubspotMeta, "city", func(f *connectors.FieldMeta) { f.Type = "number" }),
			want:   []string{"hubspot contacts: field city maps to property city, whose type number cannot hold string values; change spec.fields[city].type or map another property"},
		},
		{
			reason: "an enum value the picklist lacks, and an option the map lacks",
			m:      hubspot,
			meta: editMeta(hubspotMeta, "lifecyclestage", func(f *connectors.FieldMeta) {
				f.Options = []string{"lead", "customer", "other"}
			}),
			want: []string{
				`hubspot contacts: field lifecycleStage maps to property lifecyclestage, whose options do not include "vip"; add it in HubSpot or change spec.fields[lifecycleStage].values`,
				`hubspot contacts: field lifecycleStage maps to property lifecyclestage, whose options "other" are not in spec.fields[lifecycleStage].values; records holding them fail to sync until they are mapped`,
			},
		},
		{
			reason:  "missing options do not matter when crmsync never writes the field",
			m:       hubspot,
			meta:    editMeta(hubspotMeta, "lifecyclestage", func(f *connectors.FieldMeta) { f.Options = []string{"lead", "customer"} }),
			written: func(string) bool { return false },
		},
		{
			reason: "a custom field stored differently than the mapping assumes",
			m:      zoho,
			meta:   editMeta(liveMetaFor(zoho), "Partner", func(f *connectors.FieldMeta) { f.Type = "text" }),
			want:   []string{"zoho deals: field partner maps to field Partner, whose type text is stored as id string, but the mapping assumes lookup ({id, name} object); map a field of type lookup instead"},
		},
		{
			reason: "a Dataverse lookup is described by its attribute name",
			m:      dynamics,
			meta:   editMeta(liveMetaFor(dynamics), "parentcustomerid", func(f *connectors.FieldMeta) { f.Name = "_parentcustomerid_value" }),
		},
		{
			reason: "a missing Dataverse lookup",
			m:      dynamics,
			meta:   editMeta(liveMetaFor(dynamics), "ownerid", nil),
			want:   []string{"dynamics contacts: field ownerId maps to column ownerid@systemusers, which does not exist in Dataverse contacts; create it in Dataverse or change spec.fields[ownerId].remoteName"},
		},
		{
			reason: "Pipedrive describes the phones array as phone; both phone fields need it",
			m:      pipedrive,
			meta:   editMeta(liveMetaFor(pipedrive), "phone", nil),
			want: []string{
				"pipedrive contacts: field phone maps to field phones, which does not exist in Pipedrive persons; create it in Pipedrive or change spec.fields[phone].remoteName",
				"pipedrive contacts: field mobilePhone maps to field phones[mobile], which does not exist in Pipedrive persons; create it in Pipedrive or change spec.fields[mobilePhone].remoteName",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			var got []string
			for _, p := range ValidateLive(tc.m, tc.meta, tc.written) {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems: -want, +got:\n%s", diff)
			}
		})
	}
}

// fakeClock is a settable clock for TTL tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingDescribe returns metadata named after the object and counts its calls.
func countingDescribe(calls *atomic.Int32) DescribeFunc {
	return func(ctx context.Context, object string) (connectors.ObjectMeta, error) {
		calls.Add(1)
		return connectors.ObjectMeta{Name: object}, nil
	}
}

func TestLiveValidatorTTL(t *testing.T) {
	clock := &fakeClock{now: utc(2026, 1, 1, 0, 0, 0, 0)}
	v := NewLiveValidator(5*time.Minute, clock.Now)
	var calls atomic.Int32
	describe := countingDescribe(&calls)
	ctx := context.Background()

	steps := []struct {
		reason     string
		advance    time.Duration
		connection string
		object     string
		invalidate bool
		wantCalls  int32
	}{
		{reason: "the first call describes", connection: "acme", object: "Contact", wantCalls: 1},
		{reason: "a fresh entry is reused", advance: 4 * time.Minute, connection: "acme", object: "Contact", wantCalls: 1},
		{reason: "another object is its own key", connection: "acme", object: "Account", wantCalls: 2},
		{reason: "another connection is its own key", connection: "globex", object: "Contact", wantCalls: 3},
		{reason: "an entry as old as the TTL is stale", advance: time.Minute, connection: "acme", object: "Contact", wantCalls: 4},
		{reason: "the refreshed entry is reused", connection: "acme", object: "Contact", wantCalls: 4},
		{reason: "invalidation forces a describe", invalidate: true, connection: "acme", object: "Contact", wantCalls: 5},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		if s.invalidate {
			v.Invalidate(s.connection, s.object)
		}
		meta, err := v.Meta(ctx, s.connection, s.object, describe)
		if err != nil || meta.Name != s.object {
			t.Fatalf("%s: Meta = %v, %v", s.reason, meta, err)
		}
		if got := calls.Load(); got != s.wantCalls {
			t.Errorf("%s: %d describe calls, want %d", s.reason, got, s.wantCalls)
		}
	}
}

func TestLiveValidatorErrorsAreNotCached(t *testing.T) {
	v := NewLiveValidator(time.Hour, nil)
	var calls atomic.Int32
	describe := func(ctx context.Context, object string) (connectors.ObjectMeta, error) {
		if calls.Add(1) == 1 {
			return connectors.ObjectMeta{}, crmerr.New(crmerr.Transient, "salesforce", "describe Contact", "HTTP 503")
		}
		return connectors.ObjectMeta{Name: object}, nil
	}
	if _, err := v.Meta(context.Background(), "acme", "Contact", describe); !crmerr.Is(err, crmerr.Transient) {
		t.Fatalf("first Meta: %v, want the describe error", err)
	}
	if meta, err := v.Meta(context.Background(), "acme", "Contact", describe); err != nil || meta.Name != "Contact" {
		t.Fatalf("second Meta = %v, %v; want a fresh describe", meta, err)
	}
}

func TestLiveValidatorSingleFlight(t *testing.T) {
	v := NewLiveValidator(time.Hour, nil)
	release := make(chan struct{})
	var calls atomic.Int32
	describe := func(ctx context.Context, object string) (connectors.ObjectMeta, error) {
		calls.Add(1)
		<-release
		return connectors.ObjectMeta{Name: object}, nil
	}
	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			meta, err := v.Meta(context.Background(), "acme", "contacts", describe)
			if err == nil && meta.Name != "contacts" {
				err = errors.New("wrong metadata " + meta.Name)
			}
			errs <- err
		})
	}
	waitFor(t, func() bool { return calls.Load() == 1 })
	time.Sleep(10 * time.Millisecond) // let the other callers reach the wait
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("%d describe calls for %d concurrent callers, want 1", got, callers)
	}
}

func TestLiveValidatorWaiterOutlivesCancelledLeader(t *testing.T) {
	v := NewLiveValidator(time.Hour, nil)
	var calls atomic.Int32
	started := make(chan struct{})
	describe := func(ctx context.Context, object string) (connectors.ObjectMeta, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-ctx.Done()
			return connectors.ObjectMeta{}, ctx.Err()
		}
		return connectors.ObjectMeta{Name: object}, nil
	}
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := v.Meta(leaderCtx, "acme", "deals", describe)
		leaderErr <- err
	}()
	<-started
	waiter := make(chan error, 1)
	go func() {
		meta, err := v.Meta(context.Background(), "acme", "deals", describe)
		if err == nil && meta.Name != "deals" {
			err = errors.New("wrong metadata")
		}
		waiter <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the waiter join the running call
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	if err := <-waiter; err != nil {
		t.Errorf("waiter with a live context: %v, want metadata from a second describe", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("%d describe calls, want 2", got)
	}
}

func TestLiveValidatorValidate(t *testing.T) {
	m := mustCompile(t, MappingSpec{Provider: "salesforce", Object: "contacts", InheritDefaults: true})
	meta := editMeta(liveMetaFor(m), "Title", nil)
	v := NewLiveValidator(time.Minute, nil)
	describe := func(ctx context.Context, object string) (connectors.ObjectMeta, error) {
		if object != "Contact" {
			t.Errorf("described %q, want the remote object Contact", object)
		}
		return meta, nil
	}
	problems, err := v.Validate(context.Background(), "acme", describe, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{{Field: "jobTitle", Message: "salesforce contacts: field jobTitle maps to field Title, which does not exist in Salesforce Contact; create it in Salesforce or change spec.fields[jobTitle].remoteName"}}
	if diff := cmp.Diff(want, problems); diff != "" {
		t.Errorf("Validate: -want, +got:\n%s", diff)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
