package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"orch.io/orch/api/client"
	"orch.io/orch/test/bench"
	"orch.io/orch/test/harness"
)

// Names of the figures of issue 17 a full run gives, in the summary's
// order.
const (
	figWriteRatio     = "write rate orch/etcd (median of runs)"
	figWriteP99       = "write p99 orch/etcd (median of runs)"
	figSchedRate      = "scheduling rate"
	figProxyFirstNFT  = "proxy nftables: first sync, 10,000 services × 3"
	figProxyChangeNFT = "proxy nftables: one endpoint change at 10,000"
	figProxyFirstIPT  = "proxy iptables: first sync, 10,000 services × 3"
	figProxyChangeIPT = "proxy iptables: one endpoint change at 10,000"
	figFailover       = "write unavailability after leader SIGKILL (median)"
)

// figMasterRSS names the memory figure of a run holding n pods.
func figMasterRSS(n int) string { return fmt.Sprintf("master RSS holding %d pods (largest)", n) }

// expectFigures names, up front, the figures a full run with o gives, so a
// section that fails or does not run leaves a visible hole.
func expectFigures(rep *results, o options) {
	if !o.skipEtcd {
		rep.expect("throughput", figWriteRatio, ">= 1.5x")
		rep.expect("throughput", figWriteP99, "<= 1.0x")
	}
	if o.bare.sequential > 0 {
		// The names bareGoalLines gives the figures with goals.
		rep.expect("pod-starts-bare", "pod start sequential, orch/bare to the first TCP answer (medians)", fmt.Sprintf("<= %.1fx bare", bareRatioGoal))
		rep.expect("pod-starts-bare", "pod start sequential, orch create → Running with an IP p99", "< "+bareP99Goal.String())
		if o.bare.bursts > 0 {
			rep.expect("pod-starts-bare", fmt.Sprintf("pod start %d at once, orch/bare to the first TCP answer (medians)", o.bare.burst), fmt.Sprintf("<= %.1fx bare", bareRatioGoal))
		}
	}
	if o.densityNodes > 0 {
		for _, c := range (densityResult{nodes: o.densityNodes}).slos() {
			rep.expect("density", fmt.Sprintf("density %d nodes × %d pods: %s", o.densityNodes, o.densityPerNode, c.name), c.goal)
		}
	}
	if o.schedNodes > 0 {
		rep.expect("scheduling", figSchedRate, ">= 2,000 pods/s")
	}
	if !o.skipProxy {
		rep.expect("proxy", figProxyFirstNFT, "< 2 s")
		rep.expect("proxy", figProxyChangeNFT, "< 20 ms")
		rep.expect("proxy", figProxyFirstIPT, "")
		rep.expect("proxy", figProxyChangeIPT, "< 100 ms")
	}
	rep.expect("memory", figMasterRSS(o.rssPods), memoryGoalText(o.rssPods))
}

// memoryGoalText is the memory figure's goal for pods pods ("-" without one).
func memoryGoalText(pods int) string {
	if g := memoryGoal(pods); g > 0 {
		return fmt.Sprintf("< %d MB", g/1e6)
	}
	return "-"
}

