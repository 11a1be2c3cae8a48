package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/bench"
	"orch.io/orch/test/harness"
)

// The pod start beside bare containerd section (issue 17; -only
// pod-starts-bare) sets orch's pod start on one real node beside the same
// pod started with the containerd Go client directly, in the same run:
//
//   - orch: an `orchd node` in a network namespace of its own with its
//     managed containerd and the busybox image imported at start, behind
//     -pod-start-masters masters. A pod (busybox httpd on barePort) is
//     created through the API; timed are create → Running with a pod IP
//     seen by a watch, and create → the first TCP connection the server
//     accepts, dialled from the node's network namespace to the pod IP.
//   - bare: the same pod on the same containerd and image, started by the
//     anchor of podstart_bare_ctrd.go (orch's pod network code, the node's
//     security options, no orchestration); timed are start → task started
//     and start → the first TCP answer, dialled the same way.
//
// Two cases: -pod-starts-bare pods one after another (each removed before
// the next starts), the sides alternating pod by pod in ABBA order; and
// -pod-starts-bare-bursts bursts of -pod-starts-bare-burst pods started at
// once, the sides alternating burst by burst. Both sides start one
// unmeasured pod first (the first start unpacks the image's snapshot).
// Printed are the medians and p99s, the orch/bare ratio of the medians to
// the first TCP answer beside the goal (<= 1.3x), and orch's create →
// Running p99 one pod at a time beside its goal (< 1 s).
//
// Every step has a deadline; any error fails the section, and everything
// either side made is removed, also after a failure.
//
//	sudo go run ./test/bench/cmd/orchbench -only pod-starts-bare
//	sudo go run ./test/bench/cmd/orchbench -only pod-starts-bare -pod-starts-bare 5 -pod-starts-bare-burst 5

const (
	// barePort is the port the pod's server listens on.
	barePort = 8080
	// barePodLabel marks the section's pods; its watch selects them.
	barePodLabel = "orchbench-bare"
	// bareRunningTimeout bounds a start up to its first TCP answer (also
	// a whole burst's), bareGoneTimeout the removal of a pod.
	bareRunningTimeout = 120 * time.Second
	bareGoneTimeout    = 120 * time.Second
	// bareRemoveWorkers remove a burst's pods in parallel.
	bareRemoveWorkers = 8
)

// bareCommand is the pod's container command on both sides: busybox httpd
// in the foreground.
var bareCommand = []string{"httpd", "-f", "-p", strconv.Itoa(barePort), "-h", "/"}

// bareOptions are the section's flags.
type bareOptions struct {
	sequential, burst, bursts int
}

// register adds the section's flags to fs.
func (b *bareOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&b.sequential, "pod-starts-bare", 50, "pods started one after another on each side in the pod start beside bare containerd section (0 skips the section; see podstart_bare.go)")
	fs.IntVar(&b.burst, "pod-starts-bare-burst", 50, "pods started at once in each burst of that section")
	fs.IntVar(&b.bursts, "pod-starts-bare-bursts", 2, "bursts on each side in that section, alternating (0: no burst case)")
}

// validate checks the flags; only is the -only section.
func (b bareOptions) validate(only string) error {
	if b.sequential < 0 || b.burst < 1 || b.bursts < 0 {
		return fmt.Errorf("-pod-starts-bare %d, -pod-starts-bare-burst %d, -pod-starts-bare-bursts %d: want at least 0, 1 and 0",
			b.sequential, b.burst, b.bursts)
	}
	if only == "pod-starts-bare" && b.sequential == 0 {
		return errors.New("-only pod-starts-bare with -pod-starts-bare 0: nothing to measure")
	}
	return nil
}

