package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// ReplicationConfig configures the replication manager's loop.
type ReplicationConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the pod creates, deletes, adoptions and RC statuses.
	Proposer Proposer
	// Logger receives the loop's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default
	// DefaultControllerResync). Between them a pass syncs only the RCs its
	// changes concern and those whose time came (see scheduleRC).
	Resync time.Duration
	// Pods is the leader's pod informer, shared with other controllers
	// (nil: the manager keeps its own).
	Pods *Informer
	// ExpectationsTTL is how long writes with an unknown outcome hold an RC
	// back before it is planned again (default 15 s).
	ExpectationsTTL time.Duration
	// CreateBackoffBase and CreateBackoffMax shape the per-RC back-off after
	// refused creates: the first retry waits Base, each further refusal
	// doubles it, up to Max (defaults DefaultCreateBackoffBase and
	// DefaultCreateBackoffMax).
	CreateBackoffBase, CreateBackoffMax time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AdmitPod, if set, is the API's validating admission of a new pod
	// (Pod Security): the manager's pods go to the FSM directly and would
	// otherwise miss it. A refusal is a refused create.
	AdmitPod AdmitFunc
	// Recorder records SuccessfulCreate, FailedCreate and
	// SuccessfulDelete events on the RCs (nil: none).
	Recorder *events.Recorder
}

// ReplicationManager keeps every replication controller's pods at its
// replica count while this master leads.
type ReplicationManager struct {
	cfg     ReplicationConfig
	exp     *Expectations
	backoff *createBackoff
	// refused counts the pod creates that were refused (RefusedCreates).
	refused atomic.Uint64
	pods    *Informer
	// lastFull is when the last full pass ran.
	lastFull time.Time
	// due is when an RC must be synced again without a change: a back-off's
	// end, its expectations' timeout, a pod's minReadySeconds (Kubernetes'
	// AddAfter).
	due dueSet[rcRef]
}

// NewReplicationManager returns a manager; Run starts it.
func NewReplicationManager(cfg ReplicationConfig) *ReplicationManager {
	if cfg.Resync == 0 {
		cfg.Resync = DefaultControllerResync
	}
	if cfg.ExpectationsTTL == 0 {
		cfg.ExpectationsTTL = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "replication")
	return &ReplicationManager{cfg: cfg, exp: NewExpectations(cfg.ExpectationsTTL, cfg.Now),
		backoff: newCreateBackoff(cfg.CreateBackoffBase, cfg.CreateBackoffMax),
		pods:    informerOr(cfg.Pods, "pods")}
}

// Run syncs the RCs each change concerns, every RC at least every Resync,
// and an RC whose time came (a back-off's end, expectations' timeout, a
// pod becoming available).
func (m *ReplicationManager) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) { return m.due.wakeAfter(m.cfg.Now()) }
	runOnChangesWake(ctx, m.cfg.Store, append(follows{"pods"}, replicatedResources...), m.cfg.Resync, wake, m.cfg.Logger, m.pass)
}

// rcWrite is one write of a pass and what to tell the expectations about it.
type rcWrite struct {
	item   fsm.BatchItem
	key    string
	create bool
	delUID string
	// rc and pod name the RC and the pod created or deleted, for its event.
	rc  Replicated
	pod string
}

// rcSync is one RC's part of a pass.
type rcSync struct {
	rc   Replicated
	key  string
	plan ReplicationPlan
	// batches are the sizes of the slow-start batches still to create.
	batches []int
	// pods are the pods the RC was planned against.
	pods    []*v1.Pod
	outcome rcCreateOutcome
	failErr error
}

// Pass syncs every RC (a full pass: the first one, a resync, or after the
// store was replaced) against the pods it controls and the orphans its
// selector matches, read through the pod informer (podsInKeyOrder), not
// every pod of the store: O(RCs + their pods).
func (m *ReplicationManager) Pass(ctx context.Context, store *fsm.Store) error {
	var rcs []Replicated
	for _, res := range replicatedResources {
		l, err := store.List(res, fsm.ListOptions{})
		if err != nil {
			return err
		}
		for _, r := range l.Items {
			rcs = append(rcs, r.Object().(Replicated))
		}
	}
	keys := map[string]bool{}
	for _, rc := range rcs {
		rm := rc.GetObjectMeta()
		keys[ExpectationsKey(rm.Namespace, rm.Name, rm.UID)] = true
	}
	m.backoff.retain(keys)
	if len(rcs) == 0 {
		m.due.reset()
		return nil
	}
	if err := m.pods.Sync(store); err != nil {
		return err
	}
	m.due.reset()
	return m.sync(ctx, rcs, func(rc Replicated) ([]*v1.Pod, error) { return podsInKeyOrder(m.podsOf(store, rc)) })
}

