package sched

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	v1 "orch.io/orch/api/v1"
)

// This file is the pure decision core of the daemon set controller:
// PlanDaemonSet turns one DaemonSet, the nodes, the pods of its namespace
// and the leader's clock into a plan. The rules follow Kubernetes'
// pkg/controller/daemon:
//
//   - Eligibility (NodeShouldRunDaemonPod): the pod made for a node, with
//     the tolerations every daemon pod gets, must fit the node's name (a
//     template that names a node runs only there), its labels (nodeSelector
//     and required node affinity) and its NoSchedule and NoExecute taints.
//     A node whose only untolerated taints are NoSchedule keeps the pod it
//     runs but gets no new one.
//   - Pods: the daemon set's are those whose controllerRef has its uid; an
//     orphan that matches the selector is adopted. A pod belongs to the
//     node it is bound to or, while unbound, the node its matchFields
//     metadata.name affinity names (pods are created unbound and placed by
//     the scheduler, as Kubernetes does).
//   - Manage: an eligible node without a pod gets one; a finished pod is
//     deleted (and replaced); of several pods on a node the oldest stays
//     (with maxSurge, the oldest of the current template and the oldest
//     of another); pods on nodes that left or may no longer run them are
//     deleted.
//   - Rolling update, only in a pass that manage left alone: old pods that
//     are not available are deleted at once; available old pods are deleted
//     while fewer than maxUnavailable nodes lack an available pod. With
//     maxSurge, a new pod is made beside an available old one on up to
//     maxSurge nodes, and the old pod is deleted once the new one is
//     available.
//   - Status: counted over the eligible nodes by the oldest pod of each.

// Labels and the field daemon pods carry.
const (
	// DaemonSetHashLabel holds the hash of the template a pod was made
	// from (Kubernetes' controller-revision-hash).
	DaemonSetHashLabel = "controller-revision-hash"
	// nodeNameField is the node field a daemon pod's affinity names.
	nodeNameField = "metadata.name"
)

// Taints every daemon pod tolerates (Kubernetes'
// AddOrUpdateDaemonPodTolerations).
var daemonTolerations = []v1.Toleration{
	{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: v1.TaintNoExecute},
	{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: v1.TaintNoExecute},
	{Key: "node.kubernetes.io/disk-pressure", Operator: "Exists", Effect: v1.TaintNoSchedule},
	{Key: "node.kubernetes.io/memory-pressure", Operator: "Exists", Effect: v1.TaintNoSchedule},
	{Key: "node.kubernetes.io/pid-pressure", Operator: "Exists", Effect: v1.TaintNoSchedule},
	{Key: "node.kubernetes.io/unschedulable", Operator: "Exists", Effect: v1.TaintNoSchedule},
}

// networkUnavailableToleration is added for pods on the host's network.
var networkUnavailableToleration = v1.Toleration{Key: "node.kubernetes.io/network-unavailable", Operator: "Exists", Effect: v1.TaintNoSchedule}

// addDaemonTolerations adds the tolerations every daemon pod gets to s,
// each unless s already has it (same key, operator and effect).
func addDaemonTolerations(s *v1.PodSpec) {
	add := daemonTolerations
	if s.HostNetwork {
		add = append(slices.Clone(add), networkUnavailableToleration)
	}
	for _, t := range add {
		if !slices.ContainsFunc(s.Tolerations, func(have v1.Toleration) bool {
			return have.Key == t.Key && have.Operator == t.Operator && have.Effect == t.Effect
		}) {
			s.Tolerations = append(s.Tolerations, t)
		}
	}
}

// daemonEligibility is what PlanDaemonSet knows of one daemon set's pod
// template, parsed once per pass.
type daemonEligibility struct {
	nodeName    string
	required    nodeaffinity.RequiredNodeAffinity
	tolerations []v1.Toleration
}

func newDaemonEligibility(ds *v1.DaemonSet) daemonEligibility {
	s := ds.Spec.Template.Spec
	s.Tolerations = slices.Clone(s.Tolerations)
	addDaemonTolerations(&s)
	pod := &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: s.NodeSelector}}
	if s.Affinity != nil && s.Affinity.NodeAffinity != nil && s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: coreNodeSelector(s.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution)}}
	}
	return daemonEligibility{nodeName: s.NodeName, required: nodeaffinity.GetRequiredNodeAffinity(pod), tolerations: s.Tolerations}
}

