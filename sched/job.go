package sched

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// This file is the pure decision core of the job controller: PlanJob turns
// one Job, the pods of its namespace and the leader's clock into a plan.
// The rules follow Kubernetes' pkg/controller/job:
//
//   - Pods: the Job's are those whose controllerRef has its uid; an active
//     orphan that matches the selector is adopted. Active pods are neither
//     finished nor terminating.
//   - Counting: succeeded and failed are the larger of the status's counts
//     and the Job's finished pods, so a finished pod deleted by hand is not
//     forgotten (orch does not hold pods back with finalizers; a pod that
//     finishes and is deleted between two passes is not counted, and the
//     controller makes up for it). An Indexed Job's completedIndexes keep
//     every index seen succeeded.
//   - Creates: up to parallelism active pods, never more than the
//     completions still missing; after failures, creates wait 10 s doubled
//     per failure since the last success, at most 6 min, from the last
//     failure (Kubernetes' DefaultJobPodFailureBackOff and
//     MaxJobPodFailureBackOff); the clock is the leader's.
//   - Failure: more failed pods than backoffLimit (with restartPolicy
//     OnFailure, also as many container restarts of active pods),
//     activeDeadlineSeconds passed, or a podFailurePolicy FailJob rule
//     matched: FailureTarget is set and the active pods deleted; Failed
//     follows once none is left.
//   - Success: as many successes as completions (an Indexed Job: every
//     index), or with completions unset one success and no active pod:
//     SuccessCriteriaMet, the remaining pods deleted, then Complete.
//   - Suspend deletes the active pods and creates none; resuming resets
//     startTime, as the activeDeadlineSeconds timer counts active time.
//   - A finished Job with ttlSecondsAfterFinished is deleted, with its
//     pods, that long after its Complete or Failed condition.

// Job back-off between pod creates after failures (Kubernetes'
// DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff).
const (
	JobBackoffBase = 10 * time.Second
	JobBackoffMax  = 6 * time.Minute
)

// Reasons and messages of Job conditions, as Kubernetes'.
const (
	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"
	JobReasonPodFailurePolicy     = "PodFailurePolicy"
	JobReasonCompletionsReached   = "CompletionsReached"
	jobMsgBackoffLimit            = "Job has reached the specified backoff limit"
	jobMsgDeadline                = "Job was active longer than specified deadline"
	jobMsgCompletionsReached      = "Reached expected number of succeeded pods"
)

// JobPlan is what one sync of a Job should do.
type JobPlan struct {
	// Skip says the controller leaves the Job alone (another manager's).
	Skip bool
	// Adopt lists orphans to take (add NewJobControllerRef).
	Adopt []*v1.Pod
	// Create lists the completion indexes of the pods to create; -1 for a
	// NonIndexed Job's pods.
	Create []int
	// Delete lists the pods to delete.
	Delete []*v1.Pod
	// DeleteJob says the Job's time to live has passed.
	DeleteJob bool
	// Status is the Job's new status.
	Status v1.JobStatus
	// Wake is when the Job wants another pass (a back-off, a deadline or a
	// time to live ends); zero for none.
	Wake time.Time
}

// jobPods are a Job's pods, by state.
type jobPods struct {
	active, terminating, succeeded, failed []*v1.Pod
}

