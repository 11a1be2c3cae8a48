package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// toolsImage is busybox plus udpecho (testdata/udpecho), loaded into every
// node with `orchctl image load`.
const toolsImage = "orch.test/tools:1"

// clientScript makes a pod an HTTP-driven test client: /cgi-bin/get?URL&N
// fetches URL N times, /cgi-bin/udp?HOST:PORT&N asks a UDP echo service N
// times; each answer (or FAIL / timeout) on its own line.
const clientScript = `mkdir -p /tmp/www/cgi-bin
cat > /tmp/www/cgi-bin/get <<'EOF'
#!/bin/sh
echo Content-Type: text/plain; echo
url=${QUERY_STRING%&*}; n=${QUERY_STRING##*&}; i=0
while [ $i -lt $n ]; do out=$(timeout 3 wget -q -O - "http://$url" 2>&1) || out="FAIL $out"; echo "$out" | head -1; i=$((i+1)); done
EOF
cat > /tmp/www/cgi-bin/udp <<'EOF'
#!/bin/sh
echo Content-Type: text/plain; echo
exec udpecho ask ${QUERY_STRING%&*} ${QUERY_STRING##*&}
EOF
chmod +x /tmp/www/cgi-bin/*
exec httpd -f -p 9000 -h /tmp/www`

// svcEnv is a multi-host cluster for the service tests: three masters and
// nodes A (clients), B and C (web backends), each in its own network
// namespace.
type svcEnv struct {
	t        *testing.T
	c        *harness.Cluster
	cl       *client.Client
	net      *harness.Net
	a, b, cc *harness.Node
	clientIP string
}

func newSvcEnv(t *testing.T, proxyMode string) *svcEnv {
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, Gossip: true, MasterArgs: []string{
		"--node-grace", "4s", "--node-eviction-timeout", "8s", "--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms"}})
	e := &svcEnv{t: t, c: c, cl: c.Client(), net: network}
	common := []string{"--heartbeat-interval", "1s", "--resync-interval", "2s", "--proxy-mode", proxyMode}
	e.a = c.StartNode(network, "node-a", append(common, "--node-labels", "role=client")...)
	e.b = c.StartNode(network, "node-b", append(common, "--node-labels", "role=web")...)
	e.cc = c.StartNode(network, "node-c", append(common, "--node-labels", "role=web")...)
	waitFor(t, 60*time.Second, "3 nodes Ready", func() (bool, string) {
		ns, _, err := client.ListTyped[v1.Node](ctxT(t, 5*time.Second), e.cl, "nodes", "", client.ListOptions{})
		n := 0
		for _, nd := range ns {
			if r := nd.Status.Condition(v1.NodeReady); r != nil && r.Status == v1.ConditionTrue {
				n++
			}
		}
		return err == nil && n == 3, fmt.Sprint(n, err)
	})
	e.loadTools()
	createPod(t, e.cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "client", Labels: map[string]string{"app": "client"}},
		Spec: v1.PodSpec{NodeSelector: map[string]string{"role": "client"}, TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: toolsImage, ImagePullPolicy: v1.PullNever,
				Command: []string{"sh", "-c", clientScript}}}}})
	waitFor(t, 60*time.Second, "the client pod answering", func() (bool, string) {
		ps := runningPods(t, e.cl, "app=client")
		if len(ps) != 1 {
			return false, "not running"
		}
		e.clientIP = ps[0].Status.PodIP
		out, err := httpGet(e.a, "http://"+e.clientIP+":9000/cgi-bin/get?127.0.0.1:9000/cgi-bin/get&0")
		return err == nil, fmt.Sprintf("%q %v", out, err)
	})
	return e
}

// loadTools builds udpecho and the tools image and loads it into every node.
func (e *svcEnv) loadTools() {
	dir := e.t.TempDir()
	bin := filepath.Join(dir, "udpecho")
	build := exec.Command("go", "build", "-o", bin, "./testdata/udpecho")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		e.t.Fatalf("build udpecho: %v\n%s", err, out)
	}
	img := filepath.Join(dir, "tools.tar")
	if out, err := exec.Command(bins.Orchd, "image", "busybox", "--name", toolsImage, "--add", bin+":bin/udpecho", "-o", img).CombinedOutput(); err != nil {
		e.t.Fatalf("build the tools image: %v\n%s", err, out)
	}
	if out, stderr, err := e.c.Orchctl("", "image", "load", img, "--all-nodes"); err != nil {
		e.t.Fatalf("load the tools image: %v\n%s%s", err, out, stderr)
	}
}

