package sched

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

var dsT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testDS is a defaulted daemon set, changed by change first.
func testDS(change func(ds *v1.DaemonSet)) *v1.DaemonSet {
	ds := &v1.DaemonSet{ObjectMeta: v1.ObjectMeta{Name: "agent", Namespace: "default", UID: "uid-ds", Generation: 2},
		Spec: v1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}
	if change != nil {
		change(ds)
	}
	v1.Default(ds)
	return ds
}

// dsNode is a ready node with labels and taints.
func dsNode(name string, lbls map[string]string, taints ...v1.Taint) *v1.Node {
	return &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, Labels: lbls}, Spec: v1.NodeSpec{Taints: taints},
		Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}}
}

// dsPod is a pod of ds with the template hash hash on node, created at
// created; ready since readySince unless that is zero.
func dsPod(ds *v1.DaemonSet, name, node, hash string, created, readySince time.Time) *v1.Pod {
	p := PodForNode(ds, node, hash)
	p.Name, p.UID, p.ResourceVersion = name, "uid-"+name, "7"
	p.Spec.NodeName = node
	p.CreationTimestamp = v1.NewTime(created)
	p.Status.Phase = v1.PodRunning
	if !readySince.IsZero() {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(readySince)}}
	}
	return p
}

func TestDaemonEligibility(t *testing.T) {
	noSched := v1.Taint{Key: "dedicated", Value: "db", Effect: v1.TaintNoSchedule}
	noExec := v1.Taint{Key: "dedicated", Value: "db", Effect: v1.TaintNoExecute}
	cases := []struct {
		name      string
		change    func(ds *v1.DaemonSet)
		node      *v1.Node
		run, keep bool
	}{
		{"plain node", nil, dsNode("n1", nil), true, true},
		{"node selector matches", func(ds *v1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} },
			dsNode("n1", map[string]string{"disk": "ssd"}), true, true},
		{"node selector misses", func(ds *v1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} },
			dsNode("n1", map[string]string{"disk": "hdd"}), false, false},
		{"required affinity misses", func(ds *v1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}}}}}}
		}, dsNode("n1", map[string]string{"zone": "b"}), false, false},
		{"required affinity by name", func(ds *v1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: "In", Values: []string{"n1"}}}}}}}}
		}, dsNode("n1", nil), true, true},
		{"template names another node", func(ds *v1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "n2" }, dsNode("n1", nil), false, false},
		{"untolerated NoSchedule keeps running pods", nil, dsNode("n1", nil, noSched), false, true},
		{"untolerated NoExecute evicts", nil, dsNode("n1", nil, noExec), false, false},
		{"PreferNoSchedule is no bar", nil, dsNode("n1", nil, v1.Taint{Key: "x", Effect: v1.TaintPreferNoSchedule}), true, true},
		{"tolerated taint", func(ds *v1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: "Equal", Value: "db"}}
		}, dsNode("n1", nil, noSched, noExec), true, true},
		{"toleration of the other effect only", func(ds *v1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: "Exists", Effect: v1.TaintNoExecute}}
		}, dsNode("n1", nil, noSched), false, true},
		{"not-ready and unreachable are tolerated", nil, dsNode("n1", nil,
			v1.Taint{Key: "node.kubernetes.io/not-ready", Effect: v1.TaintNoExecute},
			v1.Taint{Key: "node.kubernetes.io/unreachable", Effect: v1.TaintNoExecute}), true, true},
		{"pressure and unschedulable are tolerated", nil, dsNode("n1", nil,
			v1.Taint{Key: "node.kubernetes.io/disk-pressure", Effect: v1.TaintNoSchedule},
			v1.Taint{Key: "node.kubernetes.io/memory-pressure", Effect: v1.TaintNoSchedule},
			v1.Taint{Key: "node.kubernetes.io/pid-pressure", Effect: v1.TaintNoSchedule},
			v1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: v1.TaintNoSchedule}), true, true},
		{"network-unavailable not tolerated off the host network", nil, dsNode("n1", nil,
			v1.Taint{Key: "node.kubernetes.io/network-unavailable", Effect: v1.TaintNoSchedule}), false, true},
		{"network-unavailable tolerated on the host network", func(ds *v1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true },
			dsNode("n1", nil, v1.Taint{Key: "node.kubernetes.io/network-unavailable", Effect: v1.TaintNoSchedule}), true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, keep := newDaemonEligibility(testDS(tc.change)).shouldRun(tc.node)
			if run != tc.run || keep != tc.keep {
				t.Errorf("shouldRun = %v, %v; want %v, %v", run, keep, tc.run, tc.keep)
			}
		})
	}
}

