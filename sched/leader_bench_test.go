package sched

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
	"orch.io/orch/pki"
)

// startLeaderLoops starts every change-fed leader loop as cmd/orchd's
// master wires them (one shared pod informer), with p as their proposer and
// probe in their context, and returns how many loops it started. The loops
// end with ctx; wg waits for them.
func startLeaderLoops(tb testing.TB, ctx context.Context, wg *sync.WaitGroup, p *fakeProposer) int {
	tb.Helper()
	return startLeaderLoopsWith(tb, ctx, wg, p, leaderLoopOptions{})
}

// leaderLoopOptions are what startLeaderLoopsWith may wire otherwise.
type leaderLoopOptions struct {
	// schedulerRecorder and replicationRecorder record the events on the
	// path of the scheduling figure (nil: none; the caller runs them).
	schedulerRecorder, replicationRecorder *events.Recorder
	// clusterCIDR is node IPAM's (default 10.244.0.0/16).
	clusterCIDR string
}

// startLeaderLoopsWith is startLeaderLoops with opts.
func startLeaderLoopsWith(tb testing.TB, ctx context.Context, wg *sync.WaitGroup, p *fakeProposer, opts leaderLoopOptions) int {
	tb.Helper()
	loops := leaderLoops(tb, p, opts)
	for _, l := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
	}
	return len(loops)
}

// leaderLoop is one leader loop, named, not yet started.
type leaderLoop struct {
	name string
	run  func(context.Context)
}

// leaderLoops returns every change-fed leader loop as cmd/orchd's master
// wires them (one shared pod informer), with p as their proposer.
func leaderLoops(tb testing.TB, p *fakeProposer, opts leaderLoopOptions) []leaderLoop {
	tb.Helper()
	if opts.clusterCIDR == "" {
		opts.clusterCIDR = "10.244.0.0/16"
	}
	pods := NewInformer("pods", nil)
	kubeSvc, err := NewKubernetesServiceController(KubernetesServiceConfig{Store: p.store, Proposer: p, ServiceCIDR: "10.96.0.0/16",
		APIPort: 6443, Masters: func() ([]string, error) { return []string{"127.0.0.1:6443"}, nil },
		Probe: func(context.Context, string) error { return nil }})
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, CAPEM: []byte("ca"),
		Sign: func(sa *v1.ServiceAccount, secret string) (string, error) {
			return "token-" + sa.Name + "-" + secret, nil
		}})
	if err != nil {
		tb.Fatal(err)
	}
	return []leaderLoop{
		{"scheduler", NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Recorder: opts.schedulerRecorder}).Run},
		{"replication", NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p, Pods: pods, Recorder: opts.replicationRecorder}).Run},
		{"garbagecollector", NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: p}).Run},
		{"namespace", NewNamespaceController(NamespaceConfig{Store: p.store, Proposer: p}).Run},
		{"podgc", NewPodGC(PodGCConfig{Store: p.store, Proposer: p}).Run},
		{"endpoints", NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"endpointslices", NewEndpointSliceController(EndpointSliceConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"nodeipam", NewNodeIPAM(NodeIPAMConfig{Store: p.store, Proposer: p, ClusterCIDR: opts.clusterCIDR, MaskSize: 24}).Run},
		{"rootca", NewRootCAPublisher(RootCAConfig{Store: p.store, Proposer: p, CAPEM: []byte("ca")}).Run},
		{"kubernetesservice", kubeSvc.Run},
		{"serviceaccounts", NewServiceAccountsController(ServiceAccountsConfig{Store: p.store, Proposer: p}).Run},
		{"disruption", NewDisruptionController(DisruptionConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"job", NewJobController(JobConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"statefulset", NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"cronjob", NewCronJobController(CronJobConfig{Store: p.store, Proposer: p}).Run},
		{"deployment", NewDeploymentController(DeploymentConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"daemonset", NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p, Pods: pods}).Run},
		{"nodelifecycle", NewNodeLifecycle(NodeLifecycleConfig{Store: p.store, Proposer: p}).Run},
		{"csrapproving", NewCSRApprover(CSRApprovingConfig{Store: p.store, Proposer: p}).Run},
		{"csrsigning", NewCSRSigner(CSRSigningConfig{Store: p.store, Proposer: p, Signer: refusingSigner{}}).Run},
		{"csrcleaner", NewCSRCleaner(CSRCleaningConfig{Store: p.store, Proposer: p}).Run},
		{"legacytokens", tokens.Run},
	}
}

