package sched

import (
	"context"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// scaleService creates, unless it exists, service name in default
// selecting app=name and three pods of it (name-a ready, name-b not,
// name-c ready) beside a scaleEnv's other pods.
func scaleService(t *testing.T, p *fakeProposer, name string) {
	t.Helper()
	if _, err := p.store().Get("services", "default", name); err == nil {
		return
	}
	svc := epService(name, httpPort())
	svc.UID = "uid-svc-" + name
	svc.Spec.Selector = map[string]string{"app": name}
	p.create(t, svc)
	for i, s := range []string{"a", "b", "c"} {
		pod := epPod(name+"-"+s, "10.9.0."+string(rune('1'+i)), s != "b")
		pod.Labels = map[string]string{"app": name}
		p.create(t, pod)
	}
}

// flipReady toggles the pod's Ready condition and returns the new value.
func flipReady(t *testing.T, p *fakeProposer, name string) bool {
	t.Helper()
	pod := v1.DeepCopy(p.pod(t, name))
	ready := !pod.IsReady()
	status := v1.ConditionFalse
	if ready {
		status = v1.ConditionTrue
	}
	pod.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: status}}
	cmd, err := fsm.NewUpdate(pod, true)
	p.apply(t, cmd, err)
	return ready
}

func TestEndpointsChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, context.Background()
		scaleService(t, p, "ep-scale")
		c := NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p, Pods: e.pods})
		if _, err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
		seen := p.store().Index()
		ready := flipReady(t, p, "ep-scale-b")
		ch := changesSince(t, p.store(), seen)
		reads := readsOf(p.store(), func() {
			if err := c.pass(ctx, p.store(), ch); err != nil {
				t.Fatal(err)
			}
		})
		r, nr := addresses(p.endpoints(t, "ep-scale"))
		want := `["10.9.0.1","10.9.0.3"]`
		if ready {
			want = `["10.9.0.1","10.9.0.2","10.9.0.3"]`
		}
		if asJSON(t, r) != want || len(r)+len(nr) != 3 {
			t.Fatalf("after the flip to ready=%v: ready %v, not ready %v", ready, r, nr)
		}
		return reads
	})
}

func TestEndpointSlicesChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, context.Background()
		scaleService(t, p, "slice-scale")
		c := NewEndpointSliceController(EndpointSliceConfig{Store: p.store, Proposer: p, Pods: e.pods})
		if _, err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
		seen := p.store().Index()
		ready := flipReady(t, p, "slice-scale-b")
		ch := changesSince(t, p.store(), seen)
		reads := readsOf(p.store(), func() {
			if err := c.pass(ctx, p.store(), ch); err != nil {
				t.Fatal(err)
			}
		})
		l, err := p.store().List("endpointslices", fsm.ListOptions{Namespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range l.Items {
			s := r.Object().(*v1.EndpointSlice)
			if s.Labels[v1.LabelServiceName] != "slice-scale" {
				continue
			}
			for _, ep := range s.Endpoints {
				if ep.TargetRef.Name == "slice-scale-b" && *ep.Conditions.Ready == ready {
					got = append(got, ep.TargetRef.Name)
				}
			}
		}
		if len(got) != 1 {
			t.Fatalf("after the flip to ready=%v: slice-scale-b found with that readiness %d times, want once", ready, len(got))
		}
		return reads
	})
}

func TestServicesDirtiedBy(t *testing.T) {
	p := newFakeProposer(t)
	for _, name := range []string{"web", "db"} {
		svc := epService(name, httpPort())
		svc.Spec.Selector = map[string]string{"app": name}
		p.create(t, svc)
	}
	byHand := epService("byhand", httpPort())
	byHand.Spec.Selector = nil
	p.create(t, byHand)
	pod := func(ns string, l map[string]string) *fsm.Record {
		q := epPod("x", "10.0.0.1", true)
		q.Namespace, q.Labels = ns, l
		return fsm.NewRecord(q, nil)
	}
	ep := func(name string) *fsm.Record {
		return fsm.NewRecord(&v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}}, nil)
	}
	web, db := map[string]string{"app": "web"}, map[string]string{"app": "db"}
	cases := []struct {
		name string
		ev   fsm.Event
		want []string
	}{
		{"pod of one service", fsm.Event{Resource: "pods", Type: v1.Added, Record: pod("default", web)}, []string{"default/web"}},
		{"pod moved between services", fsm.Event{Resource: "pods", Type: v1.Modified, Record: pod("default", db),
			Prev: pod("default", web)}, []string{"default/db", "default/web"}},
		{"pod of no service", fsm.Event{Resource: "pods", Type: v1.Added, Record: pod("default", map[string]string{"app": "x"})}, nil},
		{"pod of another namespace", fsm.Event{Resource: "pods", Type: v1.Added, Record: pod("other", web)}, nil},
		{"service", fsm.Event{Resource: "services", Type: v1.Deleted, Record: fsm.NewRecord(byHand, nil)}, []string{"default/byhand"}},
		{"own object", fsm.Event{Resource: "endpoints", Type: v1.Modified, Record: ep("gone")}, []string{"default/gone"}},
		{"something else", fsm.Event{Resource: "configmaps", Type: v1.Added, Record: ep("web")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := servicesDirtiedBy(p.store(), []fsm.Event{tc.ev}, "endpoints", func(r *fsm.Record) []string { return []string{r.Key()} })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("dirty services %v, want %v", got, tc.want)
			}
		})
	}
}
