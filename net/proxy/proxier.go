package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
)

// Config configures a Proxier.
type Config struct {
	// ClusterCIDR is the pod network: traffic from it to outside is
	// masqueraded, and traffic to a ClusterIP from outside it too.
	ClusterCIDR *net.IPNet
	// NodeIPs are this node's addresses; NodePorts answer on them and on
	// 127.0.0.1. Empty: on every local address.
	NodeIPs []net.IP
	// MinSyncInterval coalesces syncs: Run syncs at most once per interval
	// (default 1 s; the first sync is immediate).
	MinSyncInterval time.Duration
	// NetNS is the path of the network namespace the rules live in; empty
	// is the process's own (the node agent in production).
	NetNS string
	// Logger receives sync reports (default slog.Default()).
	Logger *slog.Logger
	// Mode is ModeIPTables (the default when empty) or ModeNFTables.
	Mode string
}

// Proxy modes: which of the kernel's interfaces programs the services.
const (
	// ModeIPTables writes chains in the iptables nat and filter tables
	// with iptables-restore (the default).
	ModeIPTables = "iptables"
	// ModeNFTables writes one nftables table of its own, with verdict maps
	// keyed by service address, port and protocol, with `nft -f`.
	ModeNFTables = "nftables"
)

// Backoff bounds for retrying a failed sync in Run.
const maxRetryBackoff = 30 * time.Second

// SyncStats describes the most recent sync.
type SyncStats struct {
	// Syncs counts sync attempts since New.
	Syncs int
	// Full is true when the sync re-read the kernel's state and rewrote
	// every chain (the first sync after a failure).
	Full bool
	// Partial is true when the sync worked from the services whose
	// objects changed, without building the others (every sync after
	// one that worked, unless the cluster CIDR or node addresses changed).
	Partial bool
	// Build, Restore and Conntrack time the phases; Total the whole sync.
	Build, Restore, Conntrack, Total time.Duration
	// Changes lists the chains written and deleted; RestoreBytes is the
	// size of the iptables-restore input (0 when nothing ran).
	Changes      Changes
	RestoreBytes int
	// Elements counts the nftables map elements added or deleted (always
	// 0 in iptables mode).
	Elements int
	// ConntrackDeleted counts stale UDP conntrack entries removed.
	ConntrackDeleted uint
	// Err is the sync's error, if any.
	Err error
}

// Proxier keeps a node's service rules in step with the desired Services
// and Endpoints. Build it with New, call Setup once, then Update from the
// watch and Run (or SyncNow).
type Proxier struct {
	cfg Config
	log *slog.Logger
	x   executor

	mu        sync.Mutex // guards the desired state and stats
	services  []*v1.Service
	endpoints []*v1.Endpoints
	stats     SyncStats
	wake      chan struct{}

	syncMu  sync.Mutex // one sync at a time; guards what follows
	be      *backend
	applied *Ruleset // our chains as the kernel has them; nil = unknown, re-read
	// appliedBuilt says applied is what the last sync built (not read
	// back by Setup), so the cache describes it and a sync can work from
	// the services that changed (delta).
	appliedBuilt bool
	cache        buildCache
	localnet     localnetState

	// The nftables mode's counterparts of be, applied and cache.
	nftReady   bool
	nftApplied *NFTRuleset
	nftCache   nftCache
}

// New builds a proxier. It has no side effects.
func New(cfg Config) (*Proxier, error) {
	if cfg.ClusterCIDR != nil && cfg.ClusterCIDR.IP.To4() == nil {
		return nil, fmt.Errorf("proxy: cluster CIDR %s is not IPv4", cfg.ClusterCIDR)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeIPTables
	case ModeIPTables, ModeNFTables:
	default:
		return nil, fmt.Errorf("proxy: unknown mode %q (want %q or %q)", cfg.Mode, ModeIPTables, ModeNFTables)
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Proxier{
		cfg:  cfg,
		log:  cfg.Logger.With("subsystem", "proxy"),
		x:    nsExecutor{netns: cfg.NetNS},
		wake: make(chan struct{}, 1),
	}, nil
}

// Update replaces the desired state with the full list of services and
// endpoints and wakes the sync loop. It never blocks. The slices and the
// objects are not modified and must not be modified by the caller after.
func (p *Proxier) Update(services []*v1.Service, endpoints []*v1.Endpoints) {
	p.mu.Lock()
	p.services, p.endpoints = services, endpoints
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stats returns the statistics of the most recent sync.
func (p *Proxier) Stats() SyncStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Run is the sync loop. It does nothing until the first Update (so a
// restarted agent never replaces live rules with an empty state), syncs at
// once, then coalesces: at most one sync per MinSyncInterval, always of the
// latest state. A failed sync is retried with exponential back-off (from
// MinSyncInterval up to 30 s) unless an update comes first. It returns when
// ctx is done.
func (p *Proxier) Run(ctx context.Context) {
	var last time.Time
	var retry *time.Timer
	var retryC <-chan time.Time
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			if retry != nil {
				retry.Stop()
			}
			return
		case <-p.wake:
		case <-retryC:
		}
		if wait := p.cfg.MinSyncInterval - time.Since(last); !last.IsZero() && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		// Whatever arrived while waiting is folded into this sync.
		select {
		case <-p.wake:
		default:
		}
		last = time.Now()
		if retry != nil {
			retry.Stop()
			retry, retryC = nil, nil
		}
		if err := p.SyncNow(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, p.cfg.MinSyncInterval), maxRetryBackoff)
			p.log.Error("service rules sync failed; retrying", "err", err, "retry_in", backoff)
			retry = time.NewTimer(backoff)
			retryC = retry.C
			continue
		}
		backoff = 0
	}
}

