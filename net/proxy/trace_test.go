package proxy

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A packet tracer in the style of kube-proxy's tests: it follows a packet
// through the generated rules (their text, as iptables would read it) and
// returns every possible outcome with its probability, so tests check
// behaviour rather than rule text.

type packet struct {
	src, dst string
	proto    string
	dport    int
	local    bool // dst is an address of this node (addrtype LOCAL)
	mark     uint32
	in       string // input interface; "" is neither lo nor any named one
	ctstate  string // conntrack states, comma-separated ("NEW,DNAT"); "" is NEW
}

type outcome struct {
	verdict string // "DNAT 10.244.1.1:8080", "REJECT tcp-reset", "MASQUERADE", "ACCEPT"
	mark    uint32
	prob    float64
}

// trace runs pkt through chain of table; falling off a built-in chain accepts.
func trace(t *testing.T, rs *Ruleset, tbl, chain string, pkt packet) []outcome {
	t.Helper()
	var out []outcome
	type state struct {
		pkt  packet
		prob float64
	}
	// walk follows the states through chain: terminal verdicts go to out;
	// it returns the states that fall off the end or RETURN.
	var walk func(chain string, live []state, depth int) []state
	walk = func(chain string, live []state, depth int) []state {
		if depth > 10 {
			t.Fatalf("jump depth > 10 at %s", chain)
		}
		var returned []state
		for _, rule := range rs.Rules(tbl, chain) {
			var next []state
			for _, s := range live {
				pMatch := matchRule(t, rule, s.pkt)
				if pMatch < 1 {
					next = append(next, state{s.pkt, s.prob * (1 - pMatch)})
				}
				if pMatch == 0 {
					continue
				}
				p := s.prob * pMatch
				f := strings.Fields(rule)
				switch target := jumpTarget(rule); target {
				case "DNAT":
					out = append(out, outcome{"DNAT " + flag(f, "--to-destination"), s.pkt.mark, p})
				case "DROP":
					out = append(out, outcome{"DROP", s.pkt.mark, p})
				case "REJECT":
					out = append(out, outcome{"REJECT " + flag(f, "--reject-with"), s.pkt.mark, p})
				case "MASQUERADE":
					out = append(out, outcome{"MASQUERADE", s.pkt.mark, p})
				case "RETURN":
					returned = append(returned, state{s.pkt, p})
				case "MARK":
					v, m := parseXmark(t, flag(f, "--set-xmark"))
					pk := s.pkt
					pk.mark = (pk.mark &^ m) ^ v
					next = append(next, state{pk, p})
				default:
					if !rs.HasChain(tbl, target) {
						t.Fatalf("rule %q jumps to missing chain %s", rule, target)
					}
					next = append(next, walk(target, []state{{s.pkt, p}}, depth+1)...)
				}
			}
			live = next
		}
		return append(live, returned...)
	}
	for _, s := range walk(chain, []state{{pkt, 1}}, 0) {
		out = append(out, outcome{"ACCEPT", s.pkt.mark, s.prob})
	}
	return merge(out)
}

// merge sums the probabilities of equal outcomes and sorts them.
func merge(in []outcome) []outcome {
	type key struct {
		v string
		m uint32
	}
	sum := map[key]float64{}
	for _, o := range in {
		sum[key{o.verdict, o.mark}] += o.prob
	}
	var out []outcome
	for k, p := range sum {
		if p > 1e-12 {
			out = append(out, outcome{k.v, k.m, p})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].verdict < out[j].verdict })
	return out
}

// matchRule returns the probability that pkt matches rule's matches.
func matchRule(t *testing.T, rule string, pkt packet) float64 {
	f, err := splitSpec(rule)
	if err != nil {
		t.Fatal(err)
	}
	p := 1.0
	neg := false
	for i := 0; i < len(f); i++ {
		ok := true
		switch f[i] {
		case "!":
			neg = true
			continue
		case "-j":
			return p
		case "-s", "-d":
			addr := pkt.src
			if f[i] == "-d" {
				addr = pkt.dst
			}
			_, n, err := net.ParseCIDR(f[i+1])
			if err != nil {
				t.Fatalf("rule %q: %v", rule, err)
			}
			ok = n.Contains(net.ParseIP(addr))
			i++
		case "-p":
			ok = pkt.proto == f[i+1]
			i++
		case "--dport":
			ok = strconv.Itoa(pkt.dport) == f[i+1]
			i++
		case "-m":
			i++ // module name; its options follow
		case "--dst-type":
			ok = (f[i+1] == "LOCAL") == pkt.local
			i++
		case "--mode":
			i++
		case "--probability":
			v, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil {
				t.Fatalf("rule %q: %v", rule, err)
			}
			p *= v
			i++
		case "--rcheck":
			ok = false // a fresh client has no affinity entry yet
		case "--set", "--reap", "--rsource":
		case "--seconds", "--name", "--mask", "--comment":
			i++
		case "-i":
			ok = pkt.in == f[i+1]
			i++
		case "--ctstate":
			have := strings.Split(cmp.Or(pkt.ctstate, "NEW"), ",")
			ok = slices.ContainsFunc(strings.Split(f[i+1], ","), func(s string) bool { return slices.Contains(have, s) })
			i++
		case "--mark":
			v, m := parseXmark(t, f[i+1])
			ok = pkt.mark&m == v
			i++
		default:
			t.Fatalf("tracer does not understand %q in %q", f[i], rule)
		}
		if ok == neg {
			return 0
		}
		neg = false
	}
	return p
}

