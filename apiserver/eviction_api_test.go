package apiserver

import (
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

// The eviction subresource through the real server and FSM: refused with
// 429 while the budget allows nothing, a dry run changes nothing, an
// allowed eviction takes the disruption and deletes the pod.
func TestEvictionAPI(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	e.createPod(t, "p", map[string]string{"app": "web"})
	e.bind(t, "p", "n1")
	pod := e.getPod(t, "p")
	pod.Status.Phase = v1.PodRunning
	pod.Status.Conditions = append(pod.Status.Conditions, v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionTrue})
	if err := e.admin.UpdateStatus(testCtx(t), pod); err != nil {
		t.Fatalf("pod status: %v", err)
	}
	pdb := &v1.PodDisruptionBudget{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.PodDisruptionBudgetSpec{MinAvailable: &intstr.IntOrString{Type: intstr.Int, IntVal: 1},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if err := e.admin.Create(testCtx(t), pdb); err != nil {
		t.Fatalf("create pdb: %v", err)
	}
	setBudget := func(allowed int32) {
		t.Helper()
		var cur v1.PodDisruptionBudget
		if err := e.admin.Get(testCtx(t), "poddisruptionbudgets", "default", "web", &cur); err != nil {
			t.Fatal(err)
		}
		cur.Status = v1.PodDisruptionBudgetStatus{ObservedGeneration: cur.Generation, DisruptionsAllowed: allowed, CurrentHealthy: 1, DesiredHealthy: 1 - allowed, ExpectedPods: 1}
		if err := e.admin.UpdateStatus(testCtx(t), &cur); err != nil {
			t.Fatalf("pdb status: %v", err)
		}
	}
	budget := func() v1.PodDisruptionBudgetStatus {
		var cur v1.PodDisruptionBudget
		if err := e.admin.Get(testCtx(t), "poddisruptionbudgets", "default", "web", &cur); err != nil {
			t.Fatal(err)
		}
		return cur.Status
	}
	ev := map[string]any{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": map[string]any{"name": "p", "namespace": "default"}}
	path := podPath("p") + "/eviction"

	setBudget(0)
	st := e.expectStatus(t, http.StatusTooManyRequests, http.MethodPost, path, ev)
	if st.Message != "Cannot evict pod as it would violate the pod's disruption budget." || st.Details == nil ||
		len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != "DisruptionBudget" {
		t.Fatalf("refusal %+v", st)
	}
	if e.getPod(t, "p").DeletionTimestamp != nil {
		t.Fatal("a refused eviction deleted the pod")
	}

	setBudget(1)
	e.expectCode(t, http.StatusCreated, http.MethodPost, path+"?dryRun=All", ev)
	dryOpts := map[string]any{"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": map[string]any{"name": "p"},
		"deleteOptions": map[string]any{"dryRun": []string{"All"}}}
	e.expectCode(t, http.StatusCreated, http.MethodPost, path, dryOpts)
	if e.getPod(t, "p").DeletionTimestamp != nil || budget().DisruptionsAllowed != 1 || len(budget().DisruptedPods) != 0 {
		t.Fatalf("a dry run changed something: budget %+v", budget())
	}

	e.expectCode(t, http.StatusBadRequest, http.MethodPost, path, map[string]any{"apiVersion": "policy/v1", "kind": "Eviction", "metadata": map[string]any{"name": "q"}})
	e.expectCode(t, http.StatusMethodNotAllowed, http.MethodPut, path, ev)

	e.expectCode(t, http.StatusCreated, http.MethodPost, path, ev)
	if got := budget(); got.DisruptionsAllowed != 0 || got.DisruptedPods["p"].IsZero() {
		t.Errorf("budget after the eviction %+v", got)
	}
	if e.getPod(t, "p").DeletionTimestamp == nil {
		t.Error("the evicted pod is not being deleted")
	}
}
