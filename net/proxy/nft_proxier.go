package proxy

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// The nftables mode's Setup, Cleanup and sync (see nft_rules.go for the
// table) in Config.NetNS: one transaction per sync (netlink, or `nft -f -`
// when the table is replaced whole), which the kernel applies whole or not
// at all; the first sync into a namespace without the table is two (the
// table's fixed part, then the services).

// nftCmd is the nftables command-line tool.
const nftCmd = "nft"

// nftApply feeds a transaction to nft -f.
func (p *Proxier) nftApply(ctx context.Context, text []byte) error {
	if _, err := p.x.run(ctx, nftCmd, []string{"-f", "-"}, text); err != nil {
		return fmt.Errorf("nft -f: %w", err)
	}
	return nil
}

// setupNFT checks that nft runs, sets the sysctls the rules need and turns
// route_localnet off for all devices (syncs set it per device). It leaves
// the table alone: a restarted agent keeps the live rules until its first
// sync replaces them in one transaction.
func (p *Proxier) setupNFT(ctx context.Context) error {
	if _, err := p.x.run(ctx, nftCmd, []string{"--version"}, nil); err != nil {
		return fmt.Errorf("proxy setup: nftables mode needs the nft command (make deps installs nftables): %w", err)
	}
	if err := setSysctls(p.cfg.NetNS); err != nil {
		return fmt.Errorf("proxy setup: %w", err)
	}
	if err := InNetNS(p.cfg.NetNS, func() error { _, err := writeSysctl(routeLocalnetAll, "0"); return err }); err != nil {
		return fmt.Errorf("proxy setup: %w", err)
	}
	p.localnet = localnetState{}
	p.nftReady, p.nftApplied = true, nil
	p.log.Info("service proxy set up", "mode", ModeNFTables, "table", "ip "+NFTTable, "netns", p.cfg.NetNS)
	return nil
}

// cleanupNFT deletes the table (nothing when it is absent) and turns
// route_localnet off again on every device. It works without Setup.
func (p *Proxier) cleanupNFT(ctx context.Context) error {
	p.nftReady, p.nftApplied = false, nil
	t := "table ip " + NFTTable + "\n"
	// Adding an existing table is a no-op, so this never fails on absence.
	if err := p.nftApply(ctx, []byte("add "+t+"delete "+t)); err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	if err := resetRouteLocalnet(p.cfg.NetNS); err != nil {
		return fmt.Errorf("proxy cleanup: %w", err)
	}
	p.localnet = localnetState{}
	p.log.Info("service proxy table removed", "table", "ip "+NFTTable)
	return nil
}