// fullRun is `make bench` without -only: every section, one after another,
// each on fresh clusters; a section that fails is recorded and the next
// runs. The summary table ends the run; any section's error then fails it.
func fullRun(ctx context.Context, t *runT, bins harness.Binaries, o options, podStartBuilds, streamBuilds []string, schedCIDR string) error {
	rep := &results{}
	expectFigures(rep, o)
	// A harness failure (a cluster that does not start) ends the run at
	// once: the table of what was measured comes first.
	t.onFatal = func() {
		rep.fail("harness", errors.New(t.msg))
		_ = printSummary(rep)
	}
	fmt.Printf("orchbench: %d CPUs, %d clients, warm-up %v, window %v, %d runs (interleaved orch/etcd)\n",
		runtime.NumCPU(), o.clients, o.warmup, o.duration, o.runs)

	var lines []string // the figures' own lines, printed before the table
	_ = rep.run("throughput", func() error {
		line, err := throughputSection(ctx, t, bins, o, rep)
		lines = append(lines, line...)
		return err
	})
	_ = rep.run("failover", func() error {
		if o.failovers <= 0 {
			return nil // -failovers 0 skips the section
		}
		line, err := failoverSection(ctx, t, bins, o, rep)
		lines = append(lines, line...)
		return err
	})
	_ = rep.run("memory", func() error {
		c := harness.StartCluster(t, bins, harness.Options{})
		defer func() {
			for i := range c.Masters {
				c.Kill(i)
			}
		}()
		// As the goal reads and -only memory measures: each master's RSS
		// after a full GC that returns the freed pages to the system.
		mem, err := holdPods(ctx, c, o, 0)
		if err != nil {
			return err
		}
		var largest masterMemory
		var parts []string
		for _, m := range mem {
			parts = append(parts, fmt.Sprintf("%s (%s) %s", m.name, m.role(), mb(m.rss)))
			if m.rss > largest.rss {
				largest = m
			}
		}
		lines = append(lines, fmt.Sprintf("master RSS holding %d pods after a full GC that returns free pages (fresh cluster): %s",
			o.rssPods, strings.Join(parts, ", ")))
		goal := memoryGoal(o.rssPods)
		rep.goal(figMasterRSS(o.rssPods), fmt.Sprintf("%s (%s)", mb(largest.rss), largest.name), memoryGoalText(o.rssPods),
			goal == 0 || largest.rss < goal, false)
		return nil
	})
	if o.schedNodes > 0 {
		_ = rep.run("scheduling", func() error {
			line, err := schedulingSection(ctx, t, bins, o, schedCIDR, rep)
			lines = append(lines, line)
			return err
		})
	}
	if o.heartbeatNodes > 0 {
		_ = rep.run("heartbeats", func() error {
			line, err := heartbeatSection(ctx, t, bins, o, rep)
			lines = append(lines, line)
			return err
		})
	}
	if o.rolloutReplicas > 0 {
		_ = rep.run("rollout", func() error {
			line, err := rolloutSection(ctx, t, bins, o)
			lines = append(lines, line)
			if err == nil {
				rep.info("rollout", strings.TrimPrefix(line, "rollout: "))
			}
			return err
		})
	}
	fmt.Println()
	fmt.Println("== summary (medians) ==")
	for _, l := range lines {
		if l != "" {
			fmt.Println(l)
		}
	}
	if o.densityNodes > 0 {
		_ = rep.run("density", func() error { return densitySection(ctx, t, bins, o, rep) })
	}
	if !o.skipProxy {
		_ = rep.run("proxy", func() error { return proxySection(ctx, o, rep) })
	}
	if !o.skipSecrets {
		_ = rep.run("secrets", func() error { return secretsSection(ctx, t, bins, o, rep) })
	}
	if o.podStarts > 0 {
		_ = rep.run("pod-starts", func() error { return podStartSection(ctx, t, o, podStartBuilds) })
	}
	if o.bare.sequential > 0 {
		_ = rep.run("pod-starts-bare", func() error {
			before, err := takeTree()
			if err != nil {
				return err
			}
			lines, err := podStartBareSection(ctx, t, o, bins.Orchd)
			after, terr := takeTree()
			if terr != nil {
				return errors.Join(err, terr)
			}
			// containerd, its shims and runc are not this process's
			// children: their work counts as other, so NOISY is likely.
			noisy := after.use(before).Noisy()
			for _, l := range lines {
				if l.HasGoal {
					rep.goal(l.Name, l.Value, l.Goal, l.Met, noisy)
				}
			}
			return err
		})
	}
	if o.streamExecs > 0 {
		_ = rep.run("streaming", func() error { return streamingSection(ctx, t, o, bins.Kubectl, streamBuilds) })
	}
	return printSummary(rep)
}

// printSummary prints the table and returns the sections' errors.
func printSummary(rep *results) error {
	fmt.Println()
	fmt.Println("== orchbench summary: every figure beside its goal (NOISY: the machine was busy with other work meanwhile) ==")
	if err := rep.write(os.Stdout); err != nil {
		return err
	}
	return rep.err()
}