// PlanJob decides one sync of j at now. pods are the pods of j's namespace
// (others are ignored); exp holds the creates and deletes still in flight
// (nil: none). Neither j nor pods are changed.
func PlanJob(j *v1.Job, pods []*v1.Pod, exp *Expectations, now time.Time) JobPlan {
	var plan JobPlan
	if j.Spec.ManagedBy != nil && *j.Spec.ManagedBy != v1.JobControllerName {
		plan.Skip = true
		return plan
	}
	st := jobStatusCopy(&j.Status)
	ps := classifyJobPods(j, pods, &plan)
	finished := v1.JobFinished(j)
	if finished {
		plan.Status = jobCounts(j, st, ps)
		jobTTL(j, now, &plan)
		return plan
	}
	st = jobCounts(j, st, ps)
	nowT := v1.NewTime(now)
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	if suspended {
		st.Conditions = setJobCondition(st.Conditions, v1.JobSuspended, v1.ConditionTrue, "JobSuspended", "Job suspended", nowT)
	} else {
		var resumed bool
		if c := jobCondition(st.Conditions, v1.JobSuspended); c != nil && c.Status == v1.ConditionTrue {
			st.Conditions = setJobCondition(st.Conditions, v1.JobSuspended, v1.ConditionFalse, "JobResumed", "Job resumed", nowT)
			resumed = true
		}
		if st.StartTime == nil || resumed {
			st.StartTime = &nowT
		}
	}
	satisfied := exp.Satisfied(ExpectationsKey(j.Namespace, j.Name, j.UID))

	// A terminal decision taken earlier (FailureTarget, SuccessCriteriaMet)
	// waits for the pods to go, then becomes Failed or Complete.
	target := jobCondition(st.Conditions, v1.JobFailureTarget)
	met := jobCondition(st.Conditions, v1.JobSuccessCriteriaMet)
	if target == nil && met == nil {
		if reason, msg := jobFailure(j, st, ps, now, &plan); reason != "" {
			st.Conditions = setJobCondition(st.Conditions, v1.JobFailureTarget, v1.ConditionTrue, reason, msg, nowT)
			target = jobCondition(st.Conditions, v1.JobFailureTarget)
		} else if jobSucceeded(j, st, ps) {
			st.Conditions = setJobCondition(st.Conditions, v1.JobSuccessCriteriaMet, v1.ConditionTrue,
				JobReasonCompletionsReached, jobMsgCompletionsReached, nowT)
			met = jobCondition(st.Conditions, v1.JobSuccessCriteriaMet)
		}
	}
	if target != nil || met != nil {
		if satisfied {
			plan.Delete = append(plan.Delete, ps.active...)
		}
		if len(ps.active) == 0 && len(ps.terminating) == 0 {
			if target != nil {
				st.Conditions = setJobCondition(st.Conditions, v1.JobFailed, v1.ConditionTrue, target.Reason, target.Message, nowT)
			} else {
				st.Conditions = setJobCondition(st.Conditions, v1.JobComplete, v1.ConditionTrue, met.Reason, met.Message, nowT)
				st.CompletionTime = &nowT
			}
		}
		plan.Status = st
		plan.countWrites()
		return plan
	}
	if suspended {
		if satisfied {
			plan.Delete = append(plan.Delete, ps.active...)
		}
		plan.Status = st
		plan.countWrites()
		return plan
	}
	if satisfied {
		jobManagePods(j, st, ps, now, &plan)
	}
	plan.Status = st
	plan.countWrites()
	return plan
}

// countWrites counts the plan's creates as active and its deletes (always
// of active pods) as no longer active, as Kubernetes' manageJob does.
func (p *JobPlan) countWrites() {
	p.Status.Active = max(p.Status.Active+int32(len(p.Create))-int32(len(p.Delete)), 0)
}

// jobSelector returns j's pod selector; a missing or invalid one selects
// nothing.
func jobSelector(j *v1.Job) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil || j.Spec.Selector == nil {
		return labels.Nothing()
	}
	return sel
}

// classifyJobPods sorts the Job's pods by state and plans the adoptions.
func classifyJobPods(j *v1.Job, pods []*v1.Pod, plan *JobPlan) jobPods {
	var ps jobPods
	sel := jobSelector(j)
	for _, p := range pods {
		if p == nil || p.Namespace != j.Namespace {
			continue
		}
		ref := p.ControllerRef()
		switch {
		case ref != nil && ref.UID == j.UID:
		case ref == nil && rcPodActive(p) && sel.Matches(labels.Set(p.Labels)) && !v1.JobFinished(j):
			plan.Adopt = append(plan.Adopt, p)
		default:
			continue
		}
		switch {
		case p.Status.Phase == v1.PodSucceeded:
			ps.succeeded = append(ps.succeeded, p)
		case p.Status.Phase == v1.PodFailed:
			ps.failed = append(ps.failed, p)
		case p.DeletionTimestamp != nil:
			ps.terminating = append(ps.terminating, p)
		default:
			ps.active = append(ps.active, p)
		}
	}
	slices.SortFunc(plan.Adopt, rcCompareByName)
	return ps
}

