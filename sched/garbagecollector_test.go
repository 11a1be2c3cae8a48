package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// gcEnv is a garbage collector and a namespace controller over a real FSM.
type gcEnv struct {
	t  *testing.T
	p  *fakeProposer
	gc *GarbageCollector
	nc *NamespaceController
}

func newGCEnv(t *testing.T) *gcEnv {
	p := newFakeProposer(t)
	p.create(t, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1", UID: "node-n1"}})
	now := func() time.Time { return time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC) }
	return &gcEnv{t: t, p: p,
		gc: NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: p, Now: now}),
		nc: NewNamespaceController(NamespaceConfig{Store: p.store, Proposer: p, Now: now})}
}

// settle runs a full pass, then passes over the changes they made, until
// nothing changes (at most 20 rounds).
func (e *gcEnv) settle() {
	e.t.Helper()
	e.run(changes{full: true})
}

// follow is settle from the changes after index seen only, as the
// collector sees them while it runs.
func (e *gcEnv) follow(seen uint64) {
	e.t.Helper()
	evs, _, _, _, err := e.p.store().Feed().Since(seen)
	if err != nil {
		e.t.Fatal(err)
	}
	e.run(changes{events: evs})
}

func (e *gcEnv) index() uint64 {
	_, seen := e.p.store().Feed().Window()
	return seen
}

func (e *gcEnv) run(ch changes) {
	e.t.Helper()
	ctx := context.Background()
	s := e.p.store()
	for range 20 {
		_, seen := s.Feed().Window()
		if err := e.gc.pass(ctx, s, ch); err != nil {
			e.t.Fatalf("gc pass: %v", err)
		}
		if err := e.nc.pass(ctx, s, ch); err != nil {
			e.t.Fatalf("namespace pass: %v", err)
		}
		evs, _, _, _, err := s.Feed().Since(seen)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(evs) == 0 {
			return
		}
		ch = changes{events: evs}
	}
	e.t.Fatal("the collector did not settle in 20 passes")
}

func (e *gcEnv) del(resource, ns, name, policy string, grace *int64) {
	e.t.Helper()
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: resource, Namespace: ns, Name: name,
		Propagation: policy, GracePeriodSeconds: grace, Now: v1.NewTime(time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC))})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		e.t.Fatalf("delete %s %s: %v", resource, name, err)
	}
}

