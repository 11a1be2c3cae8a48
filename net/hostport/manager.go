package hostport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-iptables/iptables"

	"orch.io/orch/net/proxy"
)

// Config configures a Manager.
type Config struct {
	// PodCIDR is the pod network whose traffic to a host port is
	// masqueraded, so replies come back through the node (hairpin); orchd
	// gives the cluster CIDR. Nil: none is.
	PodCIDR *net.IPNet
	// NetNS is the path of the network namespace the rules live in; empty
	// is the process's own (the node agent in production).
	NetNS string
	// Logger receives sync reports (default slog.Default()).
	Logger *slog.Logger
}

// maxRetryBackoff bounds the wait before retrying a failed sync in Run.
const maxRetryBackoff = 30 * time.Second

// Manager keeps the node's host-port rules in step with the desired
// mappings. Build it with New, then Update and Run (or Sync).
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // guards desired and updated
	desired []Mapping
	updated bool
	wake    chan struct{}

	syncMu  sync.Mutex // one sync at a time; guards applied
	applied []byte     // the last restore input applied, nil = unknown
}

// New builds a manager. It has no side effects.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{cfg: cfg, log: cfg.Logger.With("subsystem", "hostport"), wake: make(chan struct{}, 1)}
}

// Update replaces the desired mappings and wakes Run. It never blocks; the
// slice is not modified and must not be modified by the caller after.
func (m *Manager) Update(mappings []Mapping) {
	m.mu.Lock()
	m.desired, m.updated = mappings, true
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run syncs after every Update (nothing before the first, so a restarted
// agent never wipes live rules before it knows its pods), retrying a
// failed sync with exponential back-off until an update comes. It returns
// when ctx is done.
func (m *Manager) Run(ctx context.Context) {
	var retry <-chan time.Time
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-retry:
		}
		retry = nil
		m.mu.Lock()
		want, ok := m.desired, m.updated
		m.mu.Unlock()
		if !ok {
			continue
		}
		if err := m.Sync(ctx, want); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, time.Second), maxRetryBackoff)
			m.log.Error("host port rules sync failed; retrying", "err", err, "retry_in", backoff)
			retry = time.After(backoff)
			continue
		}
		backoff = 0
	}
}

// Sync makes the kernel's host-port rules match mappings, synchronously:
// one iptables-restore rewriting both chains (skipped when the input is
// the one last applied), then the missing jump rules. A mapping that cannot
// be rendered (the API refuses such pods) is logged and left out; retrying
// would not change it.
func (m *Manager) Sync(ctx context.Context, mappings []Mapping) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	text, renderErr := Render(mappings, m.cfg.PodCIDR)
	if !bytes.Equal(text, m.applied) {
		if renderErr != nil {
			m.log.Warn("host ports without rules", "err", renderErr)
		}
		m.applied = nil
		if err := m.run(ctx, "iptables-restore", []string{"-w", "5", "--noflush"}, text); err != nil {
			return fmt.Errorf("host ports: %w", err)
		}
		if err := m.ensureJumps(); err != nil {
			return fmt.Errorf("host ports: %w", err)
		}
		m.applied = text
		m.log.Info("host port rules synced", "mappings", len(mappings))
	}
	return nil
}

// Cleanup deletes the jump rules and both chains. It is idempotent and
// needs no Sync first (node reset).
func (m *Manager) Cleanup(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	m.applied = nil
	return proxy.InNetNS(m.cfg.NetNS, func() error {
		ipt, err := iptables.New(iptables.Timeout(5))
		if err != nil {
			return fmt.Errorf("host ports cleanup: %w", err)
		}
		var errs []error
		exists := map[string]bool{}
		for _, c := range []string{ChainHostPorts, ChainMasq} {
			ok, err := ipt.ChainExists("nat", c)
			if err != nil {
				errs = append(errs, fmt.Errorf("check chain nat/%s: %w", c, err))
			}
			exists[c] = ok
		}
		// The jumps first: a chain still referenced cannot be deleted, and
		// checking a jump to a missing chain is an error, not "absent".
		for _, j := range jumps {
			if !exists[j.spec[len(j.spec)-1]] {
				continue
			}
			if err := ipt.DeleteIfExists("nat", j.chain, j.spec...); err != nil {
				errs = append(errs, fmt.Errorf("delete jump in nat/%s: %w", j.chain, err))
			}
		}
		for _, c := range []string{ChainHostPorts, ChainMasq} {
			if !exists[c] {
				continue
			}
			if err := ipt.ClearAndDeleteChain("nat", c); err != nil {
				errs = append(errs, fmt.Errorf("delete chain nat/%s: %w", c, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("host ports cleanup: %w", err)
		}
		return nil
	})
}

// ensureJumps inserts at position 1 each jump rule its built-in chain lacks.
func (m *Manager) ensureJumps() error {
	return proxy.InNetNS(m.cfg.NetNS, func() error {
		ipt, err := iptables.New(iptables.Timeout(5))
		if err != nil {
			return err
		}
		for _, j := range jumps {
			ok, err := ipt.Exists("nat", j.chain, j.spec...)
			if err != nil {
				return fmt.Errorf("check jump in nat/%s: %w", j.chain, err)
			}
			if !ok {
				if err := ipt.Insert("nat", j.chain, 1, j.spec...); err != nil {
					return fmt.Errorf("insert jump in nat/%s: %w", j.chain, err)
				}
			}
		}
		return nil
	})
}

// run executes a command in the manager's netns with stdin.
func (m *Manager) run(ctx context.Context, name string, args []string, stdin []byte) error {
	return proxy.InNetNS(m.cfg.NetNS, func() error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return nil
	})
}
