package sched

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// sliceEnv is a store behind the fake proposer and a slice controller
// whose writes are counted.
type sliceEnv struct {
	t      *testing.T
	p      *fakeProposer
	c      *EndpointSliceController
	writes int
}

func newSliceEnv(t *testing.T) *sliceEnv {
	e := &sliceEnv{t: t, p: newFakeProposer(t)}
	e.c = NewEndpointSliceController(EndpointSliceConfig{Store: e.p.store, Proposer: e,
		Now: func() time.Time { return time.Unix(1000, 0) }})
	return e
}

func (e *sliceEnv) Apply(ctx context.Context, cmd []byte) (any, error) {
	res, err := e.p.Apply(ctx, cmd)
	if r, ok := res.(fsm.BatchResult); ok {
		for _, x := range r {
			if x.Err != nil {
				e.t.Fatalf("slice write failed: %v", x.Err)
			}
			e.writes++
		}
	}
	return res, err
}

// pass runs one pass and returns how many writes it made.
func (e *sliceEnv) pass() int {
	e.t.Helper()
	before := e.writes
	if _, err := e.c.Pass(context.Background(), e.p.store()); err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	return e.writes - before
}

func (e *sliceEnv) slices() []*v1.EndpointSlice {
	e.t.Helper()
	res, err := e.p.store().List("endpointslices", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*v1.EndpointSlice
	for _, r := range res.Items {
		out = append(out, r.Object().(*v1.EndpointSlice))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// endpointsByPod maps each pod in the slices to its endpoint and fails on
// a pod listed twice.
func (e *sliceEnv) endpointsByPod() map[string]v1.Endpoint {
	e.t.Helper()
	out := map[string]v1.Endpoint{}
	for _, s := range e.slices() {
		for _, ep := range s.Endpoints {
			if _, dup := out[ep.TargetRef.Name]; dup {
				e.t.Fatalf("pod %s is in two slices", ep.TargetRef.Name)
			}
			out[ep.TargetRef.Name] = ep
		}
	}
	return out
}

func (e *sliceEnv) updatePod(p *v1.Pod) {
	e.t.Helper()
	rec, err := e.p.store().Get("pods", p.Namespace, p.Name)
	if err != nil {
		e.t.Fatal(err)
	}
	q := v1.DeepCopy(p)
	q.ResourceVersion = rec.Meta().ResourceVersion
	cmd, err := fsm.NewUpdate(q, true)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		e.t.Fatal(err)
	}
}

// deleteObj deletes an object; a bound pod only gets its deletionTimestamp
// unless now (grace period 0, as the node's confirmation).
func (e *sliceEnv) deleteObj(resource, name string, now bool) {
	e.t.Helper()
	var grace *int64
	if now {
		grace = new(int64)
	}
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: resource, Namespace: "default", Name: name,
		GracePeriodSeconds: grace, Now: v1.NewTime(time.Unix(1000, 0))})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		e.t.Fatal(err)
	}
}

func TestEndpointSliceContents(t *testing.T) {
	e := newSliceEnv(t)
	svc := epService("web", httpPort())
	e.p.create(t, svc)
	e.p.create(t, epPod("a", "10.0.0.1", true))
	e.p.create(t, epPod("b", "10.0.0.2", false))
	e.p.create(t, epPod("noip", "", true))
	if n := e.pass(); n != 1 {
		t.Fatalf("first pass made %d writes, want 1 create", n)
	}
	slices := e.slices()
	if len(slices) != 1 {
		t.Fatalf("%d slices, want 1", len(slices))
	}
	s := slices[0]
	if s.AddressType != v1.AddressTypeIPv4 || s.Labels[v1.LabelServiceName] != "web" || s.Labels[v1.LabelManagedBy] != EndpointSliceManagedBy ||
		s.Labels["tier"] != "front" {
		t.Fatalf("slice %s: addressType %q labels %v", s.Name, s.AddressType, s.Labels)
	}
	if ref := s.ControllerRef(); ref == nil || ref.Kind != "Service" || ref.Name != "web" || ref.UID != svc.UID {
		t.Fatalf("owner %+v, want the service", s.OwnerReferences)
	}
	if got := asJSON(t, s.Ports); got != `[{"name":"http","protocol":"TCP","port":8080}]` {
		t.Fatalf("ports %s", got)
	}
	want := `[{"addresses":["10.0.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false},` +
		`"targetRef":{"kind":"Pod","namespace":"default","name":"a","uid":"uid-a"},"nodeName":"n1"},` +
		`{"addresses":["10.0.0.2"],"conditions":{"ready":false,"serving":false,"terminating":false},` +
		`"targetRef":{"kind":"Pod","namespace":"default","name":"b","uid":"uid-b"},"nodeName":"n1"}]`
	if got := asJSON(t, s.Endpoints); got != want {
		t.Fatalf("endpoints\n got %s\nwant %s", got, want)
	}
	if err := v1.Validate(s); err != nil {
		t.Fatalf("the controller's slice does not validate: %v", err)
	}
	if n := e.pass(); n != 0 {
		t.Fatalf("a pass without a change made %d writes", n)
	}
}

func TestEndpointSliceTerminatingPod(t *testing.T) {
	e := newSliceEnv(t)
	e.p.create(t, epService("web", httpPort()))
	e.p.create(t, epPod("a", "10.0.0.1", true))
	e.pass()
	e.deleteObj("pods", "a", false) // bound pods are deleted gracefully: a deletionTimestamp
	if n := e.pass(); n != 1 {
		t.Fatalf("%d writes, want 1 update", n)
	}
	c := e.endpointsByPod()["a"].Conditions
	if c.Ready == nil || *c.Ready || c.Serving == nil || !*c.Serving || c.Terminating == nil || !*c.Terminating {
		t.Fatalf("conditions %s, want ready=false serving=true terminating=true", asJSON(t, c))
	}
}

