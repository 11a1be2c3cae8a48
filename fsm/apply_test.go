package fsm

import (
	"encoding/json"
	"fmt"
	"k8s.io/apimachinery/pkg/api/resource"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// eventSummary renders events as "index TYPE resource key" for comparisons.
func eventSummary(evs []Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d %s %s %s", e.Index, e.Type, e.Resource, e.Record.Key()))
	}
	return out
}

func wantEvents(t *testing.T, h *harness, since uint64, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := eventSummary(h.eventsSince(since)); !slices.Equal(got, want) {
		t.Errorf("events since %d:\n got  %q\n want %q", since, got, want)
	}
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name  string
		setup []v1.Object
		obj   v1.Object
		is    func(error) bool // nil: must succeed
	}{
		{name: "pod", setup: []v1.Object{nsObj("default")}, obj: podObj("default", "web", nil)},
		{name: "node", obj: nodeObj("n1")},
		{name: "namespace", obj: nsObj("default")},
		{name: "pod in a missing namespace", setup: []v1.Object{nsObj("other")}, obj: podObj("default", "web", nil), is: v1.IsNotFound},
		{name: "pod without a namespace", setup: []v1.Object{nsObj("default")}, obj: podObj("", "web", nil), is: v1.IsNotFound},
		{name: "service in a missing namespace", obj: svcObj("default", "web"), is: v1.IsNotFound},
		{name: "name taken", setup: []v1.Object{nsObj("default"), podObj("default", "web", nil)}, obj: func() v1.Object {
			p := podObj("default", "web", nil)
			p.UID = "another-uid"
			return p
		}(), is: v1.IsAlreadyExists},
		{name: "namespace taken", setup: []v1.Object{nsObj("default")}, obj: nsObj("default"), is: v1.IsAlreadyExists},
		{name: "uid taken", setup: []v1.Object{nsObj("default"), podObj("default", "web", nil)}, obj: func() v1.Object {
			p := podObj("default", "web-2", nil)
			p.UID = "uid-default/web"
			return p
		}(), is: v1.IsAlreadyExists},
		{name: "same name in another namespace", setup: []v1.Object{nsObj("a"), nsObj("b"), podObj("a", "web", nil)}, obj: podObj("b", "web", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(tt.setup...)
			before := h.index
			res := h.result(mustCreateCmd(t, tt.obj))
			if h.f.Store().Index() != h.index {
				t.Errorf("store index = %d, want %d (failed commands still advance it)", h.f.Store().Index(), h.index)
			}
			m := tt.obj.GetObjectMeta()
			if tt.is != nil {
				wantErr(t, res.Err, tt.is, "an error")
				if res.Record != nil {
					t.Errorf("failed create returned a record")
				}
				wantEvents(t, h, before)
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			r, _ := v1.ResourceOf(tt.obj)
			got := h.get(r.Name, m.Namespace, m.Name)
			if got != res.Record {
				t.Error("result record is not the stored record")
			}
			gm := got.Meta()
			if gm.ResourceVersion != fmt.Sprint(h.index) || gm.Generation != 1 || gm.UID != m.UID {
				t.Errorf("stored meta = rv %q gen %d uid %q, want rv %d gen 1 uid %q", gm.ResourceVersion, gm.Generation, gm.UID, h.index, m.UID)
			}
			if tm := got.Object().GetTypeMeta(); tm.Kind != r.Kind || tm.APIVersion != "v1" {
				t.Errorf("type meta = %+v", tm)
			}
			wantEvents(t, h, before, fmt.Sprintf("%d ADDED %s %s", h.index, r.Name, got.Key()))
		})
	}
}

func TestCreateInTerminatingNamespace(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("app"), nodeObj("n1"), boundPod("app", "running", "n1"))
	if res := h.del(DeleteRequest{Resource: "namespaces", Name: "app"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	before := h.index
	res := h.result(mustCreateCmd(t, podObj("app", "new", nil)))
	if v1.ReasonOf(res.Err) != v1.ReasonForbidden || v1.CodeOf(res.Err) != 403 {
		t.Fatalf("create in a terminating namespace: %v, want Forbidden", res.Err)
	}
	h.gone("pods", "app", "new")
	wantEvents(t, h, before)
}

// resourceVersion is the index of the log entry that last changed the
// object, also when raft's indexes have gaps.
func TestResourceVersionIsLogIndex(t *testing.T) {
	f := NewTestFSM(t)
	for _, step := range []struct {
		index uint64
		obj   v1.Object
	}{{5, nsObj("default")}, {9, podObj("default", "web", nil)}, {10, nodeObj("n1")}} {
		r := MustCreate(t, f, step.index, step.obj)
		if r.Meta().ResourceVersion != fmt.Sprint(step.index) || r.Meta().ResourceVersionIndex() != step.index {
			t.Errorf("rv = %q, want %d", r.Meta().ResourceVersion, step.index)
		}
	}
	p := podObj("default", "web", map[string]string{"v": "2"})
	res := ApplyCommand(t, f, 17, mustUpdate(t, p, false)).(Result)
	if res.Err != nil || res.Record.Meta().ResourceVersion != "17" {
		t.Fatalf("update: %v rv %v", res.Err, res.Record)
	}
	if got := f.Store().Index(); got != 17 {
		t.Errorf("store index = %d, want 17", got)
	}
	if ns, _ := f.Store().Get("namespaces", "", "default"); ns.Meta().ResourceVersion != "5" {
		t.Errorf("untouched namespace rv = %q, want 5", ns.Meta().ResourceVersion)
	}
	evs, last, _, _, err := f.Store().Feed().Since(0)
	if err != nil || last != 17 {
		t.Fatalf("Since(0): last %d err %v", last, err)
	}
	for _, e := range evs {
		if e.Record.Meta().ResourceVersion != fmt.Sprint(e.Index) {
			t.Errorf("event at %d carries rv %q", e.Index, e.Record.Meta().ResourceVersion)
		}
	}
}

func TestUpdateConflict(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), podObj("default", "web", nil))
	stored := h.get("pods", "default", "web")

	tests := []struct {
		name   string
		mutate func(p *v1.Pod)
		status bool
		is     func(error) bool
	}{
		{"stale resourceVersion", func(p *v1.Pod) { p.ResourceVersion = "1" }, false, v1.IsConflict},
		{"future resourceVersion", func(p *v1.Pod) { p.ResourceVersion = "99" }, false, v1.IsConflict},
		{"stale resourceVersion on status", func(p *v1.Pod) { p.ResourceVersion = "1" }, true, v1.IsConflict},
		{"other uid", func(p *v1.Pod) { p.UID = "impostor" }, false, v1.IsConflict},
		{"missing object", func(p *v1.Pod) { p.Name = "nope" }, false, v1.IsNotFound},
		{"missing object status", func(p *v1.Pod) { p.Name = "nope" }, true, v1.IsNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := podObj("default", "web", map[string]string{"changed": "yes"})
			p.Spec.Containers[0].Image = "busybox:1.37"
			p.Status.Phase = v1.PodRunning
			tt.mutate(p)
			before := h.index
			res := h.update(p, tt.status)
			wantErr(t, res.Err, tt.is, "an error")
			if got := h.get("pods", "default", "web"); got != stored {
				t.Errorf("stored object changed to rv %s", got.Meta().ResourceVersion)
			}
			wantEvents(t, h, before)
		})
	}
}

