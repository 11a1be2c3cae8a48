// Command orchbench is `make bench`: from one run on this machine it prints
// orch's API create rate and latency (3 masters, HTTPS, 64 clients, ~1 KiB
// pods) beside etcd's put rate through its JSON gateway over HTTPS with the
// same clients and value size, their ratios, the write unavailability after
// a leader kill and after a graceful leadership transfer (median of 5), and
// the masters' memory holding 10,000 pods, the service proxy's sync times,
// and pod start latency on one real node, optionally of several builds of
// orchd side by side (-only pod-starts runs that section alone), and exec
// and port-forward through orch beside the same on the node (-only
// streaming; see streaming.go), and the rollout of a Deployment on
// simulated nodes (-only rollout; see rollout.go), and pod startup and API
// latency on hollow nodes (-only density; see density.go), and pod start
// on one real node beside the same pod started with the containerd Go
// client directly (-only pod-starts-bare; see podstart_bare.go), and the
// service proxy's syncs in both modes (-only proxy). A full run ends with
// a table of every figure beside its goal (see results.go and fullrun.go)
// and fails when any section did.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
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

func main() {
	if os.Getenv(hollowChildEnv) != "" {
		if err := hollowChild(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "orchbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "orchbench:", err)
		os.Exit(1)
	}
}

type options struct {
	clients          int
	duration, warmup time.Duration
	runs             int
	failovers        int
	rssPods          int
	skipEtcd         bool
	profileDir       string
	profileRun       int
	target           string
	writeClient      string
	masterEnv        string
	masterArgs       string
	schedNodes       int
	schedPods        int
	skipProxy        bool
	skipSecrets      bool
	proxyGoIPTables  bool
	only             string
	podStarts        int
	podStartOrchd    string
	orchd            string
	podStartMasters  int
	heartbeatNodes   int
	streamExecs      int
	streamForwards   int
	streamMasters    int
	streamOrchd      string
	rolloutReplicas  int
	rolloutNodes     int
	rolloutSurge     string
	densityNodes     int
	densityPerNode   int
	// densityNodesPerProc is the most hollow nodes one process holds;
	// densityRoutes has them follow every node for routes, as real nodes.
	densityNodesPerProc int
	densityRoutes       bool
	bare                bareOptions
	summaryOptions
}

func run() error {
	var o options
	flag.IntVar(&o.clients, "clients", 64, "concurrent closed-loop clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured window per run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each window")
	flag.IntVar(&o.runs, "runs", 3, "runs per system; medians are reported")
	flag.IntVar(&o.failovers, "failovers", 5, "leader kills (and transfers) to time (0 skips the section)")
	flag.IntVar(&o.rssPods, "rss-pods", 10000, "pods to hold when reading the masters' memory")
	flag.BoolVar(&o.skipEtcd, "skip-etcd", false, "measure orch only")
	flag.IntVar(&o.schedNodes, "sched-nodes", 1000, "simulated nodes for the scheduling figure (0 skips it)")
	flag.IntVar(&o.schedPods, "sched-pods", 10000, "replicas of the RC for the scheduling figure")
	flag.StringVar(&o.masterArgs, "master-args", "", "space-separated extra orchd master flags for the clusters of the creates, writers and memory sections, e.g. --raft-log-store=wal")
	flag.StringVar(&o.masterEnv, "master-env", "", "comma-separated KEY=VALUE environment for the masters only (e.g. GOGC=200)")
	flag.StringVar(&o.target, "target", "spread", "spread: worker w talks to master w%3 (followers forward), as clients usually do; leader: every worker talks to the leader")
	flag.StringVar(&o.writeClient, "write-client", writeClientRaw, `the create figure's client: "raw" posts JSON bytes made once from the typed pod and checks the answer names it, as the etcd side posts prebuilt bodies; "typed" encodes each pod and decodes the stored pod back, as a typed client does`)
	flag.BoolVar(&o.skipSecrets, "skip-secrets", false, "skip the secrets section (Secret creates against ConfigMap creates of the same size; see secrets.go)")
	flag.BoolVar(&o.skipProxy, "skip-proxy", false, "skip the service proxy section (iptables in throwaway network namespaces)")
	flag.BoolVar(&o.proxyGoIPTables, "proxy-go-iptables", true, "in the proxy section, also time go-iptables adding 1,000 services one rule per exec (one run; ~25 s on nft here)")
	flag.StringVar(&o.profileDir, "profile", "", "write a CPU profile of every master during an orch run of the write figure (-profile-run), and for 10 s after it (<master>.after.cpu.pprof), into this directory (the memory section: each master's heap profile, and as text with MemStats; the secrets section: every master in each kind's window of that run, <kind>-<master>.cpu.pprof; with -only density: of the masters and of the hollow nodes' process while the nodes register, of the masters for 20 s once every node is Ready, and that process's heap)")
	flag.IntVar(&o.profileRun, "profile-run", 1, "with -profile: which orch run of the write figure to profile (1 is the first; the later runs' clusters hold the pods of the runs before)")
	flag.StringVar(&o.only, "only", "", `run one section only: "pod-starts", "heartbeats", "streaming", "scheduling", "writers" (the write rate as the admin and as a user RBAC decides for, alternately; see writers.go), "rollout", "secrets" (the write rate of Secrets against ConfigMaps of the same size, alternately; see secrets.go), "density" (hollow nodes; see density.go), "pod-starts-bare" (pod start beside bare containerd; see podstart_bare.go), "proxy" (both proxy modes) or "memory" (the masters' RSS after a full GC holding -rss-pods pods, -runs fresh clusters; see memory.go)`)
	flag.IntVar(&o.podStarts, "pod-starts", 20, "pod starts to time per build and variant on one real node (0 skips the section; see podstart.go)")
	flag.StringVar(&o.orchd, "orchd", "", "the orchd binary the sections run (default: this tree's build, made in the directory orchbench runs in); the header names what is measured")
	flag.StringVar(&o.podStartOrchd, "pod-start-orchd", "", "comma-separated orchd binaries whose pod starts are compared, alternately in one run; the first is the anchor (default: this tree's build)")
	flag.IntVar(&o.podStartMasters, "pod-start-masters", 1, "masters of each pod start cluster")
	flag.IntVar(&o.heartbeatNodes, "heartbeat-nodes", 1000, "simulated nodes for the heartbeat figure: raft entries/s at rest with status posts vs lease renewals (0 skips it; see heartbeats.go)")
	flag.IntVar(&o.streamExecs, "stream-execs", 20, "exec round trips to time per way in the streaming section (0 skips the section; see streaming.go)")
	flag.IntVar(&o.streamForwards, "stream-forwards", 5, "256 MiB port-forward transfers to time per way in the streaming section")
	flag.IntVar(&o.streamMasters, "stream-masters", 1, "masters of each streaming cluster")
	flag.StringVar(&o.streamOrchd, "stream-orchd", "", "comma-separated orchd binaries compared, alternately in one run, in the streaming section; the first is the anchor (default: this tree's build)")
	flag.IntVar(&o.rolloutReplicas, "rollout-replicas", 1000, "replicas of the Deployment rolled out in the rollout section (0 skips it; see rollout.go)")
	flag.IntVar(&o.rolloutNodes, "rollout-nodes", 100, "simulated nodes of the rollout section")
	flag.StringVar(&o.rolloutSurge, "rollout-surge", "25%", "maxSurge of the rollout section's Deployment")
	flag.IntVar(&o.densityNodes, "density-nodes", defaultDensityNodes, "hollow nodes of the density section (0 skips it in a full run; see density.go)")
	flag.IntVar(&o.densityPerNode, "density-pods-per-node", 30, "pods per hollow node in the density section (one RC per node)")
	flag.IntVar(&o.densityNodesPerProc, "density-nodes-per-process", 1000, "the most hollow nodes one process holds: more are split over child processes of orchbench (fewer when the open file limit says so)")
	flag.BoolVar(&o.densityRoutes, "density-hollow-routes", true, "hollow nodes follow every other node for their routes to its pod CIDR, as real nodes (N² in all; kubemark's hollow nodes do not)")
	o.bare.register(flag.CommandLine)
	registerSummaryFlags(&o.summaryOptions)
	flag.Parse()
	if o.only != "" && !slices.Contains([]string{"pod-starts", "heartbeats", "streaming", "scheduling", "writers", "rollout", "secrets", "density", "pod-starts-bare", "proxy", "memory"}, o.only) {
		return fmt.Errorf(`-only %q: the sections that run alone are "pod-starts", "heartbeats", "streaming", "scheduling", "writers", "rollout", "secrets", "density", "pod-starts-bare", "proxy" and "memory"`, o.only)
	}
	if err := o.summaryOptions.validate(); err != nil {
		return err
	}
	if o.profileRun < 1 || o.profileRun > o.runs {
		return fmt.Errorf("-profile-run %d: want a run from 1 to -runs (%d)", o.profileRun, o.runs)
	}
	if err := o.bare.validate(o.only); err != nil {
		return err
	}
	if o.rolloutReplicas < 0 || o.rolloutNodes < 1 {
		return fmt.Errorf("-rollout-replicas %d, -rollout-nodes %d: want at least 0 and 1", o.rolloutReplicas, o.rolloutNodes)
	}
	if o.only == "rollout" && o.rolloutReplicas == 0 {
		return errors.New("-only rollout with -rollout-replicas 0: nothing to measure")
	}
	if o.only == "streaming" && o.streamExecs == 0 {
		return errors.New("-only streaming with -stream-execs 0: nothing to measure")
	}
	if o.streamExecs < 0 || o.streamForwards < 1 || o.streamMasters < 1 {
		return fmt.Errorf("-stream-execs %d, -stream-forwards %d, -stream-masters %d: want at least 0, 1 and 1", o.streamExecs, o.streamForwards, o.streamMasters)
	}
	streamBuilds, err := absPaths(o.streamOrchd)
	if err != nil {
		return fmt.Errorf("-stream-orchd: %w", err)
	}
	if o.only == "heartbeats" && o.heartbeatNodes == 0 {
		return errors.New("-only heartbeats with -heartbeat-nodes 0: nothing to measure")
	}
	if o.only == "pod-starts" && o.podStarts == 0 {
		return errors.New("-only pod-starts with -pod-starts 0: nothing to measure")
	}
	if o.podStarts < 0 || o.podStartMasters < 1 {
		return fmt.Errorf("-pod-starts %d, -pod-start-masters %d: want at least 0 and 1", o.podStarts, o.podStartMasters)
	}
	var podStartBuilds []string
	if o.podStartOrchd != "" {
		for _, p := range strings.Split(o.podStartOrchd, ",") {
			abs, err := filepath.Abs(strings.TrimSpace(p))
			if err != nil {
				return fmt.Errorf("-pod-start-orchd: %w", err)
			}
			podStartBuilds = append(podStartBuilds, abs)
		}
	}
	var schedCIDR string
	schedCIDR, err = schedClusterCIDR(o.schedNodes)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	t := newRunT()
	defer t.cleanup()
	if o.only == "proxy" { // nothing to compile
		return onlyWithSummary(ctx, t, "proxy", func(ctx context.Context, rep *results) error { return proxySection(ctx, o, rep) })
	}
	if o.only == "pod-starts" && len(podStartBuilds) > 0 {
		return podStartSection(ctx, t, o, podStartBuilds) // the builds are given: nothing to compile
	}
	bins, err := harness.Build(t.TempDir())
	if err != nil {
		return err
	}
	if err := pickOrchd(&bins, o.orchd, os.Stdout); err != nil {
		return err
	}
	if len(podStartBuilds) == 0 {
		podStartBuilds = []string{bins.Orchd}
	}
	if o.only == "pod-starts" {
		return podStartSection(ctx, t, o, podStartBuilds)
	}
	if o.only == "pod-starts-bare" {
		_, err := podStartBareSection(ctx, t, o, bins.Orchd)
		return err
	}
	if len(streamBuilds) == 0 {
		streamBuilds = []string{bins.Orchd}
	}
	if o.only == "streaming" {
		return streamingSection(ctx, t, o, bins.Kubectl, streamBuilds)
	}
	if o.only == "writers" {
		return writersSection(ctx, t, bins, o)
	}
	if o.only == "secrets" {
		return secretsSection(ctx, t, bins, o, &results{})
	}
	if o.only == "scheduling" {
		if o.schedNodes == 0 {
			return errors.New("-only scheduling with -sched-nodes 0: nothing to measure")
		}
		line, err := schedulingSection(ctx, t, bins, o, schedCIDR, &results{})
		if err != nil {
			return fmt.Errorf("scheduling section: %w", err)
		}
		fmt.Println(line)
		return nil
	}
	if o.only == "memory" {
		report, err := memorySection(ctx, t, bins, o)
		if err != nil {
			return fmt.Errorf("memory section: %w", err)
		}
		fmt.Println(report)
		return nil
	}
	if o.only == "density" {
		return onlyWithSummary(ctx, t, "density", func(ctx context.Context, rep *results) error {
			if o.densityFind {
				return densityFindSection(ctx, t, bins, o, rep)
			}
			return densitySection(ctx, t, bins, o, rep)
		})
	}
	if o.only == "rollout" {
		line, err := rolloutSection(ctx, t, bins, o)
		if err != nil {
			return fmt.Errorf("rollout section: %w", err)
		}
		fmt.Println(line)
		return nil
	}
	if o.only == "heartbeats" {
		line, err := heartbeatSection(ctx, t, bins, o, &results{})
		if err != nil {
			return fmt.Errorf("heartbeat section: %w", err)
		}
		fmt.Println(line)
		return nil
	}
	return fullRun(ctx, t, bins, o, podStartBuilds, streamBuilds, schedCIDR)
}

// absPaths splits a comma-separated list of paths and makes each absolute.
// pickOrchd sets the orchd the sections run: given (-orchd), or the tree's
// build, and says which on w, with the tree's commit: a figure names the
// code it measured (comparing two builds by swapping bin/orchd measured
// the tree's build twice, since orchbench builds its own).
func pickOrchd(bins *harness.Binaries, given string, w io.Writer) error {
	if given == "" {
		rev, err := exec.Command("git", "describe", "--always", "--dirty").Output()
		if err != nil {
			rev = []byte("unknown commit")
		}
		wd, _ := os.Getwd()
		fmt.Fprintf(w, "orchd: built from %s at %s\n", wd, strings.TrimSpace(string(rev)))
		return nil
	}
	abs, err := filepath.Abs(given)
	if err != nil {
		return fmt.Errorf("-orchd: %w", err)
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("-orchd %s: not an executable file (%v)", abs, err)
	}
	bins.Orchd = abs
	fmt.Fprintf(w, "orchd: %s (-orchd)\n", abs)
	return nil
}

func absPaths(list string) ([]string, error) {
	var out []string
	if list == "" {
		return nil, nil
	}
	for _, p := range strings.Split(list, ",") {
		abs, err := filepath.Abs(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		out = append(out, abs)
	}
	return out, nil
}

// benchScheduler names no scheduler: the write figure measures the API and
// storage path (what the etcd comparison is about) without the scheduler
// marking every pod of a cluster that has no nodes; scheduling has its own figure.
const benchScheduler = "bench-no-scheduler"

// podBody is a ~1 KiB pod. It mounts no service account token: admission
// would add the token volume (about 0.5 KiB) to every stored pod, and the
// figure compares ~1 KiB objects with etcd's 1 KiB puts.
func podBody(name string) *v1.Pod {
	noToken := false
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default",
			Labels:      map[string]string{"app": "bench", "tier": "web"},
			Annotations: map[string]string{"note": strings.Repeat("x", 420)}},
		Spec: v1.PodSpec{SchedulerName: benchScheduler, AutomountServiceAccountToken: &noToken, Containers: []v1.Container{{Name: "web", Image: "busybox:1.35",
			Command: []string{"httpd", "-f", "-p", "8080"},
			Ports:   []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
}

// orchCreates runs closed-loop creates with the credential cfgOf gives for
// each master; worker w talks to master w%3 (the followers forward to the
// leader), as clients spread over masters do.
func orchCreates(ctx context.Context, c *harness.Cluster, o options, run int, cfgOf func(int) *client.Config) (bench.Result, error) {
	clients := make([]*client.Client, len(c.Masters))
	for i := range c.Masters {
		cfg := cfgOf(i)
		cfg.MaxIdleConnsPerHost = o.clients
		cl, err := client.New(cfg)
		if err != nil {
			return bench.Result{}, err
		}
		defer cl.CloseIdleConnections()
		clients[i] = cl
	}
	pick := func(worker int) *client.Client { return clients[worker%len(clients)] }
	if o.target == "leader" {
		leader := clients[c.WaitLeader(10*time.Second)]
		pick = func(int) *client.Client { return leader }
	}
	op := func(ctx context.Context, worker, seq int) error {
		p := podBody(fmt.Sprintf("r%d-w%d-%d", run, worker, seq))
		return pick(worker).Create(ctx, p)
	}
	switch o.writeClient {
	case writeClientTyped:
	case writeClientRaw:
		pods, err := newRawPods()
		if err != nil {
			return bench.Result{}, err
		}
		workers := make([]rawCreator, o.clients)
		for i := range workers {
			workers[i].pods = pods
		}
		op = func(ctx context.Context, worker, seq int) error {
			return workers[worker].create(ctx, pick(worker), fmt.Sprintf("r%d-w%d-%d", run, worker, seq))
		}
	default:
		return bench.Result{}, fmt.Errorf("-write-client %q: want %q or %q", o.writeClient, writeClientRaw, writeClientTyped)
	}
	var wg sync.WaitGroup
	profErrs := make([]error, len(c.Masters))
	if o.profileDir != "" && run == o.profileRun-1 {
		for i, m := range c.Masters {
			wg.Go(func() {
				if err := profile(ctx, clients[i], o.warmup, o.duration, filepath.Join(o.profileDir, m.Name+".cpu.pprof")); err != nil {
					profErrs[i] = fmt.Errorf("profile %s: %w", m.Name, err)
				}
			})
		}
	}
	var pids []int
	var names []string
	for _, m := range c.Masters {
		pids, names = append(pids, m.PID()), append(names, m.Name)
	}
	before, err := takeCPU(pids)
	if err != nil {
		return bench.Result{}, err
	}
	changesBefore, err := leaderChanges(ctx, clients)
	if err != nil {
		return bench.Result{}, err
	}
	res := bench.Run(ctx, o.clients, o.duration, o.warmup, op)
	wg.Wait()
	if err := errors.Join(append(profErrs, opErrors("orch creates", res), ctx.Err())...); err != nil {
		return res, err
	}
	after, err := takeCPU(pids)
	if err != nil {
		return res, err
	}
	changesAfter, err := leaderChanges(ctx, clients)
	if err != nil {
		return res, err
	}
	fmt.Printf("          %s; leadership changes: %d\n", after.since(before, names), changesAfter-changesBefore)
	return res, nil
}

// opErrors is an error when any operation of a measured run failed: a
// figure with failures in it is not a figure.
func opErrors(what string, res bench.Result) error {
	if res.Errors == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d of %d operations failed in the window, the first with: %w",
		what, res.Errors, res.Errors+res.Ops, res.FirstError)
}

// leaderChanges sums orch_raft_leader_changes_total over the masters: a
// spurious election under load shows up as an increase.
func leaderChanges(ctx context.Context, clients []*client.Client) (int, error) {
	total := 0
	for _, cl := range clients {
		var raw []byte
		if err := cl.Do(ctx, "GET", "/metrics", nil, nil, &raw); err != nil {
			return 0, fmt.Errorf("read leader changes: %w", err)
		}
		found := false
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "orch_raft_leader_changes_total "); ok {
				n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0, fmt.Errorf("read leader changes: %q: %w", line, err)
				}
				total, found = total+int(n), true
			}
		}
		if !found {
			return 0, errors.New("read leader changes: no orch_raft_leader_changes_total in /metrics")
		}
	}
	return total, nil
}

