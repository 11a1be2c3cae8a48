package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node"
	"orch.io/orch/test/bench"
	"orch.io/orch/test/harness"
)

// The streaming section (issue 14) sets orch's streaming paths beside the
// same operations done on the node directly, on one real node (an `orchd
// node` in a network namespace of its own with its managed containerd):
//
//   - exec round trip of `true`: the built kubectl (`kubectl exec POD --
//     true`, process start-up included), client-go's remotecommand
//     WebSocket executor (what kubectl uses, without the process), and
//     `ctr task exec` against the node's containerd; medians of
//     -stream-execs, and the ratio of each to ctr's.
//   - port-forward throughput: one GET of a 256 MiB file from busybox
//     httpd in the pod (the file on a Memory emptyDir) through one
//     connection of a client-go port-forward, over the SPDY-in-WebSocket
//     tunnel kubectl uses by default and over plain SPDY, beside the same
//     GET on a TCP connection from the node's network namespace to the pod
//     IP; MB/s (10^6 bytes), medians of -stream-forwards, ratio to direct.
//
// Several builds of orchd can be compared in one run (-stream-orchd A,B):
// each gets its own master(s), node and pod, and the builds alternate
// within every round, so a change of the machine's load hits them alike.
//
//	go build -o /tmp/base/orchd ./cmd/orchd   # (with orch-container-log beside it)
//	sudo go run ./test/bench/cmd/orchbench -only streaming -stream-orchd /tmp/base/orchd,bin/orchd

const (
	// streamPayload is the size of the file the port-forward figure reads.
	streamPayload = 256 << 20
	// streamPort is the pod's httpd port.
	streamPort = 8080
	// streamStepTimeout bounds every exec and every transfer.
	streamStepTimeout = 60 * time.Second
	// streamPodTimeout bounds the pod's start and its httpd's readiness.
	streamPodTimeout = 90 * time.Second
)

// streamPod is busybox httpd serving /www/blob (streamPayload zero bytes
// on a Memory emptyDir, written before httpd starts).
func streamPod(name string) *v1.Pod {
	grace := int64(1)
	script := fmt.Sprintf("head -c %d /dev/zero > /www/blob && exec httpd -f -p %d -h /www", streamPayload, streamPort)
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{TerminationGracePeriodSeconds: &grace,
			Volumes: []v1.Volume{{Name: "www", EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.MediumMemory}}},
			Containers: []v1.Container{{Name: "web", Image: "busybox:1.35", Command: []string{"sh", "-c", script},
				Ports:        []v1.ContainerPort{{Name: "http", ContainerPort: streamPort}},
				VolumeMounts: []v1.VolumeMount{{Name: "www", MountPath: "/www"}}}}},
	}
}

// streamBuild is one orchd build under test: its cluster, node, pod and clients.
type streamBuild struct {
	idx         int
	path        string
	cluster     *harness.Cluster
	node        *harness.Node
	pod         string
	podIP       string
	containerID string
	kubectl     *exec.Cmd // template: Path, Args prefix and Env
	rest        *rest.Config
	// forwards are the running port-forwards by variant, each with its local port.
	forwards map[string]*streamForward

	exec map[string][]time.Duration // by way: kubectl, client-go, ctr
	mbps map[string][]float64       // by way: ws-tunnel, spdy, direct
}

// streamForward is one client-go port-forward session.
type streamForward struct {
	stop  chan struct{}
	done  chan error
	local uint16
}

var (
	streamExecWays    = []string{"kubectl", "client-go", "ctr"}
	streamForwardWays = []string{"ws-tunnel", "spdy", "direct"}
)

