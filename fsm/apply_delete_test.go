package fsm

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

const holdFinalizer = "example.com/hold"

func withFinalizers[T v1.Object](o T, fs ...string) T {
	o.GetObjectMeta().Finalizers = fs
	return o
}

// TestDeleteFinalizersAndPolicies: a delete removes an object at once
// unless it keeps finalizers (its own, or orphan / foregroundDeletion from the
// propagation policy); then it gets a deletionTimestamp and stays.
func TestDeleteFinalizersAndPolicies(t *testing.T) {
	later := v1.NewTime(testNow.Add(time.Hour))
	tests := []struct {
		name   string
		obj    v1.Object
		policy string
		grace  *int64
		// wantGone: removed; otherwise stored with these finalizers,
		// deletionTimestamp and grace period.
		wantGone  bool
		wantFins  []string
		wantTS    time.Time
		wantGrace int64
	}{
		{name: "no finalizers, background", obj: svcObj("default", "s"), policy: v1.PropagationBackground, wantGone: true},
		{name: "no finalizers, kind default", obj: svcObj("default", "s"), wantGone: true},
		{name: "own finalizer holds it", obj: withFinalizers(svcObj("default", "s"), holdFinalizer), policy: v1.PropagationBackground,
			wantFins: []string{holdFinalizer}, wantTS: testNow.Time},
		{name: "orphan adds its finalizer", obj: svcObj("default", "s"), policy: v1.PropagationOrphan,
			wantFins: []string{v1.FinalizerOrphanDependents}, wantTS: testNow.Time},
		{name: "foreground adds its finalizer", obj: svcObj("default", "s"), policy: v1.PropagationForeground,
			wantFins: []string{v1.FinalizerDeleteDependents}, wantTS: testNow.Time},
		{name: "foreground replaces orphan, keeps others", obj: withFinalizers(svcObj("default", "s"), holdFinalizer, v1.FinalizerOrphanDependents),
			policy: v1.PropagationForeground, wantFins: []string{holdFinalizer, v1.FinalizerDeleteDependents}, wantTS: testNow.Time},
		{name: "background drops an orphan finalizer", obj: withFinalizers(svcObj("default", "s"), v1.FinalizerOrphanDependents),
			policy: v1.PropagationBackground, wantGone: true},
		{name: "no policy keeps an orphan finalizer", obj: withFinalizers(svcObj("default", "s"), v1.FinalizerOrphanDependents),
			wantFins: []string{v1.FinalizerOrphanDependents}, wantTS: testNow.Time},
		{name: "replication controller defaults to orphan", obj: rcObj("default", "web", 1),
			wantFins: []string{v1.FinalizerOrphanDependents}, wantTS: testNow.Time},
		{name: "replication controller, background", obj: rcObj("default", "web", 1), policy: v1.PropagationBackground, wantGone: true},
		{name: "bound pod with a finalizer: graceful", obj: withFinalizers(boundPod("default", "p", "n1"), holdFinalizer),
			wantFins: []string{holdFinalizer}, wantTS: testNow.Add(30 * time.Second), wantGrace: 30},
		{name: "bound pod, grace 0, finalizer", obj: withFinalizers(boundPod("default", "p", "n1"), holdFinalizer), grace: new(int64),
			wantFins: []string{holdFinalizer}, wantTS: testNow.Time},
		{name: "unbound pod with a finalizer", obj: withFinalizers(podObj("default", "p", nil), holdFinalizer), grace: ptrTo(int64(30)),
			wantFins: []string{holdFinalizer}, wantTS: testNow.Time},
		{name: "unbound pod", obj: podObj("default", "p", nil), wantGone: true},
		{name: "bound pod foreground", obj: boundPod("default", "p", "n1"), policy: v1.PropagationForeground,
			wantFins: []string{v1.FinalizerDeleteDependents}, wantTS: testNow.Add(30 * time.Second), wantGrace: 30},
		{name: "earlier deletionTimestamp kept", obj: func() v1.Object {
			s := withFinalizers(svcObj("default", "s"), holdFinalizer)
			s.DeletionTimestamp = &later // only reachable through old entries; the earlier time wins
			return s
		}(), wantFins: []string{holdFinalizer}, wantTS: testNow.Time},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(nsObj("default"), nodeObj("n1"), tc.obj)
			r, _ := v1.ResourceOf(tc.obj)
			m := tc.obj.GetObjectMeta()
			res := h.del(DeleteRequest{Resource: r.Name, Namespace: m.Namespace, Name: m.Name, Propagation: tc.policy, GracePeriodSeconds: tc.grace})
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if tc.wantGone {
				h.gone(r.Name, m.Namespace, m.Name)
				wantEvents(t, h, h.index-1, fmt.Sprintf("%d DELETED %s %s", h.index, r.Name, v1.Key(m.Namespace, m.Name)))
				return
			}
			got := h.get(r.Name, m.Namespace, m.Name).Meta()
			if !slices.Equal(got.Finalizers, tc.wantFins) {
				t.Errorf("finalizers = %q, want %q", got.Finalizers, tc.wantFins)
			}
			if got.DeletionTimestamp == nil || !got.DeletionTimestamp.Equal(tc.wantTS) {
				t.Errorf("deletionTimestamp = %v, want %v", got.DeletionTimestamp, tc.wantTS)
			}
			if g := got.DeletionGracePeriodSeconds; g == nil || *g != tc.wantGrace {
				t.Errorf("deletionGracePeriodSeconds = %v, want %d", g, tc.wantGrace)
			}
			if res.Record.Meta().ResourceVersion != got.ResourceVersion {
				t.Errorf("result rv %q, stored %q", res.Record.Meta().ResourceVersion, got.ResourceVersion)
			}

			// Deleting it again changes nothing and answers with it.
			stored := h.get(r.Name, m.Namespace, m.Name)
			before := h.index
			res = h.del(DeleteRequest{Resource: r.Name, Namespace: m.Namespace, Name: m.Name, GracePeriodSeconds: tc.grace, Now: v1.NewTime(testNow.Add(time.Minute))})
			if res.Err != nil || res.Record != stored || h.get(r.Name, m.Namespace, m.Name) != stored {
				t.Errorf("second delete: err %v, changed %v", res.Err, h.get(r.Name, m.Namespace, m.Name) != stored)
			}
			wantEvents(t, h, before)
		})
	}
}