func TestPodForNode(t *testing.T) {
	ds := testDS(func(ds *v1.DaemonSet) {
		ds.Spec.Template.Spec.HostNetwork = true
		ds.Spec.Template.Spec.Tolerations = []v1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: v1.TaintNoExecute}}
		ds.Spec.Template.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}}}}}}
	})
	p := PodForNode(ds, "n3", "abc")
	if p.GenerateName != "agent-" || p.Namespace != "default" || p.Spec.NodeName != "" {
		t.Errorf("pod %s/%s* on %q", p.Namespace, p.GenerateName, p.Spec.NodeName)
	}
	if p.Labels[DaemonSetHashLabel] != "abc" || p.Labels["app"] != "agent" || ds.Spec.Template.Labels[DaemonSetHashLabel] != "" {
		t.Errorf("labels %v (template %v)", p.Labels, ds.Spec.Template.Labels)
	}
	if ref := p.ControllerRef(); ref == nil || ref.UID != "uid-ds" || ref.Kind != "DaemonSet" || ref.APIVersion != "apps/v1" {
		t.Errorf("controllerRef %+v", ref)
	}
	if got := daemonPodTarget(p); got != "n3" {
		t.Errorf("target node %q, want n3", got)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 || len(ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions) != 1 {
		t.Errorf("affinity terms %+v (the template's must be left alone)", terms)
	}
	var keys []string
	for _, tol := range p.Spec.Tolerations {
		keys = append(keys, tol.Key+":"+tol.Effect)
	}
	want := []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute",
		"node.kubernetes.io/disk-pressure:NoSchedule", "node.kubernetes.io/memory-pressure:NoSchedule",
		"node.kubernetes.io/pid-pressure:NoSchedule", "node.kubernetes.io/unschedulable:NoSchedule",
		"node.kubernetes.io/network-unavailable:NoSchedule"}
	if !slices.Equal(keys, want) {
		t.Errorf("tolerations %v, want %v", keys, want)
	}
	if len(ds.Spec.Template.Spec.Tolerations) != 1 {
		t.Errorf("the template's tolerations changed: %v", ds.Spec.Template.Spec.Tolerations)
	}
	if err := v1.Validate(func() *v1.Pod { q := v1.DeepCopy(p); q.Name = "agent-x"; v1.Default(q); return q }()); err != nil {
		t.Errorf("the pod is not valid: %v", err)
	}
}

