package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/bench"
	"orch.io/orch/test/harness"
)

// densityStall is how long the density run waits for the next pod to be
// seen Running (or to go) before it stops: a cluster that makes no
// progress must end the run, however far its deadline is.
const densityStall = 3 * time.Minute

// densityResult is what one density run measured.
type densityResult struct {
	nodes, pods int
	// startup is each pod's first seen → seen Running, sorted.
	startup []time.Duration
	// api is the masters' API latency per verb while the pods started.
	api verbLatencies
	// cpu is the machine's CPU use over the run (ours: this process tree).
	cpu bench.CPUUse
	// report is the section's printed report.
	report string
}

// sloCheck is one of Kubernetes' scalability SLOs against a density run.
type sloCheck struct {
	name, value, goal string
	held              bool
}

// Kubernetes' SLOs (sig-scalability/slos): p99 over the run.
const (
	sloPodStartup = 5 * time.Second
	sloMutating   = 1.0  // seconds
	sloRead       = 1.0  // seconds
	sloList       = 30.0 // seconds
)

// mutatingVerbs are the verbs the mutating API SLO covers.
var mutatingVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// slos checks the run against each SLO. A class of calls the run made
// none of holds (nothing to miss) and says so.
func (d densityResult) slos() []sloCheck {
	p99 := time.Duration(0)
	if n := len(d.startup); n > 0 {
		p99 = d.startup[min(max((99*n+99)/100, 1), n)-1]
	}
	out := []sloCheck{{name: "pod startup p99", value: p99.Round(time.Millisecond).String(),
		goal: "<= " + sloPodStartup.String(), held: len(d.startup) > 0 && p99 <= sloPodStartup}}
	for _, c := range []struct {
		name  string
		verbs []string
		limit float64
	}{
		{"mutating API calls p99", mutatingVerbs, sloMutating},
		{"single-object reads p99", []string{"get"}, sloRead},
		{"lists p99", []string{"list"}, sloList},
	} {
		h := d.api.merged(c.verbs...)
		ck := sloCheck{name: c.name, goal: fmt.Sprintf("<= %g s", c.limit), held: true, value: "no calls"}
		if h != nil && h.count() > 0 {
			q := h.quantile(0.99)
			ck.value = fmt.Sprintf("%s (%.0f calls)", secondsMS(q), h.count())
			ck.held = !math.IsNaN(q) && q <= c.limit
		}
		out = append(out, ck)
	}
	return out
}

// held reports whether every SLO held.
func (d densityResult) held() bool {
	for _, c := range d.slos() {
		if !c.held {
			return false
		}
	}
	return true
}

// merged sums the histograms of the given verbs (nil when none has one).
func (v verbLatencies) merged(verbs ...string) *histogram {
	var out *histogram
	for _, verb := range verbs {
		h := v[verb]
		if h == nil {
			continue
		}
		if out == nil {
			out = &histogram{bounds: h.bounds, counts: append([]float64(nil), h.counts...)}
			continue
		}
		if len(h.counts) != len(out.counts) {
			continue // the masters share one bucket layout; add refused anything else
		}
		for i := range h.counts {
			out.counts[i] += h.counts[i]
		}
	}
	return out
}

// densityProgress is where a density run is, for the report of a run that
// stops: the phase and the counts so far.
type densityProgress struct {
	mu      sync.Mutex
	phase   string
	ready   int
	running int
	// fileLimit is the open file limit of this process and the masters.
	fileLimit uint64
	// fleet is the hollow nodes, once started.
	fleet *hollowFleet
	// rssKiB and files are the hollow nodes' processes' at the stop (files:
	// the most one process holds), once snapshot ran.
	rssKiB, files int
}

// hollowCost returns the RSS of the processes that hold the hollow nodes
// (this one before they start) and the most open files one of them holds.
func (p *densityProgress) hollowCost() (rss, files int) {
	p.mu.Lock()
	f := p.fleet
	p.mu.Unlock()
	if f != nil {
		if st, err := f.stats(false); err == nil {
			return st.RSSKiB, st.MaxFiles
		}
	}
	kb, _ := rssKiB(os.Getpid())
	fds, _ := os.ReadDir("/proc/self/fd")
	return kb, len(fds)
}

