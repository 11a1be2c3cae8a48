package sched

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// DefaultGCResync is how often the garbage collector looks again at every
// object with owners and every owner it finalizes, even when nothing
// changed (a repair for writes that failed; see GarbageCollector.resync).
const DefaultGCResync = time.Minute

// GarbageCollectorConfig configures the garbage collector.
type GarbageCollectorConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the collector's deletes and updates.
	Proposer Proposer
	// Logger receives the collector's logs.
	Logger *slog.Logger
	// Resync is the longest pause between resyncs (default DefaultGCResync).
	Resync time.Duration
	// Now is the collector's clock, for deletionTimestamps (default time.Now).
	Now func() time.Time
}

// GarbageCollector is Kubernetes' garbage collector for every kind orch
// stores, run while this master leads. It keeps an index from each owner's
// uid to the objects whose metadata.ownerReferences name it, and:
//
//   - deletes an object whose owners are all gone (absent, or present with
//     another uid) or are being deleted in the foreground, with the policy
//     its own finalizers ask for (Background by default, Foreground when it
//     has dependents of its own and an owner waits for it);
//   - removes the references to gone owners from an object that still has
//     another owner (and stops it blocking an owner that waits for it);
//   - for an owner being deleted with the orphan finalizer, strips the
//     references to it from its dependents, then drops the finalizer;
//   - for an owner being deleted with the foregroundDeletion finalizer,
//     deletes its dependents and drops the finalizer once no dependent
//     whose reference has blockOwnerDeletion=true is left.
//
// An owner reference whose kind orch does not serve, or that names a
// namespaced owner of a cluster-scoped object, cannot be checked and counts
// as a live owner. Every write carries a precondition (the
// dependent's uid for a delete, its resourceVersion for an update), so a
// decision made on a view that changed meanwhile is refused by the FSM and
// made again on the next pass. The writes of a pass are committed in a few
// batch entries (gcWrites), each write with its own precondition and
// result.
type GarbageCollector struct {
	cfg GarbageCollectorConfig
	// The fields below are the collector's view of store, rebuilt from
	// lists on the first pass over it (and when the feed lost changes) and
	// kept up to date from its change feed in between (the events of the
	// passes, and Feed.Since on a resync). They are used by the one
	// goroutine of Run only.
	store *fsm.Store
	// seen is the feed index the view reflects every change up to (it may
	// reflect some later ones too: replaying those is harmless, see
	// observe).
	seen uint64
	// dependents maps an owner's uid to its dependents.
	dependents map[string]map[objKey]struct{}
	// finalizing holds the objects being deleted with one of the
	// collector's finalizers (gcFinalizing).
	finalizing map[objKey]struct{}
}

// objKey names one stored object.
type objKey struct {
	Resource, Namespace, Name, UID string
}

// NewGarbageCollector returns a garbage collector; Run starts it.
func NewGarbageCollector(cfg GarbageCollectorConfig) *GarbageCollector {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultGCResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "garbagecollector")
	return &GarbageCollector{cfg: cfg}
}

// Run collects until ctx ends.
func (gc *GarbageCollector) Run(ctx context.Context) {
	runOnChanges(ctx, gc.cfg.Store, followsAll, gc.cfg.Resync, gc.cfg.Logger, gc.pass)
}