func TestUpdate(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), podObj("default", "web", map[string]string{"app": "web"}))

	// Labels only, with the current resourceVersion: generation stays.
	p := podObj("default", "web", map[string]string{"app": "web", "tier": "fe"})
	p.ResourceVersion = "2"
	res := h.update(p, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if m := res.Record.Meta(); m.ResourceVersion != "3" || m.Generation != 1 || m.Labels["tier"] != "fe" {
		t.Errorf("after label update: rv %q gen %d labels %v, want rv 3 gen 1", m.ResourceVersion, m.Generation, m.Labels)
	}
	wantEvents(t, h, 2, "3 MODIFIED pods default/web")

	// Spec change with the current resourceVersion: generation goes up.
	p = podObj("default", "web", map[string]string{"app": "web"})
	p.Spec.Containers[0].Image = "busybox:1.37"
	p.ResourceVersion = "3"
	res = h.update(p, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if m := res.Record.Meta(); m.ResourceVersion != "4" || m.Generation != 2 {
		t.Errorf("after spec update: rv %q gen %d, want rv 4 gen 2", m.ResourceVersion, m.Generation)
	}

	// Without resourceVersion the update is unconditional.
	p = podObj("default", "web", nil)
	p.Spec.Containers[0].Image = "busybox:1.38"
	res = h.update(p, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if m := res.Record.Meta(); m.ResourceVersion != "5" || m.Generation != 3 || len(m.Labels) != 0 {
		t.Errorf("after unconditional update: rv %q gen %d labels %v", m.ResourceVersion, m.Generation, m.Labels)
	}

	// Fields users cannot set are carried over from the stored object.
	p = podObj("default", "web", nil)
	p.Spec.Containers[0].Image = "busybox:1.38"
	p.CreationTimestamp = v1.NewTime(testNow.Add(time.Hour))
	del := v1.NewTime(testNow.Add(time.Minute))
	p.DeletionTimestamp = &del
	p.Generation = 42
	p.GenerateName = "sneaky-"
	res = h.update(p, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	m := res.Record.Meta()
	if !m.CreationTimestamp.Equal(testNow.Time) || m.DeletionTimestamp != nil || m.Generation != 3 || m.GenerateName != "" || m.UID != "uid-default/web" {
		t.Errorf("system metadata not kept: %+v", m)
	}
}

func TestUpdateStatus(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), podObj("default", "web", map[string]string{"app": "web"}))

	// A status update changes only the status.
	p := podObj("default", "web", map[string]string{"app": "changed"})
	p.Spec.Containers[0].Image = "busybox:9"
	p.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.244.1.7"}
	res := h.update(p, true)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := res.Record.Object().(*v1.Pod)
	if got.Status.Phase != v1.PodRunning || got.Status.PodIP != "10.244.1.7" {
		t.Errorf("status = %+v", got.Status)
	}
	if got.Spec.Containers[0].Image != "busybox:1.36" || got.Labels["app"] != "web" || got.Generation != 1 {
		t.Errorf("status update changed spec or metadata: image %q labels %v gen %d", got.Spec.Containers[0].Image, got.Labels, got.Generation)
	}
	if got.ResourceVersion != "3" {
		t.Errorf("rv = %q, want 3", got.ResourceVersion)
	}

	// A spec update keeps the status.
	p = podObj("default", "web", map[string]string{"app": "web"})
	p.Spec.Containers[0].Image = "busybox:1.37"
	p.Status = v1.PodStatus{Phase: v1.PodFailed}
	p.ResourceVersion = "3"
	res = h.update(p, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got = res.Record.Object().(*v1.Pod)
	if got.Status.Phase != v1.PodRunning || got.Status.PodIP != "10.244.1.7" {
		t.Errorf("spec update changed status to %+v", got.Status)
	}
	if got.Spec.Containers[0].Image != "busybox:1.37" || got.Generation != 2 {
		t.Errorf("spec update: image %q gen %d", got.Spec.Containers[0].Image, got.Generation)
	}

	// The status of a replication controller, as the replication manager writes it.
	h.create(rcObj("default", "rc", 3))
	rc := rcObj("default", "rc", 3)
	rc.Status = v1.ReplicationControllerStatus{Replicas: 2, ReadyReplicas: 1, ObservedGeneration: 1}
	res = h.update(rc, true)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if s := res.Record.Object().(*v1.ReplicationController).Status; s.Replicas != 2 || s.ReadyReplicas != 1 {
		t.Errorf("rc status = %+v", s)
	}
}

func TestUpdateBoundPod(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"), nodeObj("n2"), podObj("default", "web", nil))
	if r := h.bind(Binding{Namespace: "default", Name: "web", Node: "n1"}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	bound := h.get("pods", "default", "web")

	// Moving the pod is refused and changes nothing.
	p := podObj("default", "web", nil)
	p.Spec.NodeName = "n2"
	before := h.index
	res := h.update(p, false)
	wantErr(t, res.Err, v1.IsInvalid, "Invalid")
	if h.get("pods", "default", "web") != bound {
		t.Error("refused update changed the pod")
	}
	wantEvents(t, h, before)

	// An update that leaves nodeName out keeps the binding (and the
	// PodScheduled condition, which is status).
	p = podObj("default", "web", map[string]string{"x": "y"})
	res = h.update(p, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := res.Record.Object().(*v1.Pod)
	if got.Spec.NodeName != "n1" || got.Status.Condition(v1.PodScheduled) == nil || got.Generation != 1 {
		t.Errorf("after update: node %q conditions %+v gen %d", got.Spec.NodeName, got.Status.Conditions, got.Generation)
	}
	// Naming the same node is fine.
	p.Spec.NodeName = "n1"
	if res := h.update(p, false); res.Err != nil {
		t.Fatal(res.Err)
	}
}

func TestUpdateServiceClusterIP(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), svcObj("default", "web"))
	s := svcObj("default", "web")
	s.Spec.ClusterIP = "10.96.0.99"
	wantErr(t, h.update(s, false).Err, v1.IsInvalid, "Invalid")

	s.Spec.ClusterIP = ""
	res := h.update(s, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := res.Record.Object().(*v1.Service).Spec.ClusterIP; got != "10.96.0.10" {
		t.Errorf("clusterIP = %q, want the stored one kept", got)
	}
}

func TestUpdateEndpoints(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), epObj("default", "web"))
	e := epObj("default", "web")
	e.Subsets[0].Addresses = append(e.Subsets[0].Addresses, v1.EndpointAddress{IP: "10.244.2.9"})
	e.ResourceVersion = "2"
	res := h.update(e, false)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := res.Record.Object().(*v1.Endpoints)
	if len(got.Subsets[0].Addresses) != 2 || got.Generation != 2 || got.ResourceVersion != "3" {
		t.Errorf("endpoints = %+v", got)
	}
}

func TestBind(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"), nodeObj("n2"),
		podObj("default", "a", nil), podObj("default", "b", nil), podObj("default", "c", nil), podObj("default", "d", nil))

	// Bind once.
	res := h.bind(Binding{Namespace: "default", Name: "a", UID: "uid-default/a", Node: "n1"})
	if len(res) != 1 || res[0].Err != nil {
		t.Fatalf("bind: %+v", res)
	}
	p := h.pod("default", "a")
	if p.Spec.NodeName != "n1" || p.ResourceVersion != fmt.Sprint(h.index) {
		t.Errorf("bound pod: node %q rv %q", p.Spec.NodeName, p.ResourceVersion)
	}
	if c := p.Status.Condition(v1.PodScheduled); c == nil || c.Status != v1.ConditionTrue || !c.LastTransitionTime.Equal(testNow.Time) {
		t.Errorf("PodScheduled = %+v", c)
	}
	if p.Generation != 1 {
		t.Errorf("binding changed generation to %d", p.Generation)
	}
	if h.pod("default", "b").Spec.NodeName != "" {
		t.Error("binding a bound b too")
	}
	pods, _ := h.f.Store().PodsOnNode("n1")
	if len(pods) != 1 || pods[0].Name != "a" {
		t.Errorf("node index after bind: %v", pods)
	}

	// A second bind, to any node, conflicts and changes nothing.
	for _, node := range []string{"n1", "n2"} {
		before := h.index
		res = h.bind(Binding{Namespace: "default", Name: "a", Node: node})
		wantErr(t, res[0].Err, v1.IsConflict, "Conflict")
		if h.pod("default", "a") != p {
			t.Error("second bind changed the pod")
		}
		wantEvents(t, h, before)
	}

	// A missing node.
	res = h.bind(Binding{Namespace: "default", Name: "b", Node: "n9"})
	wantErr(t, res[0].Err, v1.IsNotFound, "NotFound")
	if h.pod("default", "b").Spec.NodeName != "" {
		t.Error("bound to a missing node")
	}

	// A batch mixing good and bad bindings: each on its own, in order.
	before := h.index
	res = h.bind(
		Binding{Namespace: "default", Name: "b", Node: "n2"},                       // ok
		Binding{Namespace: "default", Name: "a", Node: "n2"},                       // already bound
		Binding{Namespace: "default", Name: "zzz", Node: "n2"},                     // no pod
		Binding{Namespace: "default", Name: "c", Node: "n9"},                       // no node
		Binding{Namespace: "default", Name: "c", UID: "old-uid", Node: "n1"},       // replaced pod
		Binding{Namespace: "default", Name: "b", Node: "n1"},                       // bound earlier in this batch
		Binding{Namespace: "default", Name: "d", UID: "uid-default/d", Node: "n1"}, // ok
	)
	want := []func(error) bool{nil, v1.IsConflict, v1.IsNotFound, v1.IsNotFound, v1.IsConflict, v1.IsConflict, nil}
	if len(res) != len(want) {
		t.Fatalf("%d results for %d bindings", len(res), len(want))
	}
	for i, is := range want {
		if is == nil {
			if res[i].Err != nil || res[i].Record == nil {
				t.Errorf("binding %d: %v", i, res[i].Err)
			}
			continue
		}
		if res[i].Err == nil || !is(res[i].Err) || res[i].Record != nil {
			t.Errorf("binding %d: err %v record %v", i, res[i].Err, res[i].Record)
		}
	}
	wantEvents(t, h, before, fmt.Sprintf("%d MODIFIED pods default/b", h.index), fmt.Sprintf("%d MODIFIED pods default/d", h.index))
	if got := h.pod("default", "b").Spec.NodeName; got != "n2" {
		t.Errorf("b on %q, want n2", got)
	}
	if got := h.pod("default", "c").Spec.NodeName; got != "" {
		t.Errorf("c on %q, want unbound", got)
	}
}