// snapshot records the hollow nodes' processes' RSS and open files.
func (p *densityProgress) snapshot() {
	kb, files := p.hollowCost()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rssKiB, p.files = kb, files
}

func (p *densityProgress) enter(phase string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phase = phase
}

func (p *densityProgress) set(ready, running int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ready >= 0 {
		p.ready = ready
	}
	if running >= 0 {
		p.running = running
	}
}

// densityProgressEvery is how often a density run says where it is.
const densityProgressEvery = 30 * time.Second

// print writes the phase and counts to stderr every interval until the
// returned function is called: a run of thousands of nodes takes long.
func (p *densityProgress) print(ctx context.Context, o options, every time.Duration) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p.mu.Lock()
			phase, ready, running := p.phase, p.ready, p.running
			p.mu.Unlock()
			self, _ := p.hollowCost()
			avail, _ := meminfo("MemAvailable")
			fmt.Fprintf(os.Stderr, "density %4.0fs: %s; %d of %d hollow nodes Ready, %d of %d pods Running; hollow nodes' processes RSS %d MiB; machine MemAvailable %s\n",
				time.Since(start).Seconds(), phase, ready, o.densityNodes, running, o.densityNodes*o.densityPerNode, self>>10, gib(avail))
		}
	}()
	return func() { cancel(); <-done }
}

// stoppedAt wraps the error a run stopped with in where it stopped: the
// phase, how many hollow nodes were Ready and pods Running, and each
// master's RSS and CPU time so far (masters already gone are named so).
func (p *densityProgress) stoppedAt(err error, o options, c *harness.Cluster) error {
	p.mu.Lock()
	taken := p.files > 0
	p.mu.Unlock()
	if !taken {
		p.snapshot()
	}
	p.mu.Lock()
	phase, ready, running, self, files := p.phase, p.ready, p.running, p.rssKiB, p.files
	p.mu.Unlock()
	var ms []string
	if c != nil {
		for _, m := range c.Masters {
			kb, rerr := rssKiB(m.PID())
			cpu, cerr := bench.ReadCPUTimes(m.PID())
			if rerr != nil || cerr != nil {
				ms = append(ms, m.Name+" not running")
				continue
			}
			ms = append(ms, fmt.Sprintf("%s RSS %d MiB, CPU %.0f s", m.Name, kb>>10, cpu.Procs.Seconds()))
		}
	}
	return fmt.Errorf("density stopped in phase %q with %d of %d hollow nodes Ready and %d of %d pods Running (hollow nodes' processes: RSS %d MiB, at most %d of %d open files in one; masters: %s): %w",
		phase, ready, o.densityNodes, running, o.densityNodes*o.densityPerNode, self>>10, files, p.fileLimit, strings.Join(ms, "; "), err)
}

// hollowStartSpread is the window the density run's hollow nodes start
// over: 20 ms a node (10 s for 500, 100 s for 5,000), fifty registrations
// a second, as kubemark's hollow-node pods come up a few at a time.
func hollowStartSpread(nodes int) time.Duration { return time.Duration(nodes) * 20 * time.Millisecond }

