package bench

// The service proxy benchmark: net/proxy's syncs against a raw
// iptables-restore of the same text and against one iptables exec per rule
// (go-iptables), each inside a throwaway network namespace so the
// machine's own rules are never touched.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-iptables/iptables"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/proxy"
)

// ProxyBenchOptions configures ProxyBench.
type ProxyBenchOptions struct {
	// Sizes are the service counts (3 endpoints each); default 1,000 and 5,000.
	Sizes []int
	// Runs per size; medians are reported (default 3).
	Runs int
	// GoIPTablesServices is the size of the one-rule-per-exec run (0 skips it).
	GoIPTablesServices int
	// Out receives the progress lines and the table.
	Out io.Writer
}

// ProxySizeResult holds the runs of one size.
type ProxySizeResult struct {
	Services, Rules, Chains, Bytes int
	// First is the proxier's first sync (state read, BuildRules, render,
	// iptables-restore); FirstRestore the restore part of it.
	First, FirstRestore []time.Duration
	// Raw is one iptables-restore --noflush of the text the first sync
	// applied, into a fresh netns holding only what Setup creates.
	Raw []time.Duration
	// Incremental is the proxier's sync after one endpoint change;
	// IncrementalRestore the restore part, IncrementalChains the chains written+deleted.
	Incremental, IncrementalRestore []time.Duration
	IncrementalChains               int
}

// ProxyBenchResult is what ProxyBench measured.
type ProxyBenchResult struct {
	Backend string
	Sizes   []ProxySizeResult
	// GoIPTables is the single one-rule-per-exec run (0 if skipped).
	GoIPTables         time.Duration
	GoIPTablesExecs    int
	GoIPTablesServices int
}

// ProxyServices builds n ClusterIP services with one TCP port and three
// ready endpoints each, and their Endpoints.
func ProxyServices(n int) ([]*v1.Service, []*v1.Endpoints) {
	var ss []*v1.Service
	var es []*v1.Endpoints
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		ss = append(ss, &v1.Service{ObjectMeta: v1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []v1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}}}})
		es = append(es, proxyEndpoints(name, podIP(i*3), podIP(i*3+1), podIP(i*3+2)))
	}
	return ss, es
}

// podIP is the k-th pod address of the benchmark (k < 62,500).
func podIP(k int) string { return fmt.Sprintf("10.244.%d.%d", k/250, k%250+1) }

func proxyEndpoints(name string, ips ...string) *v1.Endpoints {
	var addrs []v1.EndpointAddress
	for _, ip := range ips {
		addrs = append(addrs, v1.EndpointAddress{IP: ip})
	}
	return &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Namespace: "bench", Name: name},
		Subsets: []v1.EndpointSubset{{Addresses: addrs, Ports: []v1.EndpointPort{{Name: "http", Protocol: "TCP", Port: 8080}}}}}
}

var benchClusterCIDR = &net.IPNet{IP: net.IPv4(10, 244, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}

// throwawayNetNS creates a network namespace and returns its path and a
// function that deletes it.
func throwawayNetNS() (string, func() error, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := "orchpx-bench-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	del := func() error {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			return fmt.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
		return nil
	}
	return "/run/netns/" + name, del, nil
}

// iptablesSave reads the filter and nat tables in the namespace.
func iptablesSave(ctx context.Context, ns string) (*proxy.Ruleset, error) {
	var out []byte
	err := proxy.InNetNS(ns, func() (err error) {
		out, err = exec.CommandContext(ctx, "iptables-save", "-t", "nat").Output()
		if err != nil {
			return fmt.Errorf("iptables-save: %w", err)
		}
		filter, err := exec.CommandContext(ctx, "iptables-save", "-t", "filter").Output()
		if err != nil {
			return fmt.Errorf("iptables-save: %w", err)
		}
		out = append(out, filter...)
		return nil
	})
	return proxy.ParseSave(out), err
}

// rawRestore feeds text to iptables-restore --noflush inside the namespace.
func rawRestore(ctx context.Context, ns string, text []byte) (time.Duration, error) {
	var took time.Duration
	err := proxy.InNetNS(ns, func() error {
		cmd := exec.CommandContext(ctx, "iptables-restore", "-w", "5", "--noflush")
		cmd.Stdin = bytes.NewReader(text)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		took = time.Since(start)
		if err != nil {
			return fmt.Errorf("iptables-restore: %v: %s", err, stderr.String())
		}
		return nil
	})
	return took, err
}