// Binding replaces an earlier PodScheduled=False (set while the pod was
// unschedulable) and keeps the other conditions.
func TestBindReplacesScheduledCondition(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"), podObj("default", "a", nil))
	st := podObj("default", "a", nil)
	st.Status.Conditions = []v1.PodCondition{
		{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: "Unschedulable", LastTransitionTime: v1.NewTime(testNow.Add(-time.Hour))},
	}
	if res := h.update(st, true); res.Err != nil {
		t.Fatal(res.Err)
	}
	if r := h.bind(Binding{Namespace: "default", Name: "a", Node: "n1"}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	conds := h.pod("default", "a").Status.Conditions
	if len(conds) != 2 || conds[0].Type != v1.PodInitialized {
		t.Fatalf("conditions = %+v", conds)
	}
	if c := conds[1]; c.Type != v1.PodScheduled || c.Status != v1.ConditionTrue || c.Reason != "" || !c.LastTransitionTime.Equal(testNow.Time) {
		t.Errorf("PodScheduled = %+v", c)
	}
}

func TestBindDeletingPod(t *testing.T) {
	h := newHarness(t)
	p := podObj("default", "a", nil)
	del := testNow
	p.DeletionTimestamp = &del
	h.create(nsObj("default"), nodeObj("n1"), p)
	res := h.bind(Binding{Namespace: "default", Name: "a", Node: "n1"})
	wantErr(t, res[0].Err, v1.IsConflict, "Conflict")
}

func TestDeletePod(t *testing.T) {
	grace := func(n int64) *int64 { return &n }
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"))

	t.Run("unbound pod is removed", func(t *testing.T) {
		h.create(podObj("default", "unbound", nil))
		res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "unbound"})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h.gone("pods", "default", "unbound")
		if res.Record.Meta().ResourceVersion != fmt.Sprint(h.index) {
			t.Errorf("deleted record rv = %q, want the delete's index %d", res.Record.Meta().ResourceVersion, h.index)
		}
		wantEvents(t, h, h.index-1, fmt.Sprintf("%d DELETED pods default/unbound", h.index))
	})

	t.Run("bound pod is terminated gracefully", func(t *testing.T) {
		h.create(boundPod("default", "bound", "n1"))
		res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound"})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		p := h.pod("default", "bound")
		if p.DeletionTimestamp == nil || !p.DeletionTimestamp.Equal(testNow.Add(30*time.Second)) {
			t.Errorf("deletionTimestamp = %v, want now+30s", p.DeletionTimestamp)
		}
		if g := p.DeletionGracePeriodSeconds; g == nil || *g != 30 {
			t.Errorf("deletionGracePeriodSeconds = %v, want 30", g)
		}
		wantEvents(t, h, h.index-1, fmt.Sprintf("%d MODIFIED pods default/bound", h.index))

		// A longer grace does not extend it.
		stored := h.get("pods", "default", "bound")
		before := h.index
		res = h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound", GracePeriodSeconds: grace(60), Now: v1.NewTime(testNow.Add(time.Second))})
		if res.Err != nil || h.get("pods", "default", "bound") != stored {
			t.Errorf("longer grace changed the pod (err %v)", res.Err)
		}
		wantEvents(t, h, before)

		// A shorter one shortens it.
		later := v1.NewTime(testNow.Add(5 * time.Second))
		res = h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound", GracePeriodSeconds: grace(10), Now: later})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		p = h.pod("default", "bound")
		if !p.DeletionTimestamp.Equal(later.Add(10*time.Second)) || *p.DeletionGracePeriodSeconds != 10 {
			t.Errorf("after shorter grace: %v %d", p.DeletionTimestamp, *p.DeletionGracePeriodSeconds)
		}

		// Grace 0 (the node's confirmation) removes it.
		res = h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound", GracePeriodSeconds: grace(0)})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h.gone("pods", "default", "bound")
		if res.Record.Object().(*v1.Pod).DeletionTimestamp == nil {
			t.Error("the DELETED record lost its deletionTimestamp")
		}
		pods, _ := h.f.Store().PodsOnNode("n1")
		if len(pods) != 0 {
			t.Errorf("node index still has %d pods", len(pods))
		}
	})

	t.Run("pod's own grace period", func(t *testing.T) {
		p := boundPod("default", "quick", "n1")
		p.Spec.TerminationGracePeriodSeconds = grace(3)
		h.create(p)
		if res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "quick"}); res.Err != nil {
			t.Fatal(res.Err)
		}
		if got := h.pod("default", "quick"); !got.DeletionTimestamp.Equal(testNow.Add(3 * time.Second)) {
			t.Errorf("deletionTimestamp = %v, want now+3s", got.DeletionTimestamp)
		}
	})

	t.Run("request grace period", func(t *testing.T) {
		h.create(boundPod("default", "req", "n1"))
		if res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "req", GracePeriodSeconds: grace(5)}); res.Err != nil {
			t.Fatal(res.Err)
		}
		if got := h.pod("default", "req"); !got.DeletionTimestamp.Equal(testNow.Add(5*time.Second)) || *got.DeletionGracePeriodSeconds != 5 {
			t.Errorf("deletionTimestamp = %v, want now+5s", got.DeletionTimestamp)
		}
	})

	t.Run("finished bound pod is removed at once", func(t *testing.T) {
		h.create(boundPod("default", "done", "n1"))
		p := boundPod("default", "done", "n1")
		p.Status.Phase = v1.PodSucceeded
		if res := h.update(p, true); res.Err != nil {
			t.Fatal(res.Err)
		}
		if res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "done"}); res.Err != nil {
			t.Fatal(res.Err)
		}
		h.gone("pods", "default", "done")
	})

	t.Run("preconditions", func(t *testing.T) {
		h.create(podObj("default", "pre", nil))
		rv := fmt.Sprint(h.index)
		uidMsg := "the UID in the precondition (other) does not match the UID in record (uid-default/pre)"
		rvMsg := "the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (" + rv + ")"
		for _, tc := range []struct {
			req  DeleteRequest
			says string
		}{
			{DeleteRequest{UID: "other"}, uidMsg},
			{DeleteRequest{ResourceVersion: "1"}, rvMsg},
			{DeleteRequest{UID: "uid-default/pre", ResourceVersion: "1"}, rvMsg},
			{DeleteRequest{UID: "other", ResourceVersion: rv}, uidMsg},
		} {
			req := tc.req
			req.Resource, req.Namespace, req.Name = "pods", "default", "pre"
			before := h.index
			err := h.del(req).Err
			wantErr(t, err, v1.IsConflict, "Conflict")
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%+v: message %q does not say %q", tc.req, err, tc.says)
			}
			h.get("pods", "default", "pre")
			wantEvents(t, h, before)
		}
		res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "pre", UID: "uid-default/pre", ResourceVersion: rv})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h.gone("pods", "default", "pre")
	})

	t.Run("missing", func(t *testing.T) {
		wantErr(t, h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "nope"}).Err, v1.IsNotFound, "NotFound")
		wantErr(t, h.del(DeleteRequest{Resource: "pods", Namespace: "other", Name: "bound"}).Err, v1.IsNotFound, "NotFound")
	})
}