// cpuSnapshot reads the CPU time of the machine, of each of procs and of
// this process (the load generator).
type cpuSnapshot struct {
	machine bench.CPUTimes
	procs   []bench.CPUTimes
	self    bench.CPUTimes
}

func takeCPU(pids []int) (cpuSnapshot, error) {
	var s cpuSnapshot
	var err error
	if s.machine, err = bench.ReadCPUTimes(append(append([]int(nil), pids...), os.Getpid())...); err != nil {
		return s, fmt.Errorf("read CPU times: %w", err)
	}
	for _, p := range pids {
		t, err := bench.ReadCPUTimes(p)
		if err != nil {
			return s, fmt.Errorf("read CPU times of %d: %w", p, err)
		}
		s.procs = append(s.procs, t)
	}
	if s.self, err = bench.ReadCPUTimes(os.Getpid()); err != nil {
		return s, fmt.Errorf("read CPU times: %w", err)
	}
	return s, nil
}

// since says how many cores each process and the load generator used, and
// flags the run when other processes took more than bench.NoisyOther.
func (s cpuSnapshot) since(b cpuSnapshot, names []string) string {
	wall := s.machine.At.Sub(b.machine.At).Seconds()
	var parts []string
	var faults int64
	for i := range s.procs {
		parts = append(parts, fmt.Sprintf("%s %.2f", names[i], (s.procs[i].Procs-b.procs[i].Procs).Seconds()/wall))
		faults += s.procs[i].Faults - b.procs[i].Faults
	}
	use := s.machine.Sub(b.machine)
	out := fmt.Sprintf("cores: %s, load generator %.2f, other %.2f; page faults of %s %.0f/s", strings.Join(parts, " "),
		(s.self.Procs-b.self.Procs).Seconds()/wall, use.Other, strings.Join(names, "+"), float64(faults)/wall)
	if use.Noisy() {
		out += " NOISY"
	}
	return out
}

