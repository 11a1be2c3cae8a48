package sched

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// This file is the pure decision core of the deployment controller:
// PlanDeployment turns one Deployment, the ReplicaSets and pods of its
// namespace and the leader's clock into the next step of its rollout. It
// mirrors Kubernetes' deployment controller (pkg/controller/deployment:
// sync.go, rolling.go, recreate.go, progress.go), with one difference of
// shape: where Kubernetes writes one object after another within a sync,
// a step stops after the first kind of write (adoptions, an annotation
// update, a create, the scaling of sets) and the loop plans again once the
// writes are in the store. All state lives in the stored objects, so a new
// leader continues a rollout where the old one left it.

// DeploymentStep is what one pass writes for a deployment.
type DeploymentStep struct {
	// Adopt are orphan ReplicaSets matching the selector, with the
	// deployment added as their controller (their resourceVersion kept).
	Adopt []*v1.ReplicaSet
	// Create is the new ReplicaSet to make (its uid and creation time are
	// the loop's); Status is written only once it exists.
	Create *v1.ReplicaSet
	// Update are ReplicaSets scaled or re-annotated (resourceVersion kept).
	Update []*v1.ReplicaSet
	// Delete are old ReplicaSets beyond revisionHistoryLimit.
	Delete []*v1.ReplicaSet
	// Meta is the deployment with its revision annotation changed.
	Meta *v1.Deployment
	// Status is the deployment's new status; nil when unchanged.
	Status *v1.DeploymentStatus
	// Events are the ScalingReplicaSet events of the step, by set name.
	Events map[string]string
	// Wake is when the Progressing condition's deadline passes, zero when
	// no deadline runs.
	Wake time.Time
}

// PlanDeployment plans the next step of d. rss and pods are the
// ReplicaSets and pods of d's namespace (shared, never changed).
func PlanDeployment(d *v1.Deployment, rss []*v1.ReplicaSet, pods []*v1.Pod, now time.Time) (DeploymentStep, error) {
	p := &deploymentPlanner{d: d, now: now}
	sel := v1.DeploymentSelector(d)
	for _, rs := range rss {
		ref := rs.ControllerRef()
		switch {
		case ref != nil && ref.UID == d.UID:
			p.owned = append(p.owned, rs)
		case ref == nil && rs.DeletionTimestamp == nil && d.DeletionTimestamp == nil && sel.Matches(labels.Set(rs.Labels)):
			c := v1.DeepCopy(rs)
			c.OwnerReferences = append(c.OwnerReferences, newDeploymentControllerRef(d))
			p.step.Adopt = append(p.step.Adopt, c)
		}
	}
	if len(p.step.Adopt) > 0 {
		return p.step, nil
	}
	slices.SortFunc(p.owned, byCreation)
	if err := p.plan(pods); err != nil {
		return DeploymentStep{}, err
	}
	return p.step, nil
}

// deploymentPlanner holds one plan in the making.
type deploymentPlanner struct {
	d     *v1.Deployment
	now   time.Time
	owned []*v1.ReplicaSet
	newRS *v1.ReplicaSet
	olds  []*v1.ReplicaSet
	// status is the status being computed (conditions set on the way).
	status v1.DeploymentStatus
	step   DeploymentStep
}

// plan is Kubernetes' syncDeployment after the claim of the sets.
func (p *deploymentPlanner) plan(pods []*v1.Pod) error {
	d := p.d
	p.status = v1.DeepCopy(d).Status
	if d.DeletionTimestamp != nil {
		p.splitSets()
		p.finishStatus(false)
		return nil
	}
	if p.pausedConditions() {
		p.finishStatus(false)
		return nil
	}
	p.splitSets()
	if done := p.syncRevision(); done {
		return nil
	}
	if d.Spec.Paused || p.scalingEvent() {
		p.scale()
		if len(p.step.Update) == 0 && d.Spec.Paused {
			p.cleanup()
		}
		p.finishStatus(false)
		return nil
	}
	if d.Spec.Strategy.Type == v1.RecreateDeploymentStrategyType {
		return p.recreate(pods)
	}
	return p.rolling()
}

// splitSets finds the new set (the oldest whose template equals the
// deployment's, ignoring the hash) and the old ones.
func (p *deploymentPlanner) splitSets() {
	for _, rs := range p.owned {
		if p.newRS == nil && EqualIgnoreHash(&rs.Spec.Template, &p.d.Spec.Template) {
			p.newRS = rs
			continue
		}
		p.olds = append(p.olds, rs)
	}
}