// sync plans each of rcs against the pods podsOf returns for it (at least
// the pods it controls and the orphans its selector matches) and commits
// the writes: adoptions, releases, deletes and the first slow-start batch
// of every RC's creates in one entry, each further batch of creates in one
// entry (an RC leaves the batches at its first refused create), and the
// statuses last, so that they report the creates' outcome. On the leader,
// Apply returns once the writes are in the store, so the next pass sees
// them; writes whose outcome is unknown (the entry may still commit) hold
// their RC back through the expectations until they are observed or time
// out. Each RC that must be synced again without a change is given a time
// (see scheduleRC).
func (m *ReplicationManager) sync(ctx context.Context, rcs []Replicated, podsOf func(Replicated) ([]*v1.Pod, error)) error {
	now := m.cfg.Now()
	var first []rcWrite
	var syncs []*rcSync
	for _, rc := range rcs {
		rm := rc.GetObjectMeta()
		pods, err := podsOf(rc)
		if err != nil {
			return fmt.Errorf("pods of %s %s/%s: %w", v1.KindOf(rc), rm.Namespace, rm.Name, err)
		}
		s := &rcSync{rc: rc, key: ExpectationsKey(rm.Namespace, rm.Name, rm.UID), pods: pods}
		s.plan = PlanReplication(rc, pods, m.exp, now)
		switch {
		case s.plan.Create > 0 && !m.backoff.ready(s.key, now):
			s.outcome = createsHeld
		case s.plan.Create > 0:
			s.batches = slowStartBatches(s.plan.Create, SlowStartInitialBatchSize)
		case rcShort(rc, s.plan):
			s.outcome = createsHeld // expectations hold it, or no template
		}
		w, err := m.writes(rc, s.key, s.plan, now)
		if err != nil {
			return fmt.Errorf("plan %s %s/%s: %w", v1.KindOf(rc), rm.Namespace, rm.Name, err)
		}
		var dels []string
		for _, x := range w {
			if x.delUID != "" {
				dels = append(dels, x.delUID)
			}
		}
		if len(dels) > 0 {
			m.exp.ExpectDeletions(s.key, dels)
		}
		first = append(first, w...)
		syncs = append(syncs, s)
	}
	defer func() {
		for _, s := range syncs {
			m.scheduleRC(s, now)
		}
	}()
	if err := m.createInBatches(ctx, first, syncs, now); err != nil {
		return err
	}
	status, err := m.statusWrites(syncs, now)
	if err != nil || len(status) == 0 {
		return err
	}
	_, err = m.apply(ctx, status)
	return err
}

// createInBatches commits first (the claims and deletes of the pass) with
// the first slow-start batch of every RC's creates, then each further round
// of batches in an entry of its own, until every RC has created what it
// planned or met a refusal, which it records in its rcSync.
func (m *ReplicationManager) createInBatches(ctx context.Context, first []rcWrite, syncs []*rcSync, now time.Time) error {
	for {
		writes := first
		first = nil
		creating := map[string]*rcSync{}
		for _, s := range syncs {
			if len(s.batches) == 0 || s.outcome == createsFailed {
				continue
			}
			n := s.batches[0]
			s.batches = s.batches[1:]
			made := 0
			for range n {
				w, err := m.createWrite(ctx, s.rc, s.key, now)
				var refused limitRefusal
				if errors.As(err, &refused) {
					// An admission refuses the template's pods: a refused
					// create like any other, with its back-off and condition.
					s.outcome, s.failErr = createsFailed, refused.err
					m.refused.Add(1)
					m.cfg.Recorder.Eventf(s.rc, v1.EventTypeWarning, "FailedCreate", "Error creating: %v", refused.err)
					break
				}
				if err != nil {
					return fmt.Errorf("plan %s %s: %w", v1.KindOf(s.rc), s.key, err)
				}
				writes = append(writes, w)
				made++
			}
			if made > 0 {
				m.exp.ExpectCreations(s.key, made)
				creating[s.key] = s
			}
		}
		if len(writes) == 0 {
			return nil
		}
		results, err := m.apply(ctx, writes)
		if err != nil {
			return err // outcome unknown: the expectations hold these RCs back
		}
		for i, w := range writes {
			if !w.create || i >= len(results) || results[i].Err == nil {
				continue
			}
			m.refused.Add(1)
			if s := creating[w.key]; s != nil && s.outcome != createsFailed {
				s.outcome, s.failErr = createsFailed, results[i].Err
			}
		}
	}
}

// statusWrites settles each RC's back-off from its creates' outcome and
// returns the status updates of the RCs whose status changed, the
// ReplicaFailure condition included.
func (m *ReplicationManager) statusWrites(syncs []*rcSync, now time.Time) ([]rcWrite, error) {
	var out []rcWrite
	for _, s := range syncs {
		switch s.outcome {
		case createsFailed:
			d := m.backoff.failure(s.key, now)
			m.cfg.Logger.Warn("pod creates refused: backing off", "rc", s.key, "retryIn", d,
				"failures", m.backoff.failures(s.key), "err", s.failErr)
		case createsNone:
			m.backoff.forget(s.key)
		}
		st := s.plan.Status
		st.Conditions = withReplicaFailure(st.Conditions, s.outcome, s.failErr, now)
		if v1.JSONEqual(st, replicaStatus(s.rc)) {
			continue
		}
		cmd, err := fsm.NewUpdate(withReplicaStatus(s.rc, st), true)
		if err != nil {
			return nil, fmt.Errorf("status of %s %s: %w", v1.KindOf(s.rc), s.key, err)
		}
		out = append(out, rcWrite{item: batchItem(cmd), key: s.key})
	}
	return out, nil
}

