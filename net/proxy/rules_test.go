package proxy

import (
	"net"
	"slices"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestChainNames(t *testing.T) {
	base := SVCChainName("default", "web", "http", "tcp")
	if base != SVCChainName("default", "web", "http", "TCP") {
		t.Fatal("SVC chain name depends on protocol case")
	}
	if base != SVCChainName("default", "web", "http", "tcp") {
		t.Fatal("SVC chain name is not stable")
	}
	distinct := []struct {
		name string
		got  string
	}{
		{"other port name", SVCChainName("default", "web", "https", "tcp")},
		{"other protocol", SVCChainName("default", "web", "http", "udp")},
		{"other namespace", SVCChainName("prod", "web", "http", "tcp")},
		{"other service", SVCChainName("default", "web2", "http", "tcp")},
		{"no ambiguity joining parts", SVCChainName("default", "we", "bhttp", "tcp")},
	}
	seen := map[string]string{base: "base"}
	for _, d := range distinct {
		t.Run(d.name, func(t *testing.T) {
			if prev, ok := seen[d.got]; ok {
				t.Fatalf("%s collides with %s: %s", d.name, prev, d.got)
			}
			seen[d.got] = d.name
		})
	}
	sep1 := SEPChainName("default", "web", "http", "tcp", "10.244.1.2", 8080)
	sep2 := SEPChainName("default", "web", "http", "tcp", "10.244.1.2", 8081)
	if sep1 == sep2 {
		t.Fatal("SEP chain name ignores the endpoint port")
	}
	for _, n := range []string{base, sep1, sep2} {
		if len(n) > maxChainName {
			t.Fatalf("%s is %d characters (max %d)", n, len(n), maxChainName)
		}
	}
	// The names BuildRules uses are the exported ones.
	rs := BuildRules(RulesInput{
		Services:  []*v1.Service{svc("default", "web", "10.96.0.10", svcPort{"http", "TCP", 80, 0})},
		Endpoints: []*v1.Endpoints{eps("default", "web", []string{"10.244.1.2"}, svcPort{"http", "TCP", 8080, 0})},
	})
	if !rs.HasChain(TableNAT, base) || !rs.HasChain(TableNAT, sep1) {
		t.Fatalf("BuildRules chains %v lack %s or %s", rs.Chains(TableNAT), base, sep1)
	}
}

func TestProbabilitySequence(t *testing.T) {
	if got := Probability(3); got != "0.33333333349" {
		t.Fatalf("Probability(3) = %s, want iptables-save's 0.33333333349", got)
	}
	if got := Probability(2); got != "0.50000000000" {
		t.Fatalf("Probability(2) = %s", got)
	}
	for n := 1; n <= 6; n++ {
		var ips []string
		for i := 0; i < n; i++ {
			ips = append(ips, "10.244.1."+itoa(int32(i+1)))
		}
		rs := BuildRules(RulesInput{
			Services:  []*v1.Service{svc("ns", "s", "10.96.0.1", svcPort{"", "TCP", 80, 0})},
			Endpoints: []*v1.Endpoints{eps("ns", "s", ips, svcPort{"", "TCP", 8080, 0})},
		})
		rules := rs.Rules(TableNAT, SVCChainName("ns", "s", "", "tcp"))
		if len(rules) != n {
			t.Fatalf("n=%d: %d rules in SVC chain: %q", n, len(rules), rules)
		}
		for i, r := range rules {
			if i == n-1 {
				if strings.Contains(r, "statistic") {
					t.Fatalf("n=%d: last rule is not unconditional: %s", n, r)
				}
				continue
			}
			if want := "--probability " + Probability(n-i) + " "; !strings.Contains(r, want) {
				t.Fatalf("n=%d rule %d = %q, want %q", n, i, r, want)
			}
		}
	}
}

func TestSessionAffinity(t *testing.T) {
	cases := []struct {
		name     string
		svc      *v1.Service
		wantSecs string // "" = no affinity rules
	}{
		{"none", svc("ns", "s", "10.96.0.1", svcPort{"p", "TCP", 80, 0}), ""},
		{"ClientIP default timeout", withAffinity(svc("ns", "s", "10.96.0.1", svcPort{"p", "TCP", 80, 0}), 0), "10800"},
		{"ClientIP 60s", withAffinity(svc("ns", "s", "10.96.0.1", svcPort{"p", "TCP", 80, 0}), 60), "60"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rs := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: []*v1.Service{c.svc},
				Endpoints: []*v1.Endpoints{eps("ns", "s", []string{"10.244.1.1", "10.244.1.2"}, svcPort{"p", "TCP", 8080, 0})}})
			svcRules := rs.Rules(TableNAT, SVCChainName("ns", "s", "p", "tcp"))
			var rcheck, set int
			for _, r := range svcRules {
				if strings.Contains(r, "--rcheck") {
					rcheck++
					if !strings.Contains(r, "--seconds "+c.wantSecs+" ") {
						t.Fatalf("rcheck rule %q lacks --seconds %s", r, c.wantSecs)
					}
				}
			}
			for _, ip := range []string{"10.244.1.1", "10.244.1.2"} {
				sep := SEPChainName("ns", "s", "p", "tcp", ip, 8080)
				for _, r := range rs.Rules(TableNAT, sep) {
					if strings.Contains(r, "-m recent --set --name "+sep+" ") {
						set++
					}
				}
			}
			want := 0
			if c.wantSecs != "" {
				want = 2
			}
			if rcheck != want || set != want {
				t.Fatalf("rcheck rules %d, set rules %d, want %d each; SVC chain %q", rcheck, set, want, svcRules)
			}
			if want > 0 && !strings.Contains(svcRules[len(svcRules)-1], "-j ORCH-SEP-") {
				t.Fatal("affinity rules are not followed by the balancing rules")
			}
		})
	}
}