func etcdPuts(ctx context.Context, e *bench.EtcdCluster, o options) (bench.Result, error) {
	urls := e.TLSClientURLs()
	if o.target == "leader" {
		l, err := e.Leader(ctx)
		if err != nil {
			return bench.Result{}, err
		}
		urls = urls[l : l+1]
	}
	put, err := bench.NewEtcdPut(bench.EtcdPutConfig{URLs: urls, TLS: e.ClientTLSConfig(),
		ValueSize: 1024, Clients: o.clients})
	if err != nil {
		return bench.Result{}, err
	}
	defer put.Close()
	var pids []int
	var names []string
	for _, m := range e.Members {
		pids, names = append(pids, m.PID), append(names, m.Name)
	}
	before, err := takeCPU(pids)
	if err != nil {
		return bench.Result{}, err
	}
	res := bench.Run(ctx, o.clients, o.duration, o.warmup, put.Op)
	if err := errors.Join(opErrors("etcd puts", res), ctx.Err()); err != nil {
		return res, err
	}
	after, err := takeCPU(pids)
	if err != nil {
		return res, err
	}
	fmt.Printf("          %s\n", after.since(before, names))
	return res, nil
}

// failovers stops the leader n times (SIGKILL, or SIGTERM for a graceful
// transfer) and times from the signal to the first acknowledged write sent
// after it. The stopped master is restarted and caught up between runs.
func failovers(ctx context.Context, c *harness.Cluster, n int, graceful bool) ([]time.Duration, error) {
	var out []time.Duration
	for i := 0; i < n; i++ {
		leader := c.WaitLeader(30 * time.Second)
		c.WaitCaughtUp(60 * time.Second)
		var others []int
		for j := range c.Masters {
			if j != leader {
				others = append(others, j)
			}
		}
		cfg := c.Config(others...)
		cfg.DialTimeout = 200 * time.Millisecond
		cl, err := client.New(cfg)
		if err != nil {
			return nil, err
		}
		// Warm the connections so the measurement is the failover, not TLS setup.
		if err := cl.Create(ctx, podBody(fmt.Sprintf("fo-warm-%v-%d", graceful, i))); err != nil {
			return nil, fmt.Errorf("warm-up write: %w", err)
		}
		start := time.Now()
		if graceful {
			go c.Stop(leader)
		} else {
			c.Kill(leader)
		}
		for seq := 0; ; seq++ {
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := cl.Create(wctx, podBody(fmt.Sprintf("fo-%v-%d-%d", graceful, i, seq)))
			cancel()
			if err == nil {
				out = append(out, time.Since(start))
				break
			}
			if time.Since(start) > 30*time.Second || ctx.Err() != nil {
				return nil, fmt.Errorf("no write acknowledged within 30s of stopping the leader: %w", errors.Join(err, ctx.Err()))
			}
		}
		cl.CloseIdleConnections()
		stopDeadline := time.Now().Add(60 * time.Second)
		for c.Masters[leader].Running() {
			if time.Now().After(stopDeadline) {
				return nil, fmt.Errorf("master %s still runs 60s after it was stopped", c.Masters[leader].Name)
			}
			if err := sleepCtx(ctx, 10*time.Millisecond); err != nil { // a graceful stop finishes in the background
				return nil, err
			}
		}
		c.Start(leader)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out, nil
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[len(d)/2]
}

// failoverPods is the size of the cluster the failover figures are taken on.
const failoverPods = 1000

// fill creates pods until the cluster holds n (from fresh names).
func fill(ctx context.Context, cl *client.Client, workers, n int) error {
	l, err := cl.List(ctx, "pods", "", client.ListOptions{})
	if err != nil {
		return err
	}
	have := len(l.Items)
	if have >= n {
		return nil
	}
	err = forEach(ctx, workers, n-have, func(ctx context.Context, j int) error {
		i := have + j
		// A write with an unknown outcome (a leader change under a
		// starved host) is sent again: AlreadyExists means it landed.
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			err = cl.Create(ctx, podBody(fmt.Sprintf("fill-%06d", i)))
			if err == nil || v1.IsAlreadyExists(err) {
				return nil
			}
			if !client.IsUnknownOutcome(err) && v1.CodeOf(err) != 503 && v1.CodeOf(err) != 504 {
				break
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("fill to %d pods: %w", n, err)
	}
	return nil
}

// sleepCtx waits d, or less if ctx ends first (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func rssKiB(pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("read rss of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// profile waits out the warm-up, then records a CPU profile for the window.
func profile(ctx context.Context, cl *client.Client, warmup, window time.Duration, path string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(warmup):
	}
	secs := int(window / time.Second)
	if secs < 1 {
		secs = 1
	}
	var raw []byte
	q := url.Values{"seconds": {strconv.Itoa(secs)}}
	if err := cl.Do(ctx, "GET", "/debug/pprof/profile", q, nil, &raw); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// runT is a harness.T for a program: it keeps cleanups and temp dirs, and
// records a fatal error instead of ending a test.
type runT struct {
	mu       sync.Mutex
	cleanups []func()
	failed   bool
	msg      string
	// onFatal, when set, runs in Fatalf before the run ends (the summary
	// of what was measured).
	onFatal func()
}

func newRunT() *runT { return &runT{} }

func (t *runT) Helper()                         {}
func (t *runT) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *runT) Failed() bool                    { return t.failed }
func (t *runT) Fatalf(format string, args ...any) {
	t.failed, t.msg = true, fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "orchbench:", t.msg)
	if t.onFatal != nil {
		t.onFatal()
	}
	t.cleanup()
	os.Exit(1)
}
func (t *runT) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}
func (t *runT) TempDir() string {
	d, err := os.MkdirTemp("", "orchbench-")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
func (t *runT) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