func TestDeleteOtherKinds(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"), svcObj("default", "web"), epObj("default", "web"))
	for _, tc := range []struct{ res, ns, name string }{{"services", "default", "web"}, {"endpoints", "default", "web"}, {"nodes", "", "n1"}} {
		res := h.del(DeleteRequest{Resource: tc.res, Namespace: tc.ns, Name: tc.name})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h.gone(tc.res, tc.ns, tc.name)
		wantEvents(t, h, h.index-1, fmt.Sprintf("%d DELETED %s %s", h.index, tc.res, v1.Key(tc.ns, tc.name)))
	}
}

// rcFixture: rc "web" controls pods a (unbound) and b (bound, with another
// non-controller owner); c belongs to another RC, d merely references web
// without being controlled, e has no owner.
func rcFixture(t *testing.T) (*harness, *v1.ReplicationController) {
	h := newHarness(t)
	rc := rcObj("default", "web", 2)
	other := rcObj("default", "other", 1)
	h.create(nsObj("default"), nodeObj("n1"), rc, other)
	b := ownedPod(rc, "b", "n1")
	b.OwnerReferences = append(b.OwnerReferences, v1.OwnerReference{APIVersion: "v1", Kind: "Service", Name: "x", UID: "uid-x"})
	d := podObj("default", "d", nil)
	d.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "web", UID: rc.UID}}
	h.create(ownedPod(rc, "a", ""), b, ownedPod(other, "c", ""), d, podObj("default", "e", nil))
	return h, rc
}