func (e *gcEnv) get(resource, ns, name string) *v1.ObjectMeta {
	e.t.Helper()
	rec, err := e.p.store().Get(resource, ns, name)
	if v1.IsNotFound(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return rec.Meta()
}

func ownerRef(kind, name, uid string, block bool) v1.OwnerReference {
	return v1.OwnerReference{APIVersion: "v1", Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func gcPod(name, node string, refs ...v1.OwnerReference) *v1.Pod {
	p := testPod(name)
	p.UID = "uid-" + name
	p.Spec.NodeName = node
	p.Status = v1.PodStatus{}
	p.DeletionTimestamp = nil
	p.OwnerReferences = refs
	return p
}

func gcService(name string) *v1.Service {
	return &v1.Service{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: v1.ServiceSpec{ClusterIP: "None", Ports: []v1.ServicePort{{Port: 80}}}}
}

func TestGarbageCollector(t *testing.T) {
	rcRef := func(block bool) v1.OwnerReference { return ownerRef("ReplicationController", "web", "uid-web", block) }
	tests := []struct {
		name    string
		objs    []v1.Object
		del     [2]string // resource, name deleted before the collector runs
		policy  string
		confirm bool // confirm the bound pods' termination (grace 0) and settle again
		// after settling: objects that must be gone, kept (with their number
		// of owner references), or terminating
		gone        []string
		kept        map[string]int
		terminating []string
	}{
		{name: "background: dependents of a gone owner go",
			objs: []v1.Object{testRC(1), gcPod("a", "", rcRef(true)), gcPod("b", "n1", rcRef(true)), gcPod("other", "")},
			del:  [2]string{"replicationcontrollers", "web"}, policy: v1.PropagationBackground,
			gone: []string{"rc/web", "a"}, terminating: []string{"b"}, kept: map[string]int{"other": 0}},
		{name: "orphan: references stripped, then the owner goes",
			objs: []v1.Object{testRC(1), gcPod("a", "", rcRef(true)), gcPod("b", "n1", rcRef(true), ownerRef("Service", "svc", "uid-svc", false)), gcService("svc")},
			del:  [2]string{"replicationcontrollers", "web"}, policy: v1.PropagationOrphan,
			gone: []string{"rc/web"}, kept: map[string]int{"a": 0, "b": 1}},
		{name: "rc default is orphan",
			objs: []v1.Object{testRC(1), gcPod("a", "", rcRef(true))},
			del:  [2]string{"replicationcontrollers", "web"},
			gone: []string{"rc/web"}, kept: map[string]int{"a": 0}},
		{name: "foreground: the owner waits for its blocking dependents",
			objs: []v1.Object{testRC(1), gcPod("a", "", rcRef(true)), gcPod("b", "n1", rcRef(true))},
			del:  [2]string{"replicationcontrollers", "web"}, policy: v1.PropagationForeground,
			gone: []string{"a"}, terminating: []string{"rc/web", "b"}},
		{name: "foreground: gone once the node confirms",
			objs: []v1.Object{testRC(1), gcPod("a", "", rcRef(true)), gcPod("b", "n1", rcRef(true))},
			del:  [2]string{"replicationcontrollers", "web"}, policy: v1.PropagationForeground, confirm: true,
			gone: []string{"a", "b", "rc/web"}},
		{name: "foreground: a dependent that does not block is deleted, not waited for",
			objs: []v1.Object{testRC(1), gcPod("b", "n1", rcRef(false))},
			del:  [2]string{"replicationcontrollers", "web"}, policy: v1.PropagationForeground,
			gone: []string{"rc/web"}, terminating: []string{"b"}},
		{name: "foreground: a dependent with another live owner stays, stops blocking, then forgets the gone owner",
			objs: []v1.Object{testRC(1), gcService("svc"), gcPod("b", "n1", rcRef(true), ownerRef("Service", "svc", "uid-svc", false))},
			del:  [2]string{"replicationcontrollers", "web"}, policy: v1.PropagationForeground,
			gone: []string{"rc/web"}, kept: map[string]int{"b": 1}},
		{name: "foreground through a chain of pods",
			objs: []v1.Object{gcService("svc"), gcPod("mid", "", ownerRef("Service", "svc", "uid-svc", true)),
				gcPod("leaf", "n1", ownerRef("Pod", "mid", "uid-mid", true))},
			del: [2]string{"services", "svc"}, policy: v1.PropagationForeground,
			terminating: []string{"svc/svc", "mid", "leaf"}},
		{name: "foreground through a chain, confirmed",
			objs: []v1.Object{gcService("svc"), gcPod("mid", "", ownerRef("Service", "svc", "uid-svc", true)),
				gcPod("leaf", "n1", ownerRef("Pod", "mid", "uid-mid", true))},
			del: [2]string{"services", "svc"}, policy: v1.PropagationForeground, confirm: true,
			gone: []string{"svc/svc", "mid", "leaf"}},
		{name: "an owner uid that does not exist",
			objs: []v1.Object{testRC(1), gcPod("stale", "", ownerRef("ReplicationController", "web", "uid-old", true)),
				gcPod("nobody", "", ownerRef("Service", "ghost", "uid-ghost", false))},
			gone: []string{"stale", "nobody"}, kept: map[string]int{"rc/web": 0}},
		{name: "a dangling reference beside a live owner is dropped",
			objs: []v1.Object{gcService("svc"), gcPod("a", "", ownerRef("Service", "svc", "uid-svc", false), ownerRef("Service", "ghost", "uid-ghost", false))},
			kept: map[string]int{"a": 1}},
		{name: "a cluster-scoped object with a namespaced owner is left alone",
			objs: []v1.Object{&v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n2", UID: "uid-n2",
				OwnerReferences: []v1.OwnerReference{ownerRef("Pod", "gone", "uid-gone", false)}}}},
			kept: map[string]int{"node/n2": 1}},
		{name: "an owner of a kind orch does not serve is left alone",
			objs: []v1.Object{gcPod("a", "", v1.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "uid-w"})},
			kept: map[string]int{"a": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newGCEnv(t)
			for _, o := range tc.objs {
				if rc, ok := o.(*v1.ReplicationController); ok {
					rc.Name, rc.UID, rc.Spec.Selector = "web", "uid-web", map[string]string{"app": "none"}
					rc.Spec.Template.Labels = map[string]string{"app": "none"}
				}
				e.p.create(t, o)
			}
			// The collector has seen everything; the delete reaches it as a change.
			e.settle()
			if tc.del[0] != "" {
				seen := e.index()
				e.del(tc.del[0], "default", tc.del[1], tc.policy, nil)
				e.follow(seen)
			}
			if tc.confirm {
				seen := e.index()
				for _, rec := range mustList(t, e.p.store(), "pods") {
					if m := rec.Meta(); m.DeletionTimestamp != nil {
						e.del("pods", "default", m.Name, "", new(int64))
					}
				}
				e.follow(seen)
			}
			look := func(name string) *v1.ObjectMeta {
				switch {
				case len(name) > 3 && name[:3] == "rc/":
					return e.get("replicationcontrollers", "default", name[3:])
				case len(name) > 4 && name[:4] == "svc/":
					return e.get("services", "default", name[4:])
				case len(name) > 5 && name[:5] == "node/":
					return e.get("nodes", "", name[5:])
				}
				return e.get("pods", "default", name)
			}
			for _, n := range tc.gone {
				if m := look(n); m != nil {
					t.Errorf("%s still stored: deletionTimestamp %v finalizers %q", n, m.DeletionTimestamp, m.Finalizers)
				}
			}
			for n, refs := range tc.kept {
				m := look(n)
				if m == nil || m.DeletionTimestamp != nil || len(m.OwnerReferences) != refs {
					t.Errorf("%s = %+v, want kept with %d owner references", n, m, refs)
				}
			}
			for _, n := range tc.terminating {
				if m := look(n); m == nil || m.DeletionTimestamp == nil {
					t.Errorf("%s = %+v, want terminating", n, m)
				}
			}
		})
	}
}