// podStartBareSection runs the section with the orchd at orchd and returns
// its figures; it prints them too.
func podStartBareSection(ctx context.Context, t *runT, o options, orchd string) ([]goalLine, error) {
	b := o.bare
	fmt.Println()
	fmt.Printf("== pod start beside bare containerd: %d master(s) and 1 node (real containerd); %d pods one at a time and %d bursts of %d at once per side, alternating ==\n",
		o.podStartMasters, b.sequential, b.bursts, b.burst)
	network := harness.NewNet(t)
	c := harness.StartCluster(t, harness.Binaries{Orchd: orchd}, harness.Options{Masters: o.podStartMasters, Net: network})
	nd := c.StartNode(network, "bench-bare")
	cl := c.Client()
	if err := waitNodeReady(ctx, cl, nd.Name); err != nil {
		return nil, fmt.Errorf("pod start beside bare containerd: %w\n--- node log:\n%s", err, nd.Log(30))
	}
	orch, err := newOrchStarter(ctx, cl, nd)
	if err != nil {
		return nil, fmt.Errorf("pod start beside bare containerd: %w", err)
	}
	defer orch.stop()
	anchor, err := newBareAnchor(ctx, t, network, nd, bareCommand)
	if err != nil {
		return nil, fmt.Errorf("pod start beside bare containerd: %w", err)
	}
	sides := []bareSide{orch, anchor}
	for _, s := range sides {
		if _, err := startRemove(ctx, s, "warm"); err != nil {
			return nil, fmt.Errorf("pod start beside bare containerd, warm-up: %w", err)
		}
	}
	pids := append(orchPIDs(c, nd), os.Getpid())
	before, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return nil, fmt.Errorf("pod start beside bare containerd: read CPU times: %w", err)
	}
	seq := bareCase{Name: "sequential", Sequential: true}
	for r := range b.sequential {
		var line []string
		for k := range sides {
			s := sides[abba(r, k, len(sides))]
			sample, err := startRemove(ctx, s, fmt.Sprintf("seq-r%02d", r))
			if err != nil {
				return nil, fmt.Errorf("pod start beside bare containerd, sequential run %d: %w", r+1, err)
			}
			if s.side() == "orch" {
				seq.Orch = append(seq.Orch, sample)
			} else {
				seq.Bare = append(seq.Bare, sample)
			}
			line = append(line, fmt.Sprintf("%s %s/%s", s.side(), ms(sample.Running), ms(sample.Answered)))
		}
		fmt.Printf("sequential %2d/%d (running/first TCP answer): %s\n", r+1, b.sequential, strings.Join(line, ", "))
	}
	cases := []bareCase{seq}
	if b.bursts > 0 {
		burst := bareCase{Name: fmt.Sprintf("%d at once", b.burst)}
		for r := range b.bursts {
			for k := range sides {
				s := sides[abba(r, k, len(sides))]
				samples, span, err := startBurst(ctx, s, fmt.Sprintf("b%d", r), b.burst)
				if err != nil {
					return nil, fmt.Errorf("pod start beside bare containerd, burst %d: %w", r+1, err)
				}
				if s.side() == "orch" {
					burst.Orch, burst.OrchSpans = append(burst.Orch, samples...), append(burst.OrchSpans, span)
				} else {
					burst.Bare, burst.BareSpans = append(burst.Bare, samples...), append(burst.BareSpans, span)
				}
				fmt.Printf("burst %d/%d %s: %d pods, last TCP answer after %s\n", r+1, b.bursts, s.side(), b.burst, ms(span))
			}
		}
		cases = append(cases, burst)
	}
	after, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return nil, fmt.Errorf("pod start beside bare containerd: read CPU times: %w", err)
	}
	var lines []goalLine
	for _, bc := range cases {
		s, err := summarizeBare(bc)
		if err != nil {
			return nil, err
		}
		lines = append(lines, bareGoalLines(s)...)
	}
	fmt.Println()
	fmt.Println("== summary: pod start beside bare containerd ==")
	for _, l := range lines {
		fmt.Println(l)
	}
	fmt.Printf("machine during the measured runs: %s (ours: the masters, the node agent and this process; containerd, shims and runc of both sides count as other)\n",
		after.Sub(before))
	return lines, nil
}

// abba is the index of the side that goes k-th in round r: in order on
// even rounds, reversed on odd ones, so each side goes first as often as
// last.
func abba(r, k, n int) int {
	if r%2 == 1 {
		return n - 1 - k
	}
	return k
}