// TestDeleteRejectsUnknownPolicy: a committed entry with a policy this
// binary does not know is rejected the same way on every master.
func TestDeleteRejectsUnknownPolicy(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), svcObj("default", "s"))
	res := h.del(DeleteRequest{Resource: "services", Namespace: "default", Name: "s", Propagation: "Sideways"})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "Sideways") {
		t.Errorf("err = %v, want a rejection naming the policy", res.Err)
	}
	h.get("services", "default", "s")
}

// TestFinalizersRemovedByUpdate: an update that leaves an object being
// deleted without finalizers removes it, once no node runs it (pods).
func TestFinalizersRemovedByUpdate(t *testing.T) {
	tests := []struct {
		name string
		obj  v1.Object
		// deletes run before the update, in order
		deletes  []DeleteRequest
		keep     []string // finalizers the update leaves
		wantGone bool
		wantErr  string
	}{
		{name: "last finalizer removed", obj: withFinalizers(svcObj("default", "s"), holdFinalizer),
			deletes: []DeleteRequest{{}}, wantGone: true},
		{name: "one of two removed", obj: withFinalizers(svcObj("default", "s"), holdFinalizer, "example.com/other"),
			deletes: []DeleteRequest{{}}, keep: []string{"example.com/other"}},
		{name: "not being deleted", obj: withFinalizers(svcObj("default", "s"), holdFinalizer)},
		{name: "finalizer added while deleting", obj: withFinalizers(svcObj("default", "s"), holdFinalizer),
			deletes: []DeleteRequest{{}}, keep: []string{holdFinalizer, "example.com/late"},
			wantErr: `Service "s" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/late"}`},
		{name: "running pod waits for its node", obj: withFinalizers(boundPod("default", "p", "n1"), holdFinalizer),
			deletes: []DeleteRequest{{}}},
		{name: "pod its node confirmed", obj: withFinalizers(boundPod("default", "p", "n1"), holdFinalizer),
			deletes: []DeleteRequest{{}, {GracePeriodSeconds: new(int64)}}, wantGone: true},
		{name: "unbound pod", obj: withFinalizers(podObj("default", "p", nil), holdFinalizer),
			deletes: []DeleteRequest{{}}, wantGone: true},
		{name: "terminating empty namespace", obj: withFinalizers(nsObj("empty"), holdFinalizer),
			deletes: []DeleteRequest{{}}, wantGone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(nsObj("default"), nodeObj("n1"), tc.obj)
			r, _ := v1.ResourceOf(tc.obj)
			m := tc.obj.GetObjectMeta()
			for _, d := range tc.deletes {
				d.Resource, d.Namespace, d.Name = r.Name, m.Namespace, m.Name
				if res := h.del(d); res.Err != nil {
					t.Fatal(res.Err)
				}
			}
			before := h.get(r.Name, m.Namespace, m.Name)
			next := before.Object()
			next = shallowCopy(next)
			next.GetObjectMeta().Finalizers = tc.keep
			res := h.update(next, false)
			if tc.wantErr != "" {
				if res.Err == nil || res.Err.Error() != tc.wantErr {
					t.Errorf("err = %v\nwant %s", res.Err, tc.wantErr)
				}
				if h.get(r.Name, m.Namespace, m.Name) != before {
					t.Error("a refused update changed the object")
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if tc.wantGone {
				h.gone(r.Name, m.Namespace, m.Name)
				wantEvents(t, h, h.index-1, fmt.Sprintf("%d DELETED %s %s", h.index, r.Name, v1.Key(m.Namespace, m.Name)))
				return
			}
			if got := h.get(r.Name, m.Namespace, m.Name).Meta(); !slices.Equal(got.Finalizers, tc.keep) {
				t.Errorf("finalizers = %q, want %q", got.Finalizers, tc.keep)
			}
		})
	}
}

// TestRunningPodWithoutFinalizersGoesWhenConfirmed: a pod whose finalizers
// were removed while its node still ran it goes with the node's
// confirmation.
func TestRunningPodWithoutFinalizersGoesWhenConfirmed(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"), withFinalizers(boundPod("default", "p", "n1"), holdFinalizer))
	h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "p"})
	p := shallowCopy(h.pod("default", "p")).(*v1.Pod)
	p.Finalizers = nil
	if res := h.update(p, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.get("pods", "default", "p")
	if res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "p", GracePeriodSeconds: new(int64)}); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("pods", "default", "p")
}