// pass updates the view from the changes and attends to every object the
// changes concern (every object with owners or a collector's finalizer on
// a full pass). Cost per event: O(1) reads (the object and its owners) for
// a change, plus O(its dependents) when an owner is deleted or being
// deleted (found through the dependents index). A full pass costs
// O(objects with owners + objects finalizing) reads (see resync); only
// the first pass over a store, and one after the feed lost the changes
// since the previous pass, read every object of every resource (rebuild).
func (gc *GarbageCollector) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	work := map[objKey]struct{}{}
	switch {
	case gc.store != s || gc.dependents == nil:
		if err := gc.rebuild(s, work); err != nil {
			return err
		}
	case ch.full:
		if err := gc.resync(s, work); err != nil {
			return err
		}
	default:
		// Events the view reflects already (a rebuild's lists, a resync's
		// catch-up) are skipped by index. One entry may hold many changes
		// (a BatchCommand: the replication controller's creates), all with
		// its index, and observe raises seen as it goes: the bound is the
		// view's index before this pass, not seen as it rises.
		from := gc.seen
		for _, ev := range ch.events {
			if ev.Index > from {
				gc.observe(ev, work)
			}
		}
		gc.seen = max(gc.seen, ch.last)
	}
	keys := make([]objKey, 0, len(work))
	for k := range work {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareObjKeys)
	w := newGCWrites(gc.cfg.Proposer, gc.cfg.Logger)
	var errs []error
	for _, k := range keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := gc.attend(ctx, w, s, k); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", k.Resource, v1.Key(k.Namespace, k.Name), err))
		}
	}
	return errors.Join(append(errs, w.err(ctx))...)
}

// compareObjKeys orders keys by resource, namespace and name, without
// allocating (a pass sorts a key per change).
func compareObjKeys(a, b objKey) int {
	return cmp.Or(strings.Compare(a.Resource, b.Resource), strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.Name, b.Name), strings.Compare(a.UID, b.UID))
}

func keyOf(resource string, m *v1.ObjectMeta) objKey {
	return objKey{Resource: resource, Namespace: m.Namespace, Name: m.Name, UID: m.UID}
}

// ownerKey resolves an owner reference of the dependent k to the owner's
// key: its kind's resource, in k's namespace for a namespaced kind. ok is
// false for a reference that cannot be resolved: a kind orch does not
// serve, or a namespaced owner of a cluster-scoped dependent (which
// Kubernetes' collector never collects either).
func (gc *GarbageCollector) ownerKey(k objKey, ref v1.OwnerReference) (objKey, bool) {
	group, _, found := strings.Cut(ref.APIVersion, "/")
	if !found {
		group = ""
	}
	for _, r := range v1.Resources() {
		if r.Kind == ref.Kind && r.Group == group {
			ns := ""
			if r.Namespaced {
				if k.Namespace == "" {
					return objKey{}, false
				}
				ns = k.Namespace
			}
			return objKey{Resource: r.Name, Namespace: ns, Name: ref.Name, UID: ref.UID}, true
		}
	}
	return objKey{}, false
}

// gcFinalizing reports whether an object is being deleted with one of the
// collector's finalizers.
func gcFinalizing(m *v1.ObjectMeta) bool {
	return m.DeletionTimestamp != nil &&
		(m.HasFinalizer(v1.FinalizerOrphanDependents) || m.HasFinalizer(v1.FinalizerDeleteDependents))
}

// attend looks at one object as it is now: as an owner being deleted with a
// collector's finalizer, then as a dependent.
func (gc *GarbageCollector) attend(ctx context.Context, w *gcWrites, s *fsm.Store, k objKey) error {
	rec, err := s.Get(k.Resource, k.Namespace, k.Name)
	if v1.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	m := &rec.Summary().Meta
	if m.UID != k.UID {
		return nil // another object of the same name; it has its own key
	}
	if gcFinalizing(m) {
		var err error
		if m.HasFinalizer(v1.FinalizerOrphanDependents) {
			err = gc.orphan(ctx, w, s, rec, k)
		} else {
			err = gc.foreground(ctx, w, s, rec, k)
		}
		if err != nil {
			return err
		}
	}
	if len(m.OwnerReferences) > 0 && m.DeletionTimestamp == nil {
		return gc.attendDependent(ctx, w, s, rec, k)
	}
	return nil
}

// ownerState is what a dependent's owner reference points at.
type ownerState int

const (
	ownerSolid   ownerState = iota // exists, or cannot be checked
	ownerGone                      // absent, or present with another uid
	ownerWaiting                   // being deleted in the foreground
)

