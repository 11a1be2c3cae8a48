package sched

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// epPod is a running pod of app=web on node n1 with a named port "http" (8080/TCP).
func epPod(name, ip string, ready bool) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Name: "c", Image: "nginx",
			Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}}}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: ip},
	}
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: status}}
	return p
}

func epService(name string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-svc-" + name, Labels: map[string]string{"tier": "front"}},
		Spec:       v1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports},
	}
}

func httpPort() v1.ServicePort {
	return v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}
}

// addr is the expected address of an epPod.
func addr(name, ip string) v1.EndpointAddress {
	node := "n1"
	return v1.EndpointAddress{IP: ip, NodeName: &node,
		TargetRef: &v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: "uid-" + name}}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestComputeEndpoints(t *testing.T) {
	now := v1.NewTime(time.Unix(1000, 0))
	terminating := epPod("gone", "10.0.0.9", true)
	terminating.DeletionTimestamp = &now
	finished := epPod("done", "10.0.0.8", true)
	finished.Status.Phase = v1.PodSucceeded
	failed := epPod("failed", "10.0.0.7", true)
	failed.Status.Phase = v1.PodFailed
	noIP := epPod("noip", "", true)
	otherNS := epPod("elsewhere", "10.0.0.6", true)
	otherNS.Namespace = "other"
	otherApp := epPod("db", "10.0.0.5", true)
	otherApp.Labels = map[string]string{"app": "db"}
	noName := epPod("noname", "10.0.0.4", true)
	noName.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}
	udpName := epPod("udp", "10.0.0.3", true)
	udpName.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolUDP}}
	alt := epPod("alt", "10.0.0.2", true)
	alt.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 9000}} // protocol defaults to TCP
	altNotReady := epPod("alt2", "10.0.0.12", false)
	altNotReady.Spec.Containers[0].Ports = alt.Spec.Containers[0].Ports
	ipsOnly := epPod("ipsonly", "", true)
	ipsOnly.Status.PodIPs = []v1.PodIP{{IP: "10.0.0.11"}}
	unbound := epPod("unbound", "10.0.0.13", true)
	unbound.Spec.NodeName = ""

	publish := epService("web", httpPort())
	publish.Spec.PublishNotReadyAddresses = true
	noSelector := epService("manual", httpPort())
	noSelector.Spec.Selector = nil
	numeric := epService("web", v1.ServicePort{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9090)},
		v1.ServicePort{Name: "plain", Port: 81}) // no targetPort: the port itself
	twoPorts := epService("web", httpPort(), v1.ServicePort{Name: "metrics", Protocol: v1.ProtocolTCP, Port: 9100, TargetPort: intstr.FromString("metrics")})
	headless := epService("web")

	tcp := func(name string, port int32) v1.EndpointPort {
		return v1.EndpointPort{Name: name, Port: port, Protocol: v1.ProtocolTCP}
	}
	http8080 := []v1.EndpointPort{tcp("http", 8080)}
	unboundAddr := addr("unbound", "10.0.0.13")
	unboundAddr.NodeName = nil

	tests := []struct {
		name string
		svc  *v1.Service
		pods []*v1.Pod
		want []v1.EndpointSubset
	}{
		{"no selector is not managed", noSelector, []*v1.Pod{epPod("a", "10.0.0.1", true)}, nil},
		{"no pods: empty but managed", epService("web", httpPort()), nil, []v1.EndpointSubset{}},
		{"ready and not ready", epService("web", httpPort()),
			[]*v1.Pod{epPod("b", "10.0.0.20", false), epPod("a", "10.0.0.1", true)},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1")},
				NotReadyAddresses: []v1.EndpointAddress{addr("b", "10.0.0.20")}, Ports: http8080}}},
		{"publishNotReadyAddresses", publish,
			[]*v1.Pod{epPod("b", "10.0.0.20", false), epPod("a", "10.0.0.1", true)},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1"), addr("b", "10.0.0.20")}, Ports: http8080}}},
		{"terminating, finished, IP-less, other namespace and non-matching pods are left out", epService("web", httpPort()),
			[]*v1.Pod{terminating, finished, failed, noIP, otherNS, otherApp, epPod("a", "10.0.0.1", true)},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: http8080}}},
		{"podIPs when podIP is empty; no nodeName when unbound", epService("web", httpPort()), []*v1.Pod{ipsOnly, unbound},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("ipsonly", "10.0.0.11"), unboundAddr}, Ports: http8080}}},
		{"a pod lacking the named port (or with it on another protocol) is left out", epService("web", httpPort()),
			[]*v1.Pod{noName, udpName, epPod("a", "10.0.0.1", true)},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: http8080}}},
		{"numeric targetPort and none", numeric, []*v1.Pod{noName},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("noname", "10.0.0.4")},
				Ports: []v1.EndpointPort{tcp("metrics", 9090), tcp("plain", 81)}}}},
		{"pods resolving different ports get their own subsets", epService("web", httpPort()),
			[]*v1.Pod{altNotReady, epPod("a", "10.0.0.1", true), alt, epPod("b", "10.0.0.20", false)},
			[]v1.EndpointSubset{
				{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1")}, NotReadyAddresses: []v1.EndpointAddress{addr("b", "10.0.0.20")}, Ports: http8080},
				{Addresses: []v1.EndpointAddress{addr("alt", "10.0.0.2")}, NotReadyAddresses: []v1.EndpointAddress{addr("alt2", "10.0.0.12")},
					Ports: []v1.EndpointPort{tcp("http", 9000)}},
			}},
		{"a pod serving only some of the ports", twoPorts, []*v1.Pod{noName, epPod("a", "10.0.0.1", true)},
			[]v1.EndpointSubset{
				{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1")}, Ports: http8080},
				{Addresses: []v1.EndpointAddress{addr("noname", "10.0.0.4")}, Ports: []v1.EndpointPort{tcp("metrics", 9090)}},
			}},
		{"headless service without ports", headless, []*v1.Pod{epPod("a", "10.0.0.1", true)},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("a", "10.0.0.1")}}}},
		{"same IP sorted by name", epService("web", httpPort()),
			[]*v1.Pod{epPod("z", "10.0.0.1", true), epPod("y", "10.0.0.1", true)},
			[]v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("y", "10.0.0.1"), addr("z", "10.0.0.1")}, Ports: http8080}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ComputeEndpoints(tc.svc, tc.pods)
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			if g, w := asJSON(t, got), asJSON(t, tc.want); g != w {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
			// Deterministic whatever the order of the pods.
			rev := make([]*v1.Pod, len(tc.pods))
			for i, p := range tc.pods {
				rev[len(rev)-1-i] = p
			}
			for range 5 {
				if g, w := asJSON(t, ComputeEndpoints(tc.svc, rev)), asJSON(t, got); g != w {
					t.Fatalf("reversed pods: got %s\nwant %s", g, w)
				}
			}
		})
	}
}

