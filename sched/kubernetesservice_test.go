package sched

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func TestFirstServiceIP(t *testing.T) {
	for _, tc := range []struct {
		cidr, want string
		err        bool
	}{
		{cidr: "10.96.0.0/16", want: "10.96.0.1"},
		{cidr: "10.96.0.0/12", want: "10.96.0.1"},
		{cidr: "192.168.7.0/24", want: "192.168.7.1"},
		{cidr: "10.0.0.4/30", want: "10.0.0.5"},
		{cidr: "10.0.0.4/31", err: true},
		{cidr: "fd00::/64", err: true},
		{cidr: "10.96.0.1", err: true},
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			got, err := FirstServiceIP(tc.cidr)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("FirstServiceIP(%q) = %q, %v; want %q (error %v)", tc.cidr, got, err, tc.want, tc.err)
			}
		})
	}
}

// masterList is a Masters source a test changes.
type masterList struct {
	mu    sync.Mutex
	addrs []string
}

func (m *masterList) set(addrs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addrs = addrs
}

func (m *masterList) get() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.addrs), nil
}

func kubernetesObjects(t *testing.T, s *fsm.Store) (*v1.Service, *v1.Endpoints, *v1.EndpointSlice) {
	t.Helper()
	var svc *v1.Service
	var ep *v1.Endpoints
	var slice *v1.EndpointSlice
	if rec, err := s.Get("services", "default", "kubernetes"); err == nil {
		svc = rec.Object().(*v1.Service)
	} else if !v1.IsNotFound(err) {
		t.Fatal(err)
	}
	if rec, err := s.Get("endpoints", "default", "kubernetes"); err == nil {
		ep = rec.Object().(*v1.Endpoints)
	} else if !v1.IsNotFound(err) {
		t.Fatal(err)
	}
	if rec, err := s.Get("endpointslices", "default", "kubernetes"); err == nil {
		slice = rec.Object().(*v1.EndpointSlice)
	} else if !v1.IsNotFound(err) {
		t.Fatal(err)
	}
	return svc, ep, slice
}

func endpointIPsOf(ep *v1.Endpoints) []string {
	var out []string
	for _, s := range ep.Subsets {
		for _, a := range s.Addresses {
			out = append(out, a.IP)
		}
	}
	return out
}

func sliceIPsOf(s *v1.EndpointSlice) []string {
	var out []string
	for _, e := range s.Endpoints {
		if e.Conditions.Ready == nil || !*e.Conditions.Ready {
			continue
		}
		out = append(out, e.Addresses...)
	}
	return out
}

