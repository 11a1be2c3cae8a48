package sched

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// DefaultDisruptionResync is how often the disruption controller looks at
// every budget without a change: a safety net only, since every change
// that matters dirties its budgets and an expiring disruptedPods entry
// wakes the loop (a full pass reads every budget's pods).
const DefaultDisruptionResync = 10 * time.Minute

// DisruptedPodTimeout is how long an evicted pod stays in a budget's
// disruptedPods (and out of its healthy count) while its deletion is not
// seen, as Kubernetes' DeletionTimeout.
const DisruptedPodTimeout = 2 * time.Minute

// DisruptionConfig configures the disruption controller.
type DisruptionConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the status updates.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Now is the clock of conditions and disruptedPods expiry (default time.Now).
	Now func() time.Time
	// Pods is the leader's shared pod informer (nil: the controller's own).
	Pods *Informer
}

// DisruptionController keeps the status of every PodDisruptionBudget, while
// this master leads, as Kubernetes' disruption controller: how many of the
// pods it selects are healthy (Ready), how many must be, and so how many
// evictions it allows now.
type DisruptionController struct {
	cfg  DisruptionConfig
	pods *Informer
	// recheck is when the next disruptedPods entry expires (zero: none);
	// only Run's goroutine touches it.
	recheck time.Time
}

// NewDisruptionController returns the controller; Run starts it.
func NewDisruptionController(cfg DisruptionConfig) *DisruptionController {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "disruption")
	return &DisruptionController{cfg: cfg, pods: informerOr(cfg.Pods, "pods")}
}

// Run updates budgets until ctx ends: every budget at start, when an
// eviction's grace to be seen ends, and every DefaultDisruptionResync; the
// budgets a change concerns when a budget, pod or replication controller
// changes.
func (c *DisruptionController) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) {
		if c.recheck.IsZero() {
			return 0, false
		}
		return c.recheck.Sub(c.cfg.Now()) + time.Second, true
	}
	runOnChangesWake(ctx, c.cfg.Store, disruptionFollows(), DefaultDisruptionResync, wake, c.cfg.Logger, c.pass)
}

// pass runs one pass of the loop. Cost per event: a pod's event reads the
// budgets of its namespace (O(budgets in the namespace)) and recomputes
// those whose selector matched the pod before or after; a budget's event
// recomputes it; a scaled controller's event recomputes the budgets of its
// namespace. Recomputing a budget reads the pods its selector picks through
// the pod informer and their controllers (O(pods of the budget)). A full
// pass (also once a disruptedPods entry expires) reads every budget's pods.
func (c *DisruptionController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if ch.full || (!c.recheck.IsZero() && !c.cfg.Now().Before(c.recheck)) {
		return c.Pass(ctx, s)
	}
	pdbs, err := c.dirtyBudgets(s, ch.events)
	if err != nil || len(pdbs) == 0 {
		return err
	}
	if err := c.pods.Sync(s); err != nil {
		return err
	}
	return c.sync(ctx, s, pdbs, false)
}

