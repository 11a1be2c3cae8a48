package proxy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// builtinJumps are the rules Setup inserts at the top of built-in chains
// (with go-iptables, see ensureJumps), in iptables-save's canonical form.
var builtinJumps = []jumpRule{
	{TableNAT, "PREROUTING", `-m comment --comment "orch service portals" -j ` + ChainServices},
	{TableNAT, "OUTPUT", `-m comment --comment "orch service portals" -j ` + ChainServices},
	{TableNAT, "POSTROUTING", `-m comment --comment "orch service masquerade" -j ` + ChainPostrouting},
	{TableFilter, "INPUT", `-m conntrack --ctstate NEW -m comment --comment "orch service firewall" -j ` + ChainFirewall},
	{TableFilter, "FORWARD", `-m conntrack --ctstate NEW -m comment --comment "orch service firewall" -j ` + ChainFirewall},
	{TableFilter, "OUTPUT", `-m conntrack --ctstate NEW -m comment --comment "orch service firewall" -j ` + ChainFirewall},
	localnetJump,
}

// setupText creates the base chains the kernel lacks (declaring an existing
// chain would flush it), given the live state. Empty when they all exist.
// The jump rules to them are go-iptables' business (ensureJumps).
func setupText(state *Ruleset) []byte {
	var b strings.Builder
	for _, t := range []string{TableFilter, TableNAT} {
		var lines []string
		for _, c := range baseChains {
			if c.table == t && !state.HasChain(t, c.chain) {
				lines = append(lines, ":"+c.chain+" - [0:0]")
			}
		}
		if len(lines) > 0 {
			b.WriteString("*" + t + "\n" + strings.Join(lines, "\n") + "\nCOMMIT\n")
		}
	}
	return []byte(b.String())
}

// cleanupText flushes and deletes every chain of ours. The jump rules to
// them must be gone first (deleteJumps): a chain still referenced cannot be
// deleted.
func cleanupText(state *Ruleset) []byte {
	var b strings.Builder
	for _, t := range []string{TableFilter, TableNAT} {
		chains := state.Chains(t)
		if len(chains) == 0 {
			continue
		}
		b.WriteString("*" + t + "\n")
		for _, c := range chains {
			b.WriteString(":" + c + " - [0:0]\n")
		}
		for _, c := range chains {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return []byte(b.String())
}

// sync builds the desired rules and applies what differs from the applied
// state, in one iptables-restore. Called with syncMu held.
func (p *Proxier) sync(ctx context.Context, in RulesInput) (SyncStats, error) {
	var st SyncStats
	if p.be == nil {
		return st, errNotSetUp
	}
	start := time.Now()
	prev := p.applied
	// After a sync that worked: only the services that changed, diffed
	// from what they were to what they are; prev becomes the new state in
	// place.
	var d ruleDelta
	partial := false
	if prev != nil && p.appliedBuilt {
		d, partial = p.cache.delta(in, prev)
	}
	st.Partial = partial
	var desired *Ruleset
	if !partial {
		desired = buildRules(in, &p.cache)
	}
	st.Build = time.Since(start)
	if err := p.syncLocalnet(in); err != nil {
		// The rules still apply; only NodePorts on 127.0.0.1 to the
		// endpoints concerned fail until a later sync gets it right.
		p.log.Error("route_localnet for NodePort endpoints", "err", err)
	}

	if prev == nil {
		// After a failed restore (or Cleanup) the kernel's state is unknown:
		// read it back and rewrite everything.
		state, _, err := p.be.readState(ctx, p.be.save)
		if err != nil {
			return st, fmt.Errorf("proxy sync: %w", err)
		}
		prev, st.Full = state, true
	}
	var text []byte
	switch {
	case partial:
		text, st.Changes = d.after.RenderChanged(d.before)
	case st.Full:
		text, st.Changes = desired.RenderFull(prev)
	default:
		text, st.Changes = desired.RenderChanged(prev)
	}
	if len(text) > 0 {
		st.RestoreBytes = len(text)
		t := time.Now()
		err := p.be.applyRestore(ctx, text)
		st.Restore = time.Since(t)
		if err != nil {
			p.applied, p.appliedBuilt = nil, false
			st.Total = time.Since(start)
			p.log.Error("iptables-restore failed; the next sync rewrites every chain", "err", err)
			return st, fmt.Errorf("proxy sync: %w", err)
		}
	}
	stale := d.stale
	if !partial {
		stale = StaleUDPFlows(prev, desired)
		p.applied = desired
	}
	p.appliedBuilt = true

	if len(stale) > 0 {
		t := time.Now()
		n, err := deleteConntrack(p.cfg.NetNS, stale)
		st.Conntrack, st.ConntrackDeleted = time.Since(t), n
		if err != nil {
			// The rules are applied; a leftover flow only delays clients of
			// a removed UDP backend until it expires. Report, do not retry.
			p.log.Error("clear stale UDP conntrack entries", "err", err, "flows", len(stale))
		}
	}
	st.Total = time.Since(start)
	if !st.Changes.Empty() {
		p.log.Debug("service rules synced", "written", len(st.Changes.Written), "deleted", len(st.Changes.Deleted),
			"bytes", st.RestoreBytes, "full", st.Full, "partial", st.Partial, "build", st.Build, "restore", st.Restore,
			"conntrack_deleted", st.ConntrackDeleted, "took", st.Total)
	}
	return st, nil
}