// get asks the client pod (on node A) to fetch target n times.
func (e *svcEnv) get(target string, n int) []string {
	e.t.Helper()
	return e.ask("get", target, n)
}

// udp asks the client pod to query a UDP echo service n times.
func (e *svcEnv) udp(target string, n int) []string {
	e.t.Helper()
	return e.ask("udp", target, n)
}

func (e *svcEnv) ask(kind, target string, n int) []string {
	e.t.Helper()
	u := fmt.Sprintf("http://%s:9000/cgi-bin/%s?%s&%d", e.clientIP, kind, url.PathEscape(target), n)
	out, err := e.a.Exec(time.Duration(n)*4*time.Second+10*time.Second, "busybox", "wget", "-q", "-O", "-", u)
	if err != nil {
		e.t.Fatalf("client %s %s: %v\n%s", kind, target, err, out)
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

// webPods are the names of the running web pods (hostname = pod name).
func (e *svcEnv) podNames(selector string) []string {
	var out []string
	for _, p := range runningPods(e.t, e.cl, selector) {
		out = append(out, p.Name)
	}
	return out
}

func (e *svcEnv) readyAddresses(name string) int {
	var ep v1.Endpoints
	if err := e.cl.Get(ctxT(e.t, 5*time.Second), "endpoints", "default", name, &ep); err != nil || len(ep.Subsets) == 0 {
		return 0
	}
	return len(ep.Subsets[0].Addresses)
}

func distinct(lines []string) []string {
	set := map[string]bool{}
	for _, l := range lines {
		set[l] = true
	}
	var out []string
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

func webRC(name string, replicas int32, selector map[string]string) *v1.ReplicationController {
	rc := rcOf(name, replicas)
	spec := &rc.Spec.Template.Spec
	spec.NodeSelector = selector
	spec.TerminationGracePeriodSeconds = int64p(2)
	spec.Containers[0].Command = []string{"sh", "-c",
		"hostname > /tmp/index.html; httpd -f -p 8080 -h /tmp & trap 'kill $!; exit 0' TERM; wait"}
	spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: intOrStr("http")}},
		PeriodSeconds: 1, FailureThreshold: 3, TimeoutSeconds: 3}
	return rc
}

func (e *svcEnv) scale(name string, n int32) {
	e.t.Helper()
	if _, stderr, err := e.c.Orchctl("", "scale", "rc", name, "--replicas", fmt.Sprint(n)); err != nil {
		e.t.Fatalf("scale %s: %v %s", name, err, stderr)
	}
}

// The service done-when list of issue 5, in one multi-host cluster, with
// the iptables service proxy (the default).
func TestServices(t *testing.T) { testServices(t, "iptables") }

// The same with every node's proxy in nftables mode.
func TestServicesNFTables(t *testing.T) { testServices(t, "nftables") }