func mustList(t *testing.T, s *fsm.Store, resource string) []*fsm.Record {
	t.Helper()
	res, err := s.List(resource, fsm.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// TestNamespaceControllerDeletesContent: a terminating namespace's content
// is deleted honouring finalizers; the namespace goes with the last object.
func TestNamespaceControllerDeletesContent(t *testing.T) {
	e := newGCEnv(t)
	e.p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other", UID: "ns-other"}})
	held := gcService("held")
	held.Finalizers = []string{"example.com/hold"}
	e.p.create(t, held)
	e.p.create(t, gcPod("running", "n1"))
	e.p.create(t, gcPod("idle", ""))
	other := gcPod("elsewhere", "")
	other.Namespace = "other"
	e.p.create(t, other)

	e.settle()
	seen := e.index()
	e.del("namespaces", "", "default", "", nil)
	e.follow(seen)
	if m := e.get("namespaces", "", "default"); m == nil || m.DeletionTimestamp == nil {
		t.Fatalf("namespace = %+v, want terminating", m)
	}
	if e.get("pods", "default", "idle") != nil || e.get("serviceaccounts", "default", "default") != nil {
		t.Error("content without finalizers not deleted")
	}
	if m := e.get("services", "default", "held"); m == nil || m.DeletionTimestamp == nil {
		t.Errorf("held service = %+v, want terminating", m)
	}
	if m := e.get("pods", "default", "running"); m == nil || m.DeletionTimestamp == nil {
		t.Errorf("running pod = %+v, want terminating", m)
	}
	if e.get("pods", "other", "elsewhere") == nil {
		t.Error("another namespace's pod was deleted")
	}

	seen = e.index()
	e.del("pods", "default", "running", "", new(int64))
	e.follow(seen)
	if e.get("namespaces", "", "default") == nil {
		t.Fatal("namespace gone while the held service is left")
	}
	rec, err := e.p.store().Get("services", "default", "held")
	if err != nil {
		t.Fatal(err)
	}
	svc := v1.DeepCopy(rec.Object().(*v1.Service))
	svc.Finalizers = nil
	cmd, err := fsm.NewUpdate(svc, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	if e.get("services", "default", "held") != nil || e.get("namespaces", "", "default") != nil {
		t.Error("the service or the namespace is still stored after the finalizer went")
	}
}