// ProxyBench measures, for each size: the proxier's first sync against one
// raw iptables-restore of the same text, and one endpoint change; then
// once, go-iptables adding the same rules one exec at a time.
func ProxyBench(ctx context.Context, o ProxyBenchOptions) (res *ProxyBenchResult, err error) {
	if len(o.Sizes) == 0 {
		o.Sizes = []int{1000, 5000}
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	res = &ProxyBenchResult{GoIPTablesServices: o.GoIPTablesServices}
	if v, err := exec.Command("iptables", "--version").Output(); err == nil {
		res.Backend = strings.TrimSpace(string(v))
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, n := range o.Sizes {
		services, endpoints := ProxyServices(n)
		in := proxy.RulesInput{Services: services, Endpoints: endpoints, ClusterCIDR: benchClusterCIDR}
		full := proxy.BuildRules(in)
		sr := ProxySizeResult{Services: n, Rules: full.NumRules(), Chains: full.NumChains(), Bytes: len(full.Render())}
		for r := 0; r < o.Runs; r++ {
			if err := proxyRun(ctx, &sr, services, endpoints, r, quiet); err != nil {
				return res, fmt.Errorf("%d services, run %d: %w", n, r+1, err)
			}
			fmt.Fprintf(o.Out, "proxy %5d services run %d/%d: first sync %v (restore %v), raw restore %v, one endpoint change %v (restore %v, %d chains)\n",
				n, r+1, o.Runs, fmtMS(sr.First[r]), fmtMS(sr.FirstRestore[r]), fmtMS(sr.Raw[r]), fmtMS(sr.Incremental[r]), fmtMS(sr.IncrementalRestore[r]), sr.IncrementalChains)
		}
		res.Sizes = append(res.Sizes, sr)
	}
	if o.GoIPTablesServices > 0 {
		fmt.Fprintf(o.Out, "proxy: go-iptables, %d services one rule per exec (one run; slow)...\n", o.GoIPTablesServices)
		services, endpoints := ProxyServices(o.GoIPTablesServices)
		rs := proxy.BuildRules(proxy.RulesInput{Services: services, Endpoints: endpoints, ClusterCIDR: benchClusterCIDR})
		if res.GoIPTables, res.GoIPTablesExecs, err = goIPTablesRun(ctx, rs); err != nil {
			return res, err
		}
	}
	PrintProxyTable(o.Out, res)
	return res, nil
}

// proxyRun is one run of one size: (a) then (c) in one namespace, (b) in
// another prepared the same way. Odd runs time (b) before (a), so neither
// gains from going second (the kernel's caches are warmer for the second).
func proxyRun(ctx context.Context, sr *ProxySizeResult, services []*v1.Service, endpoints []*v1.Endpoints,
	run int, log *slog.Logger) (err error) {
	nsA, delA, err := throwawayNetNS()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, delA()) }()
	nsB, delB, err := throwawayNetNS()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, delB()) }()
	p, err := proxy.New(proxy.Config{ClusterCIDR: benchClusterCIDR, NetNS: nsA, Logger: log})
	if err != nil {
		return err
	}
	if err := p.Setup(ctx); err != nil {
		return err
	}
	// The same starting state in B (untimed): the base chains and jumps
	// Setup creates, so the text applies unchanged.
	pb, err := proxy.New(proxy.Config{ClusterCIDR: benchClusterCIDR, NetNS: nsB, Logger: log})
	if err != nil {
		return err
	}
	if err := pb.Setup(ctx); err != nil {
		return err
	}
	// The text the proxier is about to apply, computed the way it does: the
	// desired rules against the state Setup left (empty base chains).
	state, err := iptablesSave(ctx, nsA)
	if err != nil {
		return err
	}
	text, _ := proxy.BuildRules(proxy.RulesInput{Services: services, Endpoints: endpoints,
		ClusterCIDR: benchClusterCIDR}).RenderChanged(state)

	timeRaw := func() error {
		raw, err := rawRestore(ctx, nsB, text)
		sr.Raw = append(sr.Raw, raw)
		return err
	}
	if run%2 == 1 {
		if err := timeRaw(); err != nil {
			return err
		}
	}
	p.Update(services, endpoints)
	start := time.Now()
	if err := p.SyncNow(ctx); err != nil {
		return err
	}
	sr.First = append(sr.First, time.Since(start))
	st := p.Stats()
	sr.FirstRestore = append(sr.FirstRestore, st.Restore)
	if st.RestoreBytes != len(text) {
		return fmt.Errorf("the proxier restored %d bytes, the raw text is %d: not the same input", st.RestoreBytes, len(text))
	}
	if run%2 == 0 {
		if err := timeRaw(); err != nil {
			return err
		}
	}

	// (c) one endpoint of one service replaced.
	i := (len(services)/2 + run*7) % len(services)
	changed := slices.Clone(endpoints)
	changed[i] = proxyEndpoints(services[i].Name, fmt.Sprintf("10.250.%d.%d", run%250, i%250+1), podIP(i*3+1), podIP(i*3+2))
	p.Update(services, changed)
	start = time.Now()
	if err := p.SyncNow(ctx); err != nil {
		return err
	}
	sr.Incremental = append(sr.Incremental, time.Since(start))
	st = p.Stats()
	sr.IncrementalRestore = append(sr.IncrementalRestore, st.Restore)
	sr.IncrementalChains = len(st.Changes.Written) + len(st.Changes.Deleted)
	return nil
}

