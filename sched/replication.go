package sched

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// This file is the pure decision core of the replication manager (issue 3):
// PlanReplication turns one RC and the pods of its namespace into a plan, and
// Expectations remembers the writes a previous plan put in flight. The loop
// that reads the store, applies plans through the Proposer and feeds pod
// events into Expectations lives elsewhere; nothing here blocks, reads the
// store or looks at the wall clock.
//
// The rules mirror Kubernetes' ReplicationManager (pkg/controller/replicaset):
//
//   - Only active pods take part: a pod that is terminating (deletionTimestamp
//     set) or finished (phase Succeeded or Failed) is neither adopted,
//     released, counted nor deleted. Kubernetes filters with
//     FilterActivePods before claiming, and so do we.
//   - Claiming: an active pod whose controllerRef has the RC's UID is owned;
//     if it no longer matches the selector it is released. An active pod with
//     no controllerRef that matches is adopted. Pods controlled by anything
//     else (including an earlier RC of the same name, whose UID differs) are
//     left alone. An RC that is being deleted neither adopts nor releases.
//   - Expectations: while creations or deletions of an earlier plan have not
//     been observed yet (and have not timed out), the plan creates and deletes
//     nothing, so the same replica is not created twice from a stale view.
//     Claiming and status still happen.
//   - At most MaxReplicaBurst pods are created or deleted per plan, as
//     Kubernetes' burstReplicas, so one sync cannot produce an unbounded
//     Raft command; the next sync continues.

// MaxReplicaBurst caps the pods one plan creates or deletes (Kubernetes'
// burstReplicas).
const MaxReplicaBurst = 500

// ReplicationPlan is what one sync of a replication controller should do.
// The pods in it are the caller's own pointers (stored objects): the caller
// copies a pod before changing it.
type ReplicationPlan struct {
	// Create is how many pods to create from PodFromTemplate.
	Create int
	// Delete lists the pods to delete, in the order they should go.
	Delete []*v1.Pod
	// Adopt lists orphan pods that match the selector; the caller adds
	// NewControllerRef(rc) to their ownerReferences. Sorted by name.
	Adopt []*v1.Pod
	// Release lists owned pods that no longer match the selector; the caller
	// removes the reference with the RC's UID from their ownerReferences.
	// Sorted by name.
	Release []*v1.Pod
	// Status is the RC's status computed from its active pods (owned and
	// adopted), with the RC's existing conditions kept.
	Status v1.ReplicationControllerStatus
}

// PlanReplication decides one sync of rc. pods are the pods of rc's namespace,
// whatever their owner (pods of other namespaces are ignored); exp holds the
// writes still in flight (nil means none); now is the time used for
// availableReplicas (a pod is available once its Ready condition has been
// True for at least spec.minReadySeconds).
//
// A nil spec.replicas counts as 1, as defaulting would make it; an RC without
// a template never gets a Create. Neither rc nor pods are modified.
func PlanReplication(rc Replicated, pods []*v1.Pod, exp *Expectations, now time.Time) ReplicationPlan {
	var plan ReplicationPlan
	m := rc.GetObjectMeta()
	sel := replicaSelector(rc)
	rcDeleting := m.DeletionTimestamp != nil

	var active []*v1.Pod
	for _, p := range pods {
		if p == nil || p.Namespace != m.Namespace || !rcPodActive(p) {
			continue
		}
		matches := sel.Matches(labels.Set(p.Labels))
		ref := p.ControllerRef()
		switch {
		case ref != nil && ref.UID == m.UID:
			if matches {
				active = append(active, p)
			} else if !rcDeleting {
				plan.Release = append(plan.Release, p)
			}
		case ref == nil && matches && !rcDeleting:
			plan.Adopt = append(plan.Adopt, p)
			active = append(active, p)
		}
	}
	slices.SortFunc(plan.Adopt, rcCompareByName)
	slices.SortFunc(plan.Release, rcCompareByName)

	plan.Status = rcStatus(rc, active, now)

	if rcDeleting || !exp.Satisfied(ExpectationsKey(m.Namespace, m.Name, m.UID)) {
		return plan
	}
	switch diff := int(replicaDesired(rc)) - len(active); {
	case diff > 0:
		if rc.PodTemplate() != nil {
			plan.Create = min(diff, MaxReplicaBurst)
		}
	case diff < 0:
		plan.Delete = rcPodsToDelete(active, min(-diff, MaxReplicaBurst))
	}
	return plan
}

// rcPodActive reports whether p counts as a replica: not terminating and not
// finished (Kubernetes' IsPodActive).
func rcPodActive(p *v1.Pod) bool {
	return p.DeletionTimestamp == nil &&
		p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed
}

