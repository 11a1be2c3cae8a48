package v1

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateHostNamespacesAndPorts(t *testing.T) {
	port := func(cp, hp int32, proto, ip string) ContainerPort {
		return ContainerPort{ContainerPort: cp, HostPort: hp, Protocol: proto, HostIP: ip}
	}
	for _, tc := range []struct {
		name      string
		mutate    func(s *PodSpec)
		field     string // "" = valid pod
		msg       string
		rcAllowed bool // an RC template with the same spec is valid
	}{
		{"hostNetwork, hostPID and hostIPC", func(s *PodSpec) {
			s.HostNetwork, s.HostPID, s.HostIPC = true, true, true
			s.Containers[0].Ports[0].HostPort = 80
		}, "", "", true},
		{"hostNetwork with hostPort = containerPort", func(s *PodSpec) {
			s.HostNetwork = true
			s.Containers[0].Ports[0].HostPort = 80
		}, "", "", true},
		{"hostNetwork with another hostPort", func(s *PodSpec) {
			s.HostNetwork = true
			s.Containers[0].Ports[0].HostPort = 8080
		}, "spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true", false},
		{"hostNetwork with hostPort 0 (undefaulted)", func(s *PodSpec) {
			s.HostNetwork = true
			s.Containers[0].Ports[0].HostPort = 0
		}, "spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true", true},
		{"hostPort", func(s *PodSpec) { s.Containers[0].Ports[0].HostPort = 8080 }, "", "", true},
		{"hostPort out of range", func(s *PodSpec) { s.Containers[0].Ports[0].HostPort = 70000 },
			"spec.containers[0].ports[0].hostPort", "between 1 and 65535", false},
		{"hostIP", func(s *PodSpec) {
			s.Containers[0].Ports[0].HostPort, s.Containers[0].Ports[0].HostIP = 8080, "10.0.0.1"
		}, "", "", true},
		{"hostIP not an IP", func(s *PodSpec) {
			s.Containers[0].Ports[0].HostPort, s.Containers[0].Ports[0].HostIP = 8080, "node-1"
		}, "spec.containers[0].ports[0].hostIP", "must be a valid IP address", false},
		{"hostIP IPv6", func(s *PodSpec) {
			s.Containers[0].Ports[0].HostPort, s.Containers[0].Ports[0].HostIP = 8080, "fd00::1"
		}, "spec.containers[0].ports[0].hostIP", "must be an IPv4 address", false},
		{"hostIP loopback", func(s *PodSpec) {
			s.Containers[0].Ports[0].HostPort, s.Containers[0].Ports[0].HostIP = 8080, "127.0.0.1"
		}, "spec.containers[0].ports[0].hostIP", "may not be a loopback address", false},
		{"hostIP 0.0.0.0", func(s *PodSpec) {
			s.Containers[0].Ports[0].HostPort, s.Containers[0].Ports[0].HostIP = 8080, "0.0.0.0"
		}, "", "", true},
		{"duplicate host port", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{port(80, 8080, "TCP", ""), port(81, 8080, "TCP", "")}
		}, "spec.containers[0].ports[1].hostPort", `Duplicate value: "/TCP/8080"`, false},
		{"duplicate host port across containers", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{port(80, 8080, "UDP", "10.0.0.1")}
			c := s.Containers[0]
			c.Name, c.ReadinessProbe, c.LivenessProbe = "side", nil, nil
			c.Ports = []ContainerPort{port(81, 8080, "UDP", "10.0.0.1")}
			s.Containers = append(s.Containers, c)
		}, "spec.containers[1].ports[0].hostPort", `Duplicate value: "10.0.0.1/UDP/8080"`, false},
		{"same host port, other protocol", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{port(80, 8080, "TCP", ""), port(80, 8080, "UDP", "")}
		}, "", "", true},
		{"same host port, other host IP", func(s *PodSpec) {
			s.Containers[0].Ports = []ContainerPort{port(80, 8080, "TCP", "10.0.0.1"), port(81, 8080, "TCP", "10.0.0.2")}
		}, "", "", true},
		{"init containers may reuse a host port one after the other", func(s *PodSpec) {
			ic := Container{Image: "busybox", ImagePullPolicy: PullIfNotPresent,
				TerminationMessagePath: DefaultTerminationMessagePath, TerminationMessagePolicy: "File",
				Ports: []ContainerPort{port(80, 8080, "TCP", "")}}
			a, b := ic, ic
			a.Name, b.Name = "init-a", "init-b"
			s.InitContainers = []Container{a, b}
			s.Containers[0].Ports[0].HostPort = 8080
		}, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(&p.Spec)
			err := Validate(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid pod refused: %v", err)
				}
			} else {
				wantInvalid(t, err, tc.field)
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
			}
			rc := validRC()
			rc.Spec.Template.Spec = p.Spec
			rc.Spec.Template.Spec.NodeName = ""
			if err := Validate(rc); tc.rcAllowed && err != nil {
				t.Errorf("RC template refused: %v", err)
			} else if !tc.rcAllowed {
				wantInvalid(t, err, "spec.template."+tc.field)
			}
		})
	}
}