func parseXmark(t *testing.T, s string) (v, m uint32) {
	a, b, _ := strings.Cut(s, "/")
	x, err1 := strconv.ParseUint(a, 0, 32)
	y, err2 := strconv.ParseUint(b, 0, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad mark %q", s)
	}
	return uint32(x), uint32(y)
}

func fmtOutcomes(os []outcome) string {
	var parts []string
	for _, o := range os {
		parts = append(parts, fmt.Sprintf("%s mark=%#x p=%.3f", o.verdict, o.mark, o.prob))
	}
	return strings.Join(parts, "; ")
}

func TestPacketTrace(t *testing.T) { forEachMode(t, testPacketTrace) }

func testPacketTrace(t *testing.T, mode string) {
	web := svc("default", "web", "10.96.0.10", svcPort{"http", "TCP", 80, 30080})
	webEps := eps("default", "web", []string{"10.244.1.1", "10.244.2.1", "10.244.3.1"}, svcPort{"http", "TCP", 8080, 0})
	dns := svc("kube", "dns", "10.96.0.53", svcPort{"dns", "UDP", 53, 0}, svcPort{"dns-tcp", "TCP", 53, 0})
	dnsEps := eps("kube", "dns", []string{"10.244.5.5"}, svcPort{"dns", "UDP", 5353, 0}) // dns-tcp has none
	empty := svc("default", "empty", "10.96.0.99", svcPort{"p", "TCP", 80, 30099})
	in := RulesInput{ClusterCIDR: clusterCIDR, NodeIPs: []net.IP{net.ParseIP("192.168.77.1")},
		Services: []*v1.Service{web, dns, empty}, Endpoints: []*v1.Endpoints{webEps, dnsEps}}
	// run traces pkt from the mode's chain for table: the service portals
	// (nat), the no-endpoints check (filter) or masquerading (postrouting).
	run := func(t *testing.T, table string, pkt packet) []outcome {
		if mode == ModeNFTables {
			start := map[string]string{TableNAT: "services", TableFilter: "service-endpoints-check", "post": "masquerading"}[table]
			return traceNFT(t, BuildNFTRules(in), start, pkt)
		}
		start := map[string]string{TableNAT: ChainServices, TableFilter: ChainFirewall, "post": ChainPostrouting}[table]
		if table == "post" {
			table = TableNAT
		}
		return trace(t, BuildRules(in), table, start, pkt)
	}

	const third = 1.0 / 3
	// iptables marks a pod reaching itself through a service in its
	// endpoint chain; nftables picks the endpoint from a map and
	// masquerades the pair in postrouting instead (the hairpin set).
	hairpinMark := uint32(0x4000)
	if mode == ModeNFTables {
		hairpinMark = 0
	}
	webAll := func(mark uint32) []outcome {
		return []outcome{{"DNAT 10.244.1.1:8080", mark, third}, {"DNAT 10.244.2.1:8080", mark, third}, {"DNAT 10.244.3.1:8080", mark, third}}
	}
	cases := []struct {
		name  string
		table string
		pkt   packet
		want  []outcome
	}{
		{"pod to ClusterIP: balanced over 3, no masquerade", TableNAT,
			packet{src: "10.244.7.7", dst: "10.96.0.10", proto: "tcp", dport: 80}, webAll(0)},
		{"node to ClusterIP: balanced and marked for masquerade", TableNAT,
			packet{src: "192.168.77.1", dst: "10.96.0.10", proto: "tcp", dport: 80}, webAll(0x4000)},
		{"wrong port: untouched", TableNAT,
			packet{src: "10.244.7.7", dst: "10.96.0.10", proto: "tcp", dport: 81}, []outcome{{"ACCEPT", 0, 1}}},
		{"wrong protocol: untouched", TableNAT,
			packet{src: "10.244.7.7", dst: "10.96.0.10", proto: "udp", dport: 80}, []outcome{{"ACCEPT", 0, 1}}},
		{"NodePort on node IP: balanced and marked", TableNAT,
			packet{src: "203.0.113.9", dst: "192.168.77.1", proto: "tcp", dport: 30080, local: true}, webAll(0x4000)},
		{"NodePort on 127.0.0.1", TableNAT,
			packet{src: "127.0.0.1", dst: "127.0.0.1", proto: "tcp", dport: 30080, local: true}, webAll(0x4000)},
		{"NodePort on another local address: not ours", TableNAT,
			packet{src: "203.0.113.9", dst: "10.244.0.1", proto: "tcp", dport: 30080, local: true}, []outcome{{"ACCEPT", 0, 1}}},
		{"UDP to target port by name", TableNAT,
			packet{src: "10.244.7.7", dst: "10.96.0.53", proto: "udp", dport: 53}, []outcome{{"DNAT 10.244.5.5:5353", 0, 1}}},
		{"hairpin: marked only when it picks itself", TableNAT,
			packet{src: "10.244.2.1", dst: "10.96.0.10", proto: "tcp", dport: 80},
			[]outcome{{"DNAT 10.244.1.1:8080", 0, third}, {"DNAT 10.244.2.1:8080", hairpinMark, third}, {"DNAT 10.244.3.1:8080", 0, third}}},
		{"no endpoints: nat passes it", TableNAT,
			packet{src: "10.244.7.7", dst: "10.96.0.99", proto: "tcp", dport: 80}, []outcome{{"ACCEPT", 0, 1}}},
		{"no endpoints: filter rejects with reset", TableFilter,
			packet{src: "10.244.7.7", dst: "10.96.0.99", proto: "tcp", dport: 80}, []outcome{{"REJECT tcp-reset", 0, 1}}},
		{"no endpoints on one port of two: rejected", TableFilter,
			packet{src: "10.244.7.7", dst: "10.96.0.53", proto: "tcp", dport: 53}, []outcome{{"REJECT tcp-reset", 0, 1}}},
		{"no endpoints NodePort: rejected", TableFilter,
			packet{src: "203.0.113.9", dst: "192.168.77.1", proto: "tcp", dport: 30099, local: true}, []outcome{{"REJECT tcp-reset", 0, 1}}},
		{"endpoints: filter accepts", TableFilter,
			packet{src: "10.244.7.7", dst: "10.96.0.10", proto: "tcp", dport: 80}, []outcome{{"ACCEPT", 0, 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, c.table, c.pkt)
			if !sameOutcomes(got, merge(c.want)) {
				t.Fatalf("got  %s\nwant %s", fmtOutcomes(got), fmtOutcomes(merge(c.want)))
			}
		})
	}

	post := []struct {
		name string
		pkt  packet
		want string
	}{
		{"marked: masqueraded, mark cleared", packet{src: "192.168.77.1", dst: "10.244.1.1", mark: 0x4000}, "MASQUERADE mark=0x0"},
		{"pod leaving the cluster: masqueraded", packet{src: "10.244.1.1", dst: "8.8.8.8"}, "MASQUERADE mark=0x0"},
		{"pod to pod: untouched", packet{src: "10.244.1.1", dst: "10.244.2.1"}, "ACCEPT mark=0x0"},
		{"hairpin after DNAT: masqueraded", packet{src: "10.244.2.1", dst: "10.244.2.1", mark: hairpinMark, ctstate: "NEW,DNAT"}, "MASQUERADE mark=0x0"},
		{"a pod to itself without DNAT: untouched", packet{src: "10.244.2.1", dst: "10.244.2.1"}, "ACCEPT mark=0x0"},
	}
	for _, c := range post {
		t.Run("postrouting "+c.name, func(t *testing.T) {
			got := run(t, "post", c.pkt)
			if len(got) != 1 || fmt.Sprintf("%s mark=%#x", got[0].verdict, got[0].mark) != c.want {
				t.Fatalf("got %s, want %s", fmtOutcomes(got), c.want)
			}
		})
	}
}

func sameOutcomes(a, b []outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].verdict != b[i].verdict || a[i].mark != b[i].mark || math.Abs(a[i].prob-b[i].prob) > 1e-6 {
			return false
		}
	}
	return true
}