// throughputSection is the write rate of orch's API against etcd's put
// rate, runs interleaved, with per-run and median ratios.
func throughputSection(ctx context.Context, t *runT, bins harness.Binaries, o options, rep *results) ([]string, error) {
	before, err := takeTree()
	if err != nil {
		return nil, err
	}
	var etcd *bench.EtcdCluster
	if !o.skipEtcd {
		if err := bench.EnsureEtcd(); err != nil {
			return nil, err
		}
		if etcd, err = bench.StartEtcd(ctx, t.TempDir(), 3); err != nil {
			return nil, err
		}
		defer etcd.Stop()
	}
	var menv []string
	if o.masterEnv != "" {
		menv = strings.Split(o.masterEnv, ",")
	}
	c := harness.StartCluster(t, bins, harness.Options{MasterEnv: menv, MasterArgs: strings.Fields(o.masterArgs)})
	if t.failed {
		return nil, errors.New(t.msg)
	}
	defer func() {
		for i := range c.Masters {
			c.Kill(i) // the throughput cluster is done; the next figures use fresh ones
		}
	}()
	var orchRuns, etcdRuns []bench.Result
	var masterPIDs, memberPIDs []int
	for _, m := range c.Masters {
		masterPIDs = append(masterPIDs, m.PID())
	}
	if etcd != nil {
		for _, m := range etcd.Members {
			memberPIDs = append(memberPIDs, m.PID)
		}
	}
	cpuFrom, err := bench.ReadCPUTimes(masterPIDs...)
	if err != nil {
		return nil, err
	}
	etcdFrom, err := bench.ReadCPUTimes(memberPIDs...)
	if err != nil {
		return nil, err
	}
	var orchAll, etcdAll int // successful writes, warm-ups and repeated windows included
	for r := 0; r < o.runs; r++ {
		// Each system's window starts once the other's background work
		// after its own run (a snapshot, a compaction) is done, and is
		// taken again when such work still landed in it.
		if err := waitQuiet(ctx, "etcd's members", memberPIDs); err != nil {
			return nil, err
		}
		label := fmt.Sprintf("run %d/%d  orch creates", r+1, o.runs)
		res, err := undisturbed(ctx, label, "etcd's members", memberPIDs, &orchAll, func() (bench.Result, error) {
			return orchCreates(ctx, c, o, r, func(i int) *client.Config { return c.Config(i) })
		})
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", r+1, err)
		}
		orchRuns = append(orchRuns, res)
		if o.profileDir != "" && r == o.profileRun-1 {
			if err := profileAfter(ctx, c, o.profileDir); err != nil {
				return nil, err
			}
		}
		if etcd != nil {
			if err := waitQuiet(ctx, "orch's masters", masterPIDs); err != nil {
				return nil, err
			}
			label := fmt.Sprintf("run %d/%d  etcd puts    ", r+1, o.runs)
			res, err := undisturbed(ctx, label, "orch's masters", masterPIDs, &etcdAll, func() (bench.Result, error) {
				return etcdPuts(ctx, etcd, o)
			})
			if err != nil {
				return nil, fmt.Errorf("etcd, run %d: %w", r+1, err)
			}
			etcdRuns = append(etcdRuns, res)
		}
	}
	// Every write's share of all the work each system did from its first
	// window to now, its background work after the windows included (a
	// snapshot, a compaction, a resync), once both are idle again.
	if err := errors.Join(waitQuiet(ctx, "orch's masters", masterPIDs), waitQuiet(ctx, "etcd's members", memberPIDs)); err != nil {
		return nil, err
	}
	cpuTo, err := bench.ReadCPUTimes(masterPIDs...)
	if err != nil {
		return nil, err
	}
	etcdTo, err := bench.ReadCPUTimes(memberPIDs...)
	if err != nil {
		return nil, err
	}
	// perWrite is each write's share of the CPU (ms) and page faults.
	perWrite := func(from, to bench.CPUTimes, n int) (ms, faults float64) {
		if n == 0 {
			return 0, 0
		}
		return (to.Procs - from.Procs).Seconds() * 1000 / float64(n), float64(to.Faults-from.Faults) / float64(n)
	}
	ms, faults := perWrite(cpuFrom, cpuTo, orchAll)
	cpuLine := fmt.Sprintf("CPU per write over the section, background work included (all three processes): orch %.3f ms and %.1f page faults (%d writes)",
		ms, faults, orchAll)
	if etcd != nil {
		ms, faults := perWrite(etcdFrom, etcdTo, etcdAll)
		cpuLine += fmt.Sprintf(", etcd %.3f ms and %.1f page faults (%d writes)", ms, faults, etcdAll)
	}
	fmt.Println(cpuLine)
	after, err := takeTree()
	if err != nil {
		return nil, err
	}
	noisy := after.use(before).Noisy()
	orchSum := bench.Summarize(orchRuns)
	lines := []string{fmt.Sprintf("orch API creates, 3 masters, HTTPS, %d clients, ~1 KiB pods, %s client: %s", o.clients, o.writeClient, orchSum), cpuLine}
	if etcd == nil {
		rep.info("orch API create rate", fmt.Sprintf("%.0f/s", orchSum.Rate))
		return lines, nil
	}
	etcdSum := bench.Summarize(etcdRuns)
	var rates, p99s []float64
	var perRun []string
	for i := range orchRuns {
		rate := orchRuns[i].Rate / etcdRuns[i].Rate
		rates = append(rates, rate)
		p99s = append(p99s, float64(orchRuns[i].P99)/float64(etcdRuns[i].P99))
		perRun = append(perRun, fmt.Sprintf("%.2fx", rate))
	}
	rate, p99 := bench.Median(rates), bench.Median(p99s)
	rep.goal(figWriteRatio, fmt.Sprintf("%.2fx (runs %s; medians %.0f/s vs %.0f/s)", rate, strings.Join(perRun, " "), orchSum.Rate, etcdSum.Rate),
		">= 1.5x", rate >= 1.5, noisy)
	rep.goal(figWriteP99, fmt.Sprintf("%.2fx", p99), "<= 1.0x", p99 <= 1.0, noisy)
	lines = append(lines,
		fmt.Sprintf("etcd puts, 3 members, HTTPS JSON gateway, %d clients, 1 KiB: %s", o.clients, etcdSum),
		fmt.Sprintf("ratio orch/etcd: rate per run %s, median %.2fx (goal >= 1.5x), p99 median %.2fx (goal <= 1.0x)", strings.Join(perRun, " "), rate, p99))
	return lines, nil
}