func (p *fakeProposer) endpoints(t *testing.T, name string) *v1.Endpoints {
	t.Helper()
	rec, err := p.store().Get("endpoints", "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.Endpoints)
}

func (p *fakeProposer) hasEndpoints(name string) bool {
	_, err := p.store().Get("endpoints", "default", name)
	return err == nil
}

func (p *fakeProposer) apply(t *testing.T, cmd []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err = p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
}

func (p *fakeProposer) remove(t *testing.T, resource, name string, grace *int64) {
	t.Helper()
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: resource, Namespace: "default", Name: name,
		GracePeriodSeconds: grace, Now: v1.NewTime(time.Now())})
	p.apply(t, cmd, err)
}

func ips(a []v1.EndpointAddress) []string {
	var out []string
	for _, x := range a {
		out = append(out, x.IP)
	}
	return out
}

func addresses(ep *v1.Endpoints) (ready, notReady []string) {
	for _, s := range ep.Subsets {
		ready = append(ready, ips(s.Addresses)...)
		notReady = append(notReady, ips(s.NotReadyAddresses)...)
	}
	return ready, notReady
}

func idlePass(t *testing.T, p *fakeProposer, c *EndpointsController) {
	t.Helper()
	before := p.store().Index()
	if n, err := c.Pass(context.Background(), p.store()); err != nil || n != 0 {
		t.Fatalf("idle pass: %d, %v", n, err)
	}
	if after := p.store().Index(); after != before {
		t.Fatalf("an idle pass wrote entries %d..%d", before, after)
	}
}