func TestDefaultHostNetworkPorts(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hostNetwork bool
		hostPort    int32
		want        int32
	}{
		{"hostNetwork fills hostPort", true, 0, 80},
		{"hostNetwork keeps a hostPort", true, 80, 80},
		{"pod network leaves hostPort unset", false, 0, 0},
		{"pod network keeps a hostPort", false, 8080, 8080},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: PodSpec{
				HostNetwork: tc.hostNetwork,
				InitContainers: []Container{{Name: "i", Image: "busybox:1.36",
					Ports: []ContainerPort{{ContainerPort: 80, HostPort: tc.hostPort}}}},
				Containers: []Container{{Name: "c", Image: "busybox:1.36",
					Ports: []ContainerPort{{ContainerPort: 80, HostPort: tc.hostPort}}}},
			}}
			Default(p)
			if got := p.Spec.Containers[0].Ports[0].HostPort; got != tc.want {
				t.Errorf("container hostPort = %d, want %d", got, tc.want)
			}
			if got := p.Spec.InitContainers[0].Ports[0].HostPort; got != tc.want {
				t.Errorf("init container hostPort = %d, want %d", got, tc.want)
			}
			if err := Validate(p); err != nil {
				t.Errorf("defaulted pod refused: %v", err)
			}
			// Templates are not defaulted (Kubernetes since 1.28): the
			// pod made from one is.
			rc := &ReplicationController{ObjectMeta: ObjectMeta{Name: "rc", Namespace: "default"},
				Spec: ReplicationControllerSpec{Template: &PodTemplateSpec{
					ObjectMeta: ObjectMeta{Labels: map[string]string{"a": "b"}}, Spec: p.Spec}}}
			rc.Spec.Template.Spec.Containers = []Container{{Name: "c", Image: "busybox:1.36",
				Ports: []ContainerPort{{ContainerPort: 80, HostPort: tc.hostPort}}}}
			Default(rc)
			if got := rc.Spec.Template.Spec.Containers[0].Ports[0].HostPort; got != tc.hostPort {
				t.Errorf("template hostPort = %d, want it left at %d", got, tc.hostPort)
			}
		})
	}
}

func TestHostPortConflicts(t *testing.T) {
	hp := func(ip, proto string, port int32) HostPort { return HostPort{IP: ip, Protocol: proto, Port: port} }
	for _, tc := range []struct {
		name string
		a, b HostPort
		want bool
	}{
		{"same everything", hp("", "TCP", 80), hp("", "TCP", 80), true},
		{"empty is 0.0.0.0", hp("", "TCP", 80), hp("0.0.0.0", "TCP", 80), true},
		{"wildcard covers an address", hp("0.0.0.0", "TCP", 80), hp("10.0.0.1", "TCP", 80), true},
		{"an address under the wildcard", hp("10.0.0.1", "TCP", 80), hp("", "TCP", 80), true},
		{"same address", hp("10.0.0.1", "TCP", 80), hp("10.0.0.1", "TCP", 80), true},
		{"other addresses", hp("10.0.0.1", "TCP", 80), hp("10.0.0.2", "TCP", 80), false},
		{"other protocol", hp("", "TCP", 80), hp("", "UDP", 80), false},
		{"empty protocol is TCP", hp("", "", 80), hp("", "TCP", 80), true},
		{"other port", hp("", "TCP", 80), hp("", "TCP", 81), false},
		{"IPv6 wildcard", hp("::", "TCP", 80), hp("10.0.0.1", "TCP", 80), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Conflicts(tc.b); got != tc.want {
				t.Errorf("%s vs %s: Conflicts = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := tc.b.Conflicts(tc.a); got != tc.want {
				t.Errorf("%s vs %s: Conflicts = %v, want %v (not symmetric)", tc.b, tc.a, got, tc.want)
			}
			var set HostPortSet
			set.Add(tc.a)
			if _, got := set.Conflict([]HostPort{hp("", "SCTP", 1), tc.b}); got != tc.want {
				t.Errorf("HostPortSet.Conflict = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPodHostPorts(t *testing.T) {
	var p Pod
	if err := json.Unmarshal([]byte(`{"spec":{
		"initContainers":[{"name":"i","ports":[{"containerPort":1,"hostPort":1}]}],
		"containers":[{"name":"a","ports":[{"containerPort":80},{"containerPort":53,"hostPort":5353,"protocol":"UDP","hostIP":"10.0.0.1"}]},
		              {"name":"b","ports":[{"containerPort":443,"hostPort":8443,"protocol":"TCP"}]}]}}`), &p); err != nil {
		t.Fatal(err)
	}
	got := PodHostPorts(&p)
	want := []HostPort{{IP: "10.0.0.1", Protocol: "UDP", Port: 5353}, {Protocol: "TCP", Port: 8443}}
	if len(got) != len(want) {
		t.Fatalf("PodHostPorts = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("PodHostPorts[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