// The Service is made with the first address of the service CIDR and
// port https 443 → the API port; its Endpoints and EndpointSlice hold the
// masters with a routable address on the API port, and follow the
// membership; an edited Service is put back, a deleted one made again;
// an idle pass writes nothing.
func TestKubernetesServicePass(t *testing.T) {
	p := newFakeProposer(t)
	masters := &masterList{}
	masters.set("10.0.0.3:6443", "10.0.0.1:6443", "127.0.0.1:6443", "10.0.0.2:7443", "[::]:6443", "m9.example:6443", "10.0.0.1:6443")
	c, err := NewKubernetesServiceController(KubernetesServiceConfig{Store: p.store, Proposer: p, Masters: masters.get,
		ServiceCIDR: "10.96.0.0/16", APIPort: 6443, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	pass := func() {
		t.Helper()
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	svc, ep, slice := kubernetesObjects(t, p.store())
	if svc == nil || ep == nil || slice == nil {
		t.Fatalf("service %v endpoints %v slice %v", svc, ep, slice)
	}
	if svc.Spec.ClusterIP != "10.96.0.1" || svc.Spec.Type != v1.ServiceTypeClusterIP || len(svc.Spec.Selector) != 0 ||
		svc.Labels["component"] != "apiserver" || svc.Labels["provider"] != "kubernetes" || svc.UID == "" {
		t.Fatalf("service %+v", svc)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "https" || svc.Spec.Ports[0].Port != 443 ||
		svc.Spec.Ports[0].TargetPort.IntValue() != 6443 || svc.Spec.Ports[0].Protocol != v1.ProtocolTCP {
		t.Fatalf("ports %+v", svc.Spec.Ports)
	}
	want := []string{"10.0.0.1", "10.0.0.3"}
	if got := endpointIPsOf(ep); !slices.Equal(got, want) || ep.Subsets[0].Ports[0] != (v1.EndpointPort{Name: "https", Port: 6443, Protocol: v1.ProtocolTCP}) ||
		ep.Labels[LabelSkipMirror] != "true" {
		t.Fatalf("endpoints %+v, want IPs %v", ep, want)
	}
	if got := sliceIPsOf(slice); !slices.Equal(got, want) || slice.AddressType != v1.AddressTypeIPv4 ||
		slice.Labels[v1.LabelServiceName] != "kubernetes" || slice.Labels[v1.LabelManagedBy] != "" ||
		len(slice.Ports) != 1 || *slice.Ports[0].Port != 6443 || *slice.Ports[0].Name != "https" {
		t.Fatalf("slice %+v, want IPs %v", slice, want)
	}

	idle := func() {
		t.Helper()
		idx := p.store().Index()
		pass()
		if got := p.store().Index(); got != idx {
			t.Fatalf("an idle pass wrote (index %d → %d)", idx, got)
		}
	}
	idle()

	// The endpoints controllers leave a selectorless service alone.
	if n, err := NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p}).Pass(context.Background(), p.store()); err != nil || n != 0 {
		t.Fatalf("endpoints controller wrote %d (%v)", n, err)
	}
	if _, err := NewEndpointSliceController(EndpointSliceConfig{Store: p.store, Proposer: p}).Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	idle()

	// A master leaves, another joins.
	masters.set("10.0.0.3:6443", "10.0.0.4:6443")
	pass()
	_, ep, slice = kubernetesObjects(t, p.store())
	want = []string{"10.0.0.3", "10.0.0.4"}
	if got, gotSlice := endpointIPsOf(ep), sliceIPsOf(slice); !slices.Equal(got, want) || !slices.Equal(gotSlice, want) {
		t.Fatalf("after a membership change: endpoints %v slice %v, want %v", got, gotSlice, want)
	}
	// No master reachable: no addresses, the objects stay.
	masters.set("127.0.0.1:6443")
	pass()
	_, ep, slice = kubernetesObjects(t, p.store())
	if len(ep.Subsets) != 0 || len(slice.Endpoints) != 0 {
		t.Fatalf("no routable master: endpoints %+v slice %+v", ep.Subsets, slice.Endpoints)
	}
	masters.set("10.0.0.3:6443")
	pass()

	// Edited: put back (same object).
	svc, _, _ = kubernetesObjects(t, p.store())
	edited := v1.DeepCopy(svc)
	edited.Spec.Ports = []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: v1.IntOrString{IntVal: 8080}}}
	edited.Spec.Selector = map[string]string{"app": "x"}
	delete(edited.Labels, "provider")
	edited.Labels["extra"] = "kept"
	cmd, err := fsm.NewUpdate(edited, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	// Endpoints edited by hand too.
	_, ep, _ = kubernetesObjects(t, p.store())
	forged := v1.DeepCopy(ep)
	forged.Subsets[0].Addresses = []v1.EndpointAddress{{IP: "10.9.9.9"}}
	if cmd, err = fsm.NewUpdate(forged, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	pass()
	got, ep, _ := kubernetesObjects(t, p.store())
	if got.UID != svc.UID || len(got.Spec.Selector) != 0 || got.Spec.Ports[0].Port != 443 || got.Labels["provider"] != "kubernetes" || got.Labels["extra"] != "kept" {
		t.Fatalf("after an edit: %+v", got)
	}
	if ips := endpointIPsOf(ep); !slices.Equal(ips, []string{"10.0.0.3"}) {
		t.Fatalf("forged endpoints not put back: %v", ips)
	}
	idle()

	// Deleted: made again with the same ClusterIP.
	for _, res := range []string{"services", "endpoints", "endpointslices"} {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: res, Namespace: "default", Name: "kubernetes"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Apply(context.Background(), cmd); err != nil {
			t.Fatalf("delete %s: %v", res, err)
		}
	}
	pass()
	svc2, ep, slice := kubernetesObjects(t, p.store())
	if svc2 == nil || svc2.UID == svc.UID || svc2.Spec.ClusterIP != "10.96.0.1" || ep == nil || slice == nil ||
		!slices.Equal(sliceIPsOf(slice), []string{"10.0.0.3"}) {
		t.Fatalf("after a delete: service %+v endpoints %+v slice %+v", svc2, ep, slice)
	}
	idle()
}

func TestKubernetesServiceConfigRefused(t *testing.T) {
	masters := func() ([]string, error) { return nil, nil }
	for name, cfg := range map[string]KubernetesServiceConfig{
		"no CIDR":    {APIPort: 6443, Masters: masters},
		"IPv6 CIDR":  {ServiceCIDR: "fd00::/108", APIPort: 6443, Masters: masters},
		"no port":    {ServiceCIDR: "10.96.0.0/16", Masters: masters},
		"no masters": {ServiceCIDR: "10.96.0.0/16", APIPort: 6443},
		"port 70000": {ServiceCIDR: "10.96.0.0/16", APIPort: 70000, Masters: masters},
		"/31 CIDR":   {ServiceCIDR: "10.96.0.0/31", APIPort: 6443, Masters: masters},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewKubernetesServiceController(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// The Run loop makes the Service at start and follows a membership change
// by its resync.
func TestKubernetesServiceRun(t *testing.T) {
	p := newFakeProposer(t)
	masters := &masterList{}
	masters.set("10.0.0.1:6443")
	c, err := NewKubernetesServiceController(KubernetesServiceConfig{Store: p.store, Proposer: p, Masters: masters.get,
		ServiceCIDR: "10.96.0.0/16", APIPort: 6443, Resync: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitIPs := func(want ...string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, ep, slice := kubernetesObjects(t, p.store())
			if ep != nil && slice != nil && slices.Equal(endpointIPsOf(ep), want) && slices.Equal(sliceIPsOf(slice), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("endpoints %+v slice %+v, want %v", ep, slice, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitIPs("10.0.0.1")
	masters.set("10.0.0.1:6443", "10.0.0.2:6443")
	waitIPs("10.0.0.1", "10.0.0.2")
}

// A master whose API does not answer leaves the endpoints once its probes
// have failed for ProbeGrace, and comes back with its first answer; a new
// term starts with every master in.
func TestKubernetesServiceProbes(t *testing.T) {
	p := newFakeProposer(t)
	masters := &masterList{}
	masters.set("10.0.0.1:6443", "10.0.0.2:6443", "10.0.0.3:6443")
	var mu sync.Mutex
	down := map[string]bool{}
	now := t0
	c, err := NewKubernetesServiceController(KubernetesServiceConfig{Store: p.store, Proposer: p, Masters: masters.get,
		ServiceCIDR: "10.96.0.0/16", APIPort: 6443, ProbeGrace: 5 * time.Second, Now: func() time.Time { return now },
		Probe: func(ctx context.Context, addr string) error {
			mu.Lock()
			defer mu.Unlock()
			if down[addr] {
				return errors.New("connection refused")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(after time.Duration, want ...string) {
		t.Helper()
		now = now.Add(after)
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
		_, ep, slice := kubernetesObjects(t, p.store())
		if !slices.Equal(endpointIPsOf(ep), want) || !slices.Equal(sliceIPsOf(slice), want) {
			t.Fatalf("at +%v: endpoints %v slice %v, want %v", now.Sub(t0), endpointIPsOf(ep), sliceIPsOf(slice), want)
		}
	}
	// Down from the start: in until the grace has passed.
	mu.Lock()
	down["10.0.0.3:6443"] = true
	mu.Unlock()
	check(0, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	check(4*time.Second, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	check(time.Second, "10.0.0.1", "10.0.0.2")
	// Answering again: back at once.
	mu.Lock()
	down["10.0.0.3:6443"] = false
	down["10.0.0.2:6443"] = true
	mu.Unlock()
	check(time.Second, "10.0.0.1", "10.0.0.2", "10.0.0.3")
	check(5*time.Second, "10.0.0.1", "10.0.0.3")
	// A new term forgets the silence: 10.0.0.2 is in until its grace ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Run(ctx) // one pass, then it returns: the context is done
	check(0, "10.0.0.1", "10.0.0.2", "10.0.0.3")
}

// The first address taken by another service: the Service cannot be made
// (retried every pass), its endpoints are kept all the same.
func TestKubernetesServiceAddressTaken(t *testing.T) {
	p := newFakeProposer(t)
	taken := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "squatter", Namespace: "default", UID: "svc-squatter"},
		Spec: v1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []v1.ServicePort{{Port: 80}}}}
	v1.Default(taken)
	cmd, err := fsm.NewCreateService(taken, "10.96.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	masters := &masterList{}
	masters.set("10.0.0.1:6443")
	c, err := NewKubernetesServiceController(KubernetesServiceConfig{Store: p.store, Proposer: p, Masters: masters.get,
		ServiceCIDR: "10.96.0.0/16", APIPort: 6443})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	svc, ep, slice := kubernetesObjects(t, p.store())
	if svc != nil || ep == nil || slice == nil || !slices.Equal(endpointIPsOf(ep), []string{"10.0.0.1"}) {
		t.Fatalf("service %+v endpoints %+v slice %+v", svc, ep, slice)
	}
	if !strings.Contains(c.refused, "already allocated") {
		t.Fatalf("refusal %q", c.refused)
	}
}

func TestIsKubernetesServiceEvent(t *testing.T) {
	rec := func(obj v1.Object) *fsm.Record { return fsm.NewRecord(obj, nil) }
	meta := func(ns, name string) v1.ObjectMeta { return v1.ObjectMeta{Namespace: ns, Name: name} }
	for _, tc := range []struct {
		name string
		ev   fsm.Event
		want bool
	}{
		{"the service", fsm.Event{Resource: "services", Record: rec(&v1.Service{ObjectMeta: meta("default", "kubernetes")})}, true},
		{"its endpoints", fsm.Event{Resource: "endpoints", Record: rec(&v1.Endpoints{ObjectMeta: meta("default", "kubernetes")})}, true},
		{"its slice", fsm.Event{Resource: "endpointslices", Record: rec(&v1.EndpointSlice{ObjectMeta: meta("default", "kubernetes")})}, true},
		{"the default namespace", fsm.Event{Resource: "namespaces", Record: rec(&v1.Namespace{ObjectMeta: meta("", "default")})}, true},
		{"another service", fsm.Event{Resource: "services", Record: rec(&v1.Service{ObjectMeta: meta("default", "web")})}, false},
		{"kubernetes elsewhere", fsm.Event{Resource: "services", Record: rec(&v1.Service{ObjectMeta: meta("team", "kubernetes")})}, false},
		{"another namespace", fsm.Event{Resource: "namespaces", Record: rec(&v1.Namespace{ObjectMeta: meta("", "team")})}, false},
		{"a pod named kubernetes", fsm.Event{Resource: "pods", Record: rec(&v1.Pod{ObjectMeta: meta("default", "kubernetes")})}, false},
		{"no record", fsm.Event{Resource: "services"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isKubernetesServiceEvent(tc.ev); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
