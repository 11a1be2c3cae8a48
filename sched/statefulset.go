package sched

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// This file is the pure decision core of the stateful set controller, as
// Kubernetes' StatefulSetControl (pkg/controller/statefulset): PlanStatefulSet
// turns one set and the pods of its namespace into a plan. It reads no
// store and no clock; the loop (statefulset_loop.go) applies the plan.
//
// The rules:
//
//   - Identity: the set owns one pod per ordinal in [start, start+replicas),
//     named <set>-<ordinal>, with hostname = its name and subdomain = the
//     set's serviceName, and the labels statefulset.kubernetes.io/pod-name,
//     apps.kubernetes.io/pod-index and controller-revision-hash. A pod whose
//     name has no ordinal in that range is condemned (scaled away).
//   - Claiming: as the replication manager, a set adopts active orphans that
//     match its selector and releases owned pods that no longer match; a set
//     being deleted does neither and does nothing else.
//   - OrderedReady: the pods are made in ordinal order, each once every pod
//     before it is Running and Ready (and available, with minReadySeconds);
//     a failed pod is deleted and made again under the same name; condemned
//     pods go from the highest ordinal down, one at a time, and only while
//     every other pod is healthy. Parallel makes and removes all at once.
//   - Rolling update: once every pod exists and is healthy, the pods not of
//     the update revision are deleted from the highest ordinal down to the
//     partition, one at a time, each after the one above it is healthy
//     again; their replacements are of the update revision. OnDelete
//     replaces only what its user deletes.
//   - Revisions (statefulset_revisions.go): the update revision is the
//     template's now, the current revision the one every pod had when the
//     last update completed; a pod made below the partition during a
//     rolling update is of the current revision.

// StatefulSetPlan is what one sync of a stateful set should do. The pods in
// it are the caller's: copy before changing one.
type StatefulSetPlan struct {
	// Create are the new pods, complete but for uid and creationTimestamp.
	Create []*v1.Pod
	// Delete are the pods to delete, in order.
	Delete []*v1.Pod
	// Adopt are orphans to take (add NewControllerRef); Release are owned
	// pods to let go (drop the set's reference). Sorted by name.
	Adopt, Release []*v1.Pod
	// Status is the set's status after the plan's writes are done.
	Status v1.StatefulSetStatus
	// Wake, when not zero, is when a pod becomes available and a pass
	// should run again.
	Wake time.Time
	// statusWith is Status had only the first n creates been made.
	statusWith func(n int) v1.StatefulSetStatus
}

// statefulSetStart returns the set's first ordinal.
func statefulSetStart(ss *v1.StatefulSet) int {
	if ss.Spec.Ordinals != nil {
		return int(ss.Spec.Ordinals.Start)
	}
	return 0
}

// statefulSetReplicas returns spec.replicas, 1 when unset.
func statefulSetReplicas(ss *v1.StatefulSet) int {
	if ss.Spec.Replicas != nil {
		return int(*ss.Spec.Replicas)
	}
	return 1
}

// StatefulSetPodName returns the name of the set's pod of ordinal ord.
func StatefulSetPodName(set string, ord int) string { return set + "-" + strconv.Itoa(ord) }