// pausedConditions is Kubernetes' checkPausedConditions: Progressing
// Unknown DeploymentPaused when paused, DeploymentResumed when resumed;
// it reports whether the status changed (written alone).
func (p *deploymentPlanner) pausedConditions() bool {
	d := p.d
	if !hasProgressDeadline(d) {
		return false
	}
	c := getDeploymentCondition(&p.status, v1.DeploymentProgressing)
	if c != nil && c.Reason == ReasonProgressDeadlineExceeded {
		return false
	}
	paused := c != nil && c.Reason == ReasonDeploymentPaused
	switch {
	case d.Spec.Paused && !paused:
		setDeploymentCondition(&p.status, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionUnknown, ReasonDeploymentPaused, "Deployment is paused", p.now))
	case !d.Spec.Paused && paused:
		setDeploymentCondition(&p.status, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionUnknown, ReasonDeploymentResumed, "Deployment is resumed", p.now))
	default:
		return false
	}
	return true
}

// syncRevision is the existing-set half of Kubernetes' getNewReplicaSet:
// the new set's annotations and minReadySeconds, then the deployment's
// revision annotation. It reports whether it planned a write (the step
// ends there), and notes FoundNewReplicaSet when no Progressing condition
// was recorded.
func (p *deploymentPlanner) syncRevision() bool {
	if p.newRS == nil {
		return false
	}
	d := p.d
	c := v1.DeepCopy(p.newRS)
	changed := setNewReplicaSetAnnotations(d, c, maxRevision(p.olds)+1, true)
	if changed || c.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		c.Spec.MinReadySeconds = d.Spec.MinReadySeconds
		p.step.Update = append(p.step.Update, c)
		return true
	}
	if rev := c.Annotations[v1.RevisionAnnotation]; rev != "" && d.Annotations[v1.RevisionAnnotation] != rev {
		m := v1.DeepCopy(d)
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[v1.RevisionAnnotation] = rev
		p.step.Meta = m
		return true
	}
	if hasProgressDeadline(d) && getDeploymentCondition(&p.status, v1.DeploymentProgressing) == nil {
		setDeploymentCondition(&p.status, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionTrue, ReasonFoundNewReplicaSet,
			fmt.Sprintf("Found new replica set %q", p.newRS.Name), p.now))
	}
	return false
}

// all returns the old sets and the new one (when there is one).
func (p *deploymentPlanner) all() []*v1.ReplicaSet {
	out := slices.Clone(p.olds)
	if p.newRS != nil {
		out = append(out, p.newRS)
	}
	return out
}

// scalingEvent is Kubernetes' isScalingEvent: an active set was last
// scaled for another spec.replicas.
func (p *deploymentPlanner) scalingEvent() bool {
	for _, rs := range activeSets(p.all()) {
		if n, ok := intAnnotation(rs, v1.DesiredReplicasAnnotation); ok && n != deploymentReplicas(p.d) {
			return true
		}
	}
	return false
}

// scaleSet plans rs at n replicas with the deployment's replicas
// annotations; it reports whether the size changed. The planned copy
// replaces rs in the planner's view.
func (p *deploymentPlanner) scaleSet(rs *v1.ReplicaSet, n int32) bool {
	want := deploymentReplicas(p.d)
	c := v1.DeepCopy(rs)
	resized := rsReplicas(rs) != n
	annotated := setReplicasAnnotations(c, want, want+MaxSurge(p.d))
	if !resized && !annotated {
		return false
	}
	c.Spec.Replicas = &n
	p.replace(rs, c)
	p.step.Update = append(p.step.Update, c)
	if resized {
		dir := "up"
		if n < rsReplicas(rs) {
			dir = "down"
		}
		p.event(rs.Name, fmt.Sprintf("Scaled %s replica set %s from %d to %d", dir, rs.Name, rsReplicas(rs), n))
	}
	return resized
}

// event notes the event of a set's write.
func (p *deploymentPlanner) event(set, msg string) {
	if p.step.Events == nil {
		p.step.Events = map[string]string{}
	}
	p.step.Events[set] = msg
}

// replace swaps a set in the planner's view for its planned copy.
func (p *deploymentPlanner) replace(old, next *v1.ReplicaSet) {
	if p.newRS == old {
		p.newRS = next
	}
	for i, rs := range p.olds {
		if rs == old {
			p.olds[i] = next
		}
	}
	for i, rs := range p.step.Update {
		if rs.UID == next.UID && rs != next {
			p.step.Update = slices.Delete(p.step.Update, i, i+1)
			break
		}
	}
}