func (gc *GarbageCollector) ownerState(s *fsm.Store, k objKey, ref v1.OwnerReference) ownerState {
	ok, known := gc.ownerKey(k, ref)
	if !known {
		return ownerSolid
	}
	rec, err := s.Get(ok.Resource, ok.Namespace, ok.Name)
	if err != nil {
		if v1.IsNotFound(err) {
			return ownerGone
		}
		return ownerSolid
	}
	m := &rec.Summary().Meta
	switch {
	case m.UID != ref.UID:
		return ownerGone
	case m.DeletionTimestamp != nil && m.HasFinalizer(v1.FinalizerDeleteDependents):
		return ownerWaiting
	}
	return ownerSolid
}

// attendDependent deletes a dependent without a live owner, or drops its
// references to gone owners (Kubernetes' attemptToDeleteItem).
func (gc *GarbageCollector) attendDependent(ctx context.Context, w *gcWrites, s *fsm.Store, rec *fsm.Record, k objKey) error {
	m := &rec.Summary().Meta
	var solid, gone, waiting int
	states := make([]ownerState, len(m.OwnerReferences))
	for i, ref := range m.OwnerReferences {
		states[i] = gc.ownerState(s, k, ref)
		switch states[i] {
		case ownerSolid:
			solid++
		case ownerGone:
			gone++
		case ownerWaiting:
			waiting++
		}
	}
	switch {
	case solid > 0 && gone+waiting == 0:
		return nil
	case solid > 0:
		// Keep the object for its live owners: forget the gone ones and
		// stop blocking the ones that wait.
		obj := v1.DeepCopy(rec.Object())
		om := obj.GetObjectMeta()
		var refs []v1.OwnerReference
		for i, ref := range m.OwnerReferences {
			switch states[i] {
			case ownerGone:
				continue
			case ownerWaiting:
				no := false
				ref.BlockOwnerDeletion = &no
			}
			refs = append(refs, ref)
		}
		om.OwnerReferences = refs
		gc.cfg.Logger.Info("dropping references to gone owners", "resource", k.Resource, "object", v1.Key(k.Namespace, k.Name), "gone", gone, "waiting", waiting)
		_, err := gc.update(ctx, w, k, obj)
		return err
	}
	policy := v1.PropagationBackground
	switch {
	case waiting > 0 && len(gc.dependents[k.UID]) > 0:
		policy = v1.PropagationForeground
	case m.HasFinalizer(v1.FinalizerOrphanDependents):
		policy = v1.PropagationOrphan
	case m.HasFinalizer(v1.FinalizerDeleteDependents):
		policy = v1.PropagationForeground
	}
	gc.cfg.Logger.Info("deleting an object whose owners are gone", "resource", k.Resource, "object", v1.Key(k.Namespace, k.Name), "propagation", policy)
	return gc.delete(ctx, w, k, policy)
}

// orphan strips the references to an owner being deleted with the orphan
// finalizer from its dependents, then drops the finalizer. The dependents'
// updates are committed first; the finalizer stays while any of them was
// not written (the change that refused or skipped it brings the owner back
// to a later pass), so no dependent is left pointing at a gone owner, which
// would have it collected.
func (gc *GarbageCollector) orphan(ctx context.Context, w *gcWrites, s *fsm.Store, owner *fsm.Record, k objKey) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	before, all := w.unwritten, true
	for _, d := range gc.dependentsOf(k.UID) {
		rec, err := s.Get(d.Resource, d.Namespace, d.Name)
		if err != nil || rec.Summary().Meta.UID != d.UID {
			continue
		}
		obj := v1.DeepCopy(rec.Object())
		om := obj.GetObjectMeta()
		refs := slices.DeleteFunc(slices.Clone(om.OwnerReferences), func(r v1.OwnerReference) bool { return r.UID == k.UID })
		if len(refs) == len(om.OwnerReferences) {
			continue
		}
		om.OwnerReferences = refs
		if len(refs) == 0 {
			om.OwnerReferences = nil
		}
		ok, err := gc.update(ctx, w, d, obj)
		if err != nil {
			return fmt.Errorf("orphan %s %s: %w", d.Resource, v1.Key(d.Namespace, d.Name), err)
		}
		all = all && ok
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	if !all || w.unwritten != before {
		gc.cfg.Logger.Info("dependents not all orphaned yet", "resource", k.Resource, "object", v1.Key(k.Namespace, k.Name))
		return nil
	}
	gc.cfg.Logger.Info("dependents orphaned", "resource", k.Resource, "object", v1.Key(k.Namespace, k.Name))
	_, err := gc.dropFinalizer(ctx, w, owner, k, v1.FinalizerOrphanDependents)
	return err
}

