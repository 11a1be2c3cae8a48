package sched

import (
	"fmt"
	"maps"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func spreadOn(key string, skew int32, action v1.UnsatisfiableConstraintAction, l map[string]string) v1.TopologySpreadConstraint {
	return v1.TopologySpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: action, LabelSelector: sel(l)}
}

func withSpread(p *v1.Pod, cs ...v1.TopologySpreadConstraint) *v1.Pod {
	p.Spec.TopologySpreadConstraints = cs
	return p
}

func TestPodTopologySpreadFilter(t *testing.T) {
	// n0, n1 in zone a; n2 in zone b; n3 in zone c; n4 without a zone.
	nodes := func() []*v1.Node {
		return []*v1.Node{zoned("n0", "a", nil), zoned("n1", "a", nil), zoned("n2", "b", nil), zoned("n3", "c", map[string]string{"disk": "hdd"}), zoned("n4", "", nil)}
	}
	web := map[string]string{"app": "web"}
	const (
		skew    = errReasonConstraintsNotMatch
		missing = errReasonNodeLabelNotMatch
	)
	two := int32(4)
	honor, ignore := v1.NodeInclusionPolicyHonor, v1.NodeInclusionPolicyIgnore
	for _, tc := range []struct {
		name  string
		nodes []*v1.Node
		bound []*v1.Pod
		pod   *v1.Pod
		want  map[string]string
	}{
		{"no pods yet: every zone, not the node without one",
			nil, nil,
			withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web)),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "n4": missing}},
		{"a zone one ahead of the emptiest refuses the next",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0")},
			withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web)),
			map[string]string{"n0": skew, "n1": skew, "n2": "", "n3": "", "n4": missing}},
		{"maxSkew 2 allows it",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0")},
			withSpread(labelled("p", "", web), spreadOn("zone", 2, v1.DoNotSchedule, web)),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "n4": missing}},
		{"a pod the selector does not select does not count itself",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0")},
			withSpread(labelled("p", "", nil), spreadOn("zone", 1, v1.DoNotSchedule, web)),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "n4": missing}},
		{"pods of other namespaces, other labels and pods being deleted do not count",
			nil, []*v1.Pod{on(labelled("w0", "elsewhere", web), "n0"), on(labelled("x", "", map[string]string{"app": "db"}), "n0"),
				func() *v1.Pod {
					p := on(labelled("gone", "", web), "n1")
					now := v1.NewTime(time.Unix(1, 0))
					p.DeletionTimestamp = &now
					return p
				}()},
			withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web)),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "n4": missing}},
		{"an empty selector counts no pods",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0")},
			withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, map[string]string{})),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "n4": missing}},
		{"hostname domains",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0"), on(labelled("w1", "", web), "n1")},
			withSpread(labelled("p", "", web), spreadOn(v1.LabelHostname, 1, v1.DoNotSchedule, web)),
			map[string]string{"n0": skew, "n1": skew, "n2": "", "n3": "", "n4": ""}},
		{"minDomains above the domains makes the minimum 0",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0"), on(labelled("w2", "", web), "n2"), on(labelled("w3", "", web), "n3")},
			func() *v1.Pod {
				c := spreadOn("zone", 1, v1.DoNotSchedule, web)
				c.MinDomains = &two
				return withSpread(labelled("p", "", web), c)
			}(),
			map[string]string{"n0": skew, "n1": skew, "n2": skew, "n3": skew, "n4": missing}},
		{"nodeAffinityPolicy Honor: only the pod's nodes count, so zone c is the emptiest",
			nil, []*v1.Pod{on(labelled("w2", "", web), "n2")},
			func() *v1.Pod {
				p := withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web))
				p.Spec.NodeSelector = map[string]string{"zone": "b"}
				return p
			}(),
			map[string]string{"n0": errReasonNodeAffinity, "n1": errReasonNodeAffinity, "n2": "", "n3": errReasonNodeAffinity, "n4": errReasonNodeAffinity}},
		{"nodeAffinityPolicy Ignore: empty zones elsewhere keep the minimum at 0",
			nil, []*v1.Pod{on(labelled("w2", "", web), "n2")},
			func() *v1.Pod {
				c := spreadOn("zone", 1, v1.DoNotSchedule, web)
				c.NodeAffinityPolicy = &ignore
				p := withSpread(labelled("p", "", web), c)
				p.Spec.NodeSelector = map[string]string{"zone": "b"}
				return p
			}(),
			map[string]string{"n0": errReasonNodeAffinity, "n1": errReasonNodeAffinity, "n2": skew, "n3": errReasonNodeAffinity, "n4": errReasonNodeAffinity}},
		{"nodeTaintsPolicy Honor leaves out the tainted node's empty zone",
			func() []*v1.Node {
				ns := nodes()
				ns[3].Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "x", Effect: v1.TaintNoSchedule}}
				return ns
			}(),
			[]*v1.Pod{on(labelled("w0", "", web), "n0"), on(labelled("w2", "", web), "n2")},
			func() *v1.Pod {
				c := spreadOn("zone", 1, v1.DoNotSchedule, web)
				c.NodeTaintsPolicy = &honor
				return withSpread(labelled("p", "", web), c)
			}(),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "node(s) had untolerated taints", "n4": missing}},
		{"nodeTaintsPolicy Ignore (the default) counts it",
			func() []*v1.Node {
				ns := nodes()
				ns[3].Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "x", Effect: v1.TaintNoSchedule}}
				return ns
			}(),
			[]*v1.Pod{on(labelled("w0", "", web), "n0"), on(labelled("w2", "", web), "n2")},
			withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web)),
			map[string]string{"n0": skew, "n1": skew, "n2": skew, "n3": "node(s) had untolerated taints", "n4": missing}},
		{"ScheduleAnyway never filters",
			nil, []*v1.Pod{on(labelled("w0", "", web), "n0")},
			withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.ScheduleAnyway, web)),
			map[string]string{"n0": "", "n1": "", "n2": "", "n3": "", "n4": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := tc.nodes
			if ns == nil {
				ns = nodes()
			}
			got := reasons(NewSnapshot(ns, tc.bound), tc.pod)
			if !maps.Equal(got, tc.want) {
				t.Fatalf("reasons\n got  %v\n want %v", got, tc.want)
			}
		})
	}
}