// dirtyBudgets returns the budgets evs concern, in key order.
func (c *DisruptionController) dirtyBudgets(s *fsm.Store, evs []fsm.Event) ([]*v1.PodDisruptionBudget, error) {
	byNS := map[string][]*v1.PodDisruptionBudget{}
	inNS := func(ns string) ([]*v1.PodDisruptionBudget, error) {
		if l, ok := byNS[ns]; ok {
			return l, nil
		}
		res, err := s.List("poddisruptionbudgets", fsm.ListOptions{Namespace: ns})
		if err != nil {
			return nil, err
		}
		l := make([]*v1.PodDisruptionBudget, 0, len(res.Items))
		for _, r := range res.Items {
			l = append(l, r.Object().(*v1.PodDisruptionBudget))
		}
		byNS[ns] = l
		return l, nil
	}
	dirty := map[string]bool{}
	for _, e := range evs {
		if !concernsDisruption(e) {
			continue
		}
		ns, _, _ := strings.Cut(e.Record.Key(), "/") // all of concernsDisruption's kinds are namespaced
		l, err := inNS(ns)
		if err != nil {
			return nil, err
		}
		if len(l) == 0 {
			continue
		}
		m := &e.Record.Summary().Meta
		for _, pdb := range l {
			switch e.Resource {
			case "poddisruptionbudgets":
				if pdb.Name != m.Name {
					continue
				}
			case "pods":
				sel, err := v1.PDBSelector(pdb)
				if err == nil && !sel.Matches(labels.Set(m.Labels)) &&
					(e.Prev == nil || !sel.Matches(labels.Set(e.Prev.Summary().Meta.Labels))) {
					continue
				}
				// A selector that does not parse fails the budget safe.
			}
			dirty[v1.Key(pdb.Namespace, pdb.Name)] = true
		}
	}
	var out []*v1.PodDisruptionBudget
	namespaces := slices.Sorted(maps.Keys(byNS))
	for _, ns := range namespaces {
		for _, pdb := range byNS[ns] {
			if dirty[v1.Key(pdb.Namespace, pdb.Name)] {
				out = append(out, pdb)
			}
		}
	}
	return out, nil
}

// disruptionFollows are the resources of concernsDisruption's changes:
// budgets, pods and the resources with a scale subresource.
func disruptionFollows() follows {
	f := follows{"poddisruptionbudgets", "pods"}
	for _, r := range v1.Resources() {
		if r.HasScale() {
			f = append(f, r.Name)
		}
	}
	return f
}

// concernsDisruption: a budget, a pod or a pod controller with a scale
// (replication controller, replica set) changed.
func concernsDisruption(e fsm.Event) bool {
	if e.Resource == "poddisruptionbudgets" || e.Resource == "pods" {
		return true
	}
	r, ok := v1.ResourceByName(e.Resource)
	return ok && r.HasScale()
}

// Pass computes the status of every budget of store and writes, in one
// batch, those that changed. Each write is conditional on the budget's
// resourceVersion, so an eviction made meanwhile is never overwritten: the
// next pass sees it.
func (c *DisruptionController) Pass(ctx context.Context, store *fsm.Store) error {
	res, err := store.List("poddisruptionbudgets", fsm.ListOptions{})
	if err != nil {
		return err
	}
	if err := c.pods.Sync(store); err != nil {
		return err
	}
	pdbs := make([]*v1.PodDisruptionBudget, 0, len(res.Items))
	for _, r := range res.Items {
		pdbs = append(pdbs, r.Object().(*v1.PodDisruptionBudget))
	}
	return c.sync(ctx, store, pdbs, true)
}

// sync computes the status of pdbs and writes, in one batch, those that
// changed. all says pdbs are every budget: the next recheck is then
// computed afresh, else only brought forward.
func (c *DisruptionController) sync(ctx context.Context, store *fsm.Store, pdbs []*v1.PodDisruptionBudget, all bool) error {
	now := c.cfg.Now()
	if all {
		c.recheck = time.Time{}
	}
	var writes passWrites
	for _, pdb := range pdbs {
		st, recheck, err := c.status(store, pdb, now)
		if err != nil {
			c.cfg.Logger.Warn("cannot compute the disruption budget", "namespace", pdb.Namespace, "name", pdb.Name, "err", err)
			st = FailSafeStatus(pdb, err, now)
		}
		if recheck != nil && (c.recheck.IsZero() || recheck.Before(c.recheck)) {
			c.recheck = *recheck
		}
		if v1.JSONEqual(st, pdb.Status) {
			continue
		}
		next := v1.DeepCopy(pdb)
		next.Status = st
		cmd, err := fsm.NewUpdate(next, true)
		if err != nil {
			return err
		}
		writes.add(cmd, v1.Key(pdb.Namespace, pdb.Name))
	}
	// A conflict is an eviction or edit made meanwhile: the feed brings it
	// to the next pass.
	return writes.propose(ctx, c.cfg.Proposer, c.cfg.Logger, "disruption budget status")
}