// foreground deletes the dependents of an owner being deleted with the
// foregroundDeletion finalizer, and drops the finalizer once none that
// blocks it is left.
func (gc *GarbageCollector) foreground(ctx context.Context, w *gcWrites, s *fsm.Store, owner *fsm.Record, k objKey) error {
	blocking := 0
	for _, d := range gc.dependentsOf(k.UID) {
		rec, err := s.Get(d.Resource, d.Namespace, d.Name)
		if err != nil || rec.Summary().Meta.UID != d.UID {
			continue
		}
		m := &rec.Summary().Meta
		i := slices.IndexFunc(m.OwnerReferences, func(r v1.OwnerReference) bool { return r.UID == k.UID })
		if i < 0 {
			continue
		}
		if b := m.OwnerReferences[i].BlockOwnerDeletion; b != nil && *b {
			blocking++
		}
		if m.DeletionTimestamp == nil {
			if err := gc.attendDependent(ctx, w, s, rec, d); err != nil {
				return err
			}
		}
	}
	if blocking > 0 {
		return nil
	}
	gc.cfg.Logger.Info("dependents deleted", "resource", k.Resource, "object", v1.Key(k.Namespace, k.Name))
	_, err := gc.dropFinalizer(ctx, w, owner, k, v1.FinalizerDeleteDependents)
	return err
}

func (gc *GarbageCollector) dependentsOf(uid string) []objKey {
	out := make([]objKey, 0, len(gc.dependents[uid]))
	for d := range gc.dependents[uid] {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b objKey) int {
		return strings.Compare(a.Resource+"/"+a.Namespace+"/"+a.Name, b.Resource+"/"+b.Namespace+"/"+b.Name)
	})
	return out
}

// dropFinalizer queues the removal of finalizer f from the object k of
// rec.
func (gc *GarbageCollector) dropFinalizer(ctx context.Context, w *gcWrites, rec *fsm.Record, k objKey, f string) (bool, error) {
	obj := v1.DeepCopy(rec.Object())
	m := obj.GetObjectMeta()
	m.Finalizers = slices.DeleteFunc(slices.Clone(m.Finalizers), func(x string) bool { return x == f })
	if len(m.Finalizers) == 0 {
		m.Finalizers = nil
	}
	return gc.update(ctx, w, k, obj)
}

// update queues the store of obj (the object k) with its resourceVersion
// as precondition; ok is false when k was written earlier in the pass.
func (gc *GarbageCollector) update(ctx context.Context, w *gcWrites, k objKey, obj v1.Object) (ok bool, err error) {
	cmd, err := fsm.NewUpdate(obj, false)
	if err != nil {
		return false, err
	}
	return w.add(ctx, k, cmd)
}

// delete queues the delete of the object k names, if it still has k's uid.
func (gc *GarbageCollector) delete(ctx context.Context, w *gcWrites, k objKey, policy string) error {
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: k.Resource, Namespace: k.Namespace, Name: k.Name,
		UID: k.UID, Propagation: policy, Now: v1.NewTime(gc.cfg.Now())})
	if err != nil {
		return err
	}
	_, err = w.add(ctx, k, cmd)
	return err
}
