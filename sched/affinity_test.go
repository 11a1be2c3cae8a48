package sched

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// zoned is a ready node with its hostname label, in a zone ("" = none).
func zoned(name, zone string, extra map[string]string) *v1.Node {
	l := map[string]string{v1.LabelHostname: name}
	if zone != "" {
		l["zone"] = zone
	}
	maps.Copy(l, extra)
	return readyNode(name, "4", "8Gi", l)
}

// labelled is a pending pod with labels (and a namespace other than
// default when ns is set).
func labelled(name, ns string, l map[string]string) *v1.Pod {
	p := pendingPod(name, "100m")
	p.Labels = l
	if ns != "" {
		p.Namespace = ns
	}
	return p
}

func on(p *v1.Pod, node string) *v1.Pod { p.Spec.NodeName = node; return p }

func sel(l map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: l} }

func term(l map[string]string, key string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{LabelSelector: sel(l), TopologyKey: key}
}

func withAffinity(p *v1.Pod, a *v1.Affinity) *v1.Pod { p.Spec.Affinity = a; return p }

func requiredAffinity(ts ...v1.PodAffinityTerm) *v1.Affinity {
	return &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ts}}
}

func requiredAnti(ts ...v1.PodAffinityTerm) *v1.Affinity {
	return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: ts}}
}

func requiredNodes(terms ...v1.NodeSelectorTerm) *v1.Affinity {
	return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms}}}
}

func expr(key string, op v1.NodeSelectorOperator, vals ...string) v1.NodeSelectorRequirement {
	return v1.NodeSelectorRequirement{Key: key, Operator: op, Values: vals}
}

// reasons runs the filters for pod on every node of the snapshot and
// returns each node's reason ("" = feasible).
func reasons(snap *Snapshot, pod *v1.Pod) map[string]string {
	pi := newPendingPodInfo(pod)
	snap.prefilter(pi)
	out := map[string]string{}
	for _, ni := range snap.Nodes {
		why := ""
		for _, f := range filters {
			if why = f(pi, ni); why != "" {
				break
			}
		}
		out[ni.Node.Name] = why
	}
	return out
}