// scale is Kubernetes' scale: the one active set (or the newest) takes
// spec.replicas; a saturated new set scales the old ones to 0; otherwise a
// rolling deployment's change is shared among the active sets in
// proportion to their size.
func (p *deploymentPlanner) scale() {
	d := p.d
	want := deploymentReplicas(d)
	if rs := p.activeOrLatest(); rs != nil {
		if rsReplicas(rs) != want {
			p.scaleSet(rs, want)
		}
		return
	}
	if p.saturated() {
		for _, rs := range activeSets(p.olds) {
			p.scaleSet(rs, 0)
		}
		return
	}
	if !isRollingUpdate(d) {
		return
	}
	active := activeSets(p.all())
	var allowed int32
	if want > 0 {
		allowed = want + MaxSurge(d)
	}
	toAdd := allowed - specReplicaSum(active)
	switch {
	case toAdd > 0:
		slices.SortFunc(active, bySizeNewer)
	case toAdd < 0:
		slices.SortFunc(active, bySizeOlder)
	}
	sizes := ProportionalSizes(d, active, toAdd)
	for i, rs := range active {
		p.scaleSet(rs, sizes[i])
	}
}

// ProportionalSizes is the proportional half of Kubernetes' scale: each
// active set (sorted largest first) gets its share of toAdd by its
// max-replicas annotation, the leftover goes to the first, none below 0.
func ProportionalSizes(d *v1.Deployment, active []*v1.ReplicaSet, toAdd int32) []int32 {
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			prop := proportion(rs, d, toAdd, added)
			sizes[i] += prop
			added += prop
		}
	}
	if len(active) > 0 && toAdd != 0 {
		sizes[0] = max(sizes[0]+toAdd-added, 0)
	}
	return sizes
}

// proportion is Kubernetes' GetProportion.
func proportion(rs *v1.ReplicaSet, d *v1.Deployment, toAdd, added int32) int32 {
	if rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	frac := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(frac, allowed)
	}
	return max(frac, allowed)
}

// replicaSetFraction is Kubernetes' getReplicaSetFraction.
func replicaSetFraction(rs *v1.ReplicaSet, d *v1.Deployment) int32 {
	if deploymentReplicas(d) == 0 {
		return -rsReplicas(rs)
	}
	total := deploymentReplicas(d) + MaxSurge(d)
	annotated, ok := intAnnotation(rs, v1.MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(rsReplicas(rs)) * float64(total) / float64(annotated)
	return int32(math.Round(size)) - rsReplicas(rs)
}

// activeOrLatest is Kubernetes' FindActiveOrLatest: the only active set,
// the newest when none is active, nil when several are.
func (p *deploymentPlanner) activeOrLatest() *v1.ReplicaSet {
	all := p.all()
	if len(all) == 0 {
		return nil
	}
	active := activeSets(all)
	switch len(active) {
	case 0:
		if p.newRS != nil {
			return p.newRS
		}
		return slices.MaxFunc(p.olds, byCreation)
	case 1:
		return active[0]
	}
	return nil
}

// saturated is Kubernetes' IsSaturated of the new set.
func (p *deploymentPlanner) saturated() bool {
	rs := p.newRS
	if rs == nil {
		return false
	}
	want := deploymentReplicas(p.d)
	desired, ok := intAnnotation(rs, v1.DesiredReplicasAnnotation)
	return ok && rsReplicas(rs) == want && desired == want && rs.Status.AvailableReplicas == want
}

// rolling is Kubernetes' rolloutRolling: create the new set, scale it up
// within maxSurge, scale the old ones down within maxUnavailable, clean up
// once complete.
func (p *deploymentPlanner) rolling() error {
	if p.newRS == nil {
		return p.createNew()
	}
	d := p.d
	want := deploymentReplicas(d)
	if n := rsReplicas(p.newRS); n != want {
		target := want
		if n < want {
			target = NewRSNewReplicas(d, p.all(), p.newRS)
		}
		if p.scaleSet(p.newRS, target) {
			p.finishStatus(true)
			return nil
		}
	}
	if p.scaleDownOld() {
		p.finishStatus(true)
		return nil
	}
	if deploymentComplete(d, &d.Status) {
		p.cleanup()
	}
	p.finishStatus(true)
	return nil
}

// scaleDownOld is Kubernetes' reconcileOldReplicaSets: what may go is
// every pod beyond the minimum available and the new set's unavailable
// ones; unhealthy old pods go first, then available ones oldest set first.
func (p *deploymentPlanner) scaleDownOld() bool {
	d := p.d
	olds := activeSets(p.olds)
	if specReplicaSum(olds) == 0 {
		return false
	}
	minAvailable := deploymentReplicas(d) - MaxUnavailable(d)
	newUnavailable := rsReplicas(p.newRS) - p.newRS.Status.AvailableReplicas
	maxScaledDown := specReplicaSum(p.all()) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false
	}
	slices.SortFunc(olds, byCreation)
	var cleaned int32
	for _, rs := range olds {
		if cleaned >= maxScaledDown {
			break
		}
		n := rsReplicas(rs)
		if n == 0 || n == availableOf(rs) {
			continue
		}
		down := min(maxScaledDown-cleaned, n-availableOf(rs))
		if down <= 0 {
			continue
		}
		p.scaleSet(rs, n-down)
		cleaned += down
	}
	// Kubernetes' scaleDownOldReplicaSetsForRollingUpdate, on the sets as
	// just planned.
	var available int32
	for _, rs := range p.all() {
		available += availableOf(rs)
	}
	var scaled int32
	if available > minAvailable {
		total := available - minAvailable
		olds = activeSets(p.olds)
		slices.SortFunc(olds, byCreation)
		for _, rs := range olds {
			if scaled >= total {
				break
			}
			down := min(rsReplicas(rs), total-scaled)
			p.scaleSet(rs, rsReplicas(rs)-down)
			scaled += down
		}
	}
	return cleaned+scaled > 0
}