// SyncNow makes the kernel's rules match the latest Update, synchronously.
// Setup must have succeeded first.
func (p *Proxier) SyncNow(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	p.mu.Lock()
	in := RulesInput{Services: p.services, Endpoints: p.endpoints,
		ClusterCIDR: p.cfg.ClusterCIDR, NodeIPs: p.cfg.NodeIPs}
	p.mu.Unlock()

	var st SyncStats
	var err error
	if p.cfg.Mode == ModeNFTables {
		st, err = p.syncNFT(ctx, in)
	} else {
		st, err = p.sync(ctx, in)
	}
	p.mu.Lock()
	st.Syncs = p.stats.Syncs + 1
	st.Err = err
	p.stats = st
	p.mu.Unlock()
	return err
}

// Setup, in nftables mode, is setupNFT. In iptables mode it checks the iptables backend, sets the sysctls the rules need (and
// turns route_localnet off for all devices: syncs set it per device),
// creates our base chains if missing (iptables-restore) and inserts the
// jump rules from the built-in chains that are missing (go-iptables, in
// Config.NetNS, with the same flavour). It reads the live state of our chains so the first sync
// rewrites only what differs. It refuses to start when the other iptables
// flavour (legacy vs nf_tables) also holds rules in our chains: both would
// see every packet.
func (p *Proxier) Setup(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.cfg.Mode == ModeNFTables {
		return p.setupNFT(ctx)
	}
	be, err := detectBackend(ctx, p.x)
	if err != nil {
		return fmt.Errorf("proxy setup: %w", err)
	}
	if be.other != "" {
		other, jumps, err := be.readOther(ctx)
		if err != nil {
			return fmt.Errorf("proxy setup: check %s: %w", be.other, err)
		}
		if other.NumRules() > 0 || len(jumps) > 0 {
			return fmt.Errorf("proxy setup: %s shows rules in ORCH- chains while iptables uses %s; "+
				"both flavours would process every packet: remove the stale ones (e.g. run Cleanup with that flavour as the iptables alternative) before starting",
				be.other, be.mode)
		}
	}
	if err := setSysctls(p.cfg.NetNS); err != nil {
		return fmt.Errorf("proxy setup: %w", err)
	}
	// Earlier releases turned route_localnet on for every device; only
	// the devices towards NodePort endpoints need it (syncLocalnet).
	var allOff bool
	if err := InNetNS(p.cfg.NetNS, func() (err error) { allOff, err = writeSysctl(routeLocalnetAll, "0"); return err }); err != nil {
		return fmt.Errorf("proxy setup: %w", err)
	}
	if allOff {
		p.log.Info("route_localnet turned off for all devices; it is set only on the devices towards NodePort endpoints")
	}
	p.localnet = localnetState{}
	state, jumps, err := be.readState(ctx, be.save)
	if err != nil {
		return fmt.Errorf("proxy setup: %w", err)
	}
	if text := setupText(state); len(text) > 0 {
		if err := be.applyRestore(ctx, text); err != nil {
			return fmt.Errorf("proxy setup: create base chains: %w", err)
		}
	}
	for _, b := range baseChains {
		state.table(b.table).ensure(b.chain)
	}
	// The jumps go in once the chains they target exist.
	inserted, err := be.ensureJumps(ctx, p.cfg.NetNS)
	if err != nil {
		return fmt.Errorf("proxy setup: jump rules: %w", err)
	}
	p.be, p.applied, p.appliedBuilt = be, state, false
	p.log.Info("service proxy set up", "backend", be.mode, "iptables", be.iptables, "netns", p.cfg.NetNS,
		"existing_chains", state.NumChains(), "existing_rules", state.NumRules(),
		"existing_jumps", len(jumps), "jumps_inserted", inserted)
	return nil
}

// Cleanup, in nftables mode, deletes the mode's table (cleanupNFT). In
// iptables mode it removes every rule jumping to a chain of ours (go-iptables), then
// every chain of ours in one iptables-restore, and turns route_localnet off
// again on every device (without ORCH-LOCALNET it would leave the node's
// loopback open). It works without Setup (node reset).
func (p *Proxier) Cleanup(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	if p.cfg.Mode == ModeNFTables {
		return p.cleanupNFT(ctx)
	}
	be := p.be
	if be == nil {
		var err error
		if be, err = detectBackend(ctx, p.x); err != nil {
			return fmt.Errorf("proxy cleanup: %w", err)
		}
	}
	state, jumps, err := be.readState(ctx, be.save)
	if err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	// From here on some jump rules may be gone whatever happens, and a sync
	// would write chains nothing jumps to: a later sync needs Setup again.
	p.be, p.applied, p.appliedBuilt = nil, nil, false
	// The jumps first: a chain still referenced cannot be deleted.
	if err := be.deleteJumps(ctx, p.cfg.NetNS, state, jumps); err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	if text := cleanupText(state); len(text) > 0 {
		if err := be.applyRestore(ctx, text); err != nil {
			return fmt.Errorf("proxy cleanup: %w", err)
		}
	}
	if err := resetRouteLocalnet(p.cfg.NetNS); err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	p.localnet = localnetState{}
	p.log.Info("service proxy rules removed", "chains", state.NumChains(), "jumps", len(jumps))
	return nil
}

var errNotSetUp = errors.New("proxy: Setup has not succeeded")