// One plan spreads a controller's replicas over three zones with maxSkew 1,
// counting its own placements; every pod it could not place is explained
// with Kubernetes' reasons.
func TestTopologySpreadInOnePlan(t *testing.T) {
	var nodes []*v1.Node
	for i := range 6 {
		nodes = append(nodes, zoned(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i%3), nil))
	}
	nodes = append(nodes, zoned("nozone", "", nil))
	web := map[string]string{"app": "web"}
	var pods []*v1.Pod
	for i := range 7 {
		pods = append(pods, owned(withSpread(labelled(fmt.Sprintf("web-%d", i), "", web), spreadOn("zone", 1, v1.DoNotSchedule, web)), "rc-1"))
	}
	plan := Schedule(NewSnapshot(nodes, nil), pods, seeded())
	perZone := map[string]int{}
	for _, b := range plan.Bindings {
		if b.Node == "nozone" {
			t.Fatalf("a pod went to the node without a zone")
		}
		perZone[nodes[int(b.Node[1]-'0')].Labels["zone"]]++
	}
	if len(plan.Bindings) != 7 || perZone["z0"] < 2 || perZone["z1"] < 2 || perZone["z2"] < 2 {
		t.Fatalf("per zone %v (%d bound)", perZone, len(plan.Bindings))
	}
	// Full nodes: a pod that fits only in the crowded zone waits.
	small := []*v1.Node{zoned("a0", "a", nil), zoned("b0", "b", nil)}
	bound := []*v1.Pod{on(labelled("w0", "", web), "a0")}
	p := withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web))
	p.Spec.NodeSelector = map[string]string{"zone": "a"}
	c := &p.Spec.TopologySpreadConstraints[0]
	ignore := v1.NodeInclusionPolicyIgnore
	c.NodeAffinityPolicy = &ignore
	plan = Schedule(NewSnapshot(append(small, zoned("x0", "", nil)), bound), []*v1.Pod{p}, seeded())
	want := "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, 2 node(s) didn't match Pod's node affinity/selector."
	if got := plan.Unschedulable["default/p"]; got != want {
		t.Fatalf("message\n got  %q\n want %q", got, want)
	}
	q := withSpread(labelled("q", "", web), spreadOn("zone", 1, v1.DoNotSchedule, web))
	q.Spec.NodeSelector = map[string]string{v1.LabelHostname: "x0"}
	plan = Schedule(NewSnapshot(append(small, zoned("x0", "", nil)), bound), []*v1.Pod{q}, seeded())
	want = "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label), 2 node(s) didn't match Pod's node affinity/selector."
	if got := plan.Unschedulable["default/q"]; got != want {
		t.Fatalf("message\n got  %q\n want %q", got, want)
	}
}

// ScheduleAnyway scores: the emptier zone wins although it has fewer
// free resources; Kubernetes' normalisation gives it the full score.
func TestTopologySpreadScore(t *testing.T) {
	web := map[string]string{"app": "web"}
	nodes := []*v1.Node{zoned("a0", "a", nil), zoned("a1", "a", nil), readyNode("b0", "1", "1Gi", map[string]string{"zone": "b", v1.LabelHostname: "b0"}),
		zoned("x0", "", nil)}
	bound := []*v1.Pod{on(labelled("w0", "", web), "a0"), on(labelled("w1", "", web), "a1")}
	snap := NewSnapshot(nodes, bound)
	p := snap.pendingPodInfo(withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.ScheduleAnyway, web)))
	got := snap.spreadScores(p, snap.Nodes)
	// a0, a1: 2 pods each, b0: none, x0: no zone (0). Weight log(2+2).
	want := []int64{0, 0, maxNodeScore, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("scores %v, want %v", got, want)
		}
	}
	for seed := uint64(0); seed < 5; seed++ {
		plan := Schedule(NewSnapshot(nodes, bound), []*v1.Pod{withSpread(labelled("p", "", web), spreadOn("zone", 1, v1.ScheduleAnyway, web))}, seeded())
		if len(plan.Bindings) != 1 || plan.Bindings[0].Node != "b0" {
			t.Fatalf("bindings %+v, want b0", plan.Bindings)
		}
	}
}

