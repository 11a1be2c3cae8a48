package sched

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// CronJobConfig configures the cronjob controller.
type CronJobConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the Jobs' creates and deletes and the statuses.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Resync is the longest pause between passes without a change (default
	// DefaultControllerResync): schedules are kept on wake.
	Resync time.Duration
	// Now is the leader's clock, which the schedules are read on
	// (default time.Now).
	Now func() time.Time
	// Recorder records the CronJobs' events (nil: none).
	Recorder *events.Recorder
}

// CronJobController creates every CronJob's Jobs on schedule while this
// master leads. Its decisions are PlanCronJob's.
type CronJobController struct {
	cfg CronJobConfig

	mu   sync.Mutex
	wake time.Time // the next schedule time of any CronJob
}

// NewCronJobController returns a controller; Run starts it.
func NewCronJobController(cfg CronJobConfig) *CronJobController {
	if cfg.Resync == 0 {
		cfg.Resync = DefaultControllerResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "cronjob")
	return &CronJobController{cfg: cfg}
}

// Run syncs every CronJob whenever a CronJob or Job changes, at least
// every Resync, and at the next schedule time of any.
func (c *CronJobController) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) {
		c.mu.Lock()
		w := c.wake
		c.mu.Unlock()
		return w.Sub(c.cfg.Now()), !w.IsZero()
	}
	runOnChangesWake(ctx, c.cfg.Store, follows{"cronjobs", "jobs"}, c.cfg.Resync, wake, c.cfg.Logger, c.pass)
}

// pass is one pass of Run: Pass, unless no event concerns a CronJob.
//
// Cost per event: a pod event (or any other not of a CronJob or Job) costs
// nothing; a CronJob or Job event costs O(CronJobs + Jobs), as a full pass.
func (c *CronJobController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if !ch.full && !slices.ContainsFunc(ch.events, concernsCronJobs) {
		return nil
	}
	return c.Pass(ctx, s)
}

// concernsCronJobs reports whether a change can change a CronJob's plan: a
// CronJob or a Job changed.
func concernsCronJobs(e fsm.Event) bool { return e.Resource == "cronjobs" || e.Resource == "jobs" }

// Pass plans every CronJob and commits each one's writes: the Job of its
// run due and the Jobs it deletes in one entry, then its status, which
// records the run only once its Job exists.
func (c *CronJobController) Pass(ctx context.Context, store *fsm.Store) error {
	cjs, err := store.List("cronjobs", fsm.ListOptions{})
	if err != nil {
		return err
	}
	var wake time.Time
	defer func() {
		c.mu.Lock()
		c.wake = wake
		c.mu.Unlock()
	}()
	if len(cjs.Items) == 0 {
		return nil
	}
	byNS, err := listByNamespace[*v1.Job](store, "jobs")
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	for _, r := range cjs.Items {
		cj := r.Object().(*v1.CronJob)
		plan, err := PlanCronJob(cj, byNS[cj.Namespace], now)
		if err != nil {
			c.cfg.Logger.Warn("cronjob not scheduled", "cronjob", cj.Namespace+"/"+cj.Name, "err", err)
			c.cfg.Recorder.Eventf(cj, v1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %v", cj.Spec.Schedule, err)
			continue
		}
		if !plan.Wake.IsZero() && (wake.IsZero() || plan.Wake.Before(wake)) {
			wake = plan.Wake
		}
		if plan.Missed != "" {
			c.cfg.Recorder.Eventf(cj, v1.EventTypeNormal, "JobAlreadyActive", "%s", plan.Missed)
		}
		if err := c.sync(ctx, cj, plan, now); err != nil {
			return fmt.Errorf("cronjob %s/%s: %w", cj.Namespace, cj.Name, err)
		}
	}
	return nil
}

// sync commits one CronJob's plan.
func (c *CronJobController) sync(ctx context.Context, cj *v1.CronJob, plan CronPlan, now time.Time) error {
	var items []fsm.BatchItem
	var created *v1.Job
	if plan.Create != nil {
		j := plan.Create
		j.UID = uuid.NewString()
		j.CreationTimestamp = v1.NewTime(now)
		v1.Default(j)
		if err := v1.Validate(j); err != nil {
			c.cfg.Recorder.Eventf(cj, v1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
			return nil
		}
		cmd, err := fsm.NewCreate(j)
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
		created = j
		plan.Status.Active = append(plan.Status.Active, jobRef(j))
	}
	for _, j := range plan.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "jobs", Namespace: j.Namespace, Name: j.Name,
			UID: j.UID, Propagation: v1.PropagationBackground, Now: v1.NewTime(now)})
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
	}
	results, err := c.apply(ctx, cj, items)
	if err != nil {
		return err
	}
	if created != nil {
		if err := results[0].Err; err != nil && !v1.IsAlreadyExists(err) {
			// The run stays due: the status does not record it.
			c.cfg.Recorder.Eventf(cj, v1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
			return nil
		}
		c.cfg.Recorder.Eventf(cj, v1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	// A failover between the two entries is harmless: the next leader
	// finds the run's Job by its name and records it.
	if v1.JSONEqual(plan.Status, cj.Status) {
		return nil
	}
	q := v1.DeepCopy(cj)
	q.Status = plan.Status
	cmd, err := fsm.NewUpdate(q, true)
	if err != nil {
		return err
	}
	_, err = c.apply(ctx, cj, []fsm.BatchItem{batchItem(cmd)})
	return err
}

// apply commits items in one entry (none: nothing) and logs refusals
// other than conflicts and not-found. The results match items.
func (c *CronJobController) apply(ctx context.Context, cj *v1.CronJob, items []fsm.BatchItem) (fsm.BatchResult, error) {
	if len(items) == 0 {
		return nil, nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return nil, err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	results, _ := res.(fsm.BatchResult)
	if len(results) != len(items) {
		return nil, fmt.Errorf("cronjob %s/%s: %d results for %d writes", cj.Namespace, cj.Name, len(results), len(items))
	}
	for i, r := range results {
		if r.Err != nil && !v1.IsConflict(r.Err) && !v1.IsNotFound(r.Err) && !v1.IsAlreadyExists(r.Err) {
			c.cfg.Logger.Warn("cronjob write refused", "cronjob", cj.Namespace+"/"+cj.Name, "item", i, "err", r.Err)
		}
	}
	return results, nil
}