// bareSide is one way of starting the section's pod.
type bareSide interface {
	// side names it: "orch" or "bare".
	side() string
	// startPod starts the pod called name and times it. The returned
	// handle removes what was made; it is not nil whenever something may
	// have been made, also on error.
	startPod(ctx context.Context, name string) (func(context.Context) error, bareSample, error)
}

func (o *orchStarter) side() string { return "orch" }
func (a *bareAnchor) side() string  { return "bare" }

func (a *bareAnchor) startPod(ctx context.Context, name string) (func(context.Context) error, bareSample, error) {
	run, s, err := a.start(ctx, "bare-"+name)
	return func(ctx context.Context) error { return a.remove(ctx, run) }, s, err
}

// startRemove starts one pod on side s, then removes it.
func startRemove(ctx context.Context, s bareSide, name string) (bareSample, error) {
	remove, sample, err := s.startPod(ctx, name)
	if remove != nil {
		err = errors.Join(err, remove(ctx))
	}
	return sample, err
}

// startBurst starts n pods on side s at once and removes them; it returns
// their samples and the time from the burst's start to its last answer.
func startBurst(ctx context.Context, s bareSide, prefix string, n int) ([]bareSample, time.Duration, error) {
	samples := make([]bareSample, n)
	removes := make([]func(context.Context) error, n)
	errs := make([]error, n)
	bctx, cancel := context.WithTimeout(ctx, bareRunningTimeout)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			removes[i], samples[i], errs[i] = s.startPod(bctx, fmt.Sprintf("%s-%02d", prefix, i))
		})
	}
	wg.Wait()
	var span time.Duration
	for _, sm := range samples {
		span = max(span, sm.Started.Add(sm.Answered).Sub(start))
	}
	err := forEach(context.WithoutCancel(ctx), bareRemoveWorkers, n, func(ctx context.Context, i int) error {
		if removes[i] == nil {
			return nil
		}
		return removes[i](ctx)
	})
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, 0, err
	}
	return samples, span, nil
}

// orchStarter starts the section's pods through the API and follows them
// with one watch.
type orchStarter struct {
	cl    *client.Client
	node  *harness.Node
	watch *client.Watcher
	// ended is closed when the watch's events end.
	ended chan struct{}

	mu   sync.Mutex
	pods map[string]*orchPod
}

// orchPod is what the watch saw of one pod.
type orchPod struct {
	// running is closed once the pod runs with an IP, or cannot run (err).
	running   chan struct{}
	runningAt time.Time
	ip        string
	err       error
	// gone is closed when the pod's deletion is seen.
	gone chan struct{}
}

// newOrchStarter opens the watch of the section's pods.
func newOrchStarter(ctx context.Context, cl *client.Client, nd *harness.Node) (*orchStarter, error) {
	w, err := cl.Watch(ctx, "pods", "default", client.WatchOptions{
		ListOptions: client.ListOptions{LabelSelector: barePodLabel + "=pod"}})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	o := &orchStarter{cl: cl, node: nd, watch: w, ended: make(chan struct{}), pods: map[string]*orchPod{}}
	go o.follow()
	return o, nil
}

func (o *orchStarter) stop() { o.watch.Stop() }

// follow reads the watch, stamping each event as it arrives.
func (o *orchStarter) follow() {
	defer close(o.ended)
	for ev := range o.watch.Events() {
		at := time.Now()
		o.mu.Lock()
		p := o.pods[ev.Name]
		o.mu.Unlock()
		if p == nil {
			continue
		}
		o.observe(p, ev, at)
	}
}