func TestScale(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), rcObj("default", "web", 1))
	scale := func(req ScaleRequest) Result {
		req.Namespace = "default"
		if req.Name == "" {
			req.Name = "web"
		}
		return h.result(mustEncode(t, ScaleCommand, req))
	}

	res := scale(ScaleRequest{Replicas: 3, ResourceVersion: "2"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rc := h.get("replicationcontrollers", "default", "web").Object().(*v1.ReplicationController)
	if *rc.Spec.Replicas != 3 || rc.Generation != 2 || rc.ResourceVersion != "3" {
		t.Errorf("after scale: replicas %d gen %d rv %q", *rc.Spec.Replicas, rc.Generation, rc.ResourceVersion)
	}
	wantEvents(t, h, 2, "3 MODIFIED replicationcontrollers default/web")

	// The same count is a no-op.
	stored := h.get("replicationcontrollers", "default", "web")
	before := h.index
	res = scale(ScaleRequest{Replicas: 3})
	if res.Err != nil || res.Record != stored || h.get("replicationcontrollers", "default", "web") != stored {
		t.Errorf("no-op scale: %v", res.Err)
	}
	wantEvents(t, h, before)

	wantErr(t, scale(ScaleRequest{Replicas: 5, ResourceVersion: "2"}).Err, v1.IsConflict, "Conflict")
	wantErr(t, scale(ScaleRequest{Name: "nope", Replicas: 5}).Err, v1.IsNotFound, "NotFound")

	res = scale(ScaleRequest{Replicas: 0})
	if res.Err != nil || *res.Record.Object().(*v1.ReplicationController).Spec.Replicas != 0 {
		t.Errorf("scale to 0: %v", res.Err)
	}
}

func TestBatchCommand(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nodeObj("n1"))
	item := func(typ CommandType, body any) BatchItem {
		b, err := EncodeBody(typ, body)
		if err != nil {
			t.Fatal(err)
		}
		return BatchItem{Type: typ, Body: b}
	}
	createBody := func(obj v1.Object) CreateRequest {
		cmd, err := NewCreate(obj)
		if err != nil {
			t.Fatal(err)
		}
		req, ok := decodeCreateFrame(cmd[1:])
		if !ok {
			t.Fatal("NewCreate made an undecodable frame")
		}
		return req
	}
	req := BatchRequest{Items: []BatchItem{
		item(CreateCommand, createBody(podObj("default", "a", nil))),
		item(CreateCommand, createBody(podObj("default", "b", nil))),
		item(CreateCommand, createBody(podObj("default", "a", nil))), // taken by the first item
		item(CreateCommand, createBody(podObj("nowhere", "c", nil))),
		item(IgnoreUnknown|0x55, map[string]string{"from": "the future"}),
		item(DeleteCommand, DeleteRequest{Resource: "pods", Namespace: "default", Name: "b"}),
	}}
	res := h.batch(mustEncode(t, BatchCommand, req))
	if len(res) != len(req.Items) {
		t.Fatalf("%d results for %d items", len(res), len(req.Items))
	}
	if res[0].Err != nil || res[0].Record.Meta().ResourceVersion != fmt.Sprint(h.index) {
		t.Errorf("item 0: %v", res[0].Err)
	}
	if res[1].Err != nil {
		t.Errorf("item 1: %v", res[1].Err)
	}
	wantErr(t, res[2].Err, v1.IsAlreadyExists, "AlreadyExists")
	wantErr(t, res[3].Err, v1.IsNotFound, "NotFound")
	if res[4].Err != nil || res[4].Record != nil {
		t.Errorf("ignored item: %+v", res[4])
	}
	if res[5].Err != nil || res[5].Record.Key() != "default/b" {
		t.Errorf("item 5: %+v", res[5])
	}
	h.get("pods", "default", "a")
	h.gone("pods", "default", "b")
	wantEvents(t, h, h.index-1,
		fmt.Sprintf("%d ADDED pods default/a", h.index),
		fmt.Sprintf("%d ADDED pods default/b", h.index),
		fmt.Sprintf("%d DELETED pods default/b", h.index))
}

