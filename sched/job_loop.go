package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// JobConfig configures the job controller.
type JobConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the pod creates, deletes, adoptions, Job statuses
	// and the deletes of Jobs whose time to live passed.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default
	// DefaultControllerResync). Between them a pass syncs only the Jobs its
	// changes concern and those whose time came (a back-off's end, a
	// deadline, a time to live, expectations' timeout).
	Resync time.Duration
	// Pods is the leader's pod informer, shared with other controllers
	// (nil: the controller keeps its own).
	Pods *Informer
	// Now is the leader's clock (default time.Now).
	Now func() time.Time
	// AdmitPod, if set, is the API's validating admission of a new pod
	// (Pod Security), which the controller's pods would otherwise miss.
	AdmitPod AdmitFunc
	// Recorder records the Jobs' events (nil: none).
	Recorder *events.Recorder
}

// JobController runs every Job's pods while this master leads, as
// Kubernetes' job controller. Its decisions are PlanJob's.
type JobController struct {
	cfg     JobConfig
	exp     *Expectations
	backoff *createBackoff
	pods    *Informer
	// lastFull is when the last full pass ran.
	lastFull time.Time
	// due holds when each Job (by key) must be synced without a change.
	due dueSet[string]
}

// NewJobController returns a controller; Run starts it.
func NewJobController(cfg JobConfig) *JobController {
	if cfg.Resync == 0 {
		cfg.Resync = DefaultControllerResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "job")
	return &JobController{cfg: cfg, exp: NewExpectations(0, cfg.Now), backoff: newCreateBackoff(0, 0),
		pods: informerOr(cfg.Pods, "pods")}
}

// Run syncs the Jobs each change concerns, every Job at least every
// Resync, and a Job when its back-off, deadline or time to live ends.
func (c *JobController) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) { return c.due.wakeAfter(c.cfg.Now()) }
	runOnChangesWake(ctx, c.cfg.Store, follows{"jobs", "pods"}, c.cfg.Resync, wake, c.cfg.Logger, c.pass)
}

// jobWrite is one write of a pass and what it means for the expectations
// and the events.
type jobWrite struct {
	item   fsm.BatchItem
	job    *v1.Job
	key    string
	create bool
	delUID string
	pod    string
}

// Pass plans every Job (a full pass: the first one, a resync, or after the
// store was replaced) against the pods it controls and the orphans its
// selector matches, read through the pod informer (podsInKeyOrder), not
// every pod of the store: O(Jobs + their pods).
func (c *JobController) Pass(ctx context.Context, store *fsm.Store) error {
	l, err := store.List("jobs", fsm.ListOptions{})
	if err != nil {
		return err
	}
	jobs := make([]*v1.Job, 0, len(l.Items))
	keys := map[string]bool{}
	for _, r := range l.Items {
		j := r.Object().(*v1.Job)
		jobs = append(jobs, j)
		keys[ExpectationsKey(j.Namespace, j.Name, j.UID)] = true
	}
	c.backoff.retain(keys)
	if len(jobs) == 0 {
		c.due.reset()
		return nil
	}
	if err := c.pods.Sync(store); err != nil {
		return err
	}
	c.due.reset()
	return c.sync(ctx, jobs, func(j *v1.Job) ([]*v1.Pod, error) { return podsInKeyOrder(c.podsOf(store, j)) })
}