// observe updates p from one of its events. Only follow calls it, so p's
// fields are written by one goroutine, before its channels close.
func (o *orchStarter) observe(p *orchPod, ev client.Event, at time.Time) {
	done := func(err error) {
		select {
		case <-p.running:
		default:
			p.err = err
			if err == nil {
				p.runningAt = at
			}
			close(p.running)
		}
	}
	if ev.Type == v1.Deleted {
		done(fmt.Errorf("pod %s deleted before it ran", ev.Name))
		select {
		case <-p.gone:
		default:
			close(p.gone)
		}
		return
	}
	var pod v1.Pod
	if err := json.Unmarshal(ev.Object, &pod); err != nil {
		done(fmt.Errorf("decode pod %s: %w", ev.Name, err))
		return
	}
	if err := podStartFailure(&pod); err != nil {
		done(err)
		return
	}
	if pod.Status.Phase == v1.PodRunning && pod.Status.PodIP != "" {
		select {
		case <-p.running:
		default:
			p.ip = pod.Status.PodIP
			done(nil)
		}
	}
}

// barePod is the section's pod: busybox httpd, stopped within a second.
func barePod(name string) *v1.Pod {
	grace := int64(1)
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{barePodLabel: "pod"}},
		Spec: v1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{Name: "web", Image: "busybox:1.35", Command: bareCommand,
				Ports: []v1.ContainerPort{{Name: "http", ContainerPort: barePort}}}}},
	}
}

// startPod creates the pod, waits until the watch shows it Running with an
// IP, then until its server accepts a connection from the node's network
// namespace.
func (o *orchStarter) startPod(ctx context.Context, name string) (func(context.Context) error, bareSample, error) {
	name = "orch-" + name
	p := &orchPod{running: make(chan struct{}), gone: make(chan struct{})}
	o.mu.Lock()
	if _, dup := o.pods[name]; dup {
		o.mu.Unlock()
		return nil, bareSample{}, fmt.Errorf("pod %s started twice", name)
	}
	o.pods[name] = p
	o.mu.Unlock()
	remove := func(ctx context.Context) error { return o.remove(ctx, name, p) }
	sctx, cancel := context.WithTimeout(ctx, bareRunningTimeout)
	defer cancel()

	t0 := time.Now()
	if err := o.cl.Create(sctx, barePod(name)); err != nil {
		// The create may have landed (an unknown outcome): remove.
		return remove, bareSample{}, fmt.Errorf("create pod %s: %w", name, err)
	}
	select {
	case <-p.running:
	case <-o.ended:
		return remove, bareSample{}, fmt.Errorf("pod %s: the pod watch ended: %v", name, o.watch.Err())
	case <-sctx.Done():
		return remove, bareSample{}, o.withLog(fmt.Errorf("pod %s not Running with an IP within %v: %w", name, bareRunningTimeout, sctx.Err()))
	}
	if p.err != nil {
		return remove, bareSample{}, o.withLog(p.err)
	}
	s := bareSample{Started: t0, Running: p.runningAt.Sub(t0)}
	answered, err := awaitTCP(sctx, "/run/netns/"+o.node.NetNS, net.JoinHostPort(p.ip, strconv.Itoa(barePort)))
	if err != nil {
		return remove, bareSample{}, o.withLog(fmt.Errorf("pod %s: %w", name, err))
	}
	s.Answered = answered.Sub(t0)
	return remove, s, nil
}

// remove deletes the pod and waits until the watch sees it gone.
func (o *orchStarter) remove(ctx context.Context, name string, p *orchPod) error {
	defer func() {
		o.mu.Lock()
		delete(o.pods, name)
		o.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bareGoneTimeout)
	defer cancel()
	if _, err := o.cl.Delete(ctx, "pods", "default", name, nil); err != nil {
		if v1.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("delete pod %s: %w", name, err)
	}
	select {
	case <-p.gone:
		return nil
	case <-o.ended:
		return fmt.Errorf("pod %s: the pod watch ended: %v", name, o.watch.Err())
	case <-ctx.Done():
		return o.withLog(fmt.Errorf("pod %s not gone within %v: %w", name, bareGoneTimeout, ctx.Err()))
	}
}

// withLog adds the tail of the node's log to err, unless the run was
// interrupted.
func (o *orchStarter) withLog(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w\n--- node log:\n%s", err, o.node.Log(20))
}