func TestEndpointsPassFollowsPods(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, epService("web", httpPort()))
	p.create(t, epPod("a", "10.0.0.1", true))
	p.create(t, epPod("b", "10.0.0.2", false))
	p.create(t, epPod("c", "10.0.0.3", true))
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p, Now: func() time.Time { return created }})
	ctx := context.Background()

	if n, err := c.Pass(ctx, p.store()); err != nil || n != 1 {
		t.Fatalf("first pass: %d, %v", n, err)
	}
	ep := p.endpoints(t, "web")
	if ep.UID == "" || !ep.CreationTimestamp.Equal(created) || ep.Labels["tier"] != "front" ||
		ep.Annotations[EndpointsManagedByAnnotation] != EndpointsManagedByValue {
		t.Fatalf("endpoints metadata: %+v", ep.ObjectMeta)
	}
	ready, notReady := addresses(ep)
	if asJSON(t, ready) != `["10.0.0.1","10.0.0.3"]` || asJSON(t, notReady) != `["10.0.0.2"]` {
		t.Fatalf("ready %v, not ready %v", ready, notReady)
	}
	if len(ep.Subsets) != 1 || asJSON(t, ep.Subsets[0].Ports) != `[{"name":"http","port":8080,"protocol":"TCP"}]` {
		t.Fatalf("subsets %s", asJSON(t, ep.Subsets))
	}
	idlePass(t, p, c)

	// b becomes ready: a status update moves it to addresses.
	b := v1.DeepCopy(p.pod(t, "b"))
	b.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	cmd, err := fsm.NewUpdate(b, true)
	p.apply(t, cmd, err)
	rv := p.endpoints(t, "web").ResourceVersion
	if n, err := c.Pass(ctx, p.store()); err != nil || n != 1 {
		t.Fatalf("pass after ready: %d, %v", n, err)
	}
	ep = p.endpoints(t, "web")
	ready, notReady = addresses(ep)
	if asJSON(t, ready) != `["10.0.0.1","10.0.0.2","10.0.0.3"]` || len(notReady) != 0 || ep.ResourceVersion == rv {
		t.Fatalf("ready %v, not ready %v, rv %s (was %s)", ready, notReady, ep.ResourceVersion, rv)
	}
	idlePass(t, p, c)

	// a is deleted at once, c gracefully (it terminates): both leave.
	zero := int64(0)
	p.remove(t, "pods", "a", &zero)
	p.remove(t, "pods", "c", nil)
	if n, err := c.Pass(ctx, p.store()); err != nil || n != 1 {
		t.Fatalf("pass after delete: %d, %v", n, err)
	}
	ready, notReady = addresses(p.endpoints(t, "web"))
	if asJSON(t, ready) != `["10.0.0.2"]` || len(notReady) != 0 {
		t.Fatalf("after delete: ready %v, not ready %v", ready, notReady)
	}
	idlePass(t, p, c)

	// The last one goes: the Endpoints stays, empty.
	p.remove(t, "pods", "b", &zero)
	if n, err := c.Pass(ctx, p.store()); err != nil || n != 1 {
		t.Fatalf("pass after last delete: %d, %v", n, err)
	}
	if ep := p.endpoints(t, "web"); len(ep.Subsets) != 0 {
		t.Fatalf("subsets %s, want none", asJSON(t, ep.Subsets))
	}
	idlePass(t, p, c)
}