// failoverSection times write unavailability after leader kills and
// leadership transfers on a fresh cluster holding failoverPods pods.
func failoverSection(ctx context.Context, t *runT, bins harness.Binaries, o options, rep *results) ([]string, error) {
	// Every master is caught up before each stop, so a quorum never waits
	// on a master still restoring a snapshot.
	before, err := takeTree()
	if err != nil {
		return nil, err
	}
	fo := harness.StartCluster(t, bins, harness.Options{})
	defer func() {
		for i := range fo.Masters {
			fo.Kill(i)
		}
	}()
	if err := fill(ctx, fo.Client(), o.clients, failoverPods); err != nil {
		return nil, err
	}
	kills, err := failovers(ctx, fo, o.failovers, false)
	if err != nil {
		return nil, fmt.Errorf("SIGKILL: %w", err)
	}
	transfers, err := failovers(ctx, fo, o.failovers, true)
	if err != nil {
		return nil, fmt.Errorf("SIGTERM: %w", err)
	}
	after, err := takeTree()
	if err != nil {
		return nil, err
	}
	rep.goal(figFailover, fmt.Sprintf("%v (max %v, %d runs)", median(kills).Round(time.Millisecond), kills[len(kills)-1].Round(time.Millisecond), len(kills)),
		"< 1s", median(kills) < time.Second, after.use(before).Noisy())
	return []string{
		fmt.Sprintf("write unavailability after leader SIGKILL (%d pods stored): median %v, min %v, max %v (%d runs; goal < 1s)",
			failoverPods, median(kills), kills[0], kills[len(kills)-1], len(kills)),
		fmt.Sprintf("write unavailability after leader SIGTERM (leadership transfer): median %v, min %v, max %v (%d runs)",
			median(transfers), transfers[0], transfers[len(transfers)-1], len(transfers)),
	}, nil
}