func TestNodeAffinityFilter(t *testing.T) {
	node := zoned("n1", "a", map[string]string{"gen": "5", "disk": "ssd"})
	const no = errReasonNodeAffinity
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		want string
	}{
		{"In", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpIn, "b", "a")}})), ""},
		{"In other values", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpIn, "b")}})), no},
		{"NotIn", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpNotIn, "a")}})), no},
		{"NotIn of a missing label", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("rack", v1.NodeSelectorOpNotIn, "r1")}})), ""},
		{"Exists", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("disk", v1.NodeSelectorOpExists)}})), ""},
		{"DoesNotExist", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("disk", v1.NodeSelectorOpDoesNotExist)}})), no},
		{"Gt", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("gen", v1.NodeSelectorOpGt, "4")}})), ""},
		{"Gt equal", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("gen", v1.NodeSelectorOpGt, "5")}})), no},
		{"Lt", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("gen", v1.NodeSelectorOpLt, "6")}})), ""},
		{"Lt on a non-number label", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("disk", v1.NodeSelectorOpLt, "6")}})), no},
		{"expressions are ANDed", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
			expr("zone", v1.NodeSelectorOpIn, "a"), expr("disk", v1.NodeSelectorOpIn, "hdd")}})), no},
		{"terms are ORed", withAffinity(pendingPod("p", "1"), requiredNodes(
			v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpIn, "b")}},
			v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("disk", v1.NodeSelectorOpIn, "ssd")}})), ""},
		{"an empty term matches nothing", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{})), no},
		{"matchFields metadata.name", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{expr("metadata.name", v1.NodeSelectorOpIn, "n1")}})), ""},
		{"matchFields another name", withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{expr("metadata.name", v1.NodeSelectorOpIn, "n2")}})), no},
		{"nodeSelector and affinity both apply", func() *v1.Pod {
			p := withAffinity(pendingPod("p", "1"), requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpIn, "a")}}))
			p.Spec.NodeSelector = map[string]string{"disk": "hdd"}
			return p
		}(), no},
		{"preferred terms never filter", withAffinity(pendingPod("p", "1"), &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
			{Weight: 1, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpIn, "b")}}}}}}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := reasons(NewSnapshot([]*v1.Node{node}, nil), tc.pod)["n1"]
			if got != tc.want {
				t.Fatalf("reason %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPodAffinityFilter(t *testing.T) {
	// n0 and n1 share zone a, n2 is in zone b, n3 has no zone label.
	nodes := func() []*v1.Node {
		return []*v1.Node{zoned("n0", "a", nil), zoned("n1", "a", nil), zoned("n2", "b", nil), zoned("n3", "", nil)}
	}
	s1 := map[string]string{"security": "S1"}
	web := map[string]string{"app": "web"}
	const (
		aff   = errReasonAffinityRulesNotMatch
		anti  = errReasonAntiAffinityRulesNotMatch
		exist = errReasonExistingAntiAffinityRulesNotMatch
	)
	team := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "team-x", Labels: map[string]string{"team": "x"}}}
	for _, tc := range []struct {
		name  string
		bound []*v1.Pod
		pod   *v1.Pod
		want  map[string]string
	}{
		{"affinity to a zone with a matching pod",
			[]*v1.Pod{on(labelled("s1", "", s1), "n0")},
			withAffinity(labelled("p", "", nil), requiredAffinity(term(s1, "zone"))),
			map[string]string{"n0": "", "n1": "", "n2": aff, "n3": aff}},
		{"a matching pod in another namespace does not count",
			[]*v1.Pod{on(labelled("s1", "team-x", s1), "n0")},
			withAffinity(labelled("p", "", nil), requiredAffinity(term(s1, "zone"))),
			map[string]string{"n0": aff, "n1": aff, "n2": aff, "n3": aff}},
		{"unless the term names its namespace",
			[]*v1.Pod{on(labelled("s1", "team-x", s1), "n2")},
			withAffinity(labelled("p", "", nil), requiredAffinity(v1.PodAffinityTerm{LabelSelector: sel(s1), Namespaces: []string{"team-x"}, TopologyKey: "zone"})),
			map[string]string{"n0": aff, "n1": aff, "n2": "", "n3": aff}},
		{"or selects it by its labels",
			[]*v1.Pod{on(labelled("s1", "team-x", s1), "n2")},
			withAffinity(labelled("p", "", nil), requiredAffinity(v1.PodAffinityTerm{LabelSelector: sel(s1), NamespaceSelector: sel(map[string]string{"team": "x"}), TopologyKey: "zone"})),
			map[string]string{"n0": aff, "n1": aff, "n2": "", "n3": aff}},
		{"an empty namespace selector selects every namespace",
			[]*v1.Pod{on(labelled("s1", "elsewhere", s1), "n0")},
			withAffinity(labelled("p", "", nil), requiredAffinity(v1.PodAffinityTerm{LabelSelector: sel(s1), NamespaceSelector: &metav1.LabelSelector{}, TopologyKey: "zone"})),
			map[string]string{"n0": "", "n1": "", "n2": aff, "n3": aff}},
		{"the first pod of a group that matches its own terms goes to any node with the key",
			nil,
			withAffinity(labelled("p", "", s1), requiredAffinity(term(s1, "zone"))),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": aff}},
		{"the first pod that does not match its own terms waits",
			nil,
			withAffinity(labelled("p", "", nil), requiredAffinity(term(s1, "zone"))),
			map[string]string{"n0": aff, "n1": aff, "n2": aff, "n3": aff}},
		{"one pod must match all the terms",
			[]*v1.Pod{on(labelled("s1", "", s1), "n0"), on(labelled("w", "", web), "n0")},
			withAffinity(labelled("p", "", nil), requiredAffinity(term(s1, "zone"), term(web, "zone"))),
			map[string]string{"n0": aff, "n1": aff, "n2": aff, "n3": aff}},
		{"anti-affinity on the hostname",
			[]*v1.Pod{on(labelled("w", "", web), "n0")},
			withAffinity(labelled("p", "", web), requiredAnti(term(web, v1.LabelHostname))),
			map[string]string{"n0": anti, "n1": "", "n2": "", "n3": ""}},
		{"anti-affinity on the zone; a node without the key is fine",
			[]*v1.Pod{on(labelled("w", "", web), "n0")},
			withAffinity(labelled("p", "", nil), requiredAnti(term(web, "zone"))),
			map[string]string{"n0": anti, "n1": anti, "n2": "", "n3": ""}},
		{"an existing pod's anti-affinity keeps the pod out of its zone",
			[]*v1.Pod{on(withAffinity(labelled("loner", "", nil), requiredAnti(term(web, "zone"))), "n1")},
			labelled("p", "", web),
			map[string]string{"n0": exist, "n1": exist, "n2": "", "n3": ""}},
		{"an existing pod's anti-affinity that does not select the pod",
			[]*v1.Pod{on(withAffinity(labelled("loner", "", nil), requiredAnti(term(s1, "zone"))), "n1")},
			labelled("p", "", web),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": ""}},
		{"an existing pod's anti-affinity in another namespace selects by its own namespace",
			[]*v1.Pod{on(withAffinity(labelled("loner", "team-x", nil), requiredAnti(term(web, v1.LabelHostname))), "n1")},
			labelled("p", "", web),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": ""}},
		{"a finished pod constrains nothing",
			[]*v1.Pod{func() *v1.Pod {
				p := on(withAffinity(labelled("loner", "", nil), requiredAnti(term(web, "zone"))), "n1")
				p.Status.Phase = v1.PodSucceeded
				return p
			}()},
			labelled("p", "", web),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": ""}},
		{"a nil label selector selects no pod",
			[]*v1.Pod{on(labelled("w", "", web), "n0")},
			withAffinity(labelled("p", "", nil), requiredAnti(v1.PodAffinityTerm{TopologyKey: "zone"})),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": ""}},
		{"an empty label selector selects every pod of the namespace",
			[]*v1.Pod{on(labelled("w", "", web), "n0")},
			withAffinity(labelled("p", "", nil), requiredAnti(v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{}, TopologyKey: "zone"})),
			map[string]string{"n0": anti, "n1": anti, "n2": "", "n3": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := NewSnapshot(nodes(), tc.bound)
			snap.SetNamespaces([]*v1.Namespace{{ObjectMeta: v1.ObjectMeta{Name: "default"}}, team,
				{ObjectMeta: v1.ObjectMeta{Name: "elsewhere"}}})
			got := reasons(snap, tc.pod)
			if !maps.Equal(got, tc.want) {
				t.Fatalf("reasons\n got  %v\n want %v", got, tc.want)
			}
		})
	}
}

// Required anti-affinity spreads a controller's replicas one per node, also
// within one plan; the replica left over is explained as Kubernetes does.
func TestAntiAffinitySpreadsReplicasInOnePlan(t *testing.T) {
	nodes := []*v1.Node{zoned("n0", "a", nil), zoned("n1", "a", nil), zoned("n2", "b", nil)}
	web := map[string]string{"app": "web"}
	var pods []*v1.Pod
	for i := range 4 {
		pods = append(pods, owned(withAffinity(labelled(fmt.Sprintf("web-%d", i), "", web), requiredAnti(term(web, v1.LabelHostname))), "rc-1"))
	}
	plan := Schedule(NewSnapshot(nodes, nil), pods, seeded())
	var used []string
	for _, b := range plan.Bindings {
		used = append(used, b.Node)
	}
	slices.Sort(used)
	if !slices.Equal(used, []string{"n0", "n1", "n2"}) {
		t.Fatalf("bindings on %v, want one per node", used)
	}
	want := "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
	if len(plan.Unschedulable) != 1 {
		t.Fatalf("unschedulable %v", plan.Unschedulable)
	}
	for _, msg := range plan.Unschedulable {
		if msg != want {
			t.Fatalf("message\n got  %q\n want %q", msg, want)
		}
	}
}

func TestUnschedulableMessageListsAffinityReasons(t *testing.T) {
	nodes := []*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil), zoned("n2", "b", nil)}
	web := map[string]string{"app": "web"}
	bound := []*v1.Pod{on(labelled("w1", "", web), "n1"), on(labelled("w2", "", web), "n2")}
	p := withAffinity(labelled("p", "", web), requiredAnti(term(web, v1.LabelHostname)))
	p.Spec.Affinity.NodeAffinity = requiredNodes(v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr("zone", v1.NodeSelectorOpIn, "b")}}).NodeAffinity
	plan := Schedule(NewSnapshot(nodes, bound), []*v1.Pod{p}, seeded())
	want := "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) didn't match pod anti-affinity rules."
	if got := plan.Unschedulable["default/p"]; got != want {
		t.Fatalf("message\n got  %q\n want %q", got, want)
	}
}
