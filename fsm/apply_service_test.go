package fsm

import (
	"net"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func svcOf(name, typ, clusterIP string, nodePorts ...int32) *v1.Service {
	s := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: v1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Selector: map[string]string{"app": name}}}
	if len(nodePorts) == 0 {
		nodePorts = []int32{0}
	}
	for i, np := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: "p" + string(rune('a'+i)), Protocol: v1.ProtocolTCP, Port: int32(80 + i), NodePort: np})
	}
	v1.Default(s)
	return s
}

func createService(t *testing.T, f *FSM, index uint64, s *v1.Service, cidr string) (*v1.Service, error) {
	t.Helper()
	cmd, err := NewCreateService(s, cidr)
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, index, cmd).(Result)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Record.Object().(*v1.Service), nil
}

func TestCreateServiceAllocates(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns"}})
	idx := uint64(1)
	next := func() uint64 { idx++; return idx }
	_, cidr, _ := net.ParseCIDR("10.96.0.0/16")
	ips, ports := map[string]bool{}, map[int32]bool{}
	for i := 0; i < 50; i++ {
		s, err := createService(t, f, next(), svcOf("s"+string(rune('a'+i%26))+string(rune('a'+i/26)), v1.ServiceTypeNodePort, "", 0, 0), "10.96.0.0/16")
		if err != nil {
			t.Fatal(err)
		}
		ip := net.ParseIP(s.Spec.ClusterIP)
		if ip == nil || !cidr.Contains(ip) || ips[s.Spec.ClusterIP] || len(s.Spec.ClusterIPs) != 1 {
			t.Fatalf("service %s got clusterIP %q (duplicate: %v)", s.Name, s.Spec.ClusterIP, ips[s.Spec.ClusterIP])
		}
		ips[s.Spec.ClusterIP] = true
		for _, p := range s.Spec.Ports {
			if p.NodePort < NodePortMin || p.NodePort > NodePortMax || ports[p.NodePort] {
				t.Fatalf("service %s got nodePort %d", s.Name, p.NodePort)
			}
			ports[p.NodePort] = true
		}
	}
	// The same commands on another FSM give the same addresses (determinism).
	g := NewTestFSM(t)
	MustCreate(t, g, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns"}})
	a, _ := createService(t, g, 2, svcOf("sa"+"a", v1.ServiceTypeNodePort, "", 0, 0), "10.96.0.0/16")
	b, _ := f.Store().Get("services", "default", "saa")
	if a == nil || b == nil || a.Spec.ClusterIP != b.Object().(*v1.Service).Spec.ClusterIP {
		t.Errorf("allocation is not deterministic: %v vs %v", a, b)
	}
}

func TestCreateServiceRequested(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   *v1.Service
		second  *v1.Service
		wantErr string
	}{
		{"requested IP is honoured", nil, svcOf("b", v1.ServiceTypeClusterIP, "10.96.5.5"), ""},
		{"requested IP taken", svcOf("a", v1.ServiceTypeClusterIP, "10.96.5.5"), svcOf("b", v1.ServiceTypeClusterIP, "10.96.5.5"), "already allocated"},
		{"requested IP out of range", nil, svcOf("b", v1.ServiceTypeClusterIP, "10.97.0.9"), "not in the valid range"},
		{"network address", nil, svcOf("b", v1.ServiceTypeClusterIP, "10.96.0.0"), "network and broadcast"},
		{"headless", nil, svcOf("b", v1.ServiceTypeClusterIP, v1.ClusterIPNone), ""},
		{"requested node port honoured", nil, svcOf("b", v1.ServiceTypeNodePort, "", 30080), ""},
		{"requested node port taken", svcOf("a", v1.ServiceTypeNodePort, "", 30080), svcOf("b", v1.ServiceTypeNodePort, "", 30080), "already allocated"},
		{"node port twice in one service", nil, svcOf("b", v1.ServiceTypeNodePort, "", 30080, 30080), "already allocated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewTestFSM(t)
			MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns"}})
			if tc.first != nil {
				if _, err := createService(t, f, 2, tc.first, "10.96.0.0/16"); err != nil {
					t.Fatal(err)
				}
			}
			want := tc.second.Spec.ClusterIP
			got, err := createService(t, f, 3, tc.second, "10.96.0.0/16")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || v1.CodeOf(err) != 422 {
					t.Fatalf("err = %v, want 422 %q", err, tc.wantErr)
				}
				if _, gerr := f.Store().Get("services", "default", "b"); !v1.IsNotFound(gerr) {
					t.Errorf("a refused service was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want != "" && got.Spec.ClusterIP != want {
				t.Errorf("clusterIP %s, want %s", got.Spec.ClusterIP, want)
			}
			if p := tc.second.Spec.Ports[0].NodePort; p != 0 && got.Spec.Ports[0].NodePort != p {
				t.Errorf("nodePort %d, want %d", got.Spec.Ports[0].NodePort, p)
			}
		})
	}
}

func TestUpdateServiceKeepsAddresses(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns"}})
	other, err := createService(t, f, 2, svcOf("other", v1.ServiceTypeNodePort, "", 30100), "10.96.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	s, err := createService(t, f, 3, svcOf("web", v1.ServiceTypeNodePort, ""), "10.96.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	// An update that names neither keeps both.
	upd := v1.DeepCopy(s)
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs, upd.Spec.Ports[0].NodePort = "", nil, 0
	upd.Labels = map[string]string{"x": "y"}
	cmd, _ := NewUpdate(upd, false)
	res := ApplyCommand(t, f, 4, cmd).(Result)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	got := res.Record.Object().(*v1.Service)
	if got.Spec.ClusterIP != s.Spec.ClusterIP || got.Spec.Ports[0].NodePort != s.Spec.Ports[0].NodePort {
		t.Errorf("update changed addresses: %s/%d -> %s/%d", s.Spec.ClusterIP, s.Spec.Ports[0].NodePort, got.Spec.ClusterIP, got.Spec.Ports[0].NodePort)
	}
	// Taking another service's node port is refused.
	upd = v1.DeepCopy(got)
	upd.Spec.Ports[0].NodePort = other.Spec.Ports[0].NodePort
	cmd, _ = NewUpdate(upd, false)
	if res := ApplyCommand(t, f, 5, cmd).(Result); res.Err == nil || v1.CodeOf(res.Err) != 422 {
		t.Errorf("stealing a node port: %v", res.Err)
	}
	// A ClusterIP service turned NodePort gets a port.
	c, _ := createService(t, f, 6, svcOf("plain", v1.ServiceTypeClusterIP, ""), "10.96.0.0/16")
	upd = v1.DeepCopy(c)
	upd.Spec.Type = v1.ServiceTypeNodePort
	cmd, _ = NewUpdate(upd, false)
	res = ApplyCommand(t, f, 7, cmd).(Result)
	if res.Err != nil || res.Record.Object().(*v1.Service).Spec.Ports[0].NodePort == 0 {
		t.Errorf("turned NodePort: %v", res.Err)
	}
}