// goIPTablesRun creates the chains and appends the rules of rs one
// iptables exec each, with go-iptables, in a throwaway namespace.
func goIPTablesRun(ctx context.Context, rs *proxy.Ruleset) (took time.Duration, execs int, err error) {
	ns, del, err := throwawayNetNS()
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, del()) }()
	err = proxy.InNetNS(ns, func() error {
		ipt, err := iptables.New()
		if err != nil {
			return fmt.Errorf("go-iptables: %w", err)
		}
		start := time.Now()
		for _, t := range []string{proxy.TableFilter, proxy.TableNAT} {
			chains := rs.Chains(t)
			for _, c := range chains {
				if err := ipt.NewChain(t, c); err != nil {
					return fmt.Errorf("go-iptables new chain %s: %w", c, err)
				}
				execs++
			}
			for _, c := range chains {
				for _, r := range rs.Rules(t, c) {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if err := ipt.Append(t, c, ruleArgs(r)...); err != nil {
						return fmt.Errorf("go-iptables append to %s: %w", c, err)
					}
					execs++
				}
			}
		}
		took = time.Since(start)
		return nil
	})
	return took, execs, err
}

func medianDur(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func runs(d []time.Duration) string {
	var parts []string
	for _, x := range d {
		parts = append(parts, fmt.Sprintf("%.0f", float64(x.Microseconds())/1000))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// PrintProxyTable prints the results as a table.
func PrintProxyTable(w io.Writer, r *ProxyBenchResult) {
	fmt.Fprintf(w, "\n== service proxy: %s, each run in throwaway network namespaces; 3 endpoints per service; median of runs, all runs in ms ==\n", r.Backend)
	fmt.Fprintf(w, "%-9s %-7s %-7s %-9s | %-32s | %-32s | %-16s | %s\n", "services", "rules", "chains", "bytes",
		"(a) proxier first sync", "(b) raw iptables-restore", "a/b (goal<=1.2x)", "(c) one endpoint change (goal <100 ms)")
	for _, s := range r.Sizes {
		a, b := medianDur(s.First), medianDur(s.Raw)
		fmt.Fprintf(w, "%-9d %-7d %-7d %-9d | %-32s | %-32s | %-16s | %s %s, restore %s, %d chains\n",
			s.Services, s.Rules, s.Chains, s.Bytes,
			fmtMS(a)+" "+runs(s.First), fmtMS(b)+" "+runs(s.Raw),
			fmt.Sprintf("%.2fx", float64(a)/float64(b)),
			fmtMS(medianDur(s.Incremental)), runs(s.Incremental), fmtMS(medianDur(s.IncrementalRestore)), s.IncrementalChains)
	}
	if r.GoIPTables > 0 {
		line := fmt.Sprintf("(d) go-iptables, one exec per chain and rule, %d services: %.1f s for %d execs (ONE run)",
			r.GoIPTablesServices, r.GoIPTables.Seconds(), r.GoIPTablesExecs)
		for _, s := range r.Sizes {
			if s.Services == r.GoIPTablesServices {
				line += fmt.Sprintf(" = %.0fx the proxier's first sync", float64(r.GoIPTables)/float64(medianDur(s.First)))
			}
		}
		fmt.Fprintln(w, line)
	} else {
		fmt.Fprintln(w, "(d) go-iptables one rule per exec: skipped")
	}
}

// ruleArgs splits a rule as iptables-restore reads it: at spaces, except
// inside double quotes, which are dropped ("--comment \"a b\"" is one
// argument a b), so go-iptables execs the same rule.
func ruleArgs(rule string) []string {
	var out []string
	var cur strings.Builder
	quoted, have := false, false
	for _, r := range rule {
		switch {
		case r == '"':
			quoted, have = !quoted, true
		case r == ' ' && !quoted:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