// streamingSection runs the section and prints its figures.
func streamingSection(ctx context.Context, t *runT, o options, kubectl string, builds []string) error {
	fmt.Println()
	fmt.Printf("== streaming: exec round trip (median of %d) and port-forward throughput (%d MiB, median of %d); %d master(s) and 1 node (real containerd) per build; %d build(s), alternating ==\n",
		o.streamExecs, streamPayload>>20, o.streamForwards, o.streamMasters, len(builds))
	var bs []*streamBuild
	for i, path := range builds {
		b, err := setupStreamBuild(ctx, t, o, i, path, kubectl)
		if err != nil {
			return fmt.Errorf("streaming section, build %d (%s): %w", i, path, err)
		}
		defer b.stopForwards()
		bs = append(bs, b)
		role := ""
		if len(builds) > 1 && i == 0 {
			role = " (anchor)"
		}
		fmt.Printf("build %d%s: %s (pod %s, IP %s)\n", i, role, path, b.pod, b.podIP)
	}
	// One unmeasured round: the first exec of each way and the first
	// transfer warm caches, connections and the page cache.
	for _, b := range bs {
		if err := b.execRound(ctx, false); err != nil {
			return fmt.Errorf("streaming section, build %d warm-up: %w", b.idx, err)
		}
		if err := b.forwardRound(ctx, false); err != nil {
			return fmt.Errorf("streaming section, build %d warm-up: %w", b.idx, err)
		}
	}
	var pids []int
	for _, b := range bs {
		pids = append(pids, orchPIDs(b.cluster, b.node)...)
	}
	before, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return fmt.Errorf("streaming section: read CPU times: %w", err)
	}
	for r := 0; r < o.streamExecs; r++ {
		for k := range bs {
			b := bs[k]
			if r%2 == 1 { // ABBA
				b = bs[len(bs)-1-k]
			}
			if err := b.execRound(ctx, true); err != nil {
				return fmt.Errorf("streaming section, build %d, exec round %d: %w", b.idx, r+1, err)
			}
		}
	}
	for r := 0; r < o.streamForwards; r++ {
		var line []string
		for k := range bs {
			b := bs[k]
			if r%2 == 1 {
				b = bs[len(bs)-1-k]
			}
			if err := b.forwardRound(ctx, true); err != nil {
				return fmt.Errorf("streaming section, build %d, port-forward round %d: %w", b.idx, r+1, err)
			}
			var parts []string
			for _, w := range streamForwardWays {
				parts = append(parts, fmt.Sprintf("%s %.0f", w, b.mbps[w][len(b.mbps[w])-1]))
			}
			line = append(line, fmt.Sprintf("b%d %s MB/s", b.idx, strings.Join(parts, ", ")))
		}
		fmt.Printf("port-forward run %d/%d: %s\n", r+1, o.streamForwards, strings.Join(line, "; "))
	}
	after, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return fmt.Errorf("streaming section: read CPU times: %w", err)
	}
	printStreaming(bs, after.Sub(before))
	return nil
}

// printStreaming prints each build's medians and ratios.
func printStreaming(bs []*streamBuild, use bench.CPUUse) {
	fmt.Println()
	fmt.Println("== summary: streaming (medians) ==")
	for _, b := range bs {
		direct := medianDur(b.exec["ctr"])
		var parts []string
		for _, w := range streamExecWays {
			m := medianDur(b.exec[w])
			p := fmt.Sprintf("%s %s", w, ms(m))
			if w != "ctr" {
				p += fmt.Sprintf(" (x%.2f)", float64(m)/float64(direct))
			}
			parts = append(parts, p)
		}
		fmt.Printf("exec round trip `true`, build %d: %s; n=%d each, ratios against ctr task exec on the node\n",
			b.idx, strings.Join(parts, ", "), len(b.exec["ctr"]))
		directMB := medianF(b.mbps["direct"])
		parts = parts[:0]
		for _, w := range streamForwardWays {
			m := medianF(b.mbps[w])
			p := fmt.Sprintf("%s %.0f MB/s", w, m)
			if w != "direct" {
				p += fmt.Sprintf(" (x%.3f)", m/directMB)
			}
			parts = append(parts, p)
		}
		fmt.Printf("port-forward %d MiB through one connection, build %d: %s; n=%d each, ratios against a direct TCP connection from the node's netns\n",
			streamPayload>>20, b.idx, strings.Join(parts, ", "), len(b.mbps["direct"]))
	}
	if len(bs) > 1 {
		a := bs[0]
		for _, b := range bs[1:] {
			var parts []string
			for _, w := range streamExecWays[:2] {
				parts = append(parts, fmt.Sprintf("exec %s x%.3f", w, float64(medianDur(b.exec[w]))/float64(medianDur(a.exec[w]))))
			}
			for _, w := range streamForwardWays[:2] {
				parts = append(parts, fmt.Sprintf("port-forward %s x%.3f", w, medianF(b.mbps[w])/medianF(a.mbps[w])))
			}
			fmt.Printf("build %d vs build 0 (medians): %s\n", b.idx, strings.Join(parts, ", "))
		}
	}
	fmt.Printf("machine during the measured runs: %s (ours: the masters and node agents; containerd, shims, kubectl and this process count as other)\n", use)
}

func medianDur(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return medianSorted(s)
}