func TestPlanDaemonSetManage(t *testing.T) {
	now := dsT0.Add(time.Hour)
	ds := testDS(nil)
	const h = "new"
	taint := v1.Taint{Key: "dedicated", Effect: v1.TaintNoExecute}
	n1, n2, n3 := dsNode("n1", nil), dsNode("n2", nil), dsNode("n3", nil)
	finished := dsPod(ds, "fin", "n1", h, dsT0, time.Time{})
	finished.Status.Phase = v1.PodFailed
	orphan := dsPod(ds, "orphan", "n2", h, dsT0, dsT0)
	orphan.OwnerReferences = nil
	other := dsPod(ds, "other", "n2", h, dsT0, dsT0)
	other.OwnerReferences[0].UID = "uid-other"
	terminating := dsPod(ds, "term", "n1", h, dsT0, dsT0)
	terminating.DeletionTimestamp = ptrTo(v1.NewTime(dsT0))
	unbound := dsPod(ds, "unbound", "n3", h, dsT0, time.Time{})
	unbound.Spec.NodeName = ""
	cases := []struct {
		name    string
		nodes   []*v1.Node
		pods    []*v1.Pod
		create  []string
		deletes []string
		adopt   []string
	}{
		{"every node gets a pod", []*v1.Node{n1, n2, n3}, nil, []string{"n1", "n2", "n3"}, nil, nil},
		{"a node with a pod gets none", []*v1.Node{n1, n2}, []*v1.Pod{dsPod(ds, "a", "n1", h, dsT0, dsT0)}, []string{"n2"}, nil, nil},
		{"an unbound pod counts for its node", []*v1.Node{n3}, []*v1.Pod{unbound}, nil, nil, nil},
		{"the oldest of two stays", []*v1.Node{n1}, []*v1.Pod{dsPod(ds, "young", "n1", h, dsT0.Add(time.Second), dsT0),
			dsPod(ds, "old", "n1", h, dsT0, dsT0)}, nil, []string{"young"}, nil},
		{"a finished pod is deleted and replaced", []*v1.Node{n1}, []*v1.Pod{finished}, []string{"n1"}, []string{"fin"}, nil},
		{"a terminating pod is replaced", []*v1.Node{n1}, []*v1.Pod{terminating}, []string{"n1"}, nil, nil},
		{"a pod on a departed node is deleted", []*v1.Node{n1}, []*v1.Pod{dsPod(ds, "a", "n1", h, dsT0, dsT0),
			dsPod(ds, "gone", "n9", h, dsT0, dsT0)}, nil, []string{"gone"}, nil},
		{"a pod on a node tainted NoExecute is deleted", []*v1.Node{dsNode("n1", nil, taint)},
			[]*v1.Pod{dsPod(ds, "a", "n1", h, dsT0, dsT0)}, nil, []string{"a"}, nil},
		{"an orphan is adopted", []*v1.Node{n2}, []*v1.Pod{orphan}, nil, nil, []string{"orphan"}},
		{"another controller's pod is ignored", []*v1.Node{n2}, []*v1.Pod{other}, []string{"n2"}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := PlanDaemonSet(ds, tc.nodes, tc.pods, h, nil, nil, now)
			var dels, adopt []string
			for _, p := range plan.Delete {
				dels = append(dels, p.Name)
			}
			for _, p := range plan.Adopt {
				adopt = append(adopt, p.Name)
			}
			if !slices.Equal(plan.Create, tc.create) || !slices.Equal(dels, tc.deletes) || !slices.Equal(adopt, tc.adopt) {
				t.Errorf("create %v delete %v adopt %v; want %v, %v, %v", plan.Create, dels, adopt, tc.create, tc.deletes, tc.adopt)
			}
		})
	}
	t.Run("a failed pod in back-off is left alone", func(t *testing.T) {
		plan := PlanDaemonSet(ds, []*v1.Node{n1, n2}, []*v1.Pod{finished}, h, nil, func(node string) bool { return node == "n1" }, now)
		if !slices.Equal(plan.Create, []string{"n2"}) || len(plan.Delete) != 0 || len(plan.FailedOn) != 0 {
			t.Errorf("create %v delete %d failedOn %v; want [n2], 0, []", plan.Create, len(plan.Delete), plan.FailedOn)
		}
		plan = PlanDaemonSet(ds, []*v1.Node{n1}, []*v1.Pod{finished}, h, nil, func(string) bool { return false }, now)
		if !slices.Equal(plan.FailedOn, []string{"n1"}) || len(plan.Delete) != 1 {
			t.Errorf("out of back-off: delete %d failedOn %v", len(plan.Delete), plan.FailedOn)
		}
	})
	t.Run("expectations in flight hold writes back", func(t *testing.T) {
		exp := NewExpectations(0, func() time.Time { return now })
		exp.ExpectCreations(daemonSetKey(ds), 1)
		plan := PlanDaemonSet(ds, []*v1.Node{n1}, nil, h, exp, nil, now)
		if len(plan.Create) != 0 || plan.Status.DesiredNumberScheduled != 1 {
			t.Errorf("plan %+v", plan)
		}
	})
}

// rolling builds three eligible nodes, each with one pod: old (o) or new
// (n), available (a) or not (u), e.g. "oa", "nu".
func rolling(ds *v1.DaemonSet, states ...string) ([]*v1.Node, []*v1.Pod) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i, s := range states {
		name := fmt.Sprintf("n%d", i+1)
		nodes = append(nodes, dsNode(name, nil))
		for j := 0; j+1 < len(s); j += 2 {
			hash, ready := "old", dsT0
			if s[j] == 'n' {
				hash = "new"
			}
			if s[j+1] == 'u' {
				ready = time.Time{}
			}
			pods = append(pods, dsPod(ds, fmt.Sprintf("%s-%s%d", name, hash, j), name, hash, dsT0.Add(time.Duration(j)*time.Second), ready))
		}
	}
	return nodes, pods
}