// sync plans each of jobs against the pods podsOf returns for it (at least
// those it controls and the orphans its selector matches) and commits the
// writes of all of them in one entry: adoptions, pod deletes and creates,
// Job deletes; then the statuses that changed in a second one. When each
// Job must be synced again without a change is recorded in due.
func (c *JobController) sync(ctx context.Context, jobs []*v1.Job, podsOf func(*v1.Job) ([]*v1.Pod, error)) error {
	now := c.cfg.Now()
	var writes []jobWrite
	var statuses []statusOf
	wakes := map[*v1.Job]time.Time{}
	defer func() {
		for j, w := range wakes {
			c.scheduleJob(j, w, now)
		}
	}()
	for _, j := range jobs {
		key := ExpectationsKey(j.Namespace, j.Name, j.UID)
		pods, err := podsOf(j)
		if err != nil {
			return fmt.Errorf("pods of job %s/%s: %w", j.Namespace, j.Name, err)
		}
		plan := PlanJob(j, pods, c.exp, now)
		if plan.Skip {
			wakes[j] = time.Time{}
			continue
		}
		wakes[j] = plan.Wake
		w, refused, err := c.writes(ctx, j, key, plan, now)
		if err != nil {
			return fmt.Errorf("plan job %s/%s: %w", j.Namespace, j.Name, err)
		}
		writes = append(writes, w...)
		if refused != nil {
			d := c.backoff.failure(key, now)
			c.cfg.Logger.Warn("pod creates refused: backing off", "job", key, "retryIn", d, "err", refused)
			c.cfg.Recorder.Eventf(j, v1.EventTypeWarning, "FailedCreate", "Error creating: %v", refused)
		}
		if !plan.DeleteJob && !v1.JSONEqual(plan.Status, j.Status) {
			statuses = append(statuses, statusOf{j, plan.Status})
		}
	}
	if len(writes) > 0 {
		if err := c.apply(ctx, writes, now); err != nil {
			return err
		}
	}
	return c.writeStatuses(ctx, statuses)
}

// statusOf is a Job and its new status.
type statusOf struct {
	job *v1.Job
	st  v1.JobStatus
}

// writes turns a plan into commands. It returns the first admission
// refusal of a pod create, if any (the Job's creates then back off).
func (c *JobController) writes(ctx context.Context, j *v1.Job, key string, plan JobPlan, now time.Time) (out []jobWrite, refused, err error) {
	if plan.DeleteJob {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "jobs", Namespace: j.Namespace, Name: j.Name,
			UID: j.UID, Propagation: v1.PropagationBackground, Now: v1.NewTime(now)})
		if err != nil {
			return nil, nil, err
		}
		c.exp.Forget(key)
		return []jobWrite{{item: batchItem(cmd), key: key}}, nil, nil
	}
	for _, p := range plan.Adopt {
		q := v1.DeepCopy(p)
		q.OwnerReferences = append(q.OwnerReferences, NewJobControllerRef(j))
		cmd, err := fsm.NewUpdate(q, false)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, jobWrite{item: batchItem(cmd), key: key})
	}
	var dels []string
	for _, p := range plan.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, Now: v1.NewTime(now)})
		if err != nil {
			return nil, nil, err
		}
		dels = append(dels, p.UID)
		out = append(out, jobWrite{item: batchItem(cmd), job: j, key: key, delUID: p.UID, pod: p.Name})
	}
	if len(dels) > 0 {
		c.exp.ExpectDeletions(key, dels)
	}
	if len(plan.Create) == 0 {
		c.backoff.forget(key)
		return out, nil, nil
	}
	if !c.backoff.ready(key, now) {
		return out, nil, nil
	}
	made := 0
	for _, i := range plan.Create {
		w, err := c.createWrite(ctx, j, key, i, now)
		var lr limitRefusal
		if errors.As(err, &lr) {
			refused = lr.err
			break
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, w)
		made++
	}
	if made > 0 {
		c.exp.ExpectCreations(key, made)
	}
	return out, refused, nil
}

// createWrite is the create of one new pod of j (index i, -1 for none),
// admitted as the API would admit it.
func (c *JobController) createWrite(ctx context.Context, j *v1.Job, key string, i int, now time.Time) (jobWrite, error) {
	p := PodFromJobTemplate(j, i)
	v1.ApplyLabelKeys(p) // as the API server does to a created pod
	p.Name = v1.GenerateName(p.GenerateName)
	if err := admitNewPod(ctx, c.cfg.Store(), c.cfg.AdmitPod, p, now); err != nil {
		return jobWrite{}, err
	}
	cmd, err := fsm.NewCreate(p)
	if err != nil {
		return jobWrite{}, err
	}
	return jobWrite{item: batchItem(cmd), job: j, key: key, create: true, pod: p.Name}, nil
}

