package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// subEviction is the eviction subresource of pods.
const subEviction = "eviction"

// evictionRetries bounds the compare-and-swap retries of an eviction, as
// Kubernetes' EvictionsRetry.
const evictionRetries = 20

// maxDisruptedPods bounds a budget's disruptedPods, as Kubernetes'
// MaxDisruptedPodSize.
const maxDisruptedPods = 2000

// The messages of Kubernetes' eviction subresource.
const (
	msgViolatesBudget = "Cannot evict pod as it would violate the pod's disruption budget."
	msgManyBudgets    = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
)

// serveEviction is POST .../pods/{name}/eviction: the pod is deleted only
// if its PodDisruptionBudget allows, as Kubernetes'
// pkg/registry/core/pod/storage/eviction.go. The budget's
// disruptionsAllowed is decremented, and the pod recorded in its
// disruptedPods, by a status update conditional on the budget's
// resourceVersion before the pod is deleted; a conflict re-reads and
// retries.
func (s *Server) serveEviction(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := s.readObjectBody(w, r, "Eviction", v1.PolicyGroup+"/v1")
	if err != nil {
		writeError(w, err)
		return
	}
	var ev v1.Eviction
	if err := decodeStrict(body, &ev); err != nil {
		writeError(w, err)
		return
	}
	if err := checkEviction(&ev, req); err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	var opts v1.DeleteOptions
	if ev.DeleteOptions != nil {
		opts = *ev.DeleteOptions
	}
	if len(opts.DryRun) > 0 {
		dry, err := checkDryRun("create", opts.DryRun)
		if err != nil {
			writeError(w, err)
			return
		}
		if dry {
			ctx = withDryRun(ctx)
		}
	}
	dr, err := evictionDelete(req, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.evict(ctx, req, dr); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, successStatus(http.StatusCreated))
}