// mustPanic runs fn and fails the test unless it panics with a message
// containing want.
func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", want)
		}
		if !strings.Contains(fmt.Sprint(r), want) {
			t.Fatalf("panic %q does not mention %q", r, want)
		}
	}()
	fn()
}

// An entry that cannot be applied is answered with a BadRequest naming its
// index and changes nothing; the FSM goes on.
func TestApplyRejectsBadEntries(t *testing.T) {
	nested := mustEncode(t, BatchCommand, BatchRequest{Items: []BatchItem{{Type: BatchCommand, Body: []byte(`{"items":[]}`)}}})
	badTime := []byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x","namespace":"default","creationTimestamp":"10000-01-01T23:58:59Z"},"spec":{"containers":[{"name":"a","image":"b"}]}}`)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty entry", nil, "the entry is empty"},
		{"undecodable create-service", []byte{byte(CreateServiceCommand)}, "undecodable *fsm.CreateServiceRequest"},
		{"undecodable create-node", []byte{byte(CreateNodeCommand)}, "undecodable *fsm.CreateNodeRequest"},
		{"undecodable body", []byte{byte(CreateCommand), '{'}, "the create names no object"},
		{"undecodable object", mustEncode(t, CreateCommand, CreateRequest{Resource: "pods", Name: "x", Object: json.RawMessage(`{"metadata":[]}`)}), "undecodable *v1.Pod"},
		{"undecodable update", mustEncode(t, UpdateStatusCommand, UpdateRequest{Resource: "pods", Object: badTime}), "undecodable *v1.Pod"},
		{"no resource frame", []byte{byte(UpdateCommand), '{', '}'}, "no resource frame"},
		{"undecodable delete", []byte{byte(DeleteCommand), '['}, "undecodable *fsm.DeleteRequest"},
		{"undecodable scale", []byte{byte(ScaleCommand), '"'}, "undecodable *fsm.ScaleRequest"},
		{"undecodable bind", []byte{byte(BindCommand), 'x'}, "undecodable *fsm.BindRequest"},
		{"master without id", []byte{byte(UpsertMasterCommand), '{', '}'}, "the master has no id"},
		{"nested batch", nested, "a batch may not hold a batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewTestFSM(t)
			MustCreate(t, f, 1, nsObj("default"))
			_, before := f.Store().Feed().Window()
			res, ok := ApplyCommand(t, f, 2, tt.data).(Result)
			if !ok || res.Err == nil {
				t.Fatalf("Apply = %#v, want a Result with an error", res)
			}
			want := "the command committed at index 2 cannot be applied: " + tt.want
			if v1.CodeOf(res.Err) != 400 || !strings.HasPrefix(res.Err.Error(), want) {
				t.Fatalf("error %d %q, want 400 starting %q", v1.CodeOf(res.Err), res.Err, want)
			}
			if got := f.Store().Index(); got != 2 {
				t.Errorf("store index = %d, want 2", got)
			}
			if evs, _, _, _, _ := f.Store().Feed().Since(before); len(evs) != 0 {
				t.Errorf("events after a rejected entry: %v", evs)
			}
			if n := f.Store().Count("pods"); n != 0 {
				t.Errorf("%d pods after a rejected entry", n)
			}
			if f.Rejected() != 1 {
				t.Errorf("Rejected() = %d, want 1", f.Rejected())
			}
			if rs := f.TakeRejections(); len(rs) != 1 || rs[0].Index != 2 || rs[0].Err != res.Err {
				t.Errorf("TakeRejections() = %v", rs)
			}
			MustCreate(t, f, 3, podObj("default", "after", nil)) // the FSM goes on
		})
	}
}