func TestRejectAndNodePorts(t *testing.T) {
	webPorts := []svcPort{{"http", "TCP", 80, 30080}, {"dns", "UDP", 53, 30053}}
	cases := []struct {
		name       string
		nodeIPs    []net.IP
		ready      []string
		notReady   []string
		wantReject []string // rule specs in ORCH-FIREWALL
		wantNodeTo []string // ORCH-SERVICES -> ORCH-NODEPORTS rules
	}{
		{
			name:  "endpoints ready: no reject",
			ready: []string{"10.244.1.5"},
			wantNodeTo: []string{
				"-m addrtype --dst-type LOCAL -j ORCH-NODEPORTS"},
		},
		{
			name:     "only not-ready endpoints: reject ClusterIP and NodePort, per protocol",
			notReady: []string{"10.244.1.5"},
			wantReject: []string{
				"-d 10.96.0.10/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable",
				"-p udp -m addrtype --dst-type LOCAL -m udp --dport 30053 -j REJECT --reject-with icmp-port-unreachable",
				"-d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset",
				"-p tcp -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j REJECT --reject-with tcp-reset",
			},
			wantNodeTo: []string{"-m addrtype --dst-type LOCAL -j ORCH-NODEPORTS"},
		},
		{
			name:    "node IPs given: node ports answer on them and 127.0.0.1 only",
			nodeIPs: []net.IP{net.ParseIP("192.168.77.1")},
			wantReject: []string{
				"-d 10.96.0.10/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable",
				"-d 192.168.77.1/32 -p udp -m udp --dport 30053 -j REJECT --reject-with icmp-port-unreachable",
				"-d 127.0.0.1/32 -p udp -m udp --dport 30053 -j REJECT --reject-with icmp-port-unreachable",
				"-d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset",
				"-d 192.168.77.1/32 -p tcp -m tcp --dport 30080 -j REJECT --reject-with tcp-reset",
				"-d 127.0.0.1/32 -p tcp -m tcp --dport 30080 -j REJECT --reject-with tcp-reset",
			},
			wantNodeTo: []string{"-d 192.168.77.1/32 -j ORCH-NODEPORTS", "-d 127.0.0.1/32 -j ORCH-NODEPORTS"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := eps("ns", "web", c.ready, svcPort{"http", "TCP", 8080, 0}, svcPort{"dns", "UDP", 5353, 0})
			for _, ip := range c.notReady {
				e.Subsets[0].NotReadyAddresses = append(e.Subsets[0].NotReadyAddresses, v1.EndpointAddress{IP: ip})
			}
			rs := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, NodeIPs: c.nodeIPs,
				Services:  []*v1.Service{svc("ns", "web", "10.96.0.10", webPorts...)},
				Endpoints: []*v1.Endpoints{e}})
			if got := rs.Rules(TableFilter, ChainFirewall); !slices.Equal(got, c.wantReject) {
				t.Fatalf("ORCH-FIREWALL:\n got %q\nwant %q", got, c.wantReject)
			}
			var toNode []string
			for _, r := range rs.Rules(TableNAT, ChainServices) {
				if strings.HasSuffix(r, "-j "+ChainNodePorts) {
					toNode = append(toNode, r)
				}
			}
			if !slices.Equal(toNode, c.wantNodeTo) {
				t.Fatalf("node port jumps:\n got %q\nwant %q", toNode, c.wantNodeTo)
			}
			np := rs.Rules(TableNAT, ChainNodePorts)
			for _, p := range webPorts {
				proto := strings.ToLower(p.proto)
				chain := SVCChainName("ns", "web", p.name, proto)
				want := []string{
					"-p " + proto + " -m " + proto + " --dport " + itoa(p.nodePort) + " -j " + ChainMarkMasq,
					"-p " + proto + " -m " + proto + " --dport " + itoa(p.nodePort) + " -j " + chain,
				}
				if i := slices.Index(np, want[0]); i < 0 || i+1 >= len(np) || np[i+1] != want[1] {
					t.Fatalf("ORCH-NODEPORTS %q lacks %q", np, want)
				}
			}
		})
	}
}

