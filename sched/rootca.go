package sched

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// RootCADescription is the annotation Kubernetes' root CA publisher puts on
// the ConfigMap.
const RootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

// DefaultRootCAResync is how often the publisher looks at every namespace
// without a change.
const DefaultRootCAResync = 5 * time.Minute

// RootCAConfig configures the root CA publisher.
type RootCAConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the writes.
	Proposer Proposer
	// CAPEM is the cluster CA certificate, PEM-encoded.
	CAPEM []byte
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Now is the clock of creationTimestamps (default time.Now).
	Now func() time.Time
}

// RootCAPublisher keeps, while this master leads, the ConfigMap
// kube-root-ca.crt in every active namespace holding the cluster CA under
// ca.crt, as Kubernetes' root-ca-cert-publisher: made when missing, made
// again when deleted, and put back when edited. Service account token
// volumes project it.
type RootCAPublisher struct {
	cfg RootCAConfig
}

// NewRootCAPublisher returns the publisher; Run starts it.
func NewRootCAPublisher(cfg RootCAConfig) *RootCAPublisher {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "root-ca-publisher")
	return &RootCAPublisher{cfg: cfg}
}

// Run publishes until ctx ends: at start, when a namespace is added or the
// ConfigMap changes or goes, and every DefaultRootCAResync.
func (c *RootCAPublisher) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, follows{"namespaces", "configmaps"}, DefaultRootCAResync, c.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full && !slices.ContainsFunc(ch.events, needsRootCACheck) {
			return nil
		}
		return c.Pass(ctx, s)
	})
}

// needsRootCACheck: a namespace appeared or changed, or the CA ConfigMap
// was written or deleted.
func needsRootCACheck(e fsm.Event) bool {
	return (e.Resource == "namespaces" && e.Type != v1.Deleted) || (e.Resource == "configmaps" && e.Record != nil && strings.HasSuffix(e.Record.Key(), "/"+v1.RootCAConfigMap))
}

// Pass writes, in one batch, the ConfigMap of every active namespace whose
// ConfigMap is missing or differs. An update carries the resourceVersion
// it read, so a concurrent edit makes it fail and the next pass retry.
func (c *RootCAPublisher) Pass(ctx context.Context, store *fsm.Store) error {
	nss, err := store.List("namespaces", fsm.ListOptions{})
	if err != nil {
		return err
	}
	var writes passWrites
	now := v1.NewTime(c.cfg.Now())
	for _, r := range nss.Items {
		ns := r.Object().(*v1.Namespace)
		if ns.DeletionTimestamp != nil || ns.Status.Phase == v1.NamespaceTerminating {
			continue
		}
		cmd, err := c.write(store, ns.Name, now)
		if err != nil {
			return err
		}
		if cmd != nil {
			writes.add(cmd, ns.Name)
		}
	}
	return writes.propose(ctx, c.cfg.Proposer, c.cfg.Logger, "publish "+v1.RootCAConfigMap)
}

// write returns the command that makes namespace's ConfigMap right, or nil.
func (c *RootCAPublisher) write(store *fsm.Store, namespace string, now v1.Time) ([]byte, error) {
	rec, err := store.Get("configmaps", namespace, v1.RootCAConfigMap)
	if v1.IsNotFound(err) {
		cm := &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: v1.RootCAConfigMap, Namespace: namespace,
			UID: uuid.NewString(), CreationTimestamp: now, Annotations: map[string]string{v1.DescriptionAnnotation: RootCADescription}},
			Data: map[string]string{v1.RootCAKey: string(c.cfg.CAPEM)}}
		v1.Default(cm)
		return fsm.NewCreate(cm)
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s/%s: %w", namespace, v1.RootCAConfigMap, err)
	}
	cur, ok := rec.Object().(*v1.ConfigMap)
	if !ok {
		return nil, fmt.Errorf("configmaps %s/%s holds a %T", namespace, v1.RootCAConfigMap, rec.Object())
	}
	if len(cur.Data) == 1 && cur.Data[v1.RootCAKey] == string(c.cfg.CAPEM) && len(cur.BinaryData) == 0 &&
		cur.Annotations[v1.DescriptionAnnotation] == RootCADescription {
		return nil, nil
	}
	next := *cur
	next.Data = map[string]string{v1.RootCAKey: string(c.cfg.CAPEM)}
	next.BinaryData = nil
	next.Annotations = make(map[string]string, len(cur.Annotations)+1)
	for k, v := range cur.Annotations {
		next.Annotations[k] = v
	}
	next.Annotations[v1.DescriptionAnnotation] = RootCADescription
	return fsm.NewUpdate(&next, false)
}