// What another master may know (a newer command type or resource during a
// rolling upgrade) still stops the FSM: answering it with an error here
// while a newer master applies it would diverge the state.
func TestApplyStopsOnSkew(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"unknown type", []byte{0x7f, '{', '}'}, "unknown command type 127"},
		{"unknown type 14", []byte{14}, "unknown command type 14"},
		{"unknown resource", mustEncode(t, CreateCommand, CreateRequest{Resource: "widgets", Name: "x", Object: json.RawMessage(`{}`)}), "unknown resource"},
		{"unknown type in a batch", mustEncode(t, BatchCommand, BatchRequest{Items: []BatchItem{{Type: 0x42, Body: []byte(`{}`)}}}), "unknown command type 66"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewTestFSM(t) // a panicking apply leaves its transaction open: use a fresh FSM
			mustPanic(t, tt.want, func() { ApplyCommand(t, f, 1, tt.data) })
		})
	}
}

// An entry whose apply panics is answered with an error; the entries around
// it in the same batch are applied, and nothing of it remains.
func TestApplyBatchSurvivesAPanickingEntry(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, nsObj("default"))
	const boom = CommandType(0x70)
	f.funcs = func(t CommandType) (applyFunc, bool) {
		if t == boom {
			return func(w *writeTxn, b []byte) any {
				w.put("pods", v1.Added, podObj("default", "half-done", nil), nil) // changed, then...
				var p *v1.Pod
				return p.Name // ...a nil dereference
			}, true
		}
		return applyFuncFor(t)
	}
	a, err := NewCreate(podObj("default", "a", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCreate(podObj("default", "b", nil))
	if err != nil {
		t.Fatal(err)
	}
	out := f.ApplyBatch([]*raft.Log{
		{Index: 2, Type: raft.LogCommand, Data: a},
		{Index: 3, Type: raft.LogCommand, Data: []byte{byte(boom)}},
		{Index: 4, Type: raft.LogCommand, Data: b},
	})
	if r := out[0].(Result); r.Err != nil || r.Record.Key() != "default/a" {
		t.Errorf("entry 2: %+v", r)
	}
	if r := out[1].(Result); r.Err == nil || !strings.Contains(r.Err.Error(), "index 3 cannot be applied: applying it failed: runtime error") {
		t.Errorf("entry 3: %+v", r)
	}
	if r := out[2].(Result); r.Err != nil || r.Record.Key() != "default/b" {
		t.Errorf("entry 4: %+v", r)
	}
	if _, err := f.Store().Get("pods", "default", "half-done"); !v1.IsNotFound(err) {
		t.Errorf("the panicking entry's change was kept: %v", err)
	}
	if got := f.Store().Index(); got != 4 {
		t.Errorf("index = %d, want 4", got)
	}
	if f.Rejected() != 1 {
		t.Errorf("Rejected() = %d, want 1", f.Rejected())
	}
}

func TestApplyIgnoresUnknownFlaggedTypes(t *testing.T) {
	f := NewTestFSM(t)
	for i, typ := range []CommandType{IgnoreUnknown, IgnoreUnknown | 1, IgnoreUnknown | 0x7f} {
		index := uint64(i + 1)
		if out := ApplyCommand(t, f, index, []byte{byte(typ), 'x', 'y'}); out != nil {
			t.Errorf("type %#x: Apply = %#v, want nil", typ, out)
		}
		if got := f.Store().Index(); got != index {
			t.Errorf("index = %d, want %d", got, index)
		}
	}
	// The FSM still works.
	MustCreate(t, f, 10, nsObj("default"))
}

// ApplyBatch applies several log entries in one transaction; each object gets
// its own entry's index, non-command entries are skipped.
func TestApplyBatch(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, nsObj("default"))
	_, _, wait, _, err := f.Store().Feed().Since(1)
	if err != nil {
		t.Fatal(err)
	}
	upd := podObj("default", "b", map[string]string{"v": "2"})
	logs := []*raft.Log{
		{Index: 2, Type: raft.LogCommand, Data: mustCreateCmd(t, podObj("default", "a", nil))},
		{Index: 3, Type: raft.LogCommand, Data: mustCreateCmd(t, podObj("default", "b", nil))},
		{Index: 4, Type: raft.LogNoop},
		{Index: 5, Type: raft.LogCommand, Data: mustUpdate(t, upd, false)},
		{Index: 6, Type: raft.LogCommand, Data: mustCreateCmd(t, podObj("default", "a", nil))},
		{Index: 7, Type: raft.LogCommand, Data: mustCreateCmd(t, nodeObj("n1"))},
		{Index: 8, Type: raft.LogConfiguration},
	}
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d results for %d logs", len(out), len(logs))
	}
	wantRV := map[int]string{0: "2", 1: "3", 3: "5", 5: "7"}
	for i := range logs {
		rv, ok := wantRV[i]
		switch {
		case logs[i].Type != raft.LogCommand:
			if out[i] != nil {
				t.Errorf("log %d (%v): %#v, want nil", i, logs[i].Type, out[i])
			}
		case ok:
			res := out[i].(Result)
			if res.Err != nil || res.Record.Meta().ResourceVersion != rv {
				t.Errorf("log %d: err %v rv %v, want rv %s", i, res.Err, res.Record, rv)
			}
		default:
			wantErr(t, out[i].(Result).Err, v1.IsAlreadyExists, "AlreadyExists")
		}
	}
	if got := f.Store().Index(); got != 8 {
		t.Errorf("index = %d, want 8 (the last entry handed to the FSM)", got)
	}
	select {
	case <-wait:
	default:
		t.Error("watchers were not woken")
	}
	evs, last, _, _, err := f.Store().Feed().Since(1)
	if err != nil || last != 8 {
		t.Fatalf("Since(1): last %d err %v", last, err)
	}
	want := []string{"2 ADDED pods default/a", "3 ADDED pods default/b", "5 MODIFIED pods default/b", "7 ADDED nodes n1"}
	if got := eventSummary(evs); !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	// The record in the store is the one of the last change.
	if r, _ := f.Store().Get("pods", "default", "b"); r.Meta().ResourceVersion != "5" || r.Meta().Labels["v"] != "2" {
		t.Errorf("pod b = rv %q labels %v", r.Meta().ResourceVersion, r.Meta().Labels)
	}

	// A batch of only non-command entries changes no object, but the store
	// still records how far it has applied.
	if out := f.ApplyBatch([]*raft.Log{{Index: 9, Type: raft.LogConfiguration}}); len(out) != 1 || out[0] != nil {
		t.Errorf("configuration batch = %#v", out)
	}
	if got := f.Store().Index(); got != 9 {
		t.Errorf("index after a configuration entry = %d, want 9", got)
	}
	if r, _ := f.Store().Get("pods", "default", "b"); r.Meta().ResourceVersion != "5" {
		t.Errorf("a configuration entry changed pod b: rv %s", r.Meta().ResourceVersion)
	}
	if out := f.Apply(&raft.Log{Index: 10, Type: raft.LogBarrier}); out != nil {
		t.Errorf("Apply(barrier) = %#v", out)
	}
}