// TestDeleteNamespace: deleting a namespace marks it Terminating and leaves
// its content to the namespace controller; it goes with its last object, or
// at once when empty; another namespace is not touched.
func TestDeleteNamespace(t *testing.T) {
	h := newHarness(t)
	h.create(nodeObj("n1"), nsObj("empty"))
	for _, ns := range []string{"app", "app2"} {
		h.create(nsObj(ns), rcObj(ns, "web", 1), withFinalizers(svcObj(ns, "web"), holdFinalizer), boundPod(ns, "running", "n1"))
	}
	keep := map[string]*Record{}
	for _, rn := range [][2]string{{"namespaces", ""}, {"replicationcontrollers", "web"}, {"services", "web"}, {"pods", "running"}} {
		if rn[0] == "namespaces" {
			keep[rn[0]] = h.get(rn[0], "", "app2")
		} else {
			keep[rn[0]] = h.get(rn[0], "app2", rn[1])
		}
	}

	if res := h.del(DeleteRequest{Resource: "namespaces", Name: "empty"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("namespaces", "", "empty")

	res := h.del(DeleteRequest{Resource: "namespaces", Name: "app"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	ns := h.get("namespaces", "", "app").Object().(*v1.Namespace)
	if ns.Status.Phase != v1.NamespaceTerminating || ns.DeletionTimestamp == nil || !ns.DeletionTimestamp.Equal(testNow.Time) {
		t.Errorf("namespace = phase %q deletionTimestamp %v, want Terminating since now", ns.Status.Phase, ns.DeletionTimestamp)
	}
	wantEvents(t, h, h.index-1, fmt.Sprintf("%d MODIFIED namespaces app", h.index))
	// Deleting it again changes nothing.
	before := h.index
	h.del(DeleteRequest{Resource: "namespaces", Name: "app"})
	wantEvents(t, h, before)

	// The content goes one by one; the held service and the running pod stay.
	h.del(DeleteRequest{Resource: "replicationcontrollers", Namespace: "app", Name: "web", Propagation: v1.PropagationBackground})
	h.del(DeleteRequest{Resource: "services", Namespace: "app", Name: "web", Propagation: v1.PropagationBackground})
	h.del(DeleteRequest{Resource: "pods", Namespace: "app", Name: "running", Propagation: v1.PropagationBackground})
	h.gone("replicationcontrollers", "app", "web")
	h.get("namespaces", "", "app")
	// The node confirms the pod; the service's finalizer still holds the namespace.
	h.del(DeleteRequest{Resource: "pods", Namespace: "app", Name: "running", GracePeriodSeconds: new(int64)})
	h.gone("pods", "app", "running")
	h.get("namespaces", "", "app")
	svc := shallowCopy(h.get("services", "app", "web").Object())
	svc.GetObjectMeta().Finalizers = nil
	if res := h.update(svc, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("services", "app", "web")
	h.gone("namespaces", "", "app")
	wantEvents(t, h, h.index-1,
		fmt.Sprintf("%d DELETED services app/web", h.index),
		fmt.Sprintf("%d DELETED namespaces app", h.index))

	for res, r := range keep {
		m := r.Meta()
		if got := h.get(res, m.Namespace, m.Name); got != r {
			t.Errorf("app2 %s %s changed", res, m.Name)
		}
	}
	// The name can be used again.
	h.create(nsObj("app"), podObj("app", "idle", nil))
}

// TestNamespaceSpecFinalizers: the spec's "kubernetes" finalizer stands for
// the content; any other spec finalizer holds the namespace.
func TestNamespaceSpecFinalizers(t *testing.T) {
	h := newHarness(t)
	k := nsObj("k")
	k.Spec.Finalizers = []string{v1.FinalizerKubernetes}
	other := nsObj("other")
	other.Spec.Finalizers = []string{"example.com/ns"}
	h.create(k, other)
	h.del(DeleteRequest{Resource: "namespaces", Name: "k"})
	h.gone("namespaces", "", "k")
	h.del(DeleteRequest{Resource: "namespaces", Name: "other"})
	if ns := h.get("namespaces", "", "other").Object().(*v1.Namespace); ns.Status.Phase != v1.NamespaceTerminating {
		t.Errorf("phase = %q", ns.Status.Phase)
	}
}

func ptrTo[T any](v T) *T { return &v }