// jobCounts sets the counts of st from the Job's pods.
func jobCounts(j *v1.Job, st v1.JobStatus, ps jobPods) v1.JobStatus {
	st.Active = int32(len(ps.active))
	var ready int32
	for _, p := range ps.active {
		if p.IsReady() {
			ready++
		}
	}
	st.Ready = &ready
	term := int32(len(ps.terminating))
	st.Terminating = &term
	failed := int32(0)
	for _, p := range ps.failed {
		if action, _ := matchPodFailurePolicy(j, p); action != v1.PodFailurePolicyActionIgnore {
			failed++
		}
	}
	st.Failed = max(st.Failed, failed)
	if v1.JobIndexed(j) {
		done, _ := v1.ParseIndexes(st.CompletedIndexes)
		for _, p := range ps.succeeded {
			if i, ok := podIndex(p); ok {
				done = append(done, i)
			}
		}
		slices.Sort(done)
		done = slices.Compact(done)
		st.CompletedIndexes = v1.FormatIndexes(done)
		st.Succeeded = max(st.Succeeded, int32(len(done)))
	} else {
		st.Succeeded = max(st.Succeeded, int32(len(ps.succeeded)))
	}
	return st
}

// jobFailure returns the reason and message of the Job's failure, if it
// failed: a FailJob rule, the back-off limit, the deadline. It notes in
// plan when the deadline will pass.
func jobFailure(j *v1.Job, st v1.JobStatus, ps jobPods, now time.Time, plan *JobPlan) (reason, msg string) {
	for _, p := range ps.failed {
		if action, m := matchPodFailurePolicy(j, p); action == v1.PodFailurePolicyActionFailJob {
			return JobReasonPodFailurePolicy, m
		}
	}
	limit := int32(v1.DefaultJobBackoffLimit)
	if j.Spec.BackoffLimit != nil {
		limit = *j.Spec.BackoffLimit
	}
	if st.Failed > limit || pastBackoffLimitOnFailure(j, ps.active, limit) {
		return JobReasonBackoffLimitExceeded, jobMsgBackoffLimit
	}
	if d := j.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil {
		end := st.StartTime.Add(time.Duration(*d) * time.Second)
		if !now.Before(end) {
			return JobReasonDeadlineExceeded, jobMsgDeadline
		}
		plan.wakeAt(end)
	}
	return "", ""
}