// proxySection is the service proxy figures: net/proxy's first sync of
// 1,000 and 5,000 services against one raw iptables-restore of the same
// text, one endpoint change among them, and go-iptables one rule per exec
// (bench.ProxyBench; also `go run ./test/bench/cmd/proxybench` alone);
// then both modes at -proxy-services (bench.ProxyModes).
func proxySection(ctx context.Context, o options, rep *results) error {
	if !o.proxyTable {
		return proxyModesSection(ctx, o, rep)
	}
	fmt.Println()
	goipt := 0
	if o.proxyGoIPTables {
		goipt = 1000
	}
	_, err := bench.ProxyBench(ctx, bench.ProxyBenchOptions{Sizes: []int{1000, 5000}, Runs: 3,
		GoIPTablesServices: goipt, Out: os.Stdout})
	if err != nil {
		return err
	}
	return proxyModesSection(ctx, o, rep)
}

// proxyModesSection times the first sync and one endpoint change at
// -proxy-services in both modes and reports them beside their goals.
func proxyModesSection(ctx context.Context, o options, rep *results) error {
	fmt.Println()
	before, err := takeTree()
	if err != nil {
		return err
	}
	res, err := bench.ProxyModes(ctx, []string{"iptables", "nftables"}, o.proxyServices, o.proxyRuns, os.Stdout)
	if err != nil {
		return err
	}
	after, err := takeTree()
	if err != nil {
		return err
	}
	noisy := after.use(before).Noisy()
	fmt.Printf("\n== service proxy, both modes: %d services × 3 endpoints, medians of %d runs, each in a fresh network namespace ==\n", o.proxyServices, o.proxyRuns)
	for _, r := range res {
		fmt.Printf("%-8s first sync %s %s (%d bytes in), one endpoint change %s %s\n", r.Mode,
			fmtMS(r.FirstMedian()), msRuns(r.First), r.FirstBytes, fmtMS(r.ChangeMedian()), msRuns(r.Change))
		fmt.Printf("%-8s   the change (medians): %s\n", "", r.ChangeSplit())
		first, change := figProxyFirstIPT, figProxyChangeIPT
		firstGoal, changeGoal := time.Duration(0), 100*time.Millisecond
		if r.Mode == "nftables" {
			first, change = figProxyFirstNFT, figProxyChangeNFT
			firstGoal, changeGoal = 2*time.Second, 20*time.Millisecond
		}
		if o.proxyServices != 10000 {
			first = strings.Replace(first, "10,000", fmt.Sprint(o.proxyServices), 1)
			change = strings.Replace(change, "10,000", fmt.Sprint(o.proxyServices), 1)
		}
		if firstGoal > 0 {
			rep.goal(first, fmtMS(r.FirstMedian()), "< "+firstGoal.String(), r.FirstMedian() < firstGoal, noisy)
		} else {
			rep.info(first, fmtMS(r.FirstMedian()))
		}
		rep.goal(change, fmtMS(r.ChangeMedian()), "< "+changeGoal.String(), r.ChangeMedian() < changeGoal, noisy)
	}
	return nil
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// msRuns lists durations in whole milliseconds.
func msRuns(d []time.Duration) string {
	var parts []string
	for _, x := range d {
		parts = append(parts, fmt.Sprintf("%.0f", float64(x.Microseconds())/1000))
	}
	return "[" + strings.Join(parts, " ") + "] ms"
}

// afterWindow is how long profileAfter records.
const afterWindow = 10 * time.Second

// profileAfter records a CPU profile of every master for afterWindow right
// after a write window (<name>.after.cpu.pprof): the background work the
// window left (snapshots, log segments, resyncs, the Go runtime's).
func profileAfter(ctx context.Context, c *harness.Cluster, dir string) error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.Masters))
	for i, m := range c.Masters {
		cl, err := client.New(c.Config(i))
		if err != nil {
			return err
		}
		defer cl.CloseIdleConnections()
		wg.Go(func() {
			if err := profile(ctx, cl, 0, afterWindow, filepath.Join(dir, m.Name+".after.cpu.pprof")); err != nil {
				errs[i] = fmt.Errorf("profile %s after the window: %w", m.Name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