// checkEviction checks an Eviction's type and name against the path.
func checkEviction(ev *v1.Eviction, req *request) error {
	switch ev.APIVersion {
	case "", v1.PolicyGroup + "/v1", v1.PolicyGroup + "/v1beta1":
	default:
		return v1.NewBadRequest(fmt.Sprintf("the eviction's apiVersion %q is not policy/v1 or policy/v1beta1", ev.APIVersion))
	}
	if ev.Kind != "" && ev.Kind != "Eviction" {
		return v1.NewBadRequest(fmt.Sprintf("the body's kind %q is not Eviction", ev.Kind))
	}
	if ev.Name != req.name {
		return v1.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if ev.Namespace != "" && ev.Namespace != req.namespace {
		return v1.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

// evictionDelete is the delete of the pod an eviction makes, from its
// deleteOptions, checked as a DELETE's.
func evictionDelete(req *request, opts v1.DeleteOptions) (fsm.DeleteRequest, error) {
	if g := opts.GracePeriodSeconds; g != nil && (*g < 0 || *g > maxSeconds) {
		return fsm.DeleteRequest{}, v1.NewBadRequest(fmt.Sprintf("gracePeriodSeconds %d must be a whole number of seconds from 0 to %d", *g, maxSeconds))
	}
	policy, err := deletePropagation(opts)
	if err != nil {
		return fsm.DeleteRequest{}, err
	}
	dr := fsm.DeleteRequest{Resource: "pods", Namespace: req.namespace, Name: req.name,
		GracePeriodSeconds: opts.GracePeriodSeconds, Propagation: policy}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil {
			dr.UID = *p.UID
		}
		if p.ResourceVersion != nil {
			if _, err := strconv.ParseUint(*p.ResourceVersion, 10, 64); err != nil {
				return fsm.DeleteRequest{}, v1.NewBadRequest(fmt.Sprintf("preconditions.resourceVersion: Invalid value: %q: must be a whole number", *p.ResourceVersion))
			}
			dr.ResourceVersion = *p.ResourceVersion
		}
	}
	return dr, nil
}

// evict runs the eviction: the pod and its budgets are read, the budget
// decremented, the pod deleted; a conflict on either starts again with
// fresh reads, unless the caller set a resourceVersion precondition.
func (s *Server) evict(ctx context.Context, req *request, dr fsm.DeleteRequest) error {
	callerRV := dr.ResourceVersion != ""
	var err error
	for range evictionRetries {
		err = s.evictOnce(ctx, req, dr)
		if !v1.IsConflict(err) || callerRV {
			return err
		}
	}
	return err
}

// evictConflict is a conflict on a budget's status: evict reads again.
func evictConflict(name string) error {
	return v1.NewConflict("poddisruptionbudgets", name, "the budget changed during the eviction")
}

func (s *Server) evictOnce(ctx context.Context, req *request, dr fsm.DeleteRequest) error {
	if _, err := s.backend.ReadBarrier(ctx); err != nil {
		return err
	}
	store := s.backend.Store()
	rec, err := store.Get("pods", req.namespace, req.name)
	if err != nil {
		return err
	}
	pod := rec.Object().(*v1.Pod)
	res, err := store.List("poddisruptionbudgets", fsm.ListOptions{Namespace: pod.Namespace})
	if err != nil {
		return err
	}
	pdbs := make([]*v1.PodDisruptionBudget, 0, len(res.Items))
	for _, r := range res.Items {
		pdbs = append(pdbs, r.Object().(*v1.PodDisruptionBudget))
	}
	now := time.Now()
	d := decideEviction(pod, pdbs, now, isDryRun(ctx))
	if d.err != nil {
		return d.err
	}
	if d.pdb != nil {
		cmd, err := fsm.NewUpdate(d.pdb, true)
		if err != nil {
			return err
		}
		if _, err := s.apply(ctx, cmd); err != nil {
			if v1.IsConflict(err) {
				return evictConflict(d.pdb.Name)
			}
			return err
		}
	}
	if d.enforceRV && dr.ResourceVersion == "" {
		dr.ResourceVersion = pod.ResourceVersion
	}
	dr.Now = v1.NewTime(now)
	cmd, err := fsm.Encode(fsm.DeleteCommand, dr)
	if err != nil {
		return err
	}
	if _, err := s.apply(ctx, cmd); err != nil {
		if v1.IsConflict(err) && d.enforceRV && d.budgetName != "" {
			// The pod changed (became Ready, say) after the budget was
			// read: the client tries again, as Kubernetes answers.
			return budgetBusy(d.budgetName)
		}
		return err
	}
	return nil
}

// evictionDecision is what an eviction does: fail with err, or update
// pdb's status (when set) and then delete the pod, with the pod's
// resourceVersion as precondition when enforceRV is set.
type evictionDecision struct {
	err        error
	pdb        *v1.PodDisruptionBudget
	enforceRV  bool
	budgetName string
}

// decideEviction is Kubernetes' EvictionREST.Create without the writes:
// a terminal, pending or terminating pod is deleted whatever its budget;
// more than one budget is an error; an unready pod is deleted while its
// budget is met (IfHealthyBudget) or always (AlwaysAllow); else the budget
// must allow a disruption, and is returned decremented with the pod in its
// disruptedPods (unless dryRun). It reads only its arguments.
func decideEviction(pod *v1.Pod, pdbs []*v1.PodDisruptionBudget, now time.Time, dryRun bool) evictionDecision {
	if canIgnorePDB(pod) {
		return evictionDecision{enforceRV: shouldEnforceResourceVersion(pod)}
	}
	matched := matchingPDBs(pod, pdbs)
	switch len(matched) {
	case 0:
		return evictionDecision{enforceRV: true}
	case 1:
	default:
		return evictionDecision{err: &v1.StatusError{Status: v1.Status{TypeMeta: v1.TypeMeta{Kind: "Status", APIVersion: v1.APIVersion},
			Status: "Failure", Message: msgManyBudgets, Reason: v1.ReasonInternalError, Code: http.StatusInternalServerError}}}
	}
	pdb := matched[0]
	if !pod.IsReady() {
		st := pdb.Status
		if st.CurrentHealthy >= st.DesiredHealthy && st.DesiredHealthy > 0 {
			return evictionDecision{enforceRV: true, budgetName: pdb.Name}
		}
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; p != nil && *p == v1.AlwaysAllow {
			return evictionDecision{enforceRV: true, budgetName: pdb.Name}
		}
	}
	next, err := checkAndDecrement(pod.Name, pdb, now, dryRun)
	if err != nil {
		return evictionDecision{err: err}
	}
	if dryRun {
		return evictionDecision{}
	}
	return evictionDecision{pdb: next}
}

// canIgnorePDB: a terminal, pending or terminating pod is no disruption.
func canIgnorePDB(pod *v1.Pod) bool {
	switch pod.Status.Phase {
	case v1.PodSucceeded, v1.PodFailed, v1.PodPending:
		return true
	}
	return pod.DeletionTimestamp != nil
}

// shouldEnforceResourceVersion: the pod's delete is conditional unless the
// pod is terminal or terminating.
func shouldEnforceResourceVersion(pod *v1.Pod) bool {
	switch pod.Status.Phase {
	case v1.PodSucceeded, v1.PodFailed:
		return false
	}
	return pod.DeletionTimestamp == nil
}

// matchingPDBs are the budgets whose selector matches the pod; as in
// Kubernetes' eviction, an empty or invalid selector matches nothing here.
func matchingPDBs(pod *v1.Pod, pdbs []*v1.PodDisruptionBudget) []*v1.PodDisruptionBudget {
	if len(pod.Labels) == 0 {
		return nil
	}
	var out []*v1.PodDisruptionBudget
	for _, pdb := range pdbs {
		if pdb.Namespace != pod.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, pdb)
	}
	return out
}

// checkAndDecrement is Kubernetes' checkAndDecrement: the budget must
// have been computed for its current spec and allow a disruption. It
// returns a copy with one disruption fewer and, unless dryRun, the pod in
// disruptedPods.
func checkAndDecrement(podName string, pdb *v1.PodDisruptionBudget, now time.Time, dryRun bool) (*v1.PodDisruptionBudget, error) {
	st := pdb.Status
	switch {
	case st.ObservedGeneration < pdb.Generation:
		return nil, budgetBusy(pdb.Name)
	case st.DisruptionsAllowed < 0:
		return nil, v1.NewForbidden(fmt.Sprintf("poddisruptionbudgets.policy %q is forbidden: pdb disruptions allowed is negative", pdb.Name))
	case len(st.DisruptedPods) > maxDisruptedPods:
		return nil, v1.NewForbidden(fmt.Sprintf("poddisruptionbudgets.policy %q is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller", pdb.Name))
	case st.DisruptionsAllowed == 0:
		return nil, budgetRefusal(0, fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently",
			pdb.Name, st.DesiredHealthy, st.CurrentHealthy))
	}
	next := v1.DeepCopy(pdb)
	next.Status.DisruptionsAllowed--
	if next.Status.DisruptionsAllowed == 0 {
		setDisruptionAllowedFalse(&next.Status, now)
	}
	if dryRun {
		return next, nil
	}
	dp := make(map[string]v1.Time, len(next.Status.DisruptedPods)+1)
	for k, v := range next.Status.DisruptedPods {
		dp[k] = v
	}
	dp[podName] = v1.NewTime(now)
	next.Status.DisruptedPods = dp
	return next, nil
}