// pastBackoffLimitOnFailure is Kubernetes': with restartPolicy OnFailure
// the restarts of the active pods' containers count as failures.
func pastBackoffLimitOnFailure(j *v1.Job, active []*v1.Pod, limit int32) bool {
	if j.Spec.Template.Spec.RestartPolicy != v1.RestartOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// jobSucceeded reports whether the Job has all the successes it needs.
func jobSucceeded(j *v1.Job, st v1.JobStatus, ps jobPods) bool {
	if j.Spec.Completions == nil {
		return st.Succeeded > 0 && len(ps.active) == 0
	}
	return st.Succeeded >= *j.Spec.Completions
}

// jobManagePods plans the creates and deletes that bring the active pods
// to what the Job wants.
func jobManagePods(j *v1.Job, st v1.JobStatus, ps jobPods, now time.Time, plan *JobPlan) {
	parallelism := int32(1)
	if j.Spec.Parallelism != nil {
		parallelism = *j.Spec.Parallelism
	}
	busy := slices.Clone(ps.active)
	if j.Spec.PodReplacementPolicy != nil && *j.Spec.PodReplacementPolicy == v1.Failed {
		busy = append(busy, ps.terminating...) // replaced only once finished
	}
	var want int32
	switch {
	case j.Spec.Completions == nil && st.Succeeded > 0:
		want = int32(len(busy)) // one success: leave the others running, start no more
	case j.Spec.Completions == nil:
		want = parallelism
	default:
		want = min(parallelism, *j.Spec.Completions-st.Succeeded)
	}
	want = max(want, 0)
	if v1.JobIndexed(j) {
		jobManageIndexed(j, st, ps, busy, want, now, plan)
		return
	}
	if n := int32(len(busy)); n > want {
		plan.Delete = append(plan.Delete, rcPodsToDelete(ps.active, min(int(n-want), len(ps.active)))...)
		return
	}
	if n := int(want) - len(busy); n > 0 && jobBackoffOver(ps, now, plan) {
		for range min(n, MaxReplicaBurst) {
			plan.Create = append(plan.Create, -1)
		}
	}
}

// jobManageIndexed plans an Indexed Job: one active pod per index not
// completed, the lowest indexes first; duplicates and indexes out of range
// are deleted.
func jobManageIndexed(j *v1.Job, st v1.JobStatus, ps jobPods, busy []*v1.Pod, want int32, now time.Time, plan *JobPlan) {
	completions := int(*j.Spec.Completions)
	done, _ := v1.ParseIndexes(st.CompletedIndexes)
	taken := map[int]bool{}
	for _, i := range done {
		taken[i] = true
	}
	running := 0
	for _, p := range busy {
		i, ok := podIndex(p)
		isActive := p.DeletionTimestamp == nil
		switch {
		case !ok || i >= completions || taken[i]:
			if isActive {
				plan.Delete = append(plan.Delete, p)
			}
		default:
			taken[i] = true
			running++
		}
	}
	if running >= int(want) || !jobBackoffOver(ps, now, plan) {
		return
	}
	for i := 0; i < completions && running < int(want) && len(plan.Create) < MaxReplicaBurst; i++ {
		if !taken[i] {
			plan.Create = append(plan.Create, i)
			running++
		}
	}
}

// jobBackoffOver reports whether the back-off after the Job's failures
// since its last success has passed at now; if not, it notes its end.
func jobBackoffOver(ps jobPods, now time.Time, plan *JobPlan) bool {
	var lastSuccess time.Time
	for _, p := range ps.succeeded {
		if t := podFinishTime(p); t.After(lastSuccess) {
			lastSuccess = t
		}
	}
	n := 0
	var lastFailure time.Time
	for _, p := range ps.failed {
		t := podFinishTime(p)
		if !t.After(lastSuccess) {
			continue
		}
		n++
		if t.After(lastFailure) {
			lastFailure = t
		}
	}
	if n == 0 {
		return true
	}
	d := JobBackoffMax
	if n <= 16 {
		d = min(JobBackoffBase<<(n-1), JobBackoffMax)
	}
	end := lastFailure.Add(d)
	if now.Before(end) {
		plan.wakeAt(end)
		return false
	}
	return true
}

// podFinishTime is when a finished pod finished: its last container's
// end, else its Ready condition's last change, else its creation.
func podFinishTime(p *v1.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() {
		if c := p.Status.Condition(v1.PodReady); c != nil {
			t = c.LastTransitionTime.Time
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

// jobTTL plans the deletion of a finished Job whose time to live passed.
func jobTTL(j *v1.Job, now time.Time, plan *JobPlan) {
	ttl := j.Spec.TTLSecondsAfterFinished
	if ttl == nil {
		return
	}
	var finished time.Time
	for _, c := range j.Status.Conditions {
		if (c.Type == v1.JobComplete || c.Type == v1.JobFailed) && c.Status == v1.ConditionTrue {
			finished = c.LastTransitionTime.Time
		}
	}
	end := finished.Add(time.Duration(*ttl) * time.Second)
	if now.Before(end) {
		plan.wakeAt(end)
		return
	}
	plan.DeleteJob = true
}

// wakeAt asks for a pass at t, keeping the earliest.
func (p *JobPlan) wakeAt(t time.Time) {
	if p.Wake.IsZero() || t.Before(p.Wake) {
		p.Wake = t
	}
}

// podIndex is an Indexed Job pod's completion index, from its annotation.
func podIndex(p *v1.Pod) (int, bool) {
	s, ok := p.Annotations[v1.JobCompletionIndexAnnotation]
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || strconv.Itoa(i) != s {
		return 0, false
	}
	return i, true
}

// jobStatusCopy copies a status so that the plan's changes do not reach
// the stored Job.
func jobStatusCopy(st *v1.JobStatus) v1.JobStatus {
	out := *st
	out.Conditions = slices.Clone(st.Conditions)
	return out
}

// jobCondition returns the condition of type typ, or nil.
func jobCondition(conds []v1.JobCondition, typ string) *v1.JobCondition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// setJobCondition sets a condition, keeping its transition time when the
// status does not change (Kubernetes' ensureJobConditionStatus). A
// condition that is not there is added only when True.
func setJobCondition(conds []v1.JobCondition, typ, status, reason, msg string, now v1.Time) []v1.JobCondition {
	if c := jobCondition(conds, typ); c != nil {
		if c.Status != status || c.Reason != reason || c.Message != msg {
			if c.Status != status {
				c.LastTransitionTime = now
			}
			c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, now
		}
		return conds
	}
	if status != v1.ConditionTrue {
		return conds
	}
	return append(conds, v1.JobCondition{Type: typ, Status: status, Reason: reason, Message: msg,
		LastProbeTime: now, LastTransitionTime: now})
}

// matchPodFailurePolicy returns the action of the first podFailurePolicy
// rule a failed pod matches, with Kubernetes' message for it ("" when no
// rule matches or the Job has no policy).
func matchPodFailurePolicy(j *v1.Job, p *v1.Pod) (v1.PodFailurePolicyAction, string) {
	pfp := j.Spec.PodFailurePolicy
	if pfp == nil || p.Status.Phase != v1.PodFailed {
		return "", ""
	}
	for i, r := range pfp.Rules {
		if ec := r.OnExitCodes; ec != nil {
			statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
			for _, cs := range statuses {
				term := cs.State.Terminated
				if term == nil || term.ExitCode == 0 || (ec.ContainerName != nil && *ec.ContainerName != cs.Name) {
					continue
				}
				in := slices.Contains(ec.Values, term.ExitCode)
				if in == (ec.Operator == v1.PodFailurePolicyOnExitCodesOpIn) {
					return r.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
						cs.Name, p.Namespace, p.Name, term.ExitCode, r.Action, i)
				}
			}
		}
		for _, pat := range r.OnPodConditions {
			if c := p.Status.Condition(pat.Type); c != nil && c.Status == cmp.Or(pat.Status, v1.ConditionTrue) {
				return r.Action, fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
					p.Namespace, p.Name, pat.Type, r.Action, i)
			}
		}
	}
	return "", ""
}

// NewJobControllerRef returns the owner reference that marks a pod as
// controlled by j.
func NewJobControllerRef(j *v1.Job) v1.OwnerReference {
	yes, block := true, true
	return v1.OwnerReference{APIVersion: v1.BatchGroup + "/" + v1.APIVersion, Kind: "Job", Name: j.Name, UID: j.UID,
		Controller: &yes, BlockOwnerDeletion: &block}
}

// PodFromJobTemplate returns a new pod of j, named by the server from
// generateName "<job>-" ("<job>-<index>-" for an Indexed Job's pod of
// index i). An indexed pod carries its index in the
// batch.kubernetes.io/job-completion-index annotation and label, has the
// host name "<job>-<index>" unless the template names one, and its
// containers get JOB_COMPLETION_INDEX. i < 0 is a NonIndexed Job's pod.
func PodFromJobTemplate(j *v1.Job, i int) *v1.Pod {
	src := &v1.Pod{}
	src.Labels = j.Spec.Template.Labels
	src.Annotations = j.Spec.Template.Annotations
	src.Spec = j.Spec.Template.Spec
	pod := v1.DeepCopy(src) // shares nothing with the stored Job
	v1.SetTypeMeta(pod)
	pod.Namespace = j.Namespace
	pod.GenerateName = j.Name + "-"
	pod.OwnerReferences = []v1.OwnerReference{NewJobControllerRef(j)}
	if i < 0 {
		return pod
	}
	idx := strconv.Itoa(i)
	pod.GenerateName = j.Name + "-" + idx + "-"
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[v1.JobCompletionIndexAnnotation] = idx
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[v1.JobCompletionIndexAnnotation] = idx
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = j.Name + "-" + idx
	}
	env := v1.EnvVar{Name: v1.JobCompletionIndexEnv, Value: idx}
	for k := range pod.Spec.InitContainers {
		pod.Spec.InitContainers[k].Env = append(pod.Spec.InitContainers[k].Env, env)
	}
	for k := range pod.Spec.Containers {
		pod.Spec.Containers[k].Env = append(pod.Spec.Containers[k].Env, env)
	}
	return pod
}