// syncNFT builds the desired table and applies what differs from the
// applied one in one nft transaction: a full replacement when the kernel's
// state is unknown (first sync, or after a failure). Called with syncMu held.
func (p *Proxier) syncNFT(ctx context.Context, in RulesInput) (SyncStats, error) {
	var st SyncStats
	if !p.nftReady {
		return st, errNotSetUp
	}
	start := time.Now()
	prev := p.nftApplied
	// After a sync that worked: only the services that changed, diffed
	// from what they were (before) to what they are (after); prev becomes
	// the new state in place.
	var desired, before, after *NFTRuleset
	if prev != nil {
		var ok bool
		if before, after, ok = p.nftCache.delta(in, prev); !ok {
			before, after = nil, nil
		}
	}
	if after == nil {
		desired = buildNFTRules(in, &p.nftCache)
	}
	st.Build, st.Partial = time.Since(start), after != nil
	if err := p.syncLocalnet(in); err != nil {
		p.log.Error("route_localnet for NodePort endpoints", "err", err)
	}
	var text []byte
	var ch NFTChanges
	var batch *nftBatch
	if after != nil {
		if b, err := after.netlinkChanges(before); err == nil {
			batch, ch = b, b.changes
		} else {
			text, ch = after.RenderChanged(before)
		}
	} else if prev == nil {
		st.Full = true
		var err error
		if batch, err = p.nftFirstSync(ctx, in, desired); err != nil {
			p.log.Error("nftables first sync through netlink; replacing the whole table with nft -f", "err", err)
			batch = nil
		}
		if batch != nil {
			ch = batch.changes
		} else {
			text, ch = desired.RenderFull()
		}
	} else if b, err := desired.netlinkChanges(prev); err == nil {
		batch, ch = b, b.changes
	} else {
		text, ch = desired.RenderChanged(prev)
	}
	for _, c := range ch.Written {
		st.Changes.Written = append(st.Changes.Written, ChainRef{NFTTable, c})
	}
	for _, c := range ch.Deleted {
		st.Changes.Deleted = append(st.Changes.Deleted, ChainRef{NFTTable, c})
	}
	st.Elements = ch.Elements
	if batch != nil && len(batch.ops) > 0 {
		t := time.Now()
		err := batch.apply(p.cfg.NetNS)
		st.Restore = time.Since(t)
		if err != nil {
			p.nftApplied = nil
			st.Total = time.Since(start)
			p.log.Error("nftables netlink batch failed; the next sync replaces the whole table", "err", err)
			return st, fmt.Errorf("proxy sync: %w", err)
		}
	}
	if len(text) > 0 {
		st.RestoreBytes = len(text)
		t := time.Now()
		err := p.nftApply(ctx, text)
		st.Restore = time.Since(t)
		if err != nil {
			p.nftApplied = nil
			st.Total = time.Since(start)
			p.log.Error("nft transaction failed; the next sync replaces the whole table", "err", err)
			return st, fmt.Errorf("proxy sync: %w", err)
		}
	}
	if after != nil {
		// prev holds the new state already.
		desired, prev = prev, before
	} else {
		after = desired
	}
	p.nftApplied = desired
	if stale := nftStaleUDPFlows(prev, after); len(stale) > 0 {
		t := time.Now()
		n, err := deleteConntrack(p.cfg.NetNS, stale)
		st.Conntrack, st.ConntrackDeleted = time.Since(t), n
		if err != nil {
			p.log.Error("clear stale UDP conntrack entries", "err", err, "flows", len(stale))
		}
	}
	st.Total = time.Since(start)
	if !ch.Empty() {
		p.log.Debug("service rules synced", "mode", ModeNFTables, "written", len(ch.Written), "deleted", len(ch.Deleted),
			"elements", ch.Elements, "bytes", st.RestoreBytes, "netlink", batch != nil, "full", st.Full, "build", st.Build, "nft", st.Restore,
			"conntrack_deleted", st.ConntrackDeleted, "took", st.Total)
	}
	return st, nil
}

// nftFirstSync starts the first sync into a namespace without our table:
// nft -f creates the table with its fixed chains and empty maps (a few
// dozen lines), and the batch it returns, sent through netlink, adds every
// service. nft 1.0.6 takes seconds to read and check 10,000 services'
// chains and elements; the kernel takes a fraction of that. Where the table
// exists (an agent restarted, or a failed sync) it returns nil and the
// caller replaces the table in one nft transaction, so the live rules go
// only when the new ones come. An error leaves at most the empty table.
func (p *Proxier) nftFirstSync(ctx context.Context, in RulesInput, desired *NFTRuleset) (*nftBatch, error) {
	exists, err := nftTableExists(p.cfg.NetNS)
	if err != nil || exists {
		return nil, err
	}
	skeleton := BuildNFTRules(RulesInput{ClusterCIDR: in.ClusterCIDR, NodeIPs: in.NodeIPs})
	batch, err := desired.netlinkChanges(skeleton)
	if err != nil {
		return nil, err
	}
	text, ch := skeleton.RenderFull()
	if err := p.nftApply(ctx, text); err != nil {
		return nil, err
	}
	batch.changes.Written = append(ch.Written, batch.changes.Written...)
	return batch, nil
}

// CleanupLeftovers removes what the other mode left in cfg.NetNS, as
// kube-proxy does when it starts: the iptables chains when cfg.Mode is
// nftables, the nftables table otherwise. Both would see every packet. A
// mode whose command is not installed has left nothing to remove.
func CleanupLeftovers(ctx context.Context, cfg Config) error {
	other, cmd := ModeNFTables, nftCmd
	if cfg.Mode == ModeNFTables {
		other, cmd = ModeIPTables, "iptables"
	}
	if _, err := exec.LookPath(cmd); err != nil {
		return nil
	}
	cfg.Mode = other
	p, err := New(cfg)
	if err != nil {
		return err
	}
	if err := p.Cleanup(ctx); err != nil {
		return fmt.Errorf("remove the %s mode's rules: %w", other, err)
	}
	return nil
}
