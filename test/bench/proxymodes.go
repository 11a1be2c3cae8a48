package bench

// The service proxy in both modes, through the proxier's public API only:
// the first sync of a node holding many services (3 endpoints each) and
// one endpoint change among them, for iptables and for nftables, each run
// in a throwaway network namespace.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/proxy"
)

// ProxyModeResult is the runs of one mode at one size.
type ProxyModeResult struct {
	Mode     string
	Services int
	// First is the proxier's first sync (New, Setup, Update, SyncNow: the
	// SyncNow); Change the sync after one endpoint of one service changed.
	First, Change []time.Duration
	// FirstBytes is the size of the first sync's input to
	// iptables-restore or nft; ChangeElements the nftables map elements
	// the change wrote (0 for iptables).
	FirstBytes, ChangeElements int
	// Where each change's time went: ChangeApply is the kernel update
	// (iptables-restore or nft run, or the netlink batch sent), wall
	// clock; ChangeOwn the rest of the sync (building, diffing,
	// rendering), wall clock. ChangeChildCPU is the CPU (user and system)
	// of the processes the sync ran (iptables-restore, nft), the kernel's
	// work on their input included; ChangeSelfCPU the benchmark process's
	// own CPU over the sync (a netlink batch's kernel work included).
	ChangeApply, ChangeOwn, ChangeChildCPU, ChangeSelfCPU []time.Duration
}

// ChangeSplit describes where the median change's time went, as medians
// of the runs: the kernel update against the proxier's own work (wall
// clock), and the CPU of the processes it ran and of its own.
func (r ProxyModeResult) ChangeSplit() string {
	return fmt.Sprintf("kernel update %s (child processes' CPU %s), proxier's own work %s (process CPU %s)",
		fmtMS(medianDur(r.ChangeApply)), fmtMS(medianDur(r.ChangeChildCPU)),
		fmtMS(medianDur(r.ChangeOwn)), fmtMS(medianDur(r.ChangeSelfCPU)))
}

// rusageCPU returns the user and system CPU this process and its
// waited-for children have used.
func rusageCPU() (self, children time.Duration, err error) {
	var s, c unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &s); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	if err := unix.Getrusage(unix.RUSAGE_CHILDREN, &c); err != nil {
		return 0, 0, fmt.Errorf("getrusage: %w", err)
	}
	cpu := func(r unix.Rusage) time.Duration { return time.Duration(r.Utime.Nano() + r.Stime.Nano()) }
	return cpu(s), cpu(c), nil
}

// FirstMedian is the median first sync.
func (r ProxyModeResult) FirstMedian() time.Duration { return medianDur(r.First) }

// ChangeMedian is the median endpoint change.
func (r ProxyModeResult) ChangeMedian() time.Duration { return medianDur(r.Change) }

// ProxyModes times, for each mode, runs first syncs of services services
// and one endpoint change after each, modes alternating run by run so
// neither always goes first. Progress lines go to out.
func ProxyModes(ctx context.Context, modes []string, services, runs int, out io.Writer) ([]ProxyModeResult, error) {
	if out == nil {
		out = io.Discard
	}
	ss, es := ProxyServices(services)
	res := make([]ProxyModeResult, len(modes))
	for i, m := range modes {
		res[i] = ProxyModeResult{Mode: m, Services: services}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for r := 0; r < runs; r++ {
		for k := range modes {
			i := k
			if r%2 == 1 {
				i = len(modes) - 1 - k
			}
			if err := proxyModeRun(ctx, &res[i], ss, es, r, quiet); err != nil {
				return res, fmt.Errorf("%s, %d services, run %d: %w", modes[i], services, r+1, err)
			}
			fmt.Fprintf(out, "proxy %-8s %d services run %d/%d: first sync %s, one endpoint change %s (kernel update %s, child CPU %s; own work %s, own CPU %s)\n",
				modes[i], services, r+1, runs, fmtMS(res[i].First[r]), fmtMS(res[i].Change[r]),
				fmtMS(res[i].ChangeApply[r]), fmtMS(res[i].ChangeChildCPU[r]), fmtMS(res[i].ChangeOwn[r]), fmtMS(res[i].ChangeSelfCPU[r]))
		}
	}
	return res, nil
}

// proxyModeRun is one first sync and one endpoint change in a new namespace.
func proxyModeRun(ctx context.Context, res *ProxyModeResult, services []*v1.Service, endpoints []*v1.Endpoints,
	run int, log *slog.Logger) (err error) {
	ns, del, err := throwawayNetNS()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, del()) }()
	p, err := proxy.New(proxy.Config{Mode: res.Mode, ClusterCIDR: benchClusterCIDR, NetNS: ns, Logger: log})
	if err != nil {
		return err
	}
	if err := p.Setup(ctx); err != nil {
		return err
	}
	p.Update(services, endpoints)
	start := time.Now()
	if err := p.SyncNow(ctx); err != nil {
		return err
	}
	res.First = append(res.First, time.Since(start))
	res.FirstBytes = p.Stats().RestoreBytes

	i := (len(services)/2 + run*7) % len(services)
	changed := slices.Clone(endpoints)
	changed[i] = proxyEndpoints(services[i].Name, fmt.Sprintf("10.250.%d.%d", run%250, i%250+1), podIP(i*3+1), podIP(i*3+2))
	p.Update(services, changed)
	self0, child0, err := rusageCPU()
	if err != nil {
		return err
	}
	start = time.Now()
	if err := p.SyncNow(ctx); err != nil {
		return err
	}
	res.Change = append(res.Change, time.Since(start))
	self1, child1, err := rusageCPU()
	if err != nil {
		return err
	}
	st := p.Stats()
	res.ChangeApply = append(res.ChangeApply, st.Restore)
	res.ChangeOwn = append(res.ChangeOwn, st.Total-st.Restore)
	res.ChangeSelfCPU = append(res.ChangeSelfCPU, self1-self0)
	res.ChangeChildCPU = append(res.ChangeChildCPU, child1-child0)
	if st.Changes.Empty() && st.Elements == 0 {
		return errors.New("the endpoint change synced nothing")
	}
	res.ChangeElements = st.Elements
	return p.Cleanup(ctx)
}
