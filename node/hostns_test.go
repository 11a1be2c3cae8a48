package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/hostport"
	"orch.io/orch/net/podnet"
)

// noNetwork is a Network for hostNetwork pods, which must not touch the
// pod network: every call but HostNetworkSandbox fails the test.
type noNetwork struct{ t *testing.T }

func (n noNetwork) CreateSandbox(context.Context, string, string) (*podnet.Sandbox, error) {
	n.t.Error("CreateSandbox called for a hostNetwork pod")
	return nil, errors.New("no network")
}
func (n noNetwork) Sandbox(string) (*podnet.Sandbox, bool) {
	n.t.Error("Sandbox called for a hostNetwork pod")
	return nil, false
}
func (n noNetwork) HostNetworkSandbox(_ context.Context, uid string, ip net.IP) (*podnet.Sandbox, error) {
	return &podnet.Sandbox{PodUID: uid, IP: ip, IPCNS: "/sb/" + uid + "/ipc"}, nil
}
func (n noNetwork) Sandboxes() ([]string, error)                { return nil, nil }
func (n noNetwork) DeleteSandbox(context.Context, string) error { return nil }
func (n noNetwork) Gateway() net.IP                             { return net.ParseIP("10.244.1.1") }

func hostNSPod(mutate func(s *v1.PodSpec)) *v1.Pod {
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "agent", Namespace: "kube-system", UID: "uid-1"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox",
			Ports: []v1.ContainerPort{{ContainerPort: 9100, Protocol: "TCP"}}}}}}
	mutate(&p.Spec)
	v1.Default(p)
	return p
}

// TestHostNetworkSandbox: a hostNetwork pod gets no sandbox from the pod
// network (also when a restarted agent looks for one), the node's IP, the
// node's hostname and hosts file, and the DNS its policy asks for.
func TestHostNetworkSandbox(t *testing.T) {
	wantHost, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	nodeHosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		dnsPolicy  string
		clusterDNS bool
	}{
		{"ClusterFirst falls back to the node's", v1.DNSClusterFirst, false},
		{"ClusterFirstWithHostNet", v1.DNSClusterFirstWithHostNet, true},
		{"Default", v1.DNSDefault, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{cfg: Config{NodeIP: "192.0.2.10", StateDir: t.TempDir(), ClusterDNS: "10.244.1.1", ClusterDomain: "cluster.local"},
				network: noNetwork{t}}
			w := &podWorker{a: a, uid: "uid-1", containers: map[string]*containerState{}}
			// ensureSandbox mounts the pod's shm tmpfs; unmount it before
			// the temporary directory is removed.
			t.Cleanup(func() {
				if err := unmountPod(a.podDir("uid-1")); err != nil {
					t.Errorf("unmount the pod's mounts: %v", err)
				}
			})
			pod := hostNSPod(func(s *v1.PodSpec) { s.HostNetwork, s.DNSPolicy = true, tc.dnsPolicy })
			for range 2 { // a second time, as after an agent restart
				w.sandbox = nil
				if err := w.ensureSandbox(context.Background(), pod); err != nil {
					t.Fatal(err)
				}
				if got := w.sandbox.IP.String(); got != "192.0.2.10" {
					t.Errorf("pod IP %s, want the node's 192.0.2.10", got)
				}
				if w.sandbox.NetNS != "" || w.sandbox.UTSNS != "" || w.sandbox.IPCNS != "/sb/uid-1/ipc" {
					t.Errorf("hostNetwork sandbox: %+v, want only the pod's IPC namespace", w.sandbox)
				}
			}
			read := func(name string) string {
				b, err := os.ReadFile(filepath.Join(a.podDir("uid-1"), name))
				if err != nil {
					t.Fatal(err)
				}
				return string(b)
			}
			if got := read(hostnameFile); got != wantHost+"\n" {
				t.Errorf("hostname %q, want the node's %q", got, wantHost)
			}
			if got := read(hostsFile); !strings.HasSuffix(got, string(nodeHosts)) {
				t.Errorf("hosts file %q, want the node's", got)
			}
			if got := strings.Contains(read(resolvFile), "nameserver 10.244.1.1\n"); got != tc.clusterDNS {
				t.Errorf("resolv.conf names the cluster DNS: %v, want %v:\n%s", got, tc.clusterDNS, read(resolvFile))
			}
		})
	}
}

func TestContainerSpecHostNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		mutate                   func(s *v1.PodSpec)
		netNS, utsNS, ipcNS, shm string
		hostname                 string
	}{
		{"pod namespaces", func(*v1.PodSpec) {}, "/sb/net", "/sb/uts", "/sb/ipc", "pod", "agent"},
		{"hostNetwork", func(s *v1.PodSpec) { s.HostNetwork = true }, "", "", "/sb/ipc", "pod", ""},
		{"hostPID", func(s *v1.PodSpec) { s.HostPID = true }, "/sb/net", "/sb/uts", "/sb/ipc", "pod", "agent"},
		{"hostIPC", func(s *v1.PodSpec) { s.HostIPC = true }, "/sb/net", "/sb/uts", "", "/dev/shm", "agent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{cfg: Config{NodeIP: "192.0.2.10", StateDir: t.TempDir()}}
			w := &podWorker{a: a, uid: "uid-1", containers: map[string]*containerState{},
				sandbox: &podnet.Sandbox{IP: net.ParseIP("10.244.1.5"), NetNS: "/sb/net", UTSNS: "/sb/uts", IPCNS: "/sb/ipc"}}
			pod := hostNSPod(tc.mutate)
			spec, err := w.containerSpec(context.Background(), pod, &pod.Spec.Containers[0], 0)
			if err != nil {
				t.Fatal(err)
			}
			if spec.NetNS != tc.netNS || spec.UTSNS != tc.utsNS || spec.IPCNS != tc.ipcNS || spec.Hostname != tc.hostname {
				t.Errorf("net %q uts %q ipc %q hostname %q, want %q %q %q %q",
					spec.NetNS, spec.UTSNS, spec.IPCNS, spec.Hostname, tc.netNS, tc.utsNS, tc.ipcNS, tc.hostname)
			}
			if spec.HostNetwork != pod.Spec.HostNetwork || spec.HostPID != pod.Spec.HostPID || spec.HostIPC != pod.Spec.HostIPC {
				t.Errorf("host flags %v %v %v, want the pod's", spec.HostNetwork, spec.HostPID, spec.HostIPC)
			}
			var shm []string
			for _, m := range spec.Mounts {
				if m.Destination == "/dev/shm" {
					shm = append(shm, m.Source)
				}
			}
			want := []string{filepath.Join(a.podDir("uid-1"), shmDir)}
			if tc.shm == "/dev/shm" {
				want = []string{"/dev/shm"}
			}
			if !slices.Equal(shm, want) {
				t.Errorf("/dev/shm from %q, want %q", shm, want)
			}
		})
	}
}

// recordedHostPorts is a HostPorts that keeps every update.
type recordedHostPorts struct {
	mu      sync.Mutex
	updates [][]hostport.Mapping
}

func (r *recordedHostPorts) Update(ms []hostport.Mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, ms)
}

func (r *recordedHostPorts) last(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		t.Fatal("no update")
	}
	var out []string
	for _, m := range r.updates[len(r.updates)-1] {
		out = append(out, fmt.Sprintf("%s %s:%d->%d", m.Pod, m.PodIP, m.HostPort, m.ContainerPort))
	}
	return out
}

func TestHostPortTable(t *testing.T) {
	rec := &recordedHostPorts{}
	a := &Agent{cfg: Config{HostPorts: rec}}
	withPort := func(name, uid, ip string, hostNetwork bool) v1.Pod {
		p := v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: uid},
			Spec: v1.PodSpec{HostNetwork: hostNetwork, Containers: []v1.Container{{Name: "c",
				Ports: []v1.ContainerPort{{ContainerPort: 81, HostPort: 8081, Protocol: "TCP"}, {ContainerPort: 82}}}}},
			Status: v1.PodStatus{PodIP: ip, Phase: v1.PodRunning}}
		return p
	}
	a1 := withPort("a", "u-a", "10.244.1.5", false)
	// Before the first list nothing is pushed: the rules stay as they are.
	a.setHostPorts("u-a", &a1, "10.244.1.5")
	if len(rec.updates) != 0 {
		t.Fatalf("pushed before the node's pods were listed: %v", rec.updates)
	}
	done := withPort("done", "u-done", "10.244.1.9", false)
	done.Status.Phase = v1.PodSucceeded
	a.seedHostPorts([]v1.Pod{withPort("b", "u-b", "10.244.1.6", false), withPort("h", "u-h", "192.0.2.10", true), done})
	if got, want := rec.last(t), []string{"default/a 10.244.1.5:8081->81", "default/b 10.244.1.6:8081->81"}; !slices.Equal(got, want) {
		t.Errorf("after the first list: %q, want %q", got, want)
	}
	n := len(rec.updates)
	a.seedHostPorts(nil) // only the first list seeds
	a.setHostPorts("u-b", &[]v1.Pod{withPort("b", "u-b", "10.244.1.6", false)}[0], "10.244.1.6")
	if len(rec.updates) != n {
		t.Errorf("pushed without a change: %v", rec.updates[n:])
	}
	a.setHostPorts("u-a", nil, "")
	if got, want := rec.last(t), []string{"default/b 10.244.1.6:8081->81"}; !slices.Equal(got, want) {
		t.Errorf("after a is gone: %q, want %q", got, want)
	}
	h := withPort("h", "u-h", "192.0.2.10", true)
	n = len(rec.updates)
	a.setHostPorts("u-h", &h, "192.0.2.10")
	if len(rec.updates) != n {
		t.Errorf("a hostNetwork pod changed the DNAT table: %v", rec.updates[n:])
	}
}