func TestPortsMatchByName(t *testing.T) {
	s := svc("ns", "multi", "10.96.0.20", svcPort{"http", "TCP", 80, 0}, svcPort{"metrics", "TCP", 9090, 0}, svcPort{"dns", "UDP", 53, 0})
	e := eps("ns", "multi", []string{"10.244.2.1"}, svcPort{"metrics", "TCP", 19090, 0}, svcPort{"http", "TCP", 8080, 0},
		svcPort{"dns", "TCP", 5353, 0}) // wrong protocol for dns: no endpoint
	rs := BuildRules(RulesInput{Services: []*v1.Service{s}, Endpoints: []*v1.Endpoints{e}})
	cases := []struct {
		port, proto string
		wantDNAT    string
	}{
		{"http", "tcp", "10.244.2.1:8080"},
		{"metrics", "tcp", "10.244.2.1:19090"},
		{"dns", "udp", ""},
	}
	for _, c := range cases {
		t.Run(c.port, func(t *testing.T) {
			sepRules := rs.Rules(TableNAT, SEPChainName("ns", "multi", c.port, c.proto, "10.244.2.1", portOf(c.wantDNAT)))
			if c.wantDNAT == "" {
				if r := rs.Rules(TableNAT, SVCChainName("ns", "multi", c.port, c.proto)); len(r) != 0 {
					t.Fatalf("SVC chain of a port without endpoints has rules %q", r)
				}
				return
			}
			if len(sepRules) != 2 || !strings.HasSuffix(sepRules[1], "--to-destination "+c.wantDNAT) {
				t.Fatalf("SEP rules %q, want DNAT to %s", sepRules, c.wantDNAT)
			}
		})
	}
}

func portOf(hostport string) int32 {
	if hostport == "" {
		return 0
	}
	_, p, _ := net.SplitHostPort(hostport)
	n := int32(0)
	for _, c := range p {
		n = n*10 + int32(c-'0')
	}
	return n
}

func TestSkipsWhatCannotBeProxied(t *testing.T) {
	headless := svc("ns", "headless", v1.ClusterIPNone, svcPort{"p", "TCP", 80, 0})
	unallocated := svc("ns", "new", "", svcPort{"p", "TCP", 80, 0})
	sctp := svc("ns", "sctp", "10.96.0.30", svcPort{"p", "SCTP", 80, 0})
	v6 := svc("ns", "v6", "fd00::1", svcPort{"p", "TCP", 80, 0})
	rs := BuildRules(RulesInput{Services: []*v1.Service{headless, unallocated, sctp, v6, nil}})
	for _, c := range rs.Chains(TableNAT) {
		if strings.HasPrefix(c, PrefixSVC) {
			t.Fatalf("unexpected service chain %s", c)
		}
	}
	if r := rs.Rules(TableFilter, ChainFirewall); len(r) != 0 {
		t.Fatalf("unexpected reject rules %q", r)
	}
}
