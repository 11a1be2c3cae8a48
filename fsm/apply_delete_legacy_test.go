package fsm

import (
	"fmt"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// The tests of LegacyDeleteCommand: entries written before finalizers and
// the garbage collector keep the meaning they had when acknowledged.

func (h *harness) delLegacy(req DeleteRequest) Result {
	h.t.Helper()
	if req.Now.IsZero() {
		req.Now = testNow
	}
	return h.result(mustEncode(h.t, LegacyDeleteCommand, req))
}

func TestLegacyDeleteRCCascades(t *testing.T) {
	h, _ := rcFixture(t)
	untouched := map[string]*Record{}
	for _, n := range []string{"c", "d", "e"} {
		untouched[n] = h.get("pods", "default", n)
	}
	res := h.delLegacy(DeleteRequest{Resource: "replicationcontrollers", Namespace: "default", Name: "web", Propagation: v1.PropagationBackground})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("replicationcontrollers", "default", "web")
	h.gone("pods", "default", "a")
	if b := h.pod("default", "b"); b.DeletionTimestamp == nil {
		t.Error("bound pod b is not terminating")
	}
	for n, r := range untouched {
		if h.get("pods", "default", n) != r {
			t.Errorf("pod %s was changed", n)
		}
	}
	h.get("replicationcontrollers", "default", "other")
	wantEvents(t, h, h.index-1,
		fmt.Sprintf("%d DELETED replicationcontrollers default/web", h.index),
		fmt.Sprintf("%d DELETED pods default/a", h.index),
		fmt.Sprintf("%d MODIFIED pods default/b", h.index))
}

func TestLegacyDeleteRCOrphans(t *testing.T) {
	h, rc := rcFixture(t)
	untouched := map[string]*Record{}
	for _, n := range []string{"c", "d", "e"} {
		untouched[n] = h.get("pods", "default", n)
	}
	res := h.delLegacy(DeleteRequest{Resource: "replicationcontrollers", Namespace: "default", Name: "web", Propagation: v1.PropagationOrphan})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("replicationcontrollers", "default", "web")
	a, b := h.pod("default", "a"), h.pod("default", "b")
	if len(a.OwnerReferences) != 0 || a.ResourceVersion != fmt.Sprint(h.index) {
		t.Errorf("a: ownerReferences %+v rv %q", a.OwnerReferences, a.ResourceVersion)
	}
	if len(b.OwnerReferences) != 1 || b.OwnerReferences[0].UID != "uid-x" || b.DeletionTimestamp != nil {
		t.Errorf("b: ownerReferences %+v deletionTimestamp %v", b.OwnerReferences, b.DeletionTimestamp)
	}
	for _, p := range []*v1.Pod{a, b} {
		if ref := p.ControllerRef(); ref != nil && ref.UID == rc.UID {
			t.Errorf("%s still controlled by the deleted RC", p.Name)
		}
	}
	for n, r := range untouched {
		if h.get("pods", "default", n) != r {
			t.Errorf("pod %s was changed", n)
		}
	}
	wantEvents(t, h, h.index-1,
		fmt.Sprintf("%d DELETED replicationcontrollers default/web", h.index),
		fmt.Sprintf("%d MODIFIED pods default/a", h.index),
		fmt.Sprintf("%d MODIFIED pods default/b", h.index))
}

func TestLegacyDeleteNamespace(t *testing.T) {
	h := newHarness(t)
	h.create(nodeObj("n1"))
	// "app2" has the same objects and must not be touched by deleting "app".
	for _, ns := range []string{"app", "app2"} {
		h.create(nsObj(ns), rcObj(ns, "web", 1), svcObj(ns, "web"), epObj(ns, "web"),
			podObj(ns, "idle", nil), boundPod(ns, "running", "n1"))
	}
	keep := map[string]*Record{}
	for _, res := range []string{"replicationcontrollers", "services", "endpoints"} {
		keep[res] = h.get(res, "app2", "web")
	}
	keep["pods/idle"], keep["pods/running"] = h.get("pods", "app2", "idle"), h.get("pods", "app2", "running")
	keep["ns"] = h.get("namespaces", "", "app2")

	res := h.delLegacy(DeleteRequest{Resource: "namespaces", Name: "app"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, r := range []string{"replicationcontrollers", "services", "endpoints"} {
		h.gone(r, "app", "web")
	}
	h.gone("pods", "app", "idle")
	if p := h.pod("app", "running"); p.DeletionTimestamp == nil {
		t.Error("running pod is not terminating")
	}
	ns := h.get("namespaces", "", "app").Object().(*v1.Namespace)
	if ns.Status.Phase != v1.NamespaceTerminating || ns.DeletionTimestamp == nil || !ns.DeletionTimestamp.Equal(testNow.Time) {
		t.Errorf("namespace = phase %q deletionTimestamp %v, want Terminating since now", ns.Status.Phase, ns.DeletionTimestamp)
	}
	if res.Record.Object().(*v1.Namespace).Status.Phase != v1.NamespaceTerminating {
		t.Error("result is not the terminating namespace")
	}
	for what, r := range keep {
		m := r.Meta()
		if resource := strings.SplitN(what, "/", 2)[0]; resource == "ns" {
			if h.get("namespaces", "", "app2") != r {
				t.Error("namespace app2 changed")
			}
		} else if resource == "pods" {
			if h.get("pods", "app2", m.Name) != r {
				t.Errorf("app2 pod %s changed", m.Name)
			}
		} else if h.get(resource, "app2", "web") != r {
			t.Errorf("app2 %s changed", resource)
		}
	}

	// When the node confirms the pod is gone, the namespace goes too.
	res = h.delLegacy(DeleteRequest{Resource: "pods", Namespace: "app", Name: "running", GracePeriodSeconds: new(int64)})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("pods", "app", "running")
	h.gone("namespaces", "", "app")
	wantEvents(t, h, h.index-1,
		fmt.Sprintf("%d DELETED pods app/running", h.index),
		fmt.Sprintf("%d DELETED namespaces app", h.index))

	// The name can be used again.
	h.create(nsObj("app"), podObj("app", "idle", nil))
}

func TestLegacyDeleteEmptyNamespace(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("empty"), nsObj("idle"), podObj("idle", "p", nil))
	for _, name := range []string{"empty", "idle"} {
		res := h.delLegacy(DeleteRequest{Resource: "namespaces", Name: name})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		h.gone("namespaces", "", name)
		if res.Record.Meta().ResourceVersion != fmt.Sprint(h.index) {
			t.Errorf("rv = %q", res.Record.Meta().ResourceVersion)
		}
	}
	h.gone("pods", "idle", "p")
}

// Deleting a terminating namespace again, after its last pod finished,
// removes the pod and the namespace (once).
func TestLegacyDeleteNamespaceAgainAfterPodFinished(t *testing.T) {
	h := newHarness(t)
	h.create(nodeObj("n1"), nsObj("app"), boundPod("app", "running", "n1"))
	if res := h.delLegacy(DeleteRequest{Resource: "namespaces", Name: "app"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	p := boundPod("app", "running", "n1")
	p.Status.Phase = v1.PodSucceeded
	if res := h.update(p, true); res.Err != nil {
		t.Fatal(res.Err)
	}
	res := h.delLegacy(DeleteRequest{Resource: "namespaces", Name: "app"})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("pods", "app", "running")
	h.gone("namespaces", "", "app")
	if res.Record == nil || res.Record.Key() != "app" {
		t.Errorf("result = %+v, want the deleted namespace", res.Record)
	}
	wantEvents(t, h, h.index-1,
		fmt.Sprintf("%d DELETED pods app/running", h.index),
		fmt.Sprintf("%d DELETED namespaces app", h.index))
}