// densityRun runs the density test once at o.densityNodes nodes.
func densityRun(ctx context.Context, t *runT, bins harness.Binaries, o options) (res densityResult, err error) {
	if o.densityNodes < 1 || o.densityPerNode < 1 {
		return res, fmt.Errorf("-density-nodes %d, -density-pods-per-node %d: want at least 1 each", o.densityNodes, o.densityPerNode)
	}
	cidr, err := schedClusterCIDR(o.densityNodes)
	if err != nil {
		return res, err
	}
	fileLimit, err := raiseFileLimit()
	if err != nil {
		return res, err
	}
	memAvail, err := meminfo("MemAvailable")
	if err != nil {
		return res, err
	}
	memTotal, err := meminfo("MemTotal")
	if err != nil {
		return res, err
	}
	plan, err := planDensity(o.densityNodes, o.densityNodes*o.densityPerNode, o.densityNodesPerProc, o.densityRoutes, fileLimit, memAvail)
	if err != nil {
		return res, fmt.Errorf("density at %d hollow nodes cannot run on this machine: %w", o.densityNodes, err)
	}
	procs := "this process"
	if plan.procs > 0 {
		procs = fmt.Sprintf("%d child processes of up to %d", plan.procs, plan.perProc)
	}
	fmt.Fprintf(os.Stderr, "density: %d hollow nodes in %s, %d pods; expected to need about %s (%s) of %s available; open file limit %d\n",
		o.densityNodes, procs, plan.pods, gib(plan.needBytes), plan.breakdown, gib(memAvail), fileLimit)
	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go watchMemory(ctx, cancelRun, memoryFloor(memTotal), 2*time.Second, func() (uint64, error) { return meminfo("MemAvailable") })
	defer func() {
		if cause := context.Cause(ctx); errors.Is(cause, errMemoryLow) {
			err = errors.Join(cause, err)
		}
	}()
	prog := &densityProgress{phase: "start masters", fileLimit: fileLimit}
	c := harness.StartCluster(t, bins, harness.Options{MasterArgs: []string{"--cluster-cidr", cidr}})
	if t.failed {
		return res, prog.stoppedAt(errors.New(t.msg), o, nil)
	}
	defer func() {
		for i := range c.Masters {
			c.Kill(i)
		}
	}()
	defer func() {
		if err != nil {
			err = prog.stoppedAt(err, o, c) // before the masters go
		}
	}()
	cpuBefore, err := takeTree()
	if err != nil {
		return res, err
	}
	stopProgress := prog.print(ctx, o, densityProgressEvery)
	defer stopProgress()
	cl := c.Client()
	masters := make([]*client.Client, len(c.Masters))
	var servers []string
	for i, m := range c.Masters {
		masters[i] = c.Client(i)
		servers = append(servers, m.URL())
	}
	names := make([]string, o.densityNodes)
	for i := range names {
		names[i] = fmt.Sprintf("hollow-%05d", i)
	}
	prog.enter("start hollow nodes")
	sctx, scancel := context.WithTimeout(ctx, time.Minute+time.Duration(o.densityNodes)*50*time.Millisecond)
	fleet, err := startFleet(sctx, hollowChildConfig{Servers: servers, PKIDir: c.PKIDir, StateDir: t.TempDir(),
		ClusterCIDR: cidr, Names: names, StartSpread: hollowStartSpread(o.densityNodes), NoRoutes: !o.densityRoutes}, plan.perProc)
	scancel()
	if err != nil {
		return res, err
	}
	prog.mu.Lock()
	prog.fleet = fleet
	prog.mu.Unlock()
	defer func() {
		if err != nil {
			prog.snapshot() // the nodes' processes as they were, before the nodes stop
		}
		prog.mu.Lock()
		prog.fleet = nil
		prog.mu.Unlock()
		fleet.stop()
	}()
	// An agent that logs an error (a failed token request, say) retries
	// as the kubelet does: the waits go on, and the section fails after
	// its report.
	healthy := func() error {
		return errors.Join(fleet.err(), context.Cause(ctx))
	}
	prog.enter("hollow nodes register and turn Ready")
	regStart := time.Now()
	stopProfiles := func() {}
	if o.profileDir != "" {
		stopProfiles = sync.OnceFunc(profileRegistration(ctx, c, masters, o.profileDir))
		defer stopProfiles()
	}
	if err := waitFor(ctx, 2*time.Minute+time.Duration(o.densityNodes)*100*time.Millisecond, "every hollow node Ready", func() error {
		if err := healthy(); err != nil {
			return permanent(err)
		}
		n, err := hollowNodesReady(ctx, cl, names)
		prog.set(n, -1)
		return err
	}); err != nil {
		return res, err
	}
	registered := time.Since(regStart)
	if o.profileDir != "" {
		stopProfiles()
		profileRest(ctx, c, masters, o.profileDir)
	}
	busy := 0 // the bench's requests refused with 429 and retried
	if err := retryBusy(ctx, &busy, onceByName(func(ctx context.Context) error {
		return cl.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: densityNamespace}})
	}, v1.IsAlreadyExists)); err != nil {
		return res, fmt.Errorf("create namespace %s: %w", densityNamespace, err)
	}
	w, err := startPodWatch(ctx, cl)
	if err != nil {
		return res, err
	}
	defer w.stop()
	before, err := readAPILatencies(ctx, masters)
	if err != nil {
		return res, err
	}
	total := o.densityNodes * o.densityPerNode
	replicas := int32(o.densityPerNode)
	prog.enter("create the RCs")
	t0 := time.Now()
	// The creates as a whole have a deadline too: a cluster that takes
	// each write's whole 2 minutes must not hold the run for hours.
	createLimit := 2*time.Minute + time.Duration(o.densityNodes)*200*time.Millisecond
	cctx, ccancel := context.WithTimeout(ctx, createLimit)
	defer ccancel()
	for i := 0; i < o.densityNodes; i++ {
		name := fmt.Sprintf("density-%05d", i)
		rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: densityNamespace},
			Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"rc": name},
				Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"rc": name, "app": "density"}},
					Spec: v1.PodSpec{Containers: []v1.Container{{Name: "pause", Image: "registry.k8s.io/pause:3.10"}}}}}}
		create := onceByName(func(ctx context.Context) error { return cl.Create(ctx, rc) }, v1.IsAlreadyExists)
		if err := retryBusy(cctx, &busy, create); err != nil {
			if cctx.Err() != nil && ctx.Err() == nil {
				return res, fmt.Errorf("create rc %s: %d of %d RCs created within %v: %w", name, i, o.densityNodes, createLimit, err)
			}
			return res, fmt.Errorf("create rc %s: %w", name, err)
		}
	}
	ccancel()
	prog.enter("pods turn Running")
	runDeadline := 3*time.Minute + time.Duration(total)*100*time.Millisecond
	stall := stallCheck{limit: densityStall}
	if err := waitFor(ctx, runDeadline, fmt.Sprintf("%d pods Running", total), func() error {
		if err := errors.Join(healthy(), w.err()); err != nil {
			return permanent(err)
		}
		n := w.running()
		prog.set(-1, n)
		if n < total {
			if err := stall.progress(n); err != nil {
				return permanent(fmt.Errorf("%d of %d pods seen Running: %w", n, total, err))
			}
			return fmt.Errorf("%d of %d pods seen Running", n, total)
		}
		return nil
	}); err != nil {
		return res, err
	}
	allRunning := time.Since(t0)
	after, err := readAPILatencies(ctx, masters)
	if err != nil {
		return res, err
	}
	cpuAfter, err := takeTree()
	if err != nil {
		return res, err
	}
	startup := w.startups()
	if len(startup) != total {
		return res, fmt.Errorf("%d pod startups recorded, want %d", len(startup), total)
	}
	// What holding the pods costs: this process (the hollow nodes) after a
	// full GC, and each master.
	held, err := fleet.stats(true)
	if err != nil {
		return res, err
	}
	var masterRSS []string
	for _, m := range c.Masters {
		kb, err := rssKiB(m.PID())
		if err != nil {
			return res, err
		}
		masterRSS = append(masterRSS, fmt.Sprintf("%s %d MiB", m.Name, kb>>10))
	}

	// Delete the RCs: every pod stops on its node and goes.
	prog.enter("delete the RCs")
	t1 := time.Now()
	for i := 0; i < o.densityNodes; i++ {
		name := fmt.Sprintf("density-%05d", i)
		err := retryBusy(ctx, &busy, onceByName(func(ctx context.Context) error {
			_, err := cl.Delete(ctx, "replicationcontrollers", densityNamespace, name,
				&v1.DeleteOptions{PropagationPolicy: v1.PropagationBackground})
			return err
		}, v1.IsNotFound))
		if err != nil {
			return res, fmt.Errorf("delete rc %s: %w", name, err)
		}
	}
	prog.enter("pods go")
	stall = stallCheck{limit: densityStall}
	if err := waitFor(ctx, runDeadline, "every pod gone", func() error {
		if err := errors.Join(healthy(), w.err()); err != nil {
			return permanent(err)
		}
		n := w.live()
		prog.set(-1, n)
		if n > 0 {
			if err := stall.progress(total - n); err != nil {
				return permanent(fmt.Errorf("%d pods left: %w", n, err))
			}
			return fmt.Errorf("%d pods left", n)
		}
		st, err := fleet.stats(false)
		if err != nil {
			return permanent(err)
		}
		if running := st.Running; running > 0 {
			return fmt.Errorf("%d hollow containers still running", running)
		}
		return nil
	}); err != nil {
		return res, err
	}
	gone := time.Since(t1)
	if err := healthy(); err != nil {
		return res, err
	}
	final, err := fleet.stats(false)
	if err != nil {
		return res, err
	}
	res = densityResult{nodes: o.densityNodes, pods: total, startup: startup,
		api: after.verbs.since(before.verbs), cpu: cpuAfter.use(cpuBefore)}
	var b strings.Builder
	fmt.Fprintf(&b, "density: 3 masters, %d hollow nodes (Ready in %.1f s), %d RCs × %d pods = %d pods\n",
		o.densityNodes, registered.Seconds(), o.densityNodes, o.densityPerNode, total)
	fmt.Fprintf(&b, "  pod startup (watch: first seen → seen Running, no image pull): p50 %s  p90 %s  p99 %s  max %s (SLO p99 ≤ 5 s)\n",
		pct(startup, 50), pct(startup, 90), pct(startup, 99), pct(startup, 100))
	fmt.Fprintf(&b, "  all %d Running %.1f s after the first RC; all gone %.1f s after deleting the RCs\n", total, allRunning.Seconds(), gone.Seconds())
	fmt.Fprintf(&b, "  holding the pods: the hollow nodes' %d process(es) %d MiB RSS after a GC (%.2f MiB a node), %d goroutines, %d open files (%.2f a node; limit %d a process); masters %s\n",
		held.Processes, held.RSSKiB>>10, float64(held.RSSKiB)/1024/float64(o.densityNodes), held.Goroutines, held.Files,
		float64(held.Files)/float64(o.densityNodes), fileLimit, strings.Join(masterRSS, ", "))
	fmt.Fprintf(&b, "  hollow proxies: %d ruleset renders, %d KiB of iptables-restore text; agents logged %s\n",
		final.Syncs, final.Bytes>>10, final.Warnings)
	fmt.Fprintf(&b, "  API answers 429 (in-flight limits) while the pods started: %.0f (the bench's own retried: %d)\n",
		after.throttled-before.throttled, busy)
	fmt.Fprintf(&b, "  machine while the pods started: %s (ours: this process, the masters)\n", res.cpu)
	fmt.Fprintf(&b, "  API latency per verb, 3 masters, while the pods started (SLO p99 ≤ 1 s for mutations and single reads):\n%s",
		res.api)
	res.report = b.String()
	prog.enter("done (the agents' logs)")
	return res, fleet.agentErr()
}

