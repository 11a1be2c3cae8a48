package proxy

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// The packet tracer for the nftables mode: it follows a packet through the
// rules of an NFTRuleset (their text, as nft would read it), map lookups
// included, and returns every outcome with its probability, in the same
// terms as the iptables tracer, so one table of cases checks both modes.

// traceNFT runs pkt through chain; falling off the end accepts.
func traceNFT(t *testing.T, rs *NFTRuleset, chain string, pkt packet) []outcome {
	t.Helper()
	var out []outcome
	type state struct {
		pkt  packet
		prob float64
	}
	// walk returns the states that fall off the end of chain or return.
	var walk func(chain string, live []state, depth int) []state
	walk = func(chain string, live []state, depth int) []state {
		if depth > 10 {
			t.Fatalf("jump depth > 10 at %s", chain)
		}
		if !rs.HasChain(chain) {
			t.Fatalf("jump to missing chain %s", chain)
		}
		for _, rule := range rs.Chain(chain) {
			if rule == "" {
				continue
			}
			var next []state
			for _, s := range live {
				pMatch, action := matchNFT(t, rs, rule, s.pkt)
				if pMatch < 1 {
					next = append(next, state{s.pkt, s.prob * (1 - pMatch)})
				}
				if pMatch == 0 {
					continue
				}
				p := s.prob * pMatch
				f := strings.Fields(action)
				switch f[0] {
				case "dnat":
					if f[1] != "ip" {
						out = append(out, outcome{"DNAT " + f[2], s.pkt.mark, p})
						break
					}
					// dnat ip addr . port to numgen random mod N offset O map @endpoints
					n, err := strconv.Atoi(f[9])
					offset, err2 := strconv.Atoi(f[11])
					if err != nil || err2 != nil || f[13] != "@"+nftEndpointsMap(s.pkt.proto, uint32(offset)) {
						t.Fatalf("rule %q", rule)
					}
					for i := range n {
						ep := rs.Endpoint(f[13][1:], strconv.Itoa(offset+i))
						if ep == "" {
							t.Fatalf("rule %q: no endpoint at %d", rule, offset+i)
						}
						ip, port, _ := strings.Cut(ep, " . ")
						out = append(out, outcome{"DNAT " + ip + ":" + port, s.pkt.mark, p / float64(n)})
					}
				case "drop":
					out = append(out, outcome{"DROP", s.pkt.mark, p})
				case "reject":
					with := "icmp-port-unreachable"
					if strings.HasSuffix(action, "with tcp reset") {
						with = "tcp-reset"
					}
					out = append(out, outcome{"REJECT " + with, s.pkt.mark, p})
				case "masquerade":
					out = append(out, outcome{"MASQUERADE", s.pkt.mark, p})
				case "return":
					// Back to the caller: only base-chain jumps in our rules.
					out = append(out, outcome{"ACCEPT", s.pkt.mark, p})
				case "meta": // meta mark set meta mark | V, or ^ V
					v, err := strconv.ParseUint(f[6], 0, 32)
					if err != nil {
						t.Fatalf("rule %q: %v", rule, err)
					}
					pk := s.pkt
					if f[5] == "|" {
						pk.mark |= uint32(v)
					} else {
						pk.mark ^= uint32(v)
					}
					next = append(next, state{pk, p})
				case "update": // an affinity entry; a fresh client has none
					next = append(next, state{s.pkt, p})
				case "jump":
					next = append(next, walk(f[1], []state{{s.pkt, p}}, depth+1)...)
				case "goto":
					// What falls off the target falls off this chain's caller.
					for _, r := range walk(f[1], []state{{s.pkt, p}}, depth+1) {
						out = append(out, outcome{"ACCEPT", r.pkt.mark, r.prob})
					}
				default:
					t.Fatalf("tracer does not understand the action %q of %q", action, rule)
				}
			}
			live = next
		}
		return live
	}
	for _, s := range walk(chain, []state{{pkt, 1}}, 0) {
		out = append(out, outcome{"ACCEPT", s.pkt.mark, s.prob})
	}
	return merge(out)
}

