package sched

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
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
	// Resync is the longest pause between passes without a change (default 5 s).
	Resync time.Duration
	// ExpectationsTTL is how long writes with an unknown outcome hold an RC
	// back before it is planned again (default 15 s).
	ExpectationsTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ReplicationManager keeps every replication controller's pods at its
// replica count while this master leads.
type ReplicationManager struct {
	cfg ReplicationConfig
	exp *Expectations
}

// NewReplicationManager returns a manager; Run starts it.
func NewReplicationManager(cfg ReplicationConfig) *ReplicationManager {
	if cfg.Resync == 0 {
		cfg.Resync = 5 * time.Second
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
	return &ReplicationManager{cfg: cfg, exp: NewExpectations(cfg.ExpectationsTTL, cfg.Now)}
}

// Run syncs every RC whenever something changes, and at least every Resync.
func (m *ReplicationManager) Run(ctx context.Context) {
	runOnChanges(ctx, m.cfg.Store, m.cfg.Resync, m.cfg.Logger, func(ctx context.Context, s *fsm.Store, _ changes) error {
		return m.Pass(ctx, s)
	})
}

// rcWrite is one write of a pass and what to tell the expectations about it.
type rcWrite struct {
	item   fsm.BatchItem
	key    string
	create bool
	delUID string
}

// Pass plans every RC against the pods of its namespace and commits all the
// writes of the pass in one entry. On the leader, Apply returns once the
// writes are in the store, so the next pass sees them; writes whose outcome
// is unknown (the entry may still commit) hold their RC back through the
// expectations until they are observed or time out.
func (m *ReplicationManager) Pass(ctx context.Context, store *fsm.Store) error {
	rcs, err := store.List("replicationcontrollers", fsm.ListOptions{})
	if err != nil {
		return err
	}
	if len(rcs.Items) == 0 {
		return nil
	}
	pods, err := store.List("pods", fsm.ListOptions{})
	if err != nil {
		return err
	}
	byNS := map[string][]*v1.Pod{}
	for _, r := range pods.Items {
		p := r.Object().(*v1.Pod)
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	now := m.cfg.Now()
	var writes []rcWrite
	for _, r := range rcs.Items {
		rc := r.Object().(*v1.ReplicationController)
		key := ExpectationsKey(rc.Namespace, rc.Name, rc.UID)
		plan := PlanReplication(rc, byNS[rc.Namespace], m.exp, now)
		w, err := m.writes(rc, key, plan, now)
		if err != nil {
			return fmt.Errorf("plan rc %s/%s: %w", rc.Namespace, rc.Name, err)
		}
		var creates int
		var dels []string
		for _, x := range w {
			if x.create {
				creates++
			}
			if x.delUID != "" {
				dels = append(dels, x.delUID)
			}
		}
		if creates > 0 {
			m.exp.ExpectCreations(key, creates)
		}
		if len(dels) > 0 {
			m.exp.ExpectDeletions(key, dels)
		}
		writes = append(writes, w...)
	}
	if len(writes) == 0 {
		return nil
	}
	items := make([]fsm.BatchItem, len(writes))
	for i, w := range writes {
		items[i] = w.item
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := m.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return err // outcome unknown: the expectations hold these RCs back
	}
	results, _ := res.(fsm.BatchResult)
	for i, w := range writes {
		// Done either way: applied, or refused (and the next pass plans again).
		switch {
		case w.create:
			m.exp.CreationObserved(w.key)
		case w.delUID != "":
			m.exp.DeletionObserved(w.key, w.delUID)
		}
		if i < len(results) && results[i].Err != nil && !v1.IsConflict(results[i].Err) && !v1.IsNotFound(results[i].Err) {
			m.cfg.Logger.Warn("replication write refused", "rc", w.key, "err", results[i].Err)
		}
	}
	return nil
}

// writes turns a plan into commands: adoptions and releases (pod updates
// with the pod's resourceVersion as precondition), creates, deletes, and
// the RC's status when it changed.
func (m *ReplicationManager) writes(rc *v1.ReplicationController, key string, plan ReplicationPlan, now time.Time) ([]rcWrite, error) {
	var out []rcWrite
	add := func(cmd []byte, err error, w rcWrite) error {
		if err != nil {
			return err
		}
		w.item, w.key = fsm.BatchItem{Type: fsm.CommandType(cmd[0]), Body: cmd[1:]}, key
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
			if ref.UID != rc.UID {
				refs = append(refs, ref)
			}
		}
		q.OwnerReferences = refs
		cmd, err := fsm.NewUpdate(q, false)
		if err := add(cmd, err, rcWrite{}); err != nil {
			return nil, err
		}
	}
	for i := 0; i < plan.Create; i++ {
		p := PodFromTemplate(rc)
		p.Name = v1.GenerateName(p.GenerateName)
		p.UID = uuid.NewString()
		p.CreationTimestamp = v1.NewTime(now)
		v1.Default(p)
		if err := limitPod(m.cfg.Store(), p); err != nil {
			m.cfg.Logger.Warn("replica not created", "rc", key, "err", err)
			continue
		}
		cmd, err := fsm.NewCreate(p)
		if err := add(cmd, err, rcWrite{create: true}); err != nil {
			return nil, err
		}
	}
	for _, p := range plan.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, Now: v1.NewTime(now)})
		if err := add(cmd, err, rcWrite{delUID: p.UID}); err != nil {
			return nil, err
		}
	}
	if !v1.JSONEqual(plan.Status, rc.Status) {
		q := v1.DeepCopy(rc)
		q.Status = plan.Status
		cmd, err := fsm.NewUpdate(q, true)
		if err := add(cmd, err, rcWrite{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