// refusingSigner is a Signer that signs nothing (the benchmarks make no
// certificate signing requests).
type refusingSigner struct{}

func (refusingSigner) SignClient(crypto.PublicKey, pki.ClientCertificate, time.Time) ([]byte, error) {
	return nil, errors.New("no CA key")
}

// benchPod is a ~1 KiB pod as orchbench's write figure creates it (two
// labels, a 420-byte annotation, a scheduler nobody runs, no owner), with
// the managedFields entry the API adds.
func benchPod(i int) *v1.Pod {
	noToken := false
	now := v1.NewTime(time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC))
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("bench-%07d", i), Namespace: "default", UID: fmt.Sprintf("uid-bench-%d", i),
			CreationTimestamp: now,
			Labels:            map[string]string{"app": "bench", "tier": "web"},
			Annotations:       map[string]string{"note": strings.Repeat("x", 420)},
			ManagedFields: []v1.ManagedFieldsEntry{{Manager: "orchbench", Operation: "Update", APIVersion: "v1", Time: &now,
				FieldsType: "FieldsV1", FieldsV1: &v1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:annotations":{".":{},"f:note":{}},` +
					`"f:labels":{".":{},"f:app":{},"f:tier":{}}},"f:spec":{"f:automountServiceAccountToken":{},` +
					`"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:command":{},"f:image":{},"f:name":{},` +
					`"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{}}}}},` +
					`"f:schedulerName":{}}}`)}}}},
		Spec: v1.PodSpec{SchedulerName: "bench-no-scheduler", AutomountServiceAccountToken: &noToken,
			Containers: []v1.Container{{Name: "web", Image: "busybox:1.35", Command: []string{"httpd", "-f", "-p", "8080"},
				Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}}}}},
	}
}

// applyEntries commits each command as its own entry, all in one batch of
// the FSM (as raft hands a leader's entries to it), and returns the last
// index.
func (p *fakeProposer) applyEntries(tb testing.TB, cmds [][]byte) uint64 {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	logs := make([]*raft.Log, len(cmds))
	for i, cmd := range cmds {
		p.index++
		logs[i] = &raft.Log{Index: p.index, Type: raft.LogCommand, Data: cmd}
	}
	for i, res := range p.f.ApplyBatch(logs) {
		if r, ok := res.(fsm.Result); ok && r.Err != nil {
			tb.Fatalf("entry %d: %v", i, r.Err)
		}
	}
	return p.index
}

// processCPU returns the CPU time this process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLeaderPodCreates commits b.N creates of ~1 KiB pods nobody owns
// (benchPod), in FSM batches of batch entries, to a store whose every
// change-fed leader loop runs (startLeaderLoops), and waits until each loop
// has passed over the last one. cpu-ns/op is the process's CPU per create
// (apply and every loop, over all goroutines); loops=0 is the same commits
// without the loops, so the loops' share is the difference. allocs/op
// counts every goroutine's allocations.
func BenchmarkLeaderPodCreates(b *testing.B) {
	for _, loops := range []bool{false, true} {
		for _, batch := range []int{1, 16} {
			b.Run(fmt.Sprintf("loops=%t/batch=%d", loops, batch), func(b *testing.B) {
				benchLeaderPodCreates(b, loops, batch)
			})
		}
	}
}