func medianF(f []float64) float64 {
	if len(f) == 0 {
		return 0
	}
	s := append([]float64(nil), f...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// setupStreamBuild starts a cluster and one node from the orchd at path,
// runs the pod, waits until its httpd answers from the node, and starts
// the port-forwards. Everything it starts is stopped by t's cleanups.
func setupStreamBuild(ctx context.Context, t *runT, o options, idx int, path, kubectl string) (*streamBuild, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("orchd binary: %w", err)
	}
	network := harness.NewNet(t)
	c := harness.StartCluster(t, harness.Binaries{Orchd: path, Kubectl: kubectl}, harness.Options{Masters: o.streamMasters, Net: network})
	nd := c.StartNode(network, fmt.Sprintf("bench-stream%d", idx))
	cl := c.Client()
	if err := waitNodeReady(ctx, cl, nd.Name); err != nil {
		return nil, fmt.Errorf("%w\n--- node log:\n%s", err, nd.Log(30))
	}
	b := &streamBuild{idx: idx, path: path, cluster: c, node: nd, pod: "stream",
		forwards: map[string]*streamForward{}, exec: map[string][]time.Duration{}, mbps: map[string][]float64{}}
	cctx, cancel := context.WithTimeout(ctx, streamStepTimeout)
	err := cl.Create(cctx, streamPod(b.pod))
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create pod %s: %w", b.pod, err)
	}
	if err := b.waitPod(ctx, cl); err != nil {
		return nil, fmt.Errorf("%w\n--- node log:\n%s", err, nd.Log(30))
	}
	cfg := c.Config()
	b.rest = &rest.Config{Host: cfg.Servers[0], BearerToken: cfg.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CertificateAuthorityData}}
	kc := c.Kubeconfig()
	b.kubectl = exec.Command(kubectl, "--kubeconfig", kc, "exec", b.pod, "--", "true")
	b.kubectl.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG="+kc)
	for _, w := range streamForwardWays[:2] {
		f, err := b.startForward(w)
		if err != nil {
			return nil, fmt.Errorf("port-forward (%s): %w", w, err)
		}
		b.forwards[w] = f
	}
	return b, nil
}

// waitPod polls (with a deadline) until the pod runs and its httpd
// serves the whole file to a connection from the node's netns.
func (b *streamBuild) waitPod(ctx context.Context, cl *client.Client) error {
	deadline := time.Now().Add(streamPodTimeout)
	last := "not running"
	for {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var p v1.Pod
		err := cl.Get(gctx, "pods", "default", b.pod, &p)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case podStartFailure(&p) != nil:
			return podStartFailure(&p)
		case p.Status.Phase == v1.PodRunning && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) == 1:
			b.podIP = p.Status.PodIP
			b.containerID = strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
			if _, err := b.direct(ctx); err != nil {
				last = "running; httpd: " + err.Error()
			} else {
				return nil
			}
		default:
			last = string(p.Status.Phase)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s not serving within %v: %s", b.pod, streamPodTimeout, last)
		}
		if err := sleepCtx(ctx, 200*time.Millisecond); err != nil { // readiness poll cadence, not a measurement
			return err
		}
	}
}

// execRound times `true` once each way, keeping the samples when measured.
func (b *streamBuild) execRound(ctx context.Context, measured bool) error {
	for _, w := range streamExecWays {
		sctx, cancel := context.WithTimeout(ctx, streamStepTimeout)
		start := time.Now()
		var err error
		switch w {
		case "kubectl":
			err = b.kubectlExec(sctx)
		case "client-go":
			err = b.clientGoExec(sctx)
		case "ctr":
			err = b.ctrExec(sctx)
		}
		took := time.Since(start)
		cancel()
		if err != nil {
			return fmt.Errorf("exec (%s): %w", w, err)
		}
		if measured {
			b.exec[w] = append(b.exec[w], took)
		}
	}
	return nil
}

// runCmd runs cmd (killed when ctx ends) and returns its error with its output.
func runCmd(ctx context.Context, name string, args []string, env []string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), errors.Join(err, ctx.Err()), strings.TrimSpace(out.String()))
	}
	return nil
}

func (b *streamBuild) kubectlExec(ctx context.Context) error {
	return runCmd(ctx, b.kubectl.Path, b.kubectl.Args[1:], b.kubectl.Env)
}

func (b *streamBuild) ctrExec(ctx context.Context) error {
	id := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	return runCmd(ctx, "ctr", []string{"-a", b.node.ContainerdSocket(), "-n", "orch", "task", "exec", "--exec-id", id, b.containerID, "true"}, nil)
}