// availableOf is a set's available pods as far as they count toward the
// minimum: status.availableReplicas, but no more than spec.replicas. Just
// after a set is scaled down its status still counts the pods it is
// deleting; Kubernetes' controller would count them and could scale down
// once more before the status catches up, going below the minimum.
func availableOf(rs *v1.ReplicaSet) int32 {
	return min(rs.Status.AvailableReplicas, rsReplicas(rs))
}

// recreate is Kubernetes' rolloutRecreate: scale every old set to 0, wait
// until no old pod runs, then create or scale up the new set.
func (p *deploymentPlanner) recreate(pods []*v1.Pod) error {
	scaled := false
	for _, rs := range activeSets(p.olds) {
		if p.scaleSet(rs, 0) {
			scaled = true
		}
	}
	if scaled {
		p.finishStatus(true)
		return nil
	}
	if p.oldPodsRunning(pods) {
		p.finishStatus(true)
		return nil
	}
	if p.newRS == nil {
		return p.createNew()
	}
	if rsReplicas(p.newRS) != deploymentReplicas(p.d) && p.scaleSet(p.newRS, deploymentReplicas(p.d)) {
		p.finishStatus(true)
		return nil
	}
	if deploymentComplete(p.d, &p.d.Status) {
		p.cleanup()
	}
	p.finishStatus(true)
	return nil
}

// oldPodsRunning is Kubernetes' oldPodsRunning: an old set still counts
// pods, or a pod it controls has not finished.
func (p *deploymentPlanner) oldPodsRunning(pods []*v1.Pod) bool {
	if statusSum(p.olds, statusReplicas) > 0 {
		return true
	}
	old := map[string]bool{}
	for _, rs := range p.olds {
		old[rs.UID] = true
	}
	for _, pod := range pods {
		ref := pod.ControllerRef()
		if ref == nil || !old[ref.UID] {
			continue
		}
		if pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed {
			return true
		}
	}
	return false
}

// createNew is the create half of Kubernetes' getNewReplicaSet: the set
// named <deployment>-<hash> with the hash in its selector, template and
// labels, sized by NewRSNewReplicas, annotated with the next revision.
func (p *deploymentPlanner) createNew() error {
	d := p.d
	hash, err := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	if err != nil {
		return err
	}
	t := *v1.DeepCopy(&v1.ReplicaSet{Spec: v1.ReplicaSetSpec{Template: d.Spec.Template}}).PodTemplate()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[v1.DefaultDeploymentUniqueLabelKey] = hash
	zero := int32(0)
	rs := &v1.ReplicaSet{
		ObjectMeta: v1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace,
			OwnerReferences: []v1.OwnerReference{newDeploymentControllerRef(d)}, Labels: maps.Clone(t.Labels)},
		Spec: v1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds,
			Selector: selectorWithHash(d.Spec.Selector, hash), Template: t},
	}
	n := NewRSNewReplicas(d, append(slices.Clone(p.olds), rs), rs)
	rs.Spec.Replicas = &n
	rev := maxRevision(p.olds) + 1
	setNewReplicaSetAnnotations(d, rs, rev, false)
	p.step.Create = rs
	if n > 0 {
		p.event(rs.Name, fmt.Sprintf("Scaled up replica set %s from 0 to %d", rs.Name, n))
	}
	if hasProgressDeadline(d) {
		setDeploymentCondition(&p.status, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionTrue, ReasonNewReplicaSetCreated,
			fmt.Sprintf("Created new replica set %q", rs.Name), p.now))
	}
	st := p.status
	p.step.Status = &st
	return nil
}