// statefulSetOrdinal returns the ordinal in a pod's name, or -1 when the
// name is not <set>-<ordinal>.
func statefulSetOrdinal(set, pod string) int {
	s, ok := strings.CutPrefix(pod, set+"-")
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// NewStatefulSetPod returns the pod of ordinal ord of ss, of revision rev:
// the template's labels, annotations and spec, the identity labels, the
// set's hostname and subdomain, and the set as its controller.
func NewStatefulSetPod(ss *v1.StatefulSet, ord int, rev string) *v1.Pod {
	pod := PodFromTemplate(ss)
	pod.GenerateName = ""
	pod.Name = StatefulSetPodName(ss.Name, ord)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[v1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[v1.PodIndexLabel] = strconv.Itoa(ord)
	pod.Labels[v1.ControllerRevisionHashLabel] = rev
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = ss.Spec.ServiceName
	return pod
}

// podHealthy is Kubernetes' isHealthy: Running, Ready (for minReady when
// set) and not terminating. It returns when the pod becomes available if
// it is ready but not yet for long enough.
func podHealthy(p *v1.Pod, minReady time.Duration, now time.Time) (bool, time.Time) {
	if p.DeletionTimestamp != nil || p.Status.Phase != v1.PodRunning || !p.IsReady() {
		return false, time.Time{}
	}
	if rcPodAvailable(p, minReady, now) {
		return true, time.Time{}
	}
	if c := p.Status.Condition(v1.PodReady); c != nil && !c.LastTransitionTime.IsZero() {
		return false, c.LastTransitionTime.Add(minReady)
	}
	return false, time.Time{}
}

// podFinished reports whether a pod ran to its end (Succeeded or Failed):
// the set deletes it and makes it again.
func podFinished(p *v1.Pod) bool {
	return p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// PlanStatefulSet decides one sync of ss; pods are the pods of its
// namespace, whatever their owner. Neither is modified.
func PlanStatefulSet(ss *v1.StatefulSet, pods []*v1.Pod, revs StatefulSetRevisions, now time.Time) StatefulSetPlan {
	var plan StatefulSetPlan
	sel := v1.StatefulSetSelector(ss)
	deleting := ss.DeletionTimestamp != nil
	var owned []*v1.Pod
	for _, p := range pods {
		if p == nil || p.Namespace != ss.Namespace {
			continue
		}
		matches := sel.Matches(labels.Set(p.Labels))
		ref := p.ControllerRef()
		switch {
		case ref != nil && ref.UID == ss.UID:
			if matches || deleting {
				owned = append(owned, p)
			} else {
				plan.Release = append(plan.Release, p)
			}
		case ref == nil && matches && !deleting && rcPodActive(p):
			plan.Adopt = append(plan.Adopt, p)
			owned = append(owned, p)
		}
	}
	slices.SortFunc(plan.Adopt, rcCompareByName)
	slices.SortFunc(plan.Release, rcCompareByName)

	updateRev, currentRev := revs.Update, revs.Current
	if currentRev == "" || revs.CurrentTemplate == nil {
		currentRev = updateRev
	}
	minReady := time.Duration(ss.Spec.MinReadySeconds) * time.Second
	start, n := statefulSetStart(ss), statefulSetReplicas(ss)
	replicas := make([]*v1.Pod, n)
	var condemned []*v1.Pod
	for _, p := range owned {
		ord := statefulSetOrdinal(ss.Name, p.Name)
		if ord >= start && ord < start+n && replicas[ord-start] == nil {
			replicas[ord-start] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	// Highest ordinal first; names without an ordinal before all of them.
	slices.SortFunc(condemned, func(a, b *v1.Pod) int {
		return cmp.Or(cmp.Compare(statefulSetOrdinal(ss.Name, b.Name), statefulSetOrdinal(ss.Name, a.Name)), rcCompareByName(a, b))
	})

	if !deleting {
		plan.decide(ss, replicas, condemned, revs, minReady, now)
	}
	plan.statusWith = func(made int) v1.StatefulSetStatus {
		return statefulSetStatus(ss, owned, plan.Create[:made], currentRev, updateRev, minReady, now)
	}
	plan.Status = plan.statusWith(len(plan.Create))
	return plan
}

// decide fills the plan's creates and deletes.
func (plan *StatefulSetPlan) decide(ss *v1.StatefulSet, replicas, condemned []*v1.Pod, revs StatefulSetRevisions, minReady time.Duration, now time.Time) {
	ordered := ss.Spec.PodManagementPolicy != v1.ParallelPodManagement
	start := statefulSetStart(ss)
	updateRev := revs.Update
	partition := 0
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	// newPod is Kubernetes' newVersionedStatefulSetPod: during a rolling
	// update a pod below the partition keeps the current revision.
	newPod := func(i int) *v1.Pod {
		if ss.Spec.UpdateStrategy.Type == v1.RollingUpdateStatefulSetStrategyType && revs.CurrentTemplate != nil &&
			revs.Current != revs.Update && i < partition {
			cs := *ss
			cs.Spec.Template = *revs.CurrentTemplate
			return NewStatefulSetPod(&cs, start+i, revs.Current)
		}
		return NewStatefulSetPod(ss, start+i, updateRev)
	}
	wake := func(t time.Time) {
		if !t.IsZero() && (plan.Wake.IsZero() || t.Before(plan.Wake)) {
			plan.Wake = t
		}
	}
	// Creates, and the deletes of finished pods, in ordinal order.
	for i, p := range replicas {
		switch {
		case p == nil:
			plan.Create = append(plan.Create, newPod(i))
			if ordered {
				return
			}
			continue
		case podFinished(p) && p.DeletionTimestamp == nil:
			plan.Delete = append(plan.Delete, p)
			if ordered {
				return
			}
			continue
		}
		healthy, at := podHealthy(p, minReady, now)
		wake(at)
		if ordered && !healthy {
			return // OrderedReady waits for this pod before the next
		}
	}
	// Scale down: the condemned, highest ordinal first.
	for _, p := range condemned {
		if p.DeletionTimestamp != nil {
			if ordered {
				return // one at a time
			}
			continue
		}
		if ordered && !allHealthy(replicas, minReady, now) {
			return
		}
		plan.Delete = append(plan.Delete, p)
		if ordered {
			return
		}
	}
	if len(condemned) > 0 && ordered {
		return
	}
	if ss.Spec.UpdateStrategy.Type != v1.RollingUpdateStatefulSetStrategyType {
		return // OnDelete: replaced when deleted
	}
	// Rolling update, highest ordinal down to the partition.
	for i := len(replicas) - 1; i >= 0 && i >= partition; i-- {
		p := replicas[i]
		if p == nil {
			return
		}
		if p.Labels[v1.ControllerRevisionHashLabel] != updateRev && p.DeletionTimestamp == nil {
			plan.Delete = append(plan.Delete, p)
			return
		}
		if healthy, _ := podHealthy(p, minReady, now); !healthy {
			return
		}
	}
}

// allHealthy reports whether every pod of replicas exists and is healthy.
func allHealthy(replicas []*v1.Pod, minReady time.Duration, now time.Time) bool {
	for _, p := range replicas {
		if p == nil {
			return false
		}
		if ok, _ := podHealthy(p, minReady, now); !ok {
			return false
		}
	}
	return true
}

// statefulSetStatus is Kubernetes' computeReplicaStatus and
// completeRollingUpdate over the set's pods (those being deleted still
// exist and count) and the pods the plan creates (not ready yet). The current
// revision becomes the update revision once every pod is of it and ready.
func statefulSetStatus(ss *v1.StatefulSet, owned, created []*v1.Pod, currentRev, updateRev string,
	minReady time.Duration, now time.Time) v1.StatefulSetStatus {
	st := v1.StatefulSetStatus{ObservedGeneration: ss.Generation, CurrentRevision: currentRev, UpdateRevision: updateRev,
		CollisionCount: ss.Status.CollisionCount, Conditions: slices.Clone(ss.Status.Conditions)}
	if st.CollisionCount == nil {
		zero := int32(0)
		st.CollisionCount = &zero
	}
	count := func(p *v1.Pod) {
		st.Replicas++
		if p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && p.IsReady() {
			st.ReadyReplicas++
			if rcPodAvailable(p, minReady, now) {
				st.AvailableReplicas++
			}
		}
		if p.Labels[v1.ControllerRevisionHashLabel] == currentRev {
			st.CurrentReplicas++
		}
		if p.Labels[v1.ControllerRevisionHashLabel] == updateRev {
			st.UpdatedReplicas++
		}
	}
	for _, p := range owned {
		count(p)
	}
	for _, p := range created {
		count(p)
	}
	if ss.Spec.UpdateStrategy.Type == v1.RollingUpdateStatefulSetStrategyType && st.UpdatedReplicas == st.Replicas &&
		st.ReadyReplicas == st.Replicas && int(st.Replicas) == statefulSetReplicas(ss) {
		st.CurrentRevision, st.CurrentReplicas = updateRev, st.UpdatedReplicas
	}
	if ss.Spec.UpdateStrategy.Type == v1.OnDeleteStatefulSetStrategyType && st.UpdatedReplicas == st.Replicas &&
		int(st.Replicas) == statefulSetReplicas(ss) {
		st.CurrentRevision, st.CurrentReplicas = updateRev, st.UpdatedReplicas
	}
	return st
}