// BenchmarkLeaderLoopsPerCreate is BenchmarkLeaderPodCreates paced as a
// live leader commits: a batch of 16 creates of pods nobody owns every
// 5 ms (~3,200 creates/s, what orchbench's write figure commits), so each
// loop that follows pods is woken and passes once per batch instead of
// once per many batches as when the commits run flat out. cpu-ns/op is the
// process's CPU per create (apply, the loops, the pacing's timer), ns/op
// only the pacing; apply-cpu-ns/op is the CPU of the thread that commits
// (the FSM's apply and the feed's hand-over to the subscriptions), and
// rest-cpu-ns/op the rest: the loops and the runtime (its garbage
// collector's background work). loops=false is the same paced commits
// without the loops, so the loops' share per create is the difference.
func BenchmarkLeaderLoopsPerCreate(b *testing.B) {
	for _, loops := range []bool{false, true} {
		b.Run(fmt.Sprintf("loops=%t", loops), func(b *testing.B) {
			benchLeaderPodCreatesPaced(b, loops, 16, 5*time.Millisecond)
		})
	}
}

func benchLeaderPodCreates(b *testing.B, loops bool, batch int) {
	benchLeaderPodCreatesPaced(b, loops, batch, 0)
}

// benchLeaderPodCreatesPaced is BenchmarkLeaderPodCreates committing one
// batch per every (0: flat out).
func benchLeaderPodCreatesPaced(b *testing.B, loops bool, batch int, every time.Duration) {
	p := newFakeProposer(b)
	probe := newPassProbe()
	ctx, cancel := context.WithCancel(withPassProbe(context.Background(), probe))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	n := 0
	if loops {
		n = startLeaderLoops(b, ctx, &wg, p)
	}
	// Let the first passes' writes (the kubernetes Service, the root CA
	// ConfigMap, ...) settle.
	settle := settleLoops(b, ctx, p, probe, n, time.Minute)
	cmds := make([][]byte, b.N)
	for i := range cmds {
		cmd, err := fsm.NewCreate(benchPod(i))
		if err != nil {
			b.Fatal(err)
		}
		cmds[i] = cmd
	}
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
		// The commits run on a thread of their own, whose CPU is the
		// apply's (with the feed's hand-over to the loops): the rest of
		// the process's is the loops' and the runtime's.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU(b)
	var last uint64
	var apply time.Duration
	for i := 0; i < len(cmds); i += batch {
		if tick != nil {
			<-tick
			start := threadCPU(b)
			last = p.applyEntries(b, cmds[i:min(len(cmds), i+batch)])
			apply += threadCPU(b) - start
			continue
		}
		last = p.applyEntries(b, cmds[i:min(len(cmds), i+batch)])
	}
	settle(last)
	b.StopTimer()
	total := processCPU(b) - cpu
	b.ReportMetric(float64(total)/float64(b.N), "cpu-ns/op")
	if tick != nil {
		b.ReportMetric(float64(apply)/float64(b.N), "apply-cpu-ns/op")
		b.ReportMetric(float64(total-apply)/float64(b.N), "rest-cpu-ns/op")
	}
}

// threadCPU returns the CPU time the calling thread has used (the caller
// locks its goroutine to the thread). It reads the thread's CPU clock:
// getrusage's figure for a thread is sampled at the scheduler's ticks,
// which miss most of a thread that runs in bursts of less than a tick.
func threadCPU(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// settleLoops waits until the n leader loops registered with probe have
// passed the feed's end, again and again until their passes write nothing
// more (the kubernetes Service, the root CA ConfigMap, a node's pod CIDR,
// ...), and returns a func that waits, up to timeout, for them to pass an
// index.
func settleLoops(b testing.TB, ctx context.Context, p *fakeProposer, probe *passProbe, n int, timeout time.Duration) func(index uint64) {
	b.Helper()
	settle := func(index uint64) {
		wctx, stop := context.WithTimeout(ctx, timeout)
		defer stop()
		if err := probe.wait(wctx, n, index); err != nil {
			b.Fatal(err)
		}
	}
	for prev := uint64(0); ; {
		_, last := p.store().Feed().Window()
		settle(last)
		if last == prev {
			break
		}
		prev = last
	}
	return settle
}