// cleanup is Kubernetes' cleanupDeployment: the oldest sets beyond
// revisionHistoryLimit that have no replicas, asked or counted, and whose
// status is current, are deleted.
func (p *deploymentPlanner) cleanup() {
	d := p.d
	if d.Spec.RevisionHistoryLimit == nil {
		return
	}
	var alive []*v1.ReplicaSet
	for _, rs := range p.olds {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return
	}
	slices.SortFunc(alive, byRevision)
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		p.step.Delete = append(p.step.Delete, rs)
	}
}

// finishStatus computes the status from the sets as planned (Kubernetes'
// calculateStatus), with the rollout's Progressing condition when
// progress is true (syncRolloutStatus), and sets it in the step when it
// changed.
func (p *deploymentPlanner) finishStatus(progress bool) {
	d := p.d
	all := p.all()
	available := statusSum(all, statusAvailable)
	unavailable := max(specReplicaSum(all)-available, 0)
	st := v1.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            statusSum(all, statusReplicas),
		ReadyReplicas:       statusSum(all, statusReady),
		AvailableReplicas:   available,
		UnavailableReplicas: unavailable,
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          slices.Clone(p.status.Conditions),
	}
	if p.newRS != nil {
		st.UpdatedReplicas = p.newRS.Status.Replicas
	}
	if available >= deploymentReplicas(d)-MaxUnavailable(d) {
		setDeploymentCondition(&st, newDeploymentCondition(v1.DeploymentAvailable, v1.ConditionTrue, ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", p.now))
	} else {
		setDeploymentCondition(&st, newDeploymentCondition(v1.DeploymentAvailable, v1.ConditionFalse, ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", p.now))
	}
	if progress {
		p.rolloutProgress(&st)
	}
	if at, ok := progressDeadline(d, &st); ok {
		p.step.Wake = at.Add(time.Second)
	}
	if !v1.JSONEqual(st, d.Status) {
		p.step.Status = &st
	}
}

// rolloutProgress is the Progressing half of Kubernetes' syncRolloutStatus.
func (p *deploymentPlanner) rolloutProgress(st *v1.DeploymentStatus) {
	d := p.d
	if !hasProgressDeadline(d) {
		removeDeploymentCondition(st, v1.DeploymentProgressing)
	}
	cur := getDeploymentCondition(&d.Status, v1.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewReplicaSetAvailable
	if hasProgressDeadline(d) && !complete {
		name := func(kind string) string {
			if p.newRS != nil {
				return fmt.Sprintf("ReplicaSet %q %s", p.newRS.Name, kind)
			}
			return fmt.Sprintf("Deployment %q %s", d.Name, kind)
		}
		switch {
		case deploymentComplete(d, st):
			setDeploymentCondition(st, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionTrue, ReasonNewReplicaSetAvailable,
				name("has successfully progressed."), p.now))
		case deploymentProgressing(d, st):
			c := newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionTrue, ReasonReplicaSetUpdated, name("is progressing."), p.now)
			if cur != nil {
				if cur.Status == v1.ConditionTrue {
					c.LastTransitionTime = cur.LastTransitionTime
				}
				removeDeploymentCondition(st, v1.DeploymentProgressing)
			}
			setDeploymentCondition(st, c)
		case deploymentTimedOut(d, st, p.now):
			setDeploymentCondition(st, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionFalse, ReasonProgressDeadlineExceeded,
				name("has timed out progressing."), p.now))
		}
	}
	if f := p.replicaFailure(); f != nil {
		setDeploymentCondition(st, *f)
	} else {
		removeDeploymentCondition(st, v1.DeploymentReplicaFailure)
	}
}

// replicaFailure is Kubernetes' getReplicaFailures: the new set's
// ReplicaFailure condition, else an old set's.
func (p *deploymentPlanner) replicaFailure() *v1.DeploymentCondition {
	sets := p.olds
	if p.newRS != nil {
		sets = append([]*v1.ReplicaSet{p.newRS}, p.olds...)
	}
	for _, rs := range sets {
		for _, c := range rs.Status.Conditions {
			if c.Type == v1.DeploymentReplicaFailure {
				return &v1.DeploymentCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
					LastUpdateTime: c.LastTransitionTime, LastTransitionTime: c.LastTransitionTime}
			}
		}
	}
	return nil
}