// status reads the pods and controllers of pdb from store and computes
// its status.
func (c *DisruptionController) status(store *fsm.Store, pdb *v1.PodDisruptionBudget, now time.Time) (v1.PodDisruptionBudgetStatus, *time.Time, error) {
	sel, err := v1.PDBSelector(pdb)
	if err != nil {
		return v1.PodDisruptionBudgetStatus{}, nil, err
	}
	res, err := c.pods.Select(store, pdb.Namespace, sel)
	if err != nil {
		return v1.PodDisruptionBudgetStatus{}, nil, err
	}
	pods := make([]*v1.Pod, 0, len(res))
	for _, r := range res {
		pods = append(pods, r.Object().(*v1.Pod))
	}
	rc := func(namespace string, ref *v1.OwnerReference) (v1.Scalable, error) {
		res, ok := v1.ResourceByKind(ref.Kind)
		if !ok || res.GroupVersion() != ref.APIVersion || !res.HasScale() {
			return nil, nil
		}
		r, err := store.Get(res.Name, namespace, ref.Name)
		if err != nil {
			if v1.IsNotFound(err) {
				return nil, nil
			}
			return nil, err
		}
		return r.Object().(v1.Scalable), nil
	}
	return PDBStatus(pdb, pods, rc, now)
}

// RCLookup returns the controller a pod's controllerRef names in a
// namespace, if it has a scale (a replication controller, a replica set);
// nil if there is none.
type RCLookup func(namespace string, ref *v1.OwnerReference) (v1.Scalable, error)

// PDBStatus computes a budget's status from the pods its selector matches,
// as Kubernetes' disruption controller (trySync): expectedPods is the
// number of matched pods for an integer minAvailable, else the replicas of
// the matched pods' controllers; healthy pods are Ready pods neither being
// deleted nor recently evicted; disruptionsAllowed is currentHealthy less
// desiredHealthy, at least 0. recheck, when set, is when an entry of
// disruptedPods expires and the status must be computed again.
func PDBStatus(pdb *v1.PodDisruptionBudget, pods []*v1.Pod, rcs RCLookup, now time.Time) (st v1.PodDisruptionBudgetStatus, recheck *time.Time, err error) {
	expected, desired, err := expectedPodCount(pdb, pods, rcs)
	if err != nil {
		return st, nil, err
	}
	disrupted, recheck := disruptedPodMap(pods, pdb, now)
	healthy := countHealthyPods(pods, disrupted, now)
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		allowed = 0
	}
	st = v1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		Conditions:         pdb.Status.Conditions,
	}
	if len(st.DisruptedPods) == 0 {
		st.DisruptedPods = nil
	}
	UpdateDisruptionAllowedCondition(&st, now)
	return st, recheck, nil
}

// FailSafeStatus is the status of a budget whose pods cannot be counted:
// no disruption allowed, and why, as Kubernetes' failSafe.
func FailSafeStatus(pdb *v1.PodDisruptionBudget, cause error, now time.Time) v1.PodDisruptionBudgetStatus {
	st := pdb.Status
	st.DisruptionsAllowed = 0
	st.ObservedGeneration = pdb.Generation
	st.Conditions = setCondition(st.Conditions, v1.Condition{Type: v1.DisruptionAllowedCondition,
		Status: v1.ConditionFalse, Reason: v1.SyncFailedReason, Message: cause.Error(), ObservedGeneration: pdb.Generation}, now)
	return st
}