// clientGoExec runs `true` with client-go's WebSocket executor, the one
// kubectl uses first.
func (b *streamBuild) clientGoExec(ctx context.Context) error {
	u, err := url.Parse(b.rest.Host + "/api/v1/namespaces/default/pods/" + b.pod + "/exec")
	if err != nil {
		return err
	}
	u.RawQuery = url.Values{"command": {"true"}, "container": {"web"}, "stdout": {"true"}, "stderr": {"true"}}.Encode()
	ex, err := remotecommand.NewWebSocketExecutor(b.rest, "GET", u.String())
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &out}); err != nil {
		return fmt.Errorf("%w: %s", err, out.String())
	}
	return nil
}

// startForward starts a client-go port-forward of a local port to the
// pod's httpd: "ws-tunnel" is SPDY tunnelled in a WebSocket (kubectl's
// default), "spdy" is a SPDY upgrade.
func (b *streamBuild) startForward(way string) (*streamForward, error) {
	u, err := url.Parse(b.rest.Host + "/api/v1/namespaces/default/pods/" + b.pod + "/portforward")
	if err != nil {
		return nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(b.rest)
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	if way == "ws-tunnel" {
		if dialer, err = portforward.NewSPDYOverWebsocketDialer(u, b.rest); err != nil {
			return nil, err
		}
	}
	f := &streamForward{stop: make(chan struct{}), done: make(chan error, 1)}
	ready := make(chan struct{})
	var errOut bytes.Buffer
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", streamPort)}, f.stop, ready, io.Discard, &errOut)
	if err != nil {
		return nil, err
	}
	go func() { f.done <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-f.done:
		return nil, fmt.Errorf("port-forward ended before it was ready: %v: %s", err, errOut.String())
	case <-time.After(streamStepTimeout):
		close(f.stop)
		return nil, fmt.Errorf("port-forward not ready within %v", streamStepTimeout)
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		close(f.stop)
		return nil, fmt.Errorf("port-forward ports %v: %v", ports, err)
	}
	f.local = ports[0].Local
	return f, nil
}

func (b *streamBuild) stopForwards() {
	for _, f := range b.forwards {
		close(f.stop)
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
		}
	}
}

// forwardRound reads the file once each way, keeping MB/s when measured.
func (b *streamBuild) forwardRound(ctx context.Context, measured bool) error {
	for _, w := range streamForwardWays {
		var mbps float64
		var err error
		if w == "direct" {
			mbps, err = b.direct(ctx)
		} else {
			mbps, err = b.throughForward(ctx, b.forwards[w])
		}
		if err != nil {
			return fmt.Errorf("port-forward (%s): %w", w, err)
		}
		if measured {
			b.mbps[w] = append(b.mbps[w], mbps)
		}
	}
	return nil
}

// direct reads the file on a TCP connection from the node's netns to the pod IP.
func (b *streamBuild) direct(ctx context.Context) (float64, error) {
	sctx, cancel := context.WithTimeout(ctx, streamStepTimeout)
	defer cancel()
	start := time.Now()
	conn, err := node.DialInNetNS(sctx, "/run/netns/"+b.node.NetNS, net.JoinHostPort(b.podIP, fmt.Sprint(streamPort)))
	if err != nil {
		return 0, err
	}
	return getBlob(sctx, conn, start)
}

// throughForward reads the file on a connection to the port-forward's local port.
func (b *streamBuild) throughForward(ctx context.Context, f *streamForward) (float64, error) {
	select {
	case err := <-f.done:
		return 0, fmt.Errorf("the port-forward has ended: %v", err)
	default:
	}
	sctx, cancel := context.WithTimeout(ctx, streamStepTimeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(sctx, "tcp", fmt.Sprintf("127.0.0.1:%d", f.local))
	if err != nil {
		return 0, err
	}
	return getBlob(sctx, conn, start)
}

// getBlob sends GET /blob on conn, reads the whole answer, closes conn and
// returns MB/s since start; a short or failed answer is an error.
func getBlob(ctx context.Context, conn net.Conn, start time.Time) (float64, error) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := io.WriteString(conn, "GET /blob HTTP/1.0\r\nHost: pod\r\n\r\n"); err != nil {
		return 0, fmt.Errorf("send GET: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), nil)
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", errors.Join(err, ctx.Err()))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /blob: %s", resp.Status)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("read body after %d bytes: %w", n, errors.Join(err, ctx.Err()))
	}
	if n != streamPayload {
		return 0, fmt.Errorf("read %d bytes, want %d", n, streamPayload)
	}
	return float64(n) / took.Seconds() / 1e6, nil
}