func testServices(t *testing.T, proxyMode string) {
	parallel(t)
	e := newSvcEnv(t, proxyMode)
	cl := e.cl
	if err := cl.Create(ctxT(t, 5*time.Second), webRC("web", 3, map[string]string{"role": "web"})); err != nil {
		t.Fatal(err)
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: v1.ServiceSpec{
		Type: v1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
		Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intOrStr("http")}}}}
	if err := cl.Create(ctxT(t, 5*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	var got v1.Service
	if err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "web", &got); err != nil || got.Spec.ClusterIP == "" || got.Spec.Ports[0].NodePort == 0 {
		t.Fatalf("service web: %+v %v", got.Spec, err)
	}
	nodePort := got.Spec.Ports[0].NodePort
	waitFor(t, 60*time.Second, "3 ready web endpoints", func() (bool, string) {
		return e.readyAddresses("web") == 3, fmt.Sprint(e.readyAddresses("web"))
	})

	t.Run("1 service name reaches every backend; NodePort from outside", func(t *testing.T) {
		want := e.podNames("app=web")
		var seen []string
		waitFor(t, 30*time.Second, "100 requests by name reaching all 3 backends", func() (bool, string) {
			lines := e.get("web.default.svc.cluster.local", 100)
			seen = distinct(lines)
			return strings.Join(seen, ",") == strings.Join(want, ","), fmt.Sprintf("saw %v, want %v", seen, want)
		})
		outside, _ := e.net.AddHost("outside")
		// Each node's proxy learns the endpoints from its own watch; the
		// requests by name above went through node-a's only, so another
		// node may program its NodePort a moment later.
		for _, nd := range []*harness.Node{e.a, e.b, e.cc} {
			waitFor(t, 15*time.Second, "NodePort via "+nd.Name+" reaching a backend", func() (bool, string) {
				out, err := harness.ExecIn(outside, 10*time.Second, "busybox", "timeout", "5", "busybox", "wget", "-q", "-O", "-",
					fmt.Sprintf("http://%s:%d/", nd.IP, nodePort))
				return err == nil && contains(want, strings.TrimSpace(out)), fmt.Sprintf("%s (%s): %q %v", nd.Name, nd.IP, out, err)
			})
		}
	})

	t.Run("2 scaling updates the rules on every node", func(t *testing.T) {
		e.scale("web", 5)
		waitFor(t, 60*time.Second, "5 ready endpoints", func() (bool, string) { return e.readyAddresses("web") == 5, "" })
		waitFor(t, 30*time.Second, "requests reaching all 5 backends", func() (bool, string) {
			seen := distinct(e.get("web.default.svc.cluster.local", 60))
			return len(seen) == 5, fmt.Sprint(seen)
		})
		e.scale("web", 1)
		waitFor(t, 60*time.Second, "1 ready endpoint", func() (bool, string) { return e.readyAddresses("web") == 1, "" })
		survivor := ""
		waitFor(t, 30*time.Second, "requests reaching only the survivor", func() (bool, string) {
			names := e.podNames("app=web")
			if len(names) != 1 {
				return false, fmt.Sprint(names)
			}
			survivor = names[0]
			seen := distinct(e.get("web.default.svc.cluster.local", 20))
			return len(seen) == 1 && seen[0] == survivor, fmt.Sprint(seen)
		})
		if seen := distinct(e.get("web.default.svc.cluster.local", 50)); len(seen) != 1 || seen[0] != survivor {
			t.Errorf("after the endpoint change, requests went to %v (survivor %s)", seen, survivor)
		}
		// Every node's rules hold one pod backend now (web is the only
		// service of pods; the kubernetes service's backends are the
		// masters), in the mode's own place, and nothing in the other mode's.
		for _, nd := range []*harness.Node{e.a, e.b, e.cc} {
			waitFor(t, 30*time.Second, "one backend chain on "+nd.Name, func() (bool, string) {
				ipt, err := nd.Exec(5*time.Second, "iptables-save", "-t", "nat")
				if err != nil {
					return false, err.Error()
				}
				// No table in iptables mode: nothing of it counts.
				nft, _ := nd.Exec(5*time.Second, "nft", "list", "table", "ip", "orch-proxy")
				seps := 0
				for _, l := range strings.Split(ipt, "\n") {
					if strings.HasPrefix(l, "-A ORCH-SEP-") && strings.Contains(l, "--to-destination 10.244.") {
						seps++
					}
				}
				// Endpoints of services without affinity are elements of
				// the endpoints maps ("<key> : <podIP> . <port>"); with
				// affinity, endpoint chains ("dnat to <podIP>:<port>").
				eps := strings.Count(nft, "dnat to 10.244.") + strings.Count(nft, " : 10.244.")
				if proxyMode == "nftables" {
					return seps == 0 && eps == 1 && !strings.Contains(ipt, "ORCH-SERVICES"), fmt.Sprintf("%d nftables endpoints to pods, iptables:\n%s", eps, ipt)
				}
				return seps == 1 && eps == 0, fmt.Sprintf("%d SEP chains to pods, %d nftables endpoints to pods", seps, eps)
			})
		}
		e.scale("web", 3)
		waitFor(t, 60*time.Second, "3 ready endpoints again", func() (bool, string) { return e.readyAddresses("web") == 3, "" })
	})

	t.Run("3 no ready endpoints: refused at once", func(t *testing.T) {
		empty := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "empty", Namespace: "default"}, Spec: v1.ServiceSpec{
			Selector: map[string]string{"app": "nothing"}, Ports: []v1.ServicePort{{Port: 80, TargetPort: intOrStr("http")}}}}
		if err := cl.Create(ctxT(t, 5*time.Second), empty); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "the empty service refused", func() (bool, string) {
			start := time.Now()
			lines := e.get("empty.default.svc.cluster.local", 1)
			took := time.Since(start)
			ok := strings.Contains(strings.ToLower(lines[0]), "refused") && took < 2500*time.Millisecond
			return ok, fmt.Sprintf("%q after %v", lines, took)
		})
	})

	t.Run("4 ClientIP affinity keeps a client on one backend", func(t *testing.T) {
		sticky := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "sticky", Namespace: "default"}, Spec: v1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, SessionAffinity: v1.AffinityClientIP,
			Ports: []v1.ServicePort{{Port: 80, TargetPort: intOrStr("http")}}}}
		if err := cl.Create(ctxT(t, 5*time.Second), sticky); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "3 sticky endpoints", func() (bool, string) { return e.readyAddresses("sticky") == 3, "" })
		waitFor(t, 30*time.Second, "the sticky service answering", func() (bool, string) {
			l := e.get("sticky.default.svc.cluster.local", 1)
			return !strings.HasPrefix(l[0], "FAIL"), l[0]
		})
		if seen := distinct(e.get("sticky.default.svc.cluster.local", 30)); len(seen) != 1 || strings.HasPrefix(seen[0], "FAIL") {
			t.Errorf("30 requests with ClientIP affinity reached %v", seen)
		}
	})

	t.Run("5 UDP service answers across an endpoint change", func(t *testing.T) {
		rc := rcOf("echo", 2)
		rc.Spec.Template.Spec.NodeSelector = map[string]string{"role": "web"}
		rc.Spec.Template.Spec.TerminationGracePeriodSeconds = int64p(1)
		c0 := &rc.Spec.Template.Spec.Containers[0]
		c0.Image, c0.ImagePullPolicy, c0.Command = toolsImage, v1.PullNever, []string{"udpecho", "serve", "5353"}
		c0.Ports = []v1.ContainerPort{{Name: "echo", ContainerPort: 5353, Protocol: v1.ProtocolUDP}}
		if err := cl.Create(ctxT(t, 5*time.Second), rc); err != nil {
			t.Fatal(err)
		}
		echo := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "echo", Namespace: "default"}, Spec: v1.ServiceSpec{
			Selector: map[string]string{"app": "echo"},
			Ports:    []v1.ServicePort{{Name: "echo", Protocol: v1.ProtocolUDP, Port: 53, TargetPort: intOrStr("echo")}}}}
		if err := cl.Create(ctxT(t, 5*time.Second), echo); err != nil {
			t.Fatal(err)
		}
		check := func(what string) {
			waitFor(t, 60*time.Second, what, func() (bool, string) {
				want := e.podNames("app=echo")
				if len(want) != 2 || e.readyAddresses("echo") != 2 {
					return false, fmt.Sprint(want)
				}
				seen := distinct(e.udp("echo.default.svc.cluster.local:53", 20))
				return strings.Join(seen, ",") == strings.Join(want, ","), fmt.Sprintf("saw %v want %v", seen, want)
			})
		}
		check("UDP answers from both echo pods")
		victim := e.podNames("app=echo")[0]
		if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", victim, nil); err != nil {
			t.Fatal(err)
		}
		check("UDP answers from the new set of echo pods")
	})

	t.Run("6 a dead node's pods move and its route goes", func(t *testing.T) {
		var nodeC v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", e.cc.Name, &nodeC); err != nil {
			t.Fatal(err)
		}
		route := func() string {
			out, _ := e.a.Exec(5*time.Second, "ip", "route", "show", nodeC.Spec.PodCIDR)
			return strings.TrimSpace(out)
		}
		if r := route(); !strings.Contains(r, e.cc.IP) {
			t.Fatalf("node A has no route to C's pod CIDR %s via %s: %q", nodeC.Spec.PodCIDR, e.cc.IP, r)
		}
		e.cc.Kill()
		waitFor(t, 90*time.Second, "web pods all on live nodes and answering", func() (bool, string) {
			pods := runningPods(t, cl, "app=web")
			for _, p := range pods {
				if p.Spec.NodeName == e.cc.Name {
					return false, "a pod still on C"
				}
			}
			if len(pods) != 3 || e.readyAddresses("web") != 3 {
				return false, fmt.Sprint(len(pods))
			}
			seen := distinct(e.get("web.default.svc.cluster.local", 30))
			return len(seen) == 3 && !strings.HasPrefix(seen[0], "FAIL"), fmt.Sprint(seen)
		})
		waitFor(t, 30*time.Second, "the route to C's pod CIDR gone", func() (bool, string) {
			r := route()
			return !strings.Contains(r, e.cc.IP), r
		})
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
