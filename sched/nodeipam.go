package sched

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// CIDRNotAvailable is the reason of the event about a node that registered
// while every subnet of the cluster CIDR was taken (Kubernetes' range
// allocator's).
const CIDRNotAvailable = "CIDRNotAvailable"

// cidrEventEvery is how often a node still without a subnet is told so
// again (the recorder aggregates the repeats into one event's count).
const cidrEventEvery = 5 * time.Minute

// NodeIPAMConfig configures the node IPAM controller.
type NodeIPAMConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the writes.
	Proposer Proposer
	// ClusterCIDR and MaskSize are the pod network and each node's share
	// of it, as the API server gives them at registration.
	ClusterCIDR string
	MaskSize    int
	// Recorder records CIDRNotAvailable (nil: none).
	Recorder *events.Recorder
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Now is the controller's clock (default time.Now).
	Now func() time.Time
}

// NodeIPAM gives a pod CIDR to every node that registered without one
// because the cluster CIDR was full, as Kubernetes' range allocator
// retries: when a node goes (its subnet frees up) and at every resync.
// Meanwhile such a node has a CIDRNotAvailable event; its agent waits,
// NotReady, and no pod is scheduled to it.
type NodeIPAM struct {
	cfg NodeIPAMConfig
	// told is when each waiting node (by uid) was last told; only the
	// controller's goroutine touches it.
	told map[string]time.Time
}

// NewNodeIPAM returns the controller; Run starts it.
func NewNodeIPAM(cfg NodeIPAMConfig) *NodeIPAM {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "node-ipam")
	return &NodeIPAM{cfg: cfg, told: map[string]time.Time{}}
}

// Run allocates until ctx ends: at start, when a node is added or goes, and
// every resync.
func (c *NodeIPAM) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, follows{"nodes"}, cidrEventEvery, c.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full && !slices.ContainsFunc(ch.events, func(e fsm.Event) bool {
			return e.Resource == "nodes" && e.Type != v1.Modified
		}) {
			return nil
		}
		return c.Pass(ctx, s)
	})
}

// Pass gives a free subnet to each node without one, lowest first, in one
// batch; each update carries the resourceVersion it read, and the FSM
// refuses a subnet another node took meanwhile (the next pass retries).
// The nodes left without are told so. It reads only the nodes without a
// subnet and the store's pod CIDR index, so a pass costs the same however
// many nodes have one.
func (c *NodeIPAM) Pass(ctx context.Context, store *fsm.Store) error {
	recs, err := store.NodesWithoutPodCIDR()
	if err != nil {
		return err
	}
	var waiting []*v1.Node
	for _, r := range recs {
		n, ok := r.Object().(*v1.Node)
		if ok && n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) == 0 && n.DeletionTimestamp == nil {
			waiting = append(waiting, n)
		}
	}
	for uid := range c.told {
		if !slices.ContainsFunc(waiting, func(n *v1.Node) bool { return string(n.UID) == uid }) {
			delete(c.told, uid)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	cidrs, err := store.FreePodCIDRs(c.cfg.ClusterCIDR, c.cfg.MaskSize, len(waiting))
	if err != nil {
		return fmt.Errorf("allocate a pod CIDR: %w", err)
	}
	var writes passWrites
	for i, cidr := range cidrs {
		next := v1.DeepCopy(waiting[i])
		next.Spec.PodCIDR, next.Spec.PodCIDRs = cidr, []string{cidr}
		cmd, err := fsm.NewUpdate(next, false)
		if err != nil {
			return err
		}
		writes.add(cmd, next.Name)
		c.cfg.Logger.Info("pod CIDR allocated", "node", next.Name, "podCIDR", cidr)
	}
	if len(cidrs) < len(waiting) {
		c.tell(waiting[len(cidrs):])
	}
	return writes.propose(ctx, c.cfg.Proposer, c.cfg.Logger, "pod CIDR allocation")
}

// tell records CIDRNotAvailable for nodes not told within cidrEventEvery.
func (c *NodeIPAM) tell(nodes []*v1.Node) {
	now := c.cfg.Now()
	for _, n := range nodes {
		if last, ok := c.told[string(n.UID)]; ok && now.Sub(last) < cidrEventEvery {
			continue
		}
		c.told[string(n.UID)] = now
		c.cfg.Logger.Warn("no free pod CIDR for a node", "node", n.Name, "clusterCIDR", c.cfg.ClusterCIDR)
		c.cfg.Recorder.Eventf(n, v1.EventTypeNormal, CIDRNotAvailable, "Node %s status is now: %s", n.Name, CIDRNotAvailable)
	}
}