// vmapLookup matches the rules that look a packet up in a verdict map and
// returns their action ("goto X"), "" when the key is absent.
var vmapLookups = []struct {
	prefix string
	key    func(packet) string
}{
	{"ip daddr . meta l4proto . th dport vmap @", func(p packet) string { return p.dst + " . " + p.proto + " . " + strconv.Itoa(p.dport) }},
	{"meta l4proto . th dport vmap @", func(p packet) string { return p.proto + " . " + strconv.Itoa(p.dport) }},
}

// matchNFT returns the probability that pkt matches rule's matches, and
// the rule's action (the rest of it).
func matchNFT(t *testing.T, rs *NFTRuleset, rule string, pkt packet) (float64, string) {
	rest := rule
	p := 1.0
	for {
		for _, l := range vmapLookups {
			if m, ok := strings.CutPrefix(rest, l.prefix); ok {
				v := rs.Element(m, l.key(pkt))
				if v == "" {
					return 0, ""
				}
				return p, v
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			t.Fatalf("rule %q has no action", rule)
		}
		ok, n := true, 0
		switch {
		case f[0] == "fib" && strings.HasPrefix(rest, "fib daddr type local "):
			ok, n = pkt.local, 4
		case f[0] == "ct" && f[1] == "status" && f[2] == "dnat":
			ok, n = strings.Contains(pkt.ctstate, "DNAT"), 3
		case f[0] == "ip" && f[1] == "saddr" && f[2] == "." && strings.Join(f[3:5], " ") == "ip daddr" && f[5] == "@"+nftHairpin:
			ok, n = pkt.src == pkt.dst && rs.hairpin[pkt.src] > 0, 6
		case f[0] == "ip" && (f[1] == "saddr" || f[1] == "daddr"):
			addr := pkt.src
			if f[1] == "daddr" {
				addr = pkt.dst
			}
			neg, i := false, 2
			if f[2] == "!=" {
				neg, i = true, 3
			}
			switch {
			case f[i] == "{":
				end := strings.Index(rest, "}")
				set := strings.Split(strings.TrimSpace(rest[strings.Index(rest, "{")+1:end]), ", ")
				ok = false
				for _, a := range set {
					ok = ok || a == addr
				}
				rest = rest[end+1:]
				if ok == neg {
					return 0, ""
				}
				rest = strings.TrimSpace(rest)
				continue
			case strings.HasPrefix(f[i], "@"):
				ok = false // affinity: a fresh client is in no set
			default:
				cidr := f[i]
				if !strings.Contains(cidr, "/") {
					cidr += "/32"
				}
				_, nw, err := net.ParseCIDR(cidr)
				if err != nil {
					t.Fatalf("rule %q: %v", rule, err)
				}
				ok = nw.Contains(net.ParseIP(addr))
			}
			ok, n = ok != neg, i+1
		case (f[0] == "tcp" || f[0] == "udp") && f[1] == "dport":
			ok, n = pkt.proto == f[0] && strconv.Itoa(pkt.dport) == f[2], 3
		case f[0] == "meta" && f[1] == "l4proto" && f[3] != "dnat":
			ok, n = pkt.proto == f[2], 3
		case f[0] == "meta" && f[1] == "mark" && f[2] == "&":
			m, err := strconv.ParseUint(f[3], 0, 32)
			if err != nil || f[4] != "==" || f[5] != "0" {
				t.Fatalf("rule %q", rule)
			}
			ok, n = pkt.mark&uint32(m) == 0, 6
		case f[0] == "numgen":
			k, err := strconv.Atoi(f[3])
			if err != nil || f[4] != "0" {
				t.Fatalf("rule %q", rule)
			}
			p, n = p/float64(k), 5
		case f[0] == "meta" && f[1] == "l4proto" && f[3] == "dnat":
			// "meta l4proto P dnat to A": the action, for packets of P.
			if pkt.proto != f[2] {
				return 0, ""
			}
			return p, strings.Join(f[3:], " ")
		default:
			return p, rest
		}
		if !ok {
			return 0, ""
		}
		rest = strings.Join(f[n:], " ")
	}
}
