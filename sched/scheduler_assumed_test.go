package sched

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// cacheEqualsRebuilt fails unless the cache of s, caught up with the
// store, holds what a cache rebuilt from lists holds.
func cacheEqualsRebuilt(t *testing.T, s *Scheduler, store *fsm.Store) {
	t.Helper()
	if err := s.cache.sync(store); err != nil {
		t.Fatal(err)
	}
	fresh := &schedulerCache{}
	if err := fresh.rebuild(store); err != nil {
		t.Fatal(err)
	}
	if got, want := cacheState(t, &s.cache), cacheState(t, fresh); got != want {
		t.Fatalf("the scheduler's cache after its bindings came back:\n%s\nrebuilt:\n%s", got, want)
	}
}

// A pass's bindings coming back through the feed confirm the pods the
// cache assumed: each keeps the info the pass placed, which now shares
// its group's stand-in, and the cache is what a rebuild makes.
func TestSchedulerCacheConfirmsAssumedPods(t *testing.T) {
	p := newFakeProposer(t)
	for i := range 3 {
		p.create(t, zoned(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i%2), nil))
	}
	web := map[string]string{"app": "web"}
	for i := range 6 {
		q := owned(labelled(fmt.Sprintf("web-%d", i), "", web), "rc-web")
		q.Spec.Containers[0].Resources.Requests[v1.ResourceMemory] = resource.MustParse("64Mi")
		if i%2 == 0 {
			q.Spec.Affinity = preferredAntiOnHost()
		}
		if i == 5 {
			q.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 8080, HostPort: 8080, Protocol: "TCP"}}
		}
		p.create(t, q)
	}
	s := NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Rand: seeded()})
	if n, err := s.Pass(context.Background(), p.store()); err != nil || n != 6 {
		t.Fatalf("pass bound %d pods: %v", n, err)
	}
	assumed := map[string]*podInfo{}
	for key, cp := range s.cache.pods {
		if !s.cache.shared(cp.pi) {
			assumed[key] = cp.pi
		}
	}
	if len(assumed) != 6 {
		t.Fatalf("%d pods assumed after the pass, want 6", len(assumed))
	}
	cacheEqualsRebuilt(t, s, p.store())
	for key, pi := range assumed {
		cp := s.cache.pods[key]
		if cp.pi != pi || !s.cache.shared(pi) {
			t.Errorf("%s: not confirmed (same info %t, shares its stand-in %t)", key, cp.pi == pi, s.cache.shared(cp.pi))
		}
		if pi.node.required != nil || pi.node.preferred != nil || len(pi.spread.hard)+len(pi.spread.soft) > 0 {
			t.Errorf("%s: a confirmed pod keeps what only a pending pod reads", key)
		}
	}
}

// A pod changed between the pass's read and its binding is not confirmed:
// the change drops the assumed pod, and the binding caches the pod as it
// is now.
func TestSchedulerCacheTakesAPodChangedBeforeItsBinding(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, zoned("n0", "a", nil))
	p.create(t, owned(labelled("web", "", map[string]string{"app": "web"}), "rc-web"))
	prop := &bindInterposer{fakeProposer: p, before: []func() error{func() error {
		q := p.pod(t, "web")
		q.Labels = map[string]string{"app": "db"}
		cmd, err := fsm.NewUpdate(q, false)
		if err == nil {
			_, err = p.Apply(context.Background(), cmd)
		}
		return err
	}}}
	s := NewScheduler(SchedulerConfig{Store: p.store, Proposer: prop, Rand: seeded()})
	if n, err := s.Pass(context.Background(), p.store()); err != nil || n != 1 {
		t.Fatalf("pass bound %d pods: %v", n, err)
	}
	assumed := s.cache.pods["default/web"].pi
	cacheEqualsRebuilt(t, s, p.store())
	cp := s.cache.pods["default/web"]
	if cp.pi == assumed {
		t.Fatal("the assumed info of the pod's old labels was kept")
	}
	if got := cp.pi.pod.Labels["app"]; got != "db" {
		t.Fatalf("cached with app=%s, want the new db", got)
	}
}
