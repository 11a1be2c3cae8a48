package sched

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// DefaultNamespaceResync is how often the namespace controller looks at
// every terminating namespace even when nothing changed.
const DefaultNamespaceResync = 30 * time.Second

// maxNamespaceDeletes bounds the deletes of one entry.
const maxNamespaceDeletes = 500

// NamespaceConfig configures the namespace controller.
type NamespaceConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the deletes.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Resync is the longest pause between passes (default DefaultNamespaceResync).
	Resync time.Duration
	// Now is the controller's clock, for deletionTimestamps (default time.Now).
	Now func() time.Time
}

// NamespaceController deletes, while this master leads, everything in a
// terminating namespace (Kubernetes' namespace controller): each object
// not yet being deleted gets a delete with propagationPolicy Background,
// so finalizers are honoured and pods stop gracefully. The FSM removes the
// namespace with its last object once it has no finalizers.
type NamespaceController struct {
	cfg NamespaceConfig
}

// NewNamespaceController returns a namespace controller; Run starts it.
func NewNamespaceController(cfg NamespaceConfig) *NamespaceController {
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultNamespaceResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "namespace")
	return &NamespaceController{cfg: cfg}
}

// Run deletes the content of terminating namespaces until ctx ends.
func (c *NamespaceController) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, followsAll, c.cfg.Resync, c.cfg.Logger, c.pass)
}

// pass deletes the content of the terminating namespaces the changes
// concern (every terminating namespace on a full pass). Cost per event:
// one read of the namespace of the changed object (or of the namespace
// changed), plus O(objects of that namespace) when it is terminating.
func (c *NamespaceController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	var nss []*fsm.Record
	if ch.full {
		l, err := s.List("namespaces", fsm.ListOptions{})
		if err != nil {
			return err
		}
		nss = l.Items
	} else {
		for _, name := range namespacesIn(ch.events) {
			r, err := s.Get("namespaces", "", name)
			if v1.IsNotFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("namespace %s: %w", name, err)
			}
			nss = append(nss, r)
		}
	}
	for _, rec := range nss {
		ns := rec.Object().(*v1.Namespace)
		if ns.Status.Phase != v1.NamespaceTerminating {
			continue
		}
		if err := c.deleteContent(ctx, s, ns.Name); err != nil {
			return fmt.Errorf("namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

// namespacesIn returns, sorted, the namespaces a change may concern: the
// namespaces changed and those of the namespaced objects changed. It reads
// the records' keys ("<ns>/<name>", or the name of a cluster-scoped
// object), never their objects.
func namespacesIn(evs []fsm.Event) []string {
	seen := map[string]bool{}
	for _, ev := range evs {
		key := ev.Record.Key()
		switch ns, _, namespaced := strings.Cut(key, "/"); {
		case ev.Resource == "namespaces":
			seen[key] = true
		case namespaced:
			seen[ns] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// deleteContent deletes every object of ns that is not being deleted yet.
func (c *NamespaceController) deleteContent(ctx context.Context, s *fsm.Store, ns string) error {
	now := v1.NewTime(c.cfg.Now())
	var items []fsm.BatchItem
	for _, r := range v1.Resources() {
		if !r.Namespaced {
			continue
		}
		res, err := s.List(r.Name, fsm.ListOptions{Namespace: ns})
		if err != nil {
			return err
		}
		for _, rec := range res.Items {
			m := &rec.Summary().Meta
			if m.DeletionTimestamp != nil {
				continue
			}
			body, err := fsm.EncodeBody(fsm.DeleteCommand, fsm.DeleteRequest{Resource: r.Name, Namespace: ns, Name: m.Name,
				UID: m.UID, Propagation: v1.PropagationBackground, Now: now})
			if err != nil {
				return err
			}
			items = append(items, fsm.BatchItem{Type: fsm.DeleteCommand, Body: body})
		}
	}
	for len(items) > 0 {
		n := min(len(items), maxNamespaceDeletes)
		cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items[:n]})
		if err != nil {
			return err
		}
		out, err := c.cfg.Proposer.Apply(ctx, cmd)
		if err != nil {
			return err
		}
		results, _ := out.(fsm.BatchResult)
		for _, r := range results {
			if r.Err != nil && !v1.IsNotFound(r.Err) && !v1.IsConflict(r.Err) {
				c.cfg.Logger.Warn("delete not stored", "namespace", ns, "err", r.Err)
			}
		}
		c.cfg.Logger.Info("deleting the content of a terminating namespace", "namespace", ns, "objects", n)
		items = items[n:]
	}
	return nil
}