// setDisruptionAllowedFalse sets the DisruptionAllowed condition to
// False/InsufficientPods, as the pdb helper does when the last allowed
// disruption is taken.
func setDisruptionAllowedFalse(st *v1.PodDisruptionBudgetStatus, now time.Time) {
	c := v1.Condition{Type: v1.DisruptionAllowedCondition, Status: v1.ConditionFalse,
		Reason: v1.InsufficientPodsReason, ObservedGeneration: st.ObservedGeneration, LastTransitionTime: v1.NewTime(now)}
	out := make([]v1.Condition, 0, len(st.Conditions)+1)
	found := false
	for _, x := range st.Conditions {
		if x.Type == c.Type {
			found = true
			if x.Status == c.Status {
				c.LastTransitionTime = x.LastTransitionTime
			}
			out = append(out, c)
			continue
		}
		out = append(out, x)
	}
	if !found {
		out = append(out, c)
	}
	st.Conditions = out
}

// budgetBusy is Kubernetes' createTooManyRequestsError: the budget is
// being computed; the client tries again in 10 seconds.
func budgetBusy(name string) error {
	return budgetRefusal(10, fmt.Sprintf("The disruption budget %s is still being processed by the server.", name))
}

// budgetRefusal is the 429 of a refused eviction with its
// DisruptionBudget cause.
func budgetRefusal(retryAfter int32, cause string) error {
	return &v1.StatusError{Status: v1.Status{TypeMeta: v1.TypeMeta{Kind: "Status", APIVersion: v1.APIVersion},
		Status: "Failure", Message: msgViolatesBudget, Reason: v1.ReasonTooManyRequests, Code: http.StatusTooManyRequests,
		Details: &v1.StatusDetails{RetryAfterSeconds: retryAfter,
			Causes: []v1.StatusCause{{Type: v1.DisruptionBudgetCause, Message: cause}}}}}
}