// apply commits writes in one entry and settles their expectations (the
// leader's store holds the entry once Apply returns).
func (c *JobController) apply(ctx context.Context, writes []jobWrite, now time.Time) error {
	items := make([]fsm.BatchItem, len(writes))
	for i, w := range writes {
		items[i] = w.item
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return err // outcome unknown: the expectations hold these Jobs back
	}
	results, _ := res.(fsm.BatchResult)
	for i, w := range writes {
		var werr error
		if i < len(results) {
			werr = results[i].Err
		}
		switch {
		case w.create:
			c.exp.CreationObserved(w.key)
			if werr != nil {
				c.backoff.failure(w.key, now)
			}
		case w.delUID != "":
			c.exp.DeletionObserved(w.key, w.delUID)
		}
		if werr != nil && !v1.IsConflict(werr) && !v1.IsNotFound(werr) {
			c.cfg.Logger.Warn("job write refused", "job", w.key, "err", werr)
		}
		if w.job != nil {
			c.recordWrite(w, werr)
		}
	}
	return nil
}

// writeStatuses commits the changed statuses in one entry, each with the
// Job's resourceVersion as precondition (a conflict is planned again).
func (c *JobController) writeStatuses(ctx context.Context, sts []statusOf) error {
	if len(sts) == 0 {
		return nil
	}
	items := make([]fsm.BatchItem, 0, len(sts))
	for _, s := range sts {
		q := v1.DeepCopy(s.job)
		q.Status = s.st
		cmd, err := fsm.NewUpdate(q, true)
		if err != nil {
			return fmt.Errorf("status of job %s/%s: %w", s.job.Namespace, s.job.Name, err)
		}
		items = append(items, batchItem(cmd))
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	results, _ := res.(fsm.BatchResult)
	for i, s := range sts {
		if i < len(results) && results[i].Err != nil {
			if !v1.IsConflict(results[i].Err) && !v1.IsNotFound(results[i].Err) {
				c.cfg.Logger.Warn("job status refused", "job", s.job.Namespace+"/"+s.job.Name, "err", results[i].Err)
			}
			continue
		}
		c.recordFinish(s.job, s.st)
	}
	return nil
}

// recordWrite records a pod create or delete on its Job, with Kubernetes'
// reasons and messages.
func (c *JobController) recordWrite(w jobWrite, err error) {
	switch {
	case w.create && err == nil:
		c.cfg.Recorder.Eventf(w.job, v1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", w.pod)
	case w.create:
		c.cfg.Recorder.Eventf(w.job, v1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
	case err == nil:
		c.cfg.Recorder.Eventf(w.job, v1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", w.pod)
	case !v1.IsNotFound(err) && !v1.IsConflict(err):
		c.cfg.Recorder.Eventf(w.job, v1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
	}
}

// recordFinish records Completed or the failure's reason when a status
// write finished the Job, and Suspended and Resumed.
func (c *JobController) recordFinish(j *v1.Job, st v1.JobStatus) {
	was, is := &j.Status, &st
	switch {
	case !v1.JobHasCondition(was, v1.JobComplete) && v1.JobHasCondition(is, v1.JobComplete):
		c.cfg.Recorder.Eventf(j, v1.EventTypeNormal, "Completed", "Job completed")
	case !v1.JobHasCondition(was, v1.JobFailed) && v1.JobHasCondition(is, v1.JobFailed):
		cond := jobCondition(is.Conditions, v1.JobFailed)
		c.cfg.Recorder.Eventf(j, v1.EventTypeWarning, cond.Reason, "%s", cond.Message)
	case !v1.JobHasCondition(was, v1.JobSuspended) && v1.JobHasCondition(is, v1.JobSuspended):
		c.cfg.Recorder.Eventf(j, v1.EventTypeNormal, "Suspended", "Job suspended")
	case v1.JobHasCondition(was, v1.JobSuspended) && !v1.JobHasCondition(is, v1.JobSuspended):
		c.cfg.Recorder.Eventf(j, v1.EventTypeNormal, "Resumed", "Job resumed")
	}
}