// rcShort reports whether rc has fewer active pods than it wants, so a pass
// that creates nothing for it did not settle it.
func rcShort(rc Replicated, plan ReplicationPlan) bool {
	return rc.GetObjectMeta().DeletionTimestamp == nil && plan.Status.Replicas < replicaDesired(rc)
}

// apply commits writes in one entry and settles their expectations: each is
// done, applied or refused (the next pass plans again). Refusals other than
// conflicts and not-found are logged.
func (m *ReplicationManager) apply(ctx context.Context, writes []rcWrite) (fsm.BatchResult, error) {
	items := make([]fsm.BatchItem, len(writes))
	for i, w := range writes {
		items[i] = w.item
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return nil, err
	}
	res, err := m.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	results, _ := res.(fsm.BatchResult)
	for i, w := range writes {
		switch {
		case w.create:
			m.exp.CreationObserved(w.key)
		case w.delUID != "":
			m.exp.DeletionObserved(w.key, w.delUID)
		}
		if i < len(results) && results[i].Err != nil && !w.create && !v1.IsConflict(results[i].Err) && !v1.IsNotFound(results[i].Err) {
			m.cfg.Logger.Warn("replication write refused", "rc", w.key, "err", results[i].Err)
		}
		if i < len(results) && w.rc != nil {
			m.recordWrite(w, results[i].Err)
		}
	}
	return results, nil
}

// batchItem turns an encoded command into an item of a BatchCommand.
func batchItem(cmd []byte) fsm.BatchItem {
	return fsm.BatchItem{Type: fsm.CommandType(cmd[0]), Body: cmd[1:]}
}

// createWrite is the create of one new pod of rc.
func (m *ReplicationManager) createWrite(ctx context.Context, rc Replicated, key string, now time.Time) (rcWrite, error) {
	p := PodFromTemplate(rc)
	p.Name = v1.GenerateName(p.GenerateName)
	if err := admitNewPod(ctx, m.cfg.Store(), m.cfg.AdmitPod, p, now); err != nil {
		return rcWrite{}, err
	}
	cmd, err := fsm.NewCreate(p)
	if err != nil {
		return rcWrite{}, err
	}
	return rcWrite{item: batchItem(cmd), key: key, create: true, rc: rc, pod: p.Name}, nil
}

// limitRefusal is an admission's refusal (a LimitRange's, Pod Security's,
// a missing service account's) of a pod the manager would create.
type limitRefusal struct{ err error }

func (r limitRefusal) Error() string { return r.err.Error() }

// writes turns a plan's claims and deletes into commands: adoptions and
// releases (pod updates with the pod's resourceVersion as precondition) and
// deletes. Creates and the status are written by Pass.
func (m *ReplicationManager) writes(rc Replicated, key string, plan ReplicationPlan, now time.Time) ([]rcWrite, error) {
	var out []rcWrite
	add := func(cmd []byte, err error, w rcWrite) error {
		if err != nil {
			return err
		}
		w.item, w.key = batchItem(cmd), key
		out = append(out, w)
		return nil
	}
	for _, p := range plan.Adopt {
		q := v1.DeepCopy(p)
		q.OwnerReferences = append(q.OwnerReferences, NewControllerRef(rc))
		cmd, err := fsm.NewUpdate(q, false)
		if err := add(cmd, err, rcWrite{}); err != nil {
			return nil, err
		}
	}
	for _, p := range plan.Release {
		q := v1.DeepCopy(p)
		var refs []v1.OwnerReference
		for _, ref := range q.OwnerReferences {
			if ref.UID != rc.GetObjectMeta().UID {
				refs = append(refs, ref)
			}
		}
		q.OwnerReferences = refs
		cmd, err := fsm.NewUpdate(q, false)
		if err := add(cmd, err, rcWrite{}); err != nil {
			return nil, err
		}
	}
	for _, p := range plan.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, Now: v1.NewTime(now)})
		if err := add(cmd, err, rcWrite{delUID: p.UID, rc: rc, pod: p.Name}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// recordWrite records the event of a pod create or delete on its RC, with
// Kubernetes' reasons and messages.
func (m *ReplicationManager) recordWrite(w rcWrite, err error) {
	switch {
	case w.create && err == nil:
		m.cfg.Recorder.Eventf(w.rc, v1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", w.pod)
	case w.create:
		m.cfg.Recorder.Eventf(w.rc, v1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
	case err == nil:
		m.cfg.Recorder.Eventf(w.rc, v1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", w.pod)
	case !v1.IsNotFound(err) && !v1.IsConflict(err):
		m.cfg.Recorder.Eventf(w.rc, v1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
	}
}