// shouldRun is Kubernetes' NodeShouldRunDaemonPod: whether the node
// should run the daemon pod, and whether a pod it runs may stay.
func (e daemonEligibility) shouldRun(n *v1.Node) (run, keep bool) {
	if e.nodeName != "" && e.nodeName != n.Name {
		return false, false
	}
	if ok, _ := e.required.Match(coreNode(n)); !ok {
		return false, false
	}
	untolerated := func(effects ...string) bool {
		for _, t := range n.Spec.Taints {
			if slices.Contains(effects, t.Effect) && !tolerates(e.tolerations, t) {
				return true
			}
		}
		return false
	}
	if untolerated(v1.TaintNoSchedule, v1.TaintNoExecute) {
		return false, !untolerated(v1.TaintNoExecute)
	}
	return true, true
}

// DaemonSetPlan is what one sync of a daemon set should do.
type DaemonSetPlan struct {
	// Adopt lists orphans to take (add the daemon set's controllerRef).
	Adopt []*v1.Pod
	// Create lists the nodes that get a new pod.
	Create []string
	// Delete lists the pods to delete.
	Delete []*v1.Pod
	// FailedOn lists the nodes whose failed pods Delete replaces (their
	// back-off grows).
	FailedOn []string
	// Status is the daemon set's new status (conditions and collision
	// count kept).
	Status v1.DaemonSetStatus
	// Wake is when a pod becomes available (minReadySeconds); zero for
	// none.
	Wake time.Time
}

// daemonPodTarget is the node a daemon pod is on or is meant for: its
// nodeName, or while unbound the node its affinity's matchFields
// metadata.name term names (Kubernetes' GetTargetNodeName).
func daemonPodTarget(p *v1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range t.MatchFields {
			if r.Key == nodeNameField && r.Operator == "In" && len(r.Values) == 1 {
				return r.Values[0]
			}
		}
	}
	return ""
}

// olderPod orders pods oldest first (by creation time, then name), as
// Kubernetes keeps the oldest of several daemon pods on a node.
func olderPod(a, b *v1.Pod) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// PlanDaemonSet decides one sync of ds at now. nodes are all the nodes,
// pods the pods of ds's namespace (others are ignored), hash the current
// template's hash; exp holds the creates and deletes still in flight (nil:
// none), and while they are the plan only counts. held says which nodes'
// failed pods are in back-off (nil: none): a node whose pod failed is
// left alone until then, so that a node that keeps failing the pod is not
// fought in a hot loop (Kubernetes' failedPodsBackoff). Nothing passed in
// is changed.
func PlanDaemonSet(ds *v1.DaemonSet, nodes []*v1.Node, pods []*v1.Pod, hash string, exp *Expectations, held func(node string) bool, now time.Time) DaemonSetPlan {
	var plan DaemonSetPlan
	sel := v1.DaemonSetSelector(ds)
	byNode := map[string][]*v1.Pod{}
	for _, p := range pods {
		if p.Namespace != ds.Namespace {
			continue
		}
		ref := p.ControllerRef()
		switch {
		case ref != nil && ref.UID == ds.UID:
		case ref == nil && p.DeletionTimestamp == nil && !p.Terminal() && sel.Matches(labels.Set(p.Labels)) && ds.DeletionTimestamp == nil:
			plan.Adopt = append(plan.Adopt, p)
		default:
			continue
		}
		byNode[daemonPodTarget(p)] = append(byNode[daemonPodTarget(p)], p)
	}
	for _, ps := range byNode {
		slices.SortFunc(ps, olderPod)
	}
	elig := newDaemonEligibility(ds)
	minReady := time.Duration(ds.Spec.MinReadySeconds) * time.Second
	surge := daemonSurge(ds)
	st := v1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount,
		Conditions: ds.Status.Conditions}
	manage := exp.Satisfied(ExpectationsKey(ds.Namespace, ds.Name, ds.UID)) && ds.DeletionTimestamp == nil
	var eligible []string
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
		run, keep := elig.shouldRun(n)
		live := livePods(byNode[n.Name])
		if run {
			eligible = append(eligible, n.Name)
			st.DesiredNumberScheduled++
			if len(live) > 0 {
				countDaemonPod(&st, live[0], hash, minReady, now, &plan)
			}
		} else if len(live) > 0 {
			st.NumberMisscheduled++
		}
		if !manage {
			continue
		}
		switch {
		case run:
			var finished []*v1.Pod
			failed := false
			for _, p := range byNode[n.Name] {
				if p.DeletionTimestamp == nil && p.Terminal() {
					finished = append(finished, p)
					failed = failed || p.Status.Phase == v1.PodFailed
				}
			}
			if failed && held != nil && held(n.Name) {
				continue
			}
			if failed {
				plan.FailedOn = append(plan.FailedOn, n.Name)
			}
			plan.Delete = append(plan.Delete, finished...)
			switch {
			case len(live) == 0:
				plan.Create = append(plan.Create, n.Name)
			case surge == 0:
				plan.Delete = append(plan.Delete, live[1:]...)
			default:
				plan.Delete = append(plan.Delete, surplusSurgePods(live, hash)...)
			}
		case !keep:
			plan.Delete = append(plan.Delete, live...)
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	plan.Status = st
	if !manage {
		return plan
	}
	for name, ps := range byNode {
		if !known[name] {
			plan.Delete = append(plan.Delete, livePods(ps)...)
		}
	}
	if len(plan.Create) > 0 || len(plan.Delete) > 0 || ds.Spec.UpdateStrategy.Type != v1.DaemonSetRollingUpdate {
		return plan
	}
	rollingUpdate(ds, eligible, byNode, hash, minReady, now, &plan)
	return plan
}