func TestUpdateCannotBindOrChangeNamespacePhase(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceActive}})
	MustCreate(t, f, 2, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1"}})
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
	MustCreate(t, f, 3, pod)

	bound := v1.DeepCopy(pod)
	bound.Spec.NodeName = "n1"
	cmd, err := NewUpdate(bound, false)
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, 4, cmd).(Result)
	if !v1.IsInvalid(res.Err) {
		t.Fatalf("update that sets nodeName: got %v, want Invalid", res.Err)
	}
	if got, _ := f.Store().Get("pods", "default", "p"); got.Object().(*v1.Pod).Spec.NodeName != "" {
		t.Fatal("the update bound the pod")
	}

	ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}, Status: v1.NamespaceStatus{Phase: v1.NamespaceTerminating}}
	cmd, err = NewUpdate(ns, true)
	if err != nil {
		t.Fatal(err)
	}
	if res := ApplyCommand(t, f, 5, cmd).(Result); res.Err != nil {
		t.Fatal(res.Err)
	}
	got, _ := f.Store().Get("namespaces", "", "default")
	if p := got.Object().(*v1.Namespace).Status.Phase; p != v1.NamespaceActive {
		t.Fatalf("a status update set the phase to %s", p)
	}
}

func TestBindRechecksNodeFit(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	node := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1"}, Status: v1.NodeStatus{
		Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourcePods: resource.MustParse("10")}}}
	MustCreate(t, f, 2, node)
	mk := func(name, cpu string) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "u-" + name},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "b",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}}}
	}
	for i, p := range []*v1.Pod{mk("a", "600m"), mk("b", "400m"), mk("c", "1m")} {
		MustCreate(t, f, uint64(3+i), p)
	}
	// Three bindings in one batch, decided on a view where each fitted alone:
	// a and b fill the node exactly; c no longer fits.
	cmd, err := Encode(BindCommand, BindRequest{Bindings: []Binding{
		{Namespace: "default", Name: "a", Node: "n1"},
		{Namespace: "default", Name: "b", Node: "n1"},
		{Namespace: "default", Name: "c", Node: "n1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, 6, cmd).(BatchResult)
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("a: %v, b: %v", res[0].Err, res[1].Err)
	}
	if !v1.IsConflict(res[2].Err) || !strings.Contains(res[2].Err.Error(), "insufficient cpu") {
		t.Fatalf("c: %v, want a Conflict naming cpu", res[2].Err)
	}
	if c, _ := f.Store().Get("pods", "default", "c"); c.Object().(*v1.Pod).Spec.NodeName != "" {
		t.Fatal("c was bound to a full node")
	}
	// A finished pod frees its share.
	a, _ := f.Store().Get("pods", "default", "a")
	done := v1.DeepCopy(a.Object().(*v1.Pod))
	done.Status.Phase = v1.PodSucceeded
	up, err := NewUpdate(done, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := ApplyCommand(t, f, 7, up).(Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	cmd, _ = Encode(BindCommand, BindRequest{Bindings: []Binding{{Namespace: "default", Name: "c", Node: "n1"}}})
	if r := ApplyCommand(t, f, 8, cmd).(BatchResult); r[0].Err != nil {
		t.Fatalf("c after a finished: %v", r[0].Err)
	}
}
