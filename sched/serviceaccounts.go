package sched

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// DefaultServiceAccountsResync is how often the service account controller
// looks at every namespace without a change.
const DefaultServiceAccountsResync = 5 * time.Minute

// ServiceAccountsConfig configures the service account controller.
type ServiceAccountsConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the creates.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Now is the clock of creationTimestamps (default time.Now).
	Now func() time.Time
}

// ServiceAccountsController gives every namespace, while this master
// leads, its "default" service account, and makes it again when it is
// deleted, as Kubernetes' serviceaccounts-controller. A namespace being
// deleted gets none.
type ServiceAccountsController struct {
	cfg ServiceAccountsConfig
}

// NewServiceAccountsController returns the controller; Run starts it.
func NewServiceAccountsController(cfg ServiceAccountsConfig) *ServiceAccountsController {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "serviceaccounts")
	return &ServiceAccountsController{cfg: cfg}
}

// Run creates missing accounts until ctx ends: at start, when a namespace
// is added or an account deleted, and every DefaultServiceAccountsResync.
func (c *ServiceAccountsController) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, follows{"namespaces", "serviceaccounts"}, DefaultServiceAccountsResync, c.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full && !slices.ContainsFunc(ch.events, needsAccountCheck) {
			return nil
		}
		return c.Pass(ctx, s)
	})
}

// needsAccountCheck: a namespace appeared or changed, or an account went.
func needsAccountCheck(e fsm.Event) bool {
	return (e.Resource == "namespaces" && e.Type != v1.Deleted) || (e.Resource == "serviceaccounts" && e.Type == v1.Deleted)
}

// Pass creates, in one batch, the "default" account of every active
// namespace of store that lacks one.
func (c *ServiceAccountsController) Pass(ctx context.Context, store *fsm.Store) error {
	nss, err := store.List("namespaces", fsm.ListOptions{})
	if err != nil {
		return err
	}
	var items []fsm.BatchItem
	var made []string
	now := v1.NewTime(c.cfg.Now())
	for _, r := range nss.Items {
		ns := r.Object().(*v1.Namespace)
		if ns.DeletionTimestamp != nil || ns.Status.Phase == v1.NamespaceTerminating {
			continue
		}
		if _, err := store.Get("serviceaccounts", ns.Name, v1.DefaultServiceAccountName); err == nil {
			continue
		} else if !v1.IsNotFound(err) {
			return fmt.Errorf("look up %s/%s: %w", ns.Name, v1.DefaultServiceAccountName, err)
		}
		sa := &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: v1.DefaultServiceAccountName, Namespace: ns.Name,
			UID: uuid.NewString(), CreationTimestamp: now}}
		v1.Default(sa)
		cmd, err := fsm.NewCreate(sa)
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
		made = append(made, ns.Name)
	}
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("create default service accounts in %v: %w", made, err)
	}
	results, _ := res.(fsm.BatchResult)
	for i, r := range results {
		// Taken meanwhile, or the namespace is going: nothing to do.
		if r.Err != nil && !v1.IsAlreadyExists(r.Err) && !v1.IsNotFound(r.Err) {
			c.cfg.Logger.Warn("default service account refused", "namespace", made[i], "err", r.Err)
		}
	}
	c.cfg.Logger.Debug("created default service accounts", "namespaces", made)
	return nil
}