// rcPodsToDelete returns the n pods of active to delete first. The order is
// Kubernetes' ActivePods ranking reduced to the rules orch has data for:
//
//  1. unscheduled (no nodeName) before scheduled — it costs nothing to drop;
//  2. not ready before ready — it serves no traffic yet;
//  3. on a node hosting more of this RC's active pods before fewer — it
//     spreads the survivors;
//  4. newer before older (a missing creationTimestamp counts as newest) —
//     long-running pods are more likely warmed up;
//  5. by name, then UID, so the plan does not depend on the input order.
func rcPodsToDelete(active []*v1.Pod, n int) []*v1.Pod {
	perNode := make(map[string]int)
	for _, p := range active {
		perNode[p.Spec.NodeName]++
	}
	ranked := slices.Clone(active)
	slices.SortFunc(ranked, func(a, b *v1.Pod) int {
		if ua, ub := a.Spec.NodeName == "", b.Spec.NodeName == ""; ua != ub {
			return rcFirstIf(ua)
		}
		if ra, rb := a.IsReady(), b.IsReady(); ra != rb {
			return rcFirstIf(!ra)
		}
		if c := cmp.Compare(perNode[b.Spec.NodeName], perNode[a.Spec.NodeName]); c != 0 {
			return c
		}
		ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
		switch {
		case ta.Equal(tb):
		case ta.IsZero():
			return -1
		case tb.IsZero():
			return 1
		default:
			return tb.Compare(ta)
		}
		return rcCompareByName(a, b)
	})
	return ranked[:n]
}

// rcFirstIf returns -1 when the first of two differing pods goes first.
func rcFirstIf(aFirst bool) int {
	if aFirst {
		return -1
	}
	return 1
}

// rcCompareByName orders pods by name, then UID.
func rcCompareByName(a, b *v1.Pod) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
}

// rcStatus computes the status of rc from its active pods, keeping the
// existing conditions (copied, since rc is shared).
func rcStatus(rc Replicated, active []*v1.Pod, now time.Time) v1.ReplicationControllerStatus {
	var tmplLabels labels.Selector = labels.Everything()
	if t := rc.PodTemplate(); t != nil {
		tmplLabels = labels.SelectorFromSet(labels.Set(t.Labels))
	}
	minReady := time.Duration(replicaMinReadySeconds(rc)) * time.Second
	st := v1.ReplicationControllerStatus{
		Replicas:           int32(len(active)),
		ObservedGeneration: rc.GetObjectMeta().Generation,
		Conditions:         slices.Clone(replicaStatus(rc).Conditions),
	}
	for _, p := range active {
		if tmplLabels.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if !p.IsReady() {
			continue
		}
		st.ReadyReplicas++
		if rcPodAvailable(p, minReady, now) {
			st.AvailableReplicas++
		}
	}
	return st
}

// rcPodAvailable reports whether a ready pod has been ready for at least
// minReady at now, judged by its Ready condition's lastTransitionTime. With
// minReady > 0 a pod whose transition time is unknown is not available
// (as in Kubernetes' IsPodAvailable).
func rcPodAvailable(p *v1.Pod, minReady time.Duration, now time.Time) bool {
	if minReady == 0 {
		return true
	}
	c := p.Status.Condition(v1.PodReady)
	if c == nil || c.LastTransitionTime.IsZero() {
		return false
	}
	return !now.Before(c.LastTransitionTime.Add(minReady))
}

// NewControllerRef returns the owner reference that marks a pod as controlled
// by rc, as PodFromTemplate sets it and adoption adds it: rc's apiVersion
// and kind (v1 ReplicationController, apps/v1 ReplicaSet), name and UID.
func NewControllerRef(rc Replicated) v1.OwnerReference {
	yes, block := true, true
	apiVersion, kind := v1.APIVersion, v1.KindOf(rc)
	if r, err := v1.ResourceOf(rc); err == nil {
		apiVersion = r.GroupVersion()
	}
	m := rc.GetObjectMeta()
	return v1.OwnerReference{
		APIVersion:         apiVersion,
		Kind:               kind,
		Name:               m.Name,
		UID:                m.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &block,
	}
}