func TestEndpointsPassDeletesOnlyManagedOrphans(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, epService("web", httpPort()))
	manual := epService("manual", v1.ServicePort{Name: "db", Port: 5432})
	manual.Spec.Selector = nil
	p.create(t, manual)
	handMade := func(name string) *v1.Endpoints {
		return &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-ep-" + name},
			Subsets: []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{{IP: "192.168.1.1"}},
				Ports: []v1.EndpointPort{{Name: "db", Port: 5432, Protocol: v1.ProtocolTCP}}}}}
	}
	p.create(t, handMade("manual")) // a selector-less service's hand-written endpoints
	p.create(t, handMade("orphan")) // no service at all, not ours
	p.create(t, epPod("a", "10.0.0.1", true))
	c := NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p})
	ctx := context.Background()
	if n, err := c.Pass(ctx, p.store()); err != nil || n != 1 {
		t.Fatalf("first pass: %d, %v", n, err)
	}
	idlePass(t, p, c)

	p.remove(t, "services", "web", nil)
	p.remove(t, "services", "manual", nil)
	if n, err := c.Pass(ctx, p.store()); err != nil || n != 1 {
		t.Fatalf("pass after service deletes: %d, %v", n, err)
	}
	if p.hasEndpoints("web") {
		t.Fatal("the managed endpoints of a deleted service survived")
	}
	for _, name := range []string{"manual", "orphan"} {
		if ep := p.endpoints(t, name); asJSON(t, ep.Subsets) != asJSON(t, handMade(name).Subsets) {
			t.Fatalf("hand-made endpoints %s changed: %s", name, asJSON(t, ep.Subsets))
		}
	}
	idlePass(t, p, c)
}

// racingProposer runs before once, just before the first command it
// proposes: a write that lands between the pass's read and its commit.
type racingProposer struct {
	*fakeProposer
	before func()
}

func (r *racingProposer) Apply(ctx context.Context, cmd []byte) (any, error) {
	if f := r.before; f != nil {
		r.before = nil
		f()
	}
	return r.fakeProposer.Apply(ctx, cmd)
}

func TestEndpointsPassTakesOverAStaleObjectAndRetriesAConflict(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, epService("web", httpPort()))
	p.create(t, epPod("a", "10.0.0.1", true))
	// An Endpoints already there, hand-made and wrong: the controller takes it over.
	p.create(t, &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-ep"},
		Subsets: []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{{IP: "1.2.3.4"}}}}})
	racer := &racingProposer{fakeProposer: p, before: func() {
		ep := v1.DeepCopy(p.endpoints(t, "web"))
		ep.Labels = map[string]string{"someone": "else"}
		cmd, err := fsm.NewUpdate(ep, false)
		p.apply(t, cmd, err)
	}}
	c := NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: racer})
	if n, err := c.Pass(context.Background(), p.store()); err != nil || n != 0 {
		t.Fatalf("racing pass: %d, %v (want the update to conflict)", n, err)
	}
	if ep := p.endpoints(t, "web"); managed(ep) || ep.Labels["someone"] != "else" {
		t.Fatalf("the conflicting update went through: %+v", ep.ObjectMeta)
	}
	if n, err := c.Pass(context.Background(), p.store()); err != nil || n != 1 {
		t.Fatalf("retry pass: %d, %v", n, err)
	}
	ep := p.endpoints(t, "web")
	want := ComputeEndpoints(epService("web", httpPort()), []*v1.Pod{p.pod(t, "a")})
	if ep.UID != "uid-ep" || !managed(ep) || asJSON(t, ep.Labels) != `{"tier":"front"}` || asJSON(t, ep.Subsets) != asJSON(t, want) {
		t.Fatalf("endpoints %+v %s", ep.ObjectMeta, asJSON(t, ep.Subsets))
	}
	idlePass(t, p, c)
}

func TestEndpointsRunReactsToChanges(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, epService("web", httpPort()))
	p.create(t, epPod("a", "10.0.0.1", false))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p, Resync: time.Hour}).Run(ctx)
		close(done)
	}()
	waitFor(t, "endpoints created with a not ready", func() bool {
		if !p.hasEndpoints("web") {
			return false
		}
		_, notReady := addresses(p.endpoints(t, "web"))
		return asJSON(t, notReady) == `["10.0.0.1"]`
	})
	// Resync is an hour: only the change itself can wake the loop.
	a := v1.DeepCopy(p.pod(t, "a"))
	a.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	cmd, err := fsm.NewUpdate(a, true)
	p.apply(t, cmd, err)
	waitFor(t, "a moved to addresses", func() bool {
		ready, notReady := addresses(p.endpoints(t, "web"))
		return asJSON(t, ready) == `["10.0.0.1"]` && len(notReady) == 0
	})
	p.create(t, epPod("b", "10.0.0.2", true))
	waitFor(t, "b added", func() bool {
		ready, _ := addresses(p.endpoints(t, "web"))
		return asJSON(t, ready) == `["10.0.0.1","10.0.0.2"]`
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}