// stallCheck fails when a count has not grown for limit.
type stallCheck struct {
	limit time.Duration
	last  int
	since time.Time
}

// progress records the count now; it is an error when the count has not
// grown for the limit.
func (s *stallCheck) progress(n int) error {
	now := time.Now()
	if s.since.IsZero() || n > s.last {
		s.last, s.since = n, now
		return nil
	}
	if now.Sub(s.since) > s.limit {
		return fmt.Errorf("no progress for %v (stuck at %d)", s.limit, n)
	}
	return nil
}

// raiseFileLimit lifts this process's open file limit, soft and hard, to
// the kernel's most (fs.nr_open) where it may (CAP_SYS_RESOURCE), else the
// soft limit to the hard one: every hollow node holds a connection per
// watch, and the masters, started from here, inherit the limit
// (syscall.Setrlimit: os/exec then starts children with it too). It
// returns the limit in force.
func raiseFileLimit() (uint64, error) {
	raw, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0, fmt.Errorf("read fs.nr_open: %w", err)
	}
	most, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("fs.nr_open %q: %w", raw, err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open file limit: %w", err)
	}
	if lim.Cur >= most {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: most, Max: max(lim.Max, most)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
		return want.Cur, nil
	} else if !errors.Is(err, syscall.EPERM) {
		return 0, fmt.Errorf("raise the open file limit to %d: %w", most, err)
	}
	want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return 0, fmt.Errorf("raise the open file limit to %d: %w", lim.Max, err)
	}
	return want.Cur, nil
}
