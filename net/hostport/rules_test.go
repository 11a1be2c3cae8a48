package hostport

import (
	"net"
	"strings"
	"testing"
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestRender(t *testing.T) {
	web := Mapping{Pod: "default/web", HostPort: 8080, Protocol: "TCP", PodIP: "10.244.1.5", ContainerPort: 80}
	for _, tc := range []struct {
		name     string
		mappings []Mapping
		podCIDR  *net.IPNet
		want     []string // rules, in order
		wantErr  string
	}{
		{"none", nil, mustCIDR("10.244.1.0/24"), []string{
			"-A ORCH-HOSTPORTS-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
		}, ""},
		{"every address", []Mapping{web}, mustCIDR("10.244.1.0/24"), []string{
			`-A ORCH-HOSTPORTS -s 10.244.1.0/24 -p tcp -m tcp --dport 8080 -m comment --comment "default/web" -j MARK --set-xmark 0x2000/0x2000`,
			`-A ORCH-HOSTPORTS -p tcp -m tcp --dport 8080 -m comment --comment "default/web" -j DNAT --to-destination 10.244.1.5:80`,
			"-A ORCH-HOSTPORTS-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
		}, ""},
		{"0.0.0.0 is every address", []Mapping{func() Mapping { m := web; m.HostIP = "0.0.0.0"; return m }()}, nil, []string{
			`-A ORCH-HOSTPORTS -p tcp -m tcp --dport 8080 -m comment --comment "default/web" -j DNAT --to-destination 10.244.1.5:80`,
			"-A ORCH-HOSTPORTS-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
		}, ""},
		{"one address, UDP, sorted by port", []Mapping{web, {Pod: "kube/dns", HostIP: "10.0.0.2", HostPort: 53, Protocol: "UDP", PodIP: "10.244.1.6", ContainerPort: 5353}}, nil, []string{
			`-A ORCH-HOSTPORTS -d 10.0.0.2/32 -p udp -m udp --dport 53 -m comment --comment "kube/dns" -j DNAT --to-destination 10.244.1.6:5353`,
			`-A ORCH-HOSTPORTS -p tcp -m tcp --dport 8080 -m comment --comment "default/web" -j DNAT --to-destination 10.244.1.5:80`,
			"-A ORCH-HOSTPORTS-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
		}, ""},
		{"bad mappings are left out", []Mapping{
			web,
			{Pod: "default/x", HostPort: 9, Protocol: "TCP", PodIP: "not-an-ip", ContainerPort: 9},
			{Pod: "default/y", HostPort: 10, Protocol: "ICMP", PodIP: "10.244.1.7", ContainerPort: 9},
			{Pod: "default/z\n-A INPUT -j DROP", HostPort: 11, Protocol: "TCP", PodIP: "10.244.1.7", ContainerPort: 9},
		}, nil, []string{
			`-A ORCH-HOSTPORTS -p tcp -m tcp --dport 8080 -m comment --comment "default/web" -j DNAT --to-destination 10.244.1.5:80`,
			"-A ORCH-HOSTPORTS-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
		}, "host ports left out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := Render(tc.mappings, tc.podCIDR)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Render: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Render error %v, want %q", err, tc.wantErr)
			}
			lines := strings.Split(strings.TrimSpace(string(text)), "\n")
			head := []string{"*nat", ":ORCH-HOSTPORTS - [0:0]", ":ORCH-HOSTPORTS-MASQ - [0:0]"}
			if len(lines) < 4 || strings.Join(lines[:3], "\n") != strings.Join(head, "\n") || lines[len(lines)-1] != "COMMIT" {
				t.Fatalf("not a restore of our two chains:\n%s", text)
			}
			got := lines[3 : len(lines)-1]
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