// UpdateDisruptionAllowedCondition sets the DisruptionAllowed condition
// from disruptionsAllowed, as Kubernetes' pdb helper of the same name.
func UpdateDisruptionAllowedCondition(st *v1.PodDisruptionBudgetStatus, now time.Time) {
	c := v1.Condition{Type: v1.DisruptionAllowedCondition, Status: v1.ConditionFalse,
		Reason: v1.InsufficientPodsReason, ObservedGeneration: st.ObservedGeneration}
	if st.DisruptionsAllowed > 0 {
		c.Status, c.Reason = v1.ConditionTrue, v1.SufficientPodsReason
	}
	st.Conditions = setCondition(st.Conditions, c, now)
}

// setCondition returns conds with c in place of the condition of its type,
// as apimachinery's meta.SetStatusCondition: the lastTransitionTime is now
// when the status changes, else kept. conds is not modified.
func setCondition(conds []v1.Condition, c v1.Condition, now time.Time) []v1.Condition {
	out := make([]v1.Condition, 0, len(conds)+1)
	found := false
	for _, x := range conds {
		if x.Type != c.Type {
			out = append(out, x)
			continue
		}
		found = true
		c.LastTransitionTime = x.LastTransitionTime
		if x.Status != c.Status {
			c.LastTransitionTime = v1.NewTime(now)
		}
		out = append(out, c)
	}
	if !found {
		c.LastTransitionTime = v1.NewTime(now)
		out = append(out, c)
	}
	return out
}

// expectedPodCount is Kubernetes' getExpectedPodCount.
func expectedPodCount(pdb *v1.PodDisruptionBudget, pods []*v1.Pod, rcs RCLookup) (expected, desired int32, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		if expected, err = expectedScale(pods, rcs); err != nil {
			return 0, 0, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
		}
		desired = max(expected-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		if expected, err = expectedScale(pods, rcs); err != nil {
			return 0, 0, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, fmt.Errorf("minAvailable: %w", err)
		}
		desired = int32(minAvailable)
	}
	return expected, desired, nil
}

// expectedScale is Kubernetes' getExpectedScale: the sum of the replicas
// of the controllers of the pods, each counted once. Pods without a
// controller are not counted; a pod whose controller cannot be found is an
// error.
func expectedScale(pods []*v1.Pod, rcs RCLookup) (int32, error) {
	scale := map[string]int32{}
	for _, p := range pods {
		ref := p.ControllerRef()
		if ref == nil {
			continue
		}
		if _, ok := scale[ref.UID]; ok {
			continue
		}
		rc, err := rcs(p.Namespace, ref)
		if err != nil {
			return 0, err
		}
		if rc == nil || rc.GetObjectMeta().UID != ref.UID {
			return 0, fmt.Errorf("found no controllers for pod %q", p.Name)
		}
		n := int32(1)
		if r := rc.SpecReplicas(); r != nil {
			n = *r
		}
		scale[ref.UID] = n
	}
	var sum int32
	for _, n := range scale {
		sum += n
	}
	return sum, nil
}

// disruptedPodMap is Kubernetes' buildDisruptedPodMap: the entries of
// disruptedPods whose pod is still there, not yet being deleted, and
// evicted less than DisruptedPodTimeout ago.
func disruptedPodMap(pods []*v1.Pod, pdb *v1.PodDisruptionBudget, now time.Time) (map[string]v1.Time, *time.Time) {
	out := map[string]v1.Time{}
	var recheck *time.Time
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		at, ok := pdb.Status.DisruptedPods[p.Name]
		if !ok {
			continue
		}
		expires := at.Add(DisruptedPodTimeout)
		if expires.Before(now) {
			continue
		}
		if recheck == nil || expires.Before(*recheck) {
			recheck = &expires
		}
		out[p.Name] = at
	}
	return out, recheck
}

// countHealthyPods is Kubernetes' countHealthyPods.
func countHealthyPods(pods []*v1.Pod, disrupted map[string]v1.Time, now time.Time) int32 {
	var n int32
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[p.Name]; ok && at.Add(DisruptedPodTimeout).After(now) {
			continue
		}
		if p.IsReady() {
			n++
		}
	}
	return n
}