func TestEndpointSliceMoreThan100AndIncremental(t *testing.T) {
	e := newSliceEnv(t)
	e.p.create(t, epService("web", httpPort()))
	const pods = 250
	for i := range pods {
		e.p.create(t, epPod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.0.%d.%d", i/200, 1+i%200), true))
	}
	if n := e.pass(); n != 3 {
		t.Fatalf("first pass made %d writes, want 3 creates", n)
	}
	sizes := func() []int {
		var out []int
		for _, s := range e.slices() {
			if len(s.Endpoints) > MaxEndpointsPerSlice {
				t.Fatalf("slice %s holds %d endpoints", s.Name, len(s.Endpoints))
			}
			out = append(out, len(s.Endpoints))
		}
		sort.Ints(out)
		return out
	}
	if got := fmt.Sprint(sizes()); got != "[50 100 100]" {
		t.Fatalf("slice sizes %s, want [50 100 100]", got)
	}
	if got := len(e.endpointsByPod()); got != pods {
		t.Fatalf("%d pods in slices, want %d", got, pods)
	}
	rvs := func() map[string]string {
		m := map[string]string{}
		for _, s := range e.slices() {
			m[s.Name] = s.ResourceVersion
		}
		return m
	}
	before := rvs()

	// One pod stops being ready: only its slice is written.
	p := epPod("p123", "10.0.0.124", false)
	e.updatePod(p)
	if n := e.pass(); n != 1 {
		t.Fatalf("a pod's readiness change made %d writes, want 1", n)
	}
	after := rvs()
	changed := 0
	for name, rv := range before {
		if after[name] != rv {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("%d slices rewritten, want 1", changed)
	}
	if c := e.endpointsByPod()["p123"].Conditions; *c.Ready {
		t.Fatal("the not ready pod is still ready in its slice")
	}

	// A new pod goes into the slice with room, no new slice.
	e.p.create(t, epPod("new", "10.0.9.1", true))
	if n := e.pass(); n != 1 {
		t.Fatalf("a new pod made %d writes, want 1", n)
	}
	if got := fmt.Sprint(sizes()); got != "[51 100 100]" {
		t.Fatalf("slice sizes %s, want [51 100 100]", got)
	}

	// A removed pod: one write; the other slices stay.
	e.deleteObj("pods", "p000", true)
	if n := e.pass(); n != 1 {
		t.Fatalf("a removed pod made %d writes, want 1", n)
	}
	if _, ok := e.endpointsByPod()["p000"]; ok {
		t.Fatal("the removed pod is still in a slice")
	}
	if n := e.pass(); n != 0 {
		t.Fatalf("a pass without a change made %d writes", n)
	}
}

func TestEndpointSlicePlaceholderAndServiceDelete(t *testing.T) {
	e := newSliceEnv(t)
	e.p.create(t, epService("web", httpPort()))
	if n := e.pass(); n != 1 {
		t.Fatalf("%d writes, want the placeholder", n)
	}
	if s := e.slices(); len(s) != 1 || len(s[0].Endpoints) != 0 {
		t.Fatalf("slices %s, want one empty placeholder", asJSON(t, s))
	}
	e.p.create(t, epPod("a", "10.0.0.1", true))
	e.pass()
	if s := e.slices(); len(s) != 1 || len(s[0].Endpoints) != 1 {
		t.Fatalf("slices %s, want one slice with the pod", asJSON(t, s))
	}
	e.deleteObj("services", "web", true)
	e.pass()
	if s := e.slices(); len(s) != 0 {
		t.Fatalf("%d slices left after the service went", len(s))
	}
	// Slices of others are left alone.
	mine := &v1.EndpointSlice{ObjectMeta: v1.ObjectMeta{Name: "hand", Namespace: "default", UID: "uid-hand",
		Labels: map[string]string{v1.LabelServiceName: "web"}}, AddressType: v1.AddressTypeIPv4}
	e.p.create(t, mine)
	if n := e.pass(); n != 0 {
		t.Fatalf("a hand-made slice made %d writes", n)
	}
}

func TestDesiredEndpointConditions(t *testing.T) {
	now := v1.NewTime(time.Unix(1000, 0))
	cases := []struct {
		name                          string
		ready, terminating, publish   bool
		wantReady, wantServing, wantT bool
	}{
		{name: "ready", ready: true, wantReady: true, wantServing: true},
		{name: "not ready"},
		{name: "ready, terminating", ready: true, terminating: true, wantServing: true, wantT: true},
		{name: "not ready, terminating", terminating: true, wantT: true},
		{name: "not ready, published", publish: true, wantReady: true},
		{name: "ready, terminating, published", ready: true, terminating: true, publish: true, wantReady: true, wantServing: true, wantT: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := epPod("a", "10.0.0.1", tc.ready)
			if tc.terminating {
				p.DeletionTimestamp = &now
			}
			svc := epService("web", httpPort())
			svc.Spec.PublishNotReadyAddresses = tc.publish
			got := DesiredEndpoints(svc, []*v1.Pod{p})
			if len(got) != 1 {
				t.Fatalf("%d endpoints, want 1", len(got))
			}
			c := got[0].Endpoint.Conditions
			if *c.Ready != tc.wantReady || *c.Serving != tc.wantServing || *c.Terminating != tc.wantT {
				t.Fatalf("conditions %s, want ready=%v serving=%v terminating=%v", asJSON(t, c), tc.wantReady, tc.wantServing, tc.wantT)
			}
		})
	}
}