// livePods are the pods that are neither being deleted nor finished.
func livePods(ps []*v1.Pod) []*v1.Pod {
	var out []*v1.Pod
	for _, p := range ps {
		if p.DeletionTimestamp == nil && !p.Terminal() {
			out = append(out, p)
		}
	}
	return out
}

// surplusSurgePods are the pods of a node beyond the oldest of the
// current template and the oldest of another (live is sorted oldest
// first), which a surging update keeps side by side.
func surplusSurgePods(live []*v1.Pod, hash string) []*v1.Pod {
	var out []*v1.Pod
	var haveNew, haveOld bool
	for _, p := range live {
		isNew := p.Labels[DaemonSetHashLabel] == hash
		switch {
		case isNew && !haveNew:
			haveNew = true
		case !isNew && !haveOld:
			haveOld = true
		default:
			out = append(out, p)
		}
	}
	return out
}

// countDaemonPod counts an eligible node's oldest live pod in st, and asks
// for a pass when a ready pod becomes available.
func countDaemonPod(st *v1.DaemonSetStatus, p *v1.Pod, hash string, minReady time.Duration, now time.Time, plan *DaemonSetPlan) {
	st.CurrentNumberScheduled++
	if p.Labels[DaemonSetHashLabel] == hash {
		st.UpdatedNumberScheduled++
	}
	if !p.IsReady() {
		return
	}
	st.NumberReady++
	if rcPodAvailable(p, minReady, now) {
		st.NumberAvailable++
		return
	}
	if c := p.Status.Condition(v1.PodReady); c != nil && !c.LastTransitionTime.IsZero() {
		plan.wakeAt(c.LastTransitionTime.Add(minReady))
	}
}

func (p *DaemonSetPlan) wakeAt(t time.Time) {
	if p.Wake.IsZero() || t.Before(p.Wake) {
		p.Wake = t
	}
}

// daemonMaxUnavailable and daemonSurge resolve the rolling update's
// numbers against the nodes that should run the pod (percentages round
// up), as Kubernetes' unavailableCount and surgeCount; when both come to
// 0, one node may be unavailable.
func daemonMaxUnavailable(ds *v1.DaemonSet, desired int) int {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ru == nil {
		return 1
	}
	n := scaledIntOrPercent(ru.MaxUnavailable, desired)
	if n == 0 && scaledIntOrPercent(ru.MaxSurge, desired) == 0 {
		return 1
	}
	return n
}

// daemonSurge is maxSurge as a number of nodes, or as a percentage of
// 100 nodes when only whether surging is on matters (0: off).
func daemonSurge(ds *v1.DaemonSet) int {
	if ds.Spec.UpdateStrategy.Type != v1.DaemonSetRollingUpdate || ds.Spec.UpdateStrategy.RollingUpdate == nil {
		return 0
	}
	return scaledIntOrPercent(ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge, 100)
}