func TestPlanDaemonSetRollingUpdate(t *testing.T) {
	now := dsT0.Add(time.Hour)
	num := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	unavail := func(u *intstr.IntOrString) func(*v1.DaemonSet) {
		return func(ds *v1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &v1.RollingUpdateDaemonSet{MaxUnavailable: u}
		}
	}
	surge := func(s *intstr.IntOrString) func(*v1.DaemonSet) {
		return func(ds *v1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &v1.RollingUpdateDaemonSet{MaxUnavailable: num(0), MaxSurge: s}
		}
	}
	cases := []struct {
		name    string
		change  func(*v1.DaemonSet)
		states  []string
		create  []string
		deletes []string
	}{
		{"one at a time", nil, []string{"oa", "oa", "oa"}, nil, []string{"n1-old0"}},
		{"wait while the new pod is not available", nil, []string{"nu", "oa", "oa"}, nil, nil},
		{"next once it is", nil, []string{"na", "oa", "oa"}, nil, []string{"n2-old0"}},
		{"unavailable old pods go at once", nil, []string{"nu", "ou", "ou"}, nil, []string{"n2-old0", "n3-old0"}},
		{"two at a time", unavail(num(2)), []string{"oa", "oa", "oa"}, nil, []string{"n1-old0", "n2-old0"}},
		{"percent rounds up", unavail(pct("34%")), []string{"oa", "oa", "oa"}, nil, []string{"n1-old0", "n2-old0"}},
		{"done", nil, []string{"na", "na", "na"}, nil, nil},
		{"OnDelete replaces nothing", func(ds *v1.DaemonSet) {
			ds.Spec.UpdateStrategy = v1.DaemonSetUpdateStrategy{Type: v1.DaemonSetOnDelete}
		}, []string{"oa", "oa", "oa"}, nil, nil},
		{"surge makes one new pod beside an old", surge(num(1)), []string{"oa", "oa", "oa"}, []string{"n1"}, nil},
		{"surge deletes the old pod beside an available new one and goes on", surge(num(1)), []string{"oana", "oa", "oa"}, []string{"n2"}, []string{"n1-old0"}},
		{"surge in progress", surge(num(1)), []string{"oanu", "oa", "oa"}, nil, nil},
		{"surge replaces unavailable old pods at once", surge(num(1)), []string{"ou", "oa", "oa"}, []string{"n1", "n2"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := testDS(tc.change)
			nodes, pods := rolling(ds, tc.states...)
			plan := PlanDaemonSet(ds, nodes, pods, "new", nil, nil, now)
			var dels []string
			for _, p := range plan.Delete {
				dels = append(dels, p.Name)
			}
			if !slices.Equal(plan.Create, tc.create) || !slices.Equal(dels, tc.deletes) {
				t.Errorf("create %v delete %v; want %v, %v", plan.Create, dels, tc.create, tc.deletes)
			}
		})
	}
}

func TestPlanDaemonSetStatus(t *testing.T) {
	now := dsT0.Add(time.Minute)
	ds := testDS(func(ds *v1.DaemonSet) { ds.Spec.MinReadySeconds = 120 })
	tainted := dsNode("n4", nil, v1.Taint{Key: "x", Effect: v1.TaintNoSchedule})
	nodes := []*v1.Node{dsNode("n1", nil), dsNode("n2", nil), dsNode("n3", nil), tainted, dsNode("n5", nil)}
	pods := []*v1.Pod{
		dsPod(ds, "a", "n1", "new", dsT0, dsT0.Add(-time.Hour)),      // available
		dsPod(ds, "b", "n2", "old", dsT0, dsT0.Add(-10*time.Second)), // ready, available at dsT0+110s
		dsPod(ds, "c", "n3", "new", dsT0, time.Time{}),               // not ready
		dsPod(ds, "d", "n4", "old", dsT0, dsT0),                      // misscheduled
	}
	plan := PlanDaemonSet(ds, nodes, pods, "new", nil, nil, now)
	want := v1.DaemonSetStatus{DesiredNumberScheduled: 4, CurrentNumberScheduled: 3, NumberMisscheduled: 1, NumberReady: 2,
		UpdatedNumberScheduled: 2, NumberAvailable: 1, NumberUnavailable: 3, ObservedGeneration: 2}
	if !v1.JSONEqual(plan.Status, want) {
		t.Errorf("status %+v\nwant   %+v", plan.Status, want)
	}
	if w := dsT0.Add(110 * time.Second); !plan.Wake.Equal(w) {
		t.Errorf("wake %v, want %v", plan.Wake, w)
	}
	if !slices.Equal(plan.Create, []string{"n5"}) {
		t.Errorf("create %v, want [n5]", plan.Create)
	}
}

func TestRevisionHash(t *testing.T) {
	a, b := testDS(nil), testDS(func(ds *v1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "nginx" })
	pa, err := daemonSetPatch(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := daemonSetPatch(b)
	if err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	ha, hb, hc := revisionHash(pa, nil), revisionHash(pb, nil), revisionHash(pa, &one)
	if ha == hb || ha == hc || ha != revisionHash(pa, nil) {
		t.Errorf("hashes %s %s %s: each template and collision count needs its own, stable", ha, hb, hc)
	}
	a.Spec.MinReadySeconds = 9
	if pa2, _ := daemonSetPatch(a); string(pa2) != string(pa) {
		t.Errorf("the patch holds more than the template: %s", pa2)
	}
}