// PodFromTemplate returns a new pod for rc: in rc's namespace, named by the
// server from generateName "<rc name>-", with the template's labels,
// annotations and spec (its matchLabelKeys merged into its selectors, as
// for any created pod), and rc as its controller. Everything is deep-copied,
// so the result may be changed freely without touching rc (a stored object
// shared by readers). A nil template gives a pod with an empty spec.
func PodFromTemplate(rc Replicated) *v1.Pod {
	src := &v1.Pod{}
	if t := rc.PodTemplate(); t != nil {
		src.Labels = t.Labels
		src.Annotations = t.Annotations
		src.Spec = t.Spec
	}
	pod := v1.DeepCopy(src) // a JSON round trip: shares nothing with rc
	v1.SetTypeMeta(pod)
	pod.Namespace = rc.GetObjectMeta().Namespace
	pod.GenerateName = rc.GetObjectMeta().Name + "-"
	pod.OwnerReferences = []v1.OwnerReference{NewControllerRef(rc)}
	v1.ApplyLabelKeys(pod) // as the API server does to a created pod
	return pod
}

// DefaultExpectationsTTL is how long expectations wait for their pod events
// before they count as satisfied anyway (Kubernetes' ExpectationsTimeout).
const DefaultExpectationsTTL = 5 * time.Minute

// ExpectationsKey returns the Expectations key of an RC. It includes the UID
// so that an RC deleted and re-created under the same name starts clean. A
// pod event finds its key from the pod's namespace and controllerRef.
func ExpectationsKey(namespace, name, uid string) string {
	return v1.Key(namespace, name) + "/" + uid
}

// Expectations records, per RC, the pod creations and deletions a plan has
// put in flight and not yet seen come back through the store's feed
// (Kubernetes' UIDTrackingControllerExpectations). PlanReplication creates and
// deletes nothing for an RC whose expectations are not satisfied, so a sync
// that runs before its own writes are visible does not repeat them.
//
// Expectations older than the TTL count as satisfied, so a lost event or a
// write that failed without being reported stalls an RC for at most the TTL.
// The zero value is not usable; call NewExpectations. Safe for concurrent use.
type Expectations struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	records map[string]*rcExpectation
}

// rcExpectation is what one RC still waits for.
type rcExpectation struct {
	creations int
	deletions map[string]struct{} // pod UIDs
	set       time.Time
}

// NewExpectations returns empty expectations that expire after ttl
// (DefaultExpectationsTTL when ttl <= 0), read from the clock now
// (time.Now when nil).
func NewExpectations(ttl time.Duration, now func() time.Time) *Expectations {
	if ttl <= 0 {
		ttl = DefaultExpectationsTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Expectations{ttl: ttl, now: now, records: make(map[string]*rcExpectation)}
}

// ExpectCreations records that n pods are being created for key. It replaces
// whatever key expected before and restarts the TTL, as Kubernetes'
// ExpectCreations does; call it before proposing the creations.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[key] = &rcExpectation{creations: max(n, 0), set: e.now()}
}

// ExpectDeletions records that the pods with uids are being deleted for key.
// It replaces whatever key expected before and restarts the TTL; call it
// before proposing the deletions.
func (e *Expectations) ExpectDeletions(key string, uids []string) {
	set := make(map[string]struct{}, len(uids))
	for _, u := range uids {
		set[u] = struct{}{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.records[key] = &rcExpectation{deletions: set, set: e.now()}
}

// CreationObserved lowers key's expected creations by one. Call it when a pod
// controlled by the RC appears in the store, and also once for each creation
// that failed, so the RC does not wait for the TTL.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.records[key]; r != nil && r.creations > 0 {
		r.creations--
	}
}

// DeletionObserved marks the pod uid as gone for key; uids key does not
// expect are ignored. Call it when the pod gets a deletionTimestamp or leaves
// the store, and also when its deletion failed.
func (e *Expectations) DeletionObserved(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.records[key]; r != nil {
		delete(r.deletions, uid)
	}
}

// Satisfied reports whether key has no creations or deletions in flight, or
// its expectations are older than the TTL. A key never seen is satisfied. A
// nil *Expectations is always satisfied.
func (e *Expectations) Satisfied(key string) bool {
	if e == nil {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.records[key]
	if r == nil || r.creations == 0 && len(r.deletions) == 0 {
		return true
	}
	return e.now().Sub(r.set) > e.ttl
}

// Expiry returns when key's pending expectations time out (after which
// Satisfied reports true), and false when key waits for nothing.
func (e *Expectations) Expiry(key string) (time.Time, bool) {
	if e == nil {
		return time.Time{}, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.records[key]
	if r == nil || r.creations == 0 && len(r.deletions) == 0 {
		return time.Time{}, false
	}
	return r.set.Add(e.ttl + time.Nanosecond), true
}

// Forget drops everything key expects; call it when the RC is deleted.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.records, key)
}