// The groups' counts stay right as a plan places pods, also for a
// topology key first indexed after some placements.
func TestGroupCountsFollowPlacements(t *testing.T) {
	nodes := []*v1.Node{zoned("n0", "a", nil), zoned("n1", "a", nil), zoned("n2", "b", nil)}
	web := map[string]string{"app": "web"}
	snap := NewSnapshot(nodes, []*v1.Pod{on(labelled("w0", "", web), "n0")})
	g := snap.groups[groupKey(labelled("w0", "", web))]
	if got := snap.domainCounts(g, "zone"); !maps.Equal(got, map[string]int{"a": 1}) {
		t.Fatalf("zone counts %v", got)
	}
	snap.place(snap.Nodes[2], snap.podInfo(labelled("w1", "", web)))
	if got := snap.domainCounts(g, "zone"); !maps.Equal(got, map[string]int{"a": 1, "b": 1}) {
		t.Fatalf("zone counts after a placement %v", got)
	}
	if got := snap.domainCounts(g, v1.LabelHostname); !maps.Equal(got, map[string]int{"n0": 1, "n2": 1}) {
		t.Fatalf("hostname counts indexed late %v", got)
	}
	dense, ids := snap.denseCounts(g, "zone")
	snap.place(snap.Nodes[1], snap.podInfo(labelled("w2", "", web)))
	if dense[ids[1]] != 2 || dense[ids[2]] != 1 {
		t.Fatalf("dense zone counts %v (ids %v)", dense, ids)
	}
	// A pod with other labels, or being deleted, is another group.
	other := snap.podInfo(labelled("x", "", map[string]string{"app": "db"}))
	if other.group == g.rep.group {
		t.Fatal("pods with other labels share a group")
	}
	gone := labelled("gone", "", web)
	now := v1.NewTime(time.Unix(1, 0))
	gone.DeletionTimestamp = &now
	if groupKey(gone) == g.rep.group {
		t.Fatal("a pod being deleted shares the group of live ones")
	}
	withTerms := withAffinity(labelled("t", "", web), requiredAnti(term(web, "zone")))
	if groupKey(withTerms) == g.rep.group {
		t.Fatal("a pod with affinity terms shares the group of pods without")
	}
}

// Preferred anti-affinity to its own replicas spreads a controller one
// per node within a plan, as long as nodes are free of them.
func TestPreferredAntiAffinitySpreadsInOnePlan(t *testing.T) {
	var nodes []*v1.Node
	for i := range 10 {
		nodes = append(nodes, zoned(fmt.Sprintf("n%d", i), fmt.Sprintf("z%d", i%5), nil))
	}
	web := map[string]string{"app": "web"}
	anti := &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{
		{Weight: 100, PodAffinityTerm: term(web, "zone")}}}}
	var pods []*v1.Pod
	for i := range 5 {
		pods = append(pods, withAffinity(labelled(fmt.Sprintf("w%d", i), "", web), anti))
	}
	plan := Schedule(NewSnapshot(nodes, nil), pods, seeded())
	zones := map[string]bool{}
	for _, b := range plan.Bindings {
		zones[nodes[int(b.Node[1]-'0')].Labels["zone"]] = true
	}
	if len(plan.Bindings) != 5 || len(zones) != 5 {
		t.Fatalf("5 pods in %d zones: %+v", len(zones), plan.Bindings)
	}
}

// A pass reuses the group keys of the pods the previous pass saw (the same
// stored objects) and computes those of new ones.
func TestSnapshotReusesGroupKeys(t *testing.T) {
	nodes := []*v1.Node{zoned("n0", "a", nil)}
	web := map[string]string{"app": "web"}
	old, fresh := on(labelled("old", "", web), "n0"), on(labelled("fresh", "", web), "n0")
	snap := newSnapshot(nodes, []*v1.Pod{old, fresh}, map[*v1.Pod]string{old: "remembered"})
	if snap.keys[old] != "remembered" || snap.keys[fresh] != groupKey(fresh) {
		t.Fatalf("keys %v", snap.keys)
	}
	if len(snap.groupList) != 2 || snap.groups["remembered"] == nil {
		t.Fatalf("groups %v", snap.groups)
	}
}
