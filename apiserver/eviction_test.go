package apiserver

import (
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kptr "k8s.io/utils/ptr"

	v1 "orch.io/orch/api/v1"
)

func evictionPod(phase string, ready bool) *v1.Pod {
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}, ResourceVersion: "7"},
		Status: v1.PodStatus{Phase: phase}}
	if ready {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	}
	return p
}

func evictionPDB(name string, allowed, healthy, desired int32) *v1.PodDisruptionBudget {
	return &v1.PodDisruptionBudget{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", Generation: 2, ResourceVersion: "9"},
		Spec: v1.PodDisruptionBudgetSpec{MinAvailable: kptr.To(intstr.FromInt32(desired)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: v1.PodDisruptionBudgetStatus{ObservedGeneration: 2, DisruptionsAllowed: allowed, CurrentHealthy: healthy, DesiredHealthy: desired},
	}
}

func TestDecideEviction(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	stale := evictionPDB("web", 1, 2, 1)
	stale.Status.ObservedGeneration = 1
	always := evictionPDB("web", 0, 0, 2)
	always.Spec.UnhealthyPodEvictionPolicy = kptr.To(v1.AlwaysAllow)
	other := evictionPDB("db", 0, 0, 1)
	other.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	empty := evictionPDB("all", 0, 0, 1)
	empty.Spec.Selector = &metav1.LabelSelector{}
	deleting := evictionPod(v1.PodRunning, true)
	deleting.DeletionTimestamp = kptr.To(v1.NewTime(now))
	tests := []struct {
		name      string
		pod       *v1.Pod
		pdbs      []*v1.PodDisruptionBudget
		dryRun    bool
		code      int32 // 0: allowed
		decrement bool  // the budget is written, one disruption fewer
		enforceRV bool
	}{
		{"no budget", evictionPod(v1.PodRunning, true), nil, false, 0, false, true},
		{"budget of other pods", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{other}, false, 0, false, true},
		{"empty selector matches nothing here", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{empty}, false, 0, false, true},
		{"allowed", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{evictionPDB("web", 1, 2, 1)}, false, 0, true, false},
		{"allowed dry run writes nothing", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{evictionPDB("web", 1, 2, 1)}, true, 0, false, false},
		{"blocked", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{evictionPDB("web", 0, 2, 2)}, false, http.StatusTooManyRequests, false, false},
		{"budget not yet computed", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{stale}, false, http.StatusTooManyRequests, false, false},
		{"two budgets", evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{evictionPDB("a", 1, 2, 1), evictionPDB("b", 1, 2, 1)}, false, http.StatusInternalServerError, false, false},
		{"pending pod ignores the budget", evictionPod(v1.PodPending, false), []*v1.PodDisruptionBudget{evictionPDB("web", 0, 2, 2)}, false, 0, false, true},
		{"succeeded pod ignores the budget", evictionPod(v1.PodSucceeded, false), []*v1.PodDisruptionBudget{evictionPDB("web", 0, 2, 2)}, false, 0, false, false},
		{"terminating pod ignores the budget", deleting, []*v1.PodDisruptionBudget{evictionPDB("web", 0, 2, 2)}, false, 0, false, false},
		{"unready pod while the budget is met", evictionPod(v1.PodRunning, false), []*v1.PodDisruptionBudget{evictionPDB("web", 0, 2, 2)}, false, 0, false, true},
		{"unready pod while the budget is short", evictionPod(v1.PodRunning, false), []*v1.PodDisruptionBudget{evictionPDB("web", 0, 1, 2)}, false, http.StatusTooManyRequests, false, false},
		{"unready pod with AlwaysAllow", evictionPod(v1.PodRunning, false), []*v1.PodDisruptionBudget{always}, false, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideEviction(tt.pod, tt.pdbs, now, tt.dryRun)
			if got := codeOf(d.err); got != tt.code {
				t.Fatalf("code %d (%v), want %d", got, d.err, tt.code)
			}
			if d.enforceRV != tt.enforceRV {
				t.Errorf("enforceRV %v, want %v", d.enforceRV, tt.enforceRV)
			}
			if (d.pdb != nil) != tt.decrement {
				t.Fatalf("budget write %v, want %v", d.pdb != nil, tt.decrement)
			}
			if d.pdb != nil {
				orig := tt.pdbs[0]
				if d.pdb.Status.DisruptionsAllowed != orig.Status.DisruptionsAllowed-1 || d.pdb.ResourceVersion != orig.ResourceVersion {
					t.Errorf("written budget %+v (rv %s)", d.pdb.Status, d.pdb.ResourceVersion)
				}
				if at, ok := d.pdb.Status.DisruptedPods[tt.pod.Name]; !ok || !at.Equal(now) {
					t.Errorf("disruptedPods %v", d.pdb.Status.DisruptedPods)
				}
				if len(orig.Status.DisruptedPods) != 0 {
					t.Errorf("the stored budget was modified: %v", orig.Status.DisruptedPods)
				}
				if c := d.pdb.Status.Conditions; len(c) != 1 || c[0].Status != v1.ConditionFalse || c[0].Reason != v1.InsufficientPodsReason {
					t.Errorf("conditions after the last disruption %+v", c)
				}
			}
		})
	}
}

func codeOf(err error) int32 {
	if err == nil {
		return 0
	}
	return v1.AsStatusError(err).Status.Code
}

// The refusal is Kubernetes': 429 with the DisruptionBudget cause naming
// the budget's counts.
func TestEvictionRefusalWording(t *testing.T) {
	d := decideEviction(evictionPod(v1.PodRunning, true), []*v1.PodDisruptionBudget{evictionPDB("web", 0, 2, 2)}, time.Now(), false)
	st := v1.AsStatusError(d.err).Status
	if st.Reason != v1.ReasonTooManyRequests || st.Message != "Cannot evict pod as it would violate the pod's disruption budget." {
		t.Fatalf("status %+v", st)
	}
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != "DisruptionBudget" ||
		st.Details.Causes[0].Message != "The disruption budget web needs 2 healthy pods and has 2 currently" {
		t.Errorf("details %+v", st.Details)
	}
}

func TestCheckEviction(t *testing.T) {
	req := &request{namespace: "default", name: "web-1"}
	tests := []struct {
		name string
		ev   v1.Eviction
		ok   bool
	}{
		{"policy/v1", v1.Eviction{TypeMeta: v1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"}, ObjectMeta: v1.ObjectMeta{Name: "web-1", Namespace: "default"}}, true},
		{"policy/v1beta1", v1.Eviction{TypeMeta: v1.TypeMeta{APIVersion: "policy/v1beta1", Kind: "Eviction"}, ObjectMeta: v1.ObjectMeta{Name: "web-1"}}, true},
		{"other version", v1.Eviction{TypeMeta: v1.TypeMeta{APIVersion: "v1", Kind: "Eviction"}, ObjectMeta: v1.ObjectMeta{Name: "web-1"}}, false},
		{"other name", v1.Eviction{ObjectMeta: v1.ObjectMeta{Name: "web-2"}}, false},
		{"other namespace", v1.Eviction{ObjectMeta: v1.ObjectMeta{Name: "web-1", Namespace: "kube-system"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkEviction(&tt.ev, req); (err == nil) != tt.ok {
				t.Errorf("checkEviction = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