func scaledIntOrPercent(v *v1.IntOrString, total int) int {
	if v == nil {
		return 0
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, total, true)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// rollingUpdate adds the deletes (and, surging, the creates) of one step
// of a rolling update to plan (Kubernetes' rollingUpdate).
func rollingUpdate(ds *v1.DaemonSet, eligible []string, byNode map[string][]*v1.Pod, hash string, minReady time.Duration, now time.Time, plan *DaemonSetPlan) {
	available := func(p *v1.Pod) bool { return p.IsReady() && rcPodAvailable(p, minReady, now) }
	maxSurge := 0
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		maxSurge = scaledIntOrPercent(ru.MaxSurge, len(eligible))
	}
	if maxSurge == 0 {
		maxUnavailable := daemonMaxUnavailable(ds, len(eligible))
		unavailable := 0
		var immediate, candidates []*v1.Pod
		for _, name := range eligible {
			newPod, oldPod, ok := updatedPodsOn(livePods(byNode[name]), hash)
			switch {
			case !ok || (newPod == nil) == (oldPod == nil):
				unavailable++ // manage will fix the node
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				immediate = append(immediate, oldPod) // an old pod not serving is replaced at once
			case unavailable < maxUnavailable:
				candidates = append(candidates, oldPod)
			}
		}
		room := max(maxUnavailable-unavailable, 0)
		plan.Delete = append(plan.Delete, immediate...)
		plan.Delete = append(plan.Delete, candidates[:min(room, len(candidates))]...)
		return
	}
	surging := 0
	var immediate, candidates []string
	for _, name := range eligible {
		newPod, oldPod, ok := updatedPodsOn(livePods(byNode[name]), hash)
		switch {
		case !ok || (newPod == nil && oldPod == nil):
		case oldPod == nil:
		case newPod == nil:
			switch {
			case !available(oldPod):
				immediate = append(immediate, name)
			default:
				candidates = append(candidates, name)
			}
		case available(newPod):
			plan.Delete = append(plan.Delete, oldPod)
		default:
			surging++
		}
	}
	room := max(maxSurge-surging, 0)
	plan.Create = append(plan.Create, immediate...)
	plan.Create = append(plan.Create, candidates[:min(room, len(candidates))]...)
}

// updatedPodsOn splits a node's live pods into the one of the current
// template and the one of another; ok is false when there are more of
// either (manage deletes the extra first).
func updatedPodsOn(live []*v1.Pod, hash string) (newPod, oldPod *v1.Pod, ok bool) {
	for _, p := range live {
		if p.Labels[DaemonSetHashLabel] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// NewDaemonSetControllerRef returns the owner reference that marks a pod
// as controlled by ds.
func NewDaemonSetControllerRef(ds *v1.DaemonSet) v1.OwnerReference {
	yes := true
	return v1.OwnerReference{APIVersion: v1.AppsGroup + "/" + v1.APIVersion, Kind: "DaemonSet", Name: ds.Name, UID: ds.UID,
		Controller: &yes, BlockOwnerDeletion: &yes}
}

// PodForNode returns a new pod of ds for the node: the template with the
// current hash label, the tolerations every daemon pod gets, and a
// required node affinity that names only the node (replacing the
// template's required terms, which the node already matched), named by
// the server from generateName "<ds>-" and left for the scheduler to bind,
// as Kubernetes does.
func PodForNode(ds *v1.DaemonSet, node, hash string) *v1.Pod {
	src := &v1.Pod{}
	src.Labels = ds.Spec.Template.Labels
	src.Annotations = ds.Spec.Template.Annotations
	src.Spec = ds.Spec.Template.Spec
	pod := v1.DeepCopy(src) // shares nothing with the stored DaemonSet
	v1.SetTypeMeta(pod)
	pod.Namespace = ds.Namespace
	pod.GenerateName = ds.Name + "-"
	pod.OwnerReferences = []v1.OwnerReference{NewDaemonSetControllerRef(ds)}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[DaemonSetHashLabel] = hash
	addDaemonTolerations(&pod.Spec)
	term := v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: nodeNameField, Operator: "In", Values: []string{node}}}}
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &v1.Affinity{}
	}
	if pod.Spec.Affinity.NodeAffinity == nil {
		pod.Spec.Affinity.NodeAffinity = &v1.NodeAffinity{}
	}
	pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{term}}
	return pod
}

// daemonSetKey is the expectations key of a daemon set.
func daemonSetKey(ds *v1.DaemonSet) string { return ExpectationsKey(ds.Namespace, ds.Name, ds.UID) }
