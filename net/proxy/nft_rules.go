package proxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"maps"
	"slices"
	"strconv"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// The nftables mode keeps every rule in one table of its own, as
// Kubernetes' nftables kube-proxy does:
//
//	table ip orch-proxy
//	  map service-ips            clusterIP . proto . port : goto service-<hash>-<ns>/<name>/<proto>/<port>
//	  map service-nodeports      proto . nodePort        : goto external-<hash>-...
//	  map no-endpoint-services   clusterIP . proto . port : goto reject-chain
//	  map no-endpoint-nodeports  proto . nodePort        : goto reject-chain
//	  map endpoints-tcp, -udp    offset + index : podIP . port, for the service ports without affinity
//	  set hairpin                podIP . podIP of every such endpoint (a pod reaching itself through a service)
//	  set affinity-<hash>        one per endpoint of a ClientIP-affinity service port (dynamic, with timeout)
//	  chain nat-prerouting, nat-output (nat, -100)     -> services
//	  chain nat-postrouting (nat, 100)                 -> masquerading
//	  chain filter-input, filter-forward, filter-output (filter, -110), ct state new -> service-endpoints-check
//	  chain filter-input also                          -> localnet-guard (every packet)
//	  chain services                 the two verdict-map lookups above
//	  chain service-endpoints-check  the two no-endpoint lookups
//	  chain service-<...>            masquerade off-cluster clients; dnat to numgen random mod n offset o map @endpoints-<proto>
//	                                 (affinity: check the sets; numgen random mod n 0 goto endpoint-..., ...)
//	  chain external-<...>           mark for masquerade, then goto the service chain (NodePorts)
//	  chain endpoint-<...>           affinity only: hairpin mark; affinity update; dnat to <podIP>:<port>
//	  chain mark-for-masquerade, masquerading, reject-chain, localnet-guard
//
// A service is a handful of map elements and chains of its own, so a sync
// after one change rewrites those and nothing else (one `nft -f`
// transaction); the packet path costs one hash lookup whatever the number
// of services, where iptables walks ORCH-SERVICES rule by rule.
//
// The endpoints of a service port without affinity are data, not chains:
// elements of its protocol's endpoints map at keys offset..offset+n-1 (each port has
// its own block of keys, see nftSlots), which its one dnat rule picks from
// at random. The kernel re-validates every chain reachable from the base
// chains (all services' chains) in a transaction that adds a rule with a
// verdict or a dnat, or a verdict map element; replacing an endpoint
// changes only data elements, which it does not re-validate. Hairpin
// traffic (a pod reaching itself through a service) is masqueraded in
// postrouting by the hairpin set rather than marked in an endpoint chain.

// NFTTable is the nftables table the nftables mode owns (family ip).
const NFTTable = "orch-proxy"

// Names of the maps of the nftables mode.
const (
	nftServiceIPs          = "service-ips"
	nftServiceNodePorts    = "service-nodeports"
	nftNoEndpointServices  = "no-endpoint-services"
	nftNoEndpointNodePorts = "no-endpoint-nodeports"
	// nftHairpin is the set of podIP . podIP pairs of the endpoints maps'
	// endpoints.
	nftHairpin = "hairpin"
)

// nftMaps declares the verdict maps, in render order.
var nftMaps = []struct{ name, typ string }{
	{nftServiceIPs, "ipv4_addr . inet_proto . inet_service : verdict"},
	{nftServiceNodePorts, "inet_proto . inet_service : verdict"},
	{nftNoEndpointServices, "ipv4_addr . inet_proto . inet_service : verdict"},
	{nftNoEndpointNodePorts, "inet_proto . inet_service : verdict"},
}

// nftBaseChains are the chains hooked into netfilter; their rules never
// change, so they are written by full syncs only.
var nftBaseChains = []struct{ name, decl, rules string }{
	{"nat-prerouting", "type nat hook prerouting priority -100; policy accept;", "jump services\n"},
	{"nat-output", "type nat hook output priority -100; policy accept;", "jump services\n"},
	{"nat-postrouting", "type nat hook postrouting priority 100; policy accept;", "jump masquerading\n"},
	{"filter-input", "type filter hook input priority -110; policy accept;", "ct state new jump service-endpoints-check\njump localnet-guard\n"},
	{"filter-forward", "type filter hook forward priority -110; policy accept;", "ct state new jump service-endpoints-check\n"},
	{"filter-output", "type filter hook output priority -110; policy accept;", "ct state new jump service-endpoints-check\n"},
}

// nftLocalnetGuard is ORCH-LOCALNET's pair of rules (localnet.go) in nft.
const nftLocalnetGuard = "ip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 ct state & (established | related) == 0 ct status & dnat == 0 drop\n" +
	"ip saddr 127.0.0.0/8 iifname != \"lo\" ct state & (established | related) == 0 ct status & dnat == 0 drop\n"

// NFTRuleset is the nftables mode's desired (or applied) table: regular
// chains with their rules (one per line, as `nft add rule` takes them),
// the verdict maps' elements and the affinity sets. Base chains are fixed
// and not part of it. Immutable once built.
type NFTRuleset struct {
	chains  map[string]string            // chain -> rules, "\n"-terminated
	maps    map[string]map[string]string // map -> key -> verdict
	sets    map[string]int32             // affinity set -> timeout seconds
	eps     map[string]map[string]string // endpoints map -> offset+index -> "podIP . port"
	hairpin map[string]int               // endpoint IP -> service ports balancing to it through a map
	udp     map[string]*udpService       // UDP service chain -> frontends and backends
}

// NumChains counts the regular chains.
func (rs *NFTRuleset) NumChains() int { return len(rs.chains) }

// Chain returns the rules of a chain, one per element.
func (rs *NFTRuleset) Chain(name string) []string {
	return strings.Split(strings.TrimSuffix(rs.chains[name], "\n"), "\n")
}

// HasChain reports whether the ruleset has the regular chain.
func (rs *NFTRuleset) HasChain(name string) bool {
	_, ok := rs.chains[name]
	return ok
}

// Element returns the verdict of key in map m ("" when absent).
func (rs *NFTRuleset) Element(m, key string) string { return rs.maps[m][key] }

// Endpoint returns the element of endpoints map m at key ("" when absent).
func (rs *NFTRuleset) Endpoint(m, key string) string { return rs.eps[m][key] }

// nftService is what one service contributes, cached by its objects.
type nftService struct {
	chains   []chainBlock
	elements []nftElement
	sets     []nftSet
	eps      []nftEndpoint
	ports    []string // the keys of the service ports holding a slot
	udp      []nftUDP
}

// nftEndpoint is one element of the endpoints map.
type nftEndpoint struct{ m, key, ip, value string }

type nftElement struct{ m, key, verdict string }

type nftSet struct {
	name    string
	timeout int32
}

type nftUDP struct {
	chain string
	svc   *udpService
}

// nftCache is buildCache for the nftables mode.
type nftCache struct {
	params  params
	entries map[cacheKey]*nftService
	byName  map[nsName]cacheKey // the entries' keys by service
	slots   nftSlots
}

// BuildNFTRules computes the nftables mode's desired table. It is pure.
func BuildNFTRules(in RulesInput) *NFTRuleset {
	return buildNFTRules(in, nil)
}

// paramsOf returns the inputs every service's rules depend on besides its
// own objects, and the node's addresses NodePorts answer on.
func paramsOf(in RulesInput) (params, []string) {
	var pr params
	if in.ClusterCIDR != nil && in.ClusterCIDR.IP.To4() != nil {
		pr.cidr = in.ClusterCIDR.String()
	}
	var nodeDsts []string
	for _, ip := range in.NodeIPs {
		if s := ipv4(ip.String()); s != "" {
			nodeDsts = append(nodeDsts, s)
		}
	}
	if len(nodeDsts) > 0 {
		nodeDsts = append(nodeDsts, "127.0.0.1")
	}
	pr.nodeDsts = strings.Join(nodeDsts, " ")
	return pr, nodeDsts
}

// newNFTRuleset returns an empty ruleset with room for n services.
func newNFTRuleset(n int) *NFTRuleset {
	rs := &NFTRuleset{
		chains:  make(map[string]string, 2*n+8),
		maps:    map[string]map[string]string{},
		sets:    map[string]int32{},
		eps:     map[string]map[string]string{},
		hairpin: map[string]int{},
		udp:     map[string]*udpService{},
	}
	for _, m := range nftMaps {
		rs.maps[m.name] = map[string]string{}
	}
	for _, m := range nftEndpointsMaps {
		rs.eps[m.name] = map[string]string{}
	}
	rs.maps[nftServiceIPs] = make(map[string]string, n)
	return rs
}

// add puts what s contributes into rs.
func (rs *NFTRuleset) add(s *nftService) {
	for _, c := range s.chains {
		rs.chains[c.name] = c.block
	}
	for _, e := range s.elements {
		rs.maps[e.m][e.key] = e.verdict
	}
	for _, st := range s.sets {
		rs.sets[st.name] = st.timeout
	}
	for _, e := range s.eps {
		rs.eps[e.m][e.key] = e.value
		rs.hairpin[e.ip]++
	}
	for _, u := range s.udp {
		rs.udp[u.chain] = u.svc
	}
}

// remove takes what s contributed out of rs.
func (rs *NFTRuleset) remove(s *nftService) {
	for _, c := range s.chains {
		delete(rs.chains, c.name)
	}
	for _, e := range s.elements {
		delete(rs.maps[e.m], e.key)
	}
	for _, st := range s.sets {
		delete(rs.sets, st.name)
	}
	for _, e := range s.eps {
		delete(rs.eps[e.m], e.key)
		if rs.hairpin[e.ip]--; rs.hairpin[e.ip] <= 0 {
			delete(rs.hairpin, e.ip)
		}
	}
	for _, u := range s.udp {
		delete(rs.udp, u.chain)
	}
}

func buildNFTRules(in RulesInput, cache *nftCache) *NFTRuleset {
	pr, nodeDsts := paramsOf(in)
	var old map[cacheKey]*nftService
	if cache != nil && cache.params == pr {
		old = cache.entries
	}
	eps := endpointsByName(in.Endpoints)
	services := slices.DeleteFunc(slices.Clone(in.Services), func(s *v1.Service) bool { return s == nil })
	slices.SortFunc(services, func(a, b *v1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	rs := newNFTRuleset(len(services))
	slots := &nftSlots{}
	if cache != nil {
		slots = &cache.slots
	}
	g := &nftGenerator{cidr: pr.cidr, slots: slots}
	held := make(map[string]bool, len(services))
	next := make(map[cacheKey]*nftService, len(services))
	byName := make(map[nsName]cacheKey, len(services))
	for _, svc := range services {
		name := nsName{svc.Namespace, svc.Name}
		key := cacheKey{svc, eps[name]}
		byName[name] = key
		s := old[key]
		if s == nil {
			s = g.service(portsOf(svc, key.eps))
		}
		next[key] = s
		rs.add(s)
		for _, k := range s.ports {
			held[k] = true
		}
	}
	slots.release(held)
	if cache != nil {
		cache.params, cache.entries, cache.byName = pr, next, byName
	}

	// Where node ports answer: every local address, or the node's own ones.
	nodeMatch := "fib daddr type local"
	if len(nodeDsts) > 0 {
		nodeMatch = "ip daddr { " + strings.Join(nodeDsts, ", ") + " }"
	}
	rs.chains["services"] = "ip daddr . meta l4proto . th dport vmap @" + nftServiceIPs + "\n" +
		nodeMatch + " meta l4proto . th dport vmap @" + nftServiceNodePorts + "\n"
	rs.chains["service-endpoints-check"] = "ip daddr . meta l4proto . th dport vmap @" + nftNoEndpointServices + "\n" +
		nodeMatch + " meta l4proto . th dport vmap @" + nftNoEndpointNodePorts + "\n"
	rs.chains["reject-chain"] = "meta l4proto tcp reject with tcp reset\nreject\n"
	rs.chains["mark-for-masquerade"] = "meta mark set meta mark | " + masqMark + "\n"
	masq := ""
	if pr.cidr != "" {
		masq = "ip saddr " + pr.cidr + " ip daddr != " + pr.cidr + " masquerade\n"
	}
	rs.chains["masquerading"] = masq + "ct status dnat ip saddr . ip daddr @" + nftHairpin + " masquerade fully-random\n" +
		"meta mark & " + masqMark + " == 0 return\n" +
		"meta mark set meta mark ^ " + masqMark + "\n" + "masquerade fully-random\n"
	rs.chains["localnet-guard"] = nftLocalnetGuard
	return rs
}

// nftName is prefix + 8 base32 characters of the SHA-256 of the parts +
// "-" + readable, as kube-proxy's nftables mode names its chains: unique by
// the hash, legible by the rest.
func nftName(prefix, readable string, parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var enc [8]byte
	base32.StdEncoding.Encode(enc[:], sum[:5])
	return prefix + string(enc[:]) + "-" + readable
}

// nftGenerator writes the rules of one service at a time.
type nftGenerator struct {
	cidr  string
	slots *nftSlots
	buf   []byte
}

func (g *nftGenerator) line(parts ...string) {
	for _, p := range parts {
		g.buf = append(g.buf, p...)
	}
	g.buf = append(g.buf, '\n')
}

func (g *nftGenerator) take() string {
	s := string(g.buf)
	g.buf = g.buf[:0]
	return s
}

// service returns what one service's ports contribute.
func (g *nftGenerator) service(ports []*servicePort) *nftService {
	s := &nftService{}
	for _, p := range ports {
		ns, rest, _ := strings.Cut(p.key, "/")
		name, portName, _ := strings.Cut(rest, ":")
		readable := ns + "/" + name + "/" + p.proto + "/" + portName
		svcChain := nftName("service-", readable, p.key, p.proto)
		port := itoa(p.port)
		portKey := p.key + "/" + p.proto
		offset, slotted := uint32(0), true
		if p.affinity == 0 && len(p.endpoints) > 0 {
			// Past the last slot (over a million service ports) a port
			// is refused as one without endpoints.
			offset, slotted = g.slots.offset(portKey)
		}
		if len(p.endpoints) == 0 || !slotted {
			if p.clusterIP != "" {
				s.elements = append(s.elements, nftElement{nftNoEndpointServices, p.clusterIP + " . " + p.proto + " . " + port, "goto reject-chain"})
			}
			if p.nodePort > 0 {
				s.elements = append(s.elements, nftElement{nftNoEndpointNodePorts, p.proto + " . " + itoa(p.nodePort), "goto reject-chain"})
			}
			continue
		}
		if p.clusterIP != "" {
			s.elements = append(s.elements, nftElement{nftServiceIPs, p.clusterIP + " . " + p.proto + " . " + port, "goto " + svcChain})
			if g.cidr != "" {
				g.line("ip daddr ", p.clusterIP, " ", p.proto, " dport ", port, " ip saddr != ", g.cidr, " jump mark-for-masquerade")
			}
		}
		var udp *udpService
		if p.proto == "udp" {
			udp = &udpService{backends: map[string]bool{}}
			if p.clusterIP != "" {
				udp.frontends = append(udp.frontends, udpFrontend{p.clusterIP, int(p.port)})
			}
			if p.nodePort > 0 {
				udp.frontends = append(udp.frontends, udpFrontend{"", int(p.nodePort)})
			}
			s.udp = append(s.udp, nftUDP{svcChain, udp})
		}
		if p.affinity == 0 {
			s.ports = append(s.ports, portKey)
			eps := p.endpoints[:min(len(p.endpoints), nftSlotSize)]
			for i, ep := range eps {
				s.eps = append(s.eps, nftEndpoint{nftEndpointsMap(p.proto, offset), strconv.FormatUint(uint64(offset)+uint64(i), 10), ep.ip, ep.ip + " . " + itoa(ep.port)})
				if udp != nil {
					udp.backends[ep.ip] = true
				}
			}
			g.line("meta l4proto ", p.proto, " dnat ip addr . port to numgen random mod ", strconv.Itoa(len(eps)),
				" offset ", strconv.FormatUint(uint64(offset), 10), " map @", nftEndpointsMap(p.proto, offset))
			s.chains = append(s.chains, chainBlock{svcChain, g.take()})
			g.external(s, p, readable, svcChain)
			continue
		}
		affinity := itoa(p.affinity)
		epChains := make([]string, len(p.endpoints))
		sets := make([]string, len(p.endpoints))
		for i, ep := range p.endpoints {
			epChains[i] = nftName("endpoint-", readable+"__"+ep.ip+"/"+itoa(ep.port), p.key, p.proto, ep.String())
			sets[i] = nftName("affinity-", readable+"__"+ep.ip+"/"+itoa(ep.port), p.key, p.proto, ep.String(), affinity)
			s.sets = append(s.sets, nftSet{sets[i], p.affinity})
			g.line("ip saddr @", sets[i], " goto ", epChains[i])
			if udp != nil {
				udp.backends[ep.ip] = true
			}
		}
		// One random draw per rule, as iptables' statistic match: 1/n,
		// then 1/(n-1) of the rest, ...; the last is unconditional. An
		// anonymous "numgen random mod n vmap {...}" would cost nft (1.0.6)
		// a set per service, and time that grows faster than the number of
		// services to load and to cache on every later transaction.
		n := len(epChains)
		for i, c := range epChains {
			if i < n-1 {
				g.line("numgen random mod ", strconv.Itoa(n-i), " 0 goto ", c)
			} else {
				g.line("goto ", c)
			}
		}
		s.chains = append(s.chains, chainBlock{svcChain, g.take()})
		g.external(s, p, readable, svcChain)
		for i, ep := range p.endpoints {
			g.line("ip saddr ", ep.ip, " jump mark-for-masquerade")
			g.line("update @", sets[i], " { ip saddr }")
			g.line("meta l4proto ", p.proto, " dnat to ", ep.String())
			s.chains = append(s.chains, chainBlock{epChains[i], g.take()})
		}
	}
	return s
}

// external adds a NodePort's external chain (mark for masquerade, then the
// service chain) and its service-nodeports element.
func (g *nftGenerator) external(s *nftService, p *servicePort, readable, svcChain string) {
	if p.nodePort == 0 {
		return
	}
	ext := nftName("external-", readable, p.key, p.proto)
	g.line("jump mark-for-masquerade")
	g.line("goto ", svcChain)
	s.chains = append(s.chains, chainBlock{ext, g.take()})
	s.elements = append(s.elements, nftElement{nftServiceNodePorts, p.proto + " . " + itoa(p.nodePort), "goto " + ext})
}

// NFTChanges says what an nft transaction does.
type NFTChanges struct {
	// Written are the chains (re)written; Deleted the chains removed.
	Written, Deleted []string
	// Elements counts the map elements added or deleted.
	Elements int
}

// Empty reports whether there is nothing to apply.
func (c NFTChanges) Empty() bool {
	return len(c.Written) == 0 && len(c.Deleted) == 0 && c.Elements == 0
}

// RenderFull returns an `nft -f` transaction that replaces the whole table
// (creating it if missing) with rs: the first sync, and the one after a
// failure, when the kernel's state is unknown.
func (rs *NFTRuleset) RenderFull() ([]byte, NFTChanges) {
	var ch NFTChanges
	var b strings.Builder
	b.Grow(rs.size())
	t := " ip " + NFTTable
	b.WriteString("add table" + t + "\ndelete table" + t + "\ntable" + t + " {\n\tcomment \"orch service proxy\"\n")
	for _, m := range nftMaps {
		b.WriteString("\tmap " + m.name + " {\n\t\ttype " + m.typ + "\n\t}\n")
	}
	for _, name := range slices.Sorted(maps.Keys(rs.sets)) {
		writeSetDecl(&b, "\tset "+name+" {", rs.sets[name], "}\n")
	}
	rs.writeEndpointsDecl(&b)
	// Chains first without rules, so a rule can name a chain declared later.
	names := slices.Sorted(maps.Keys(rs.chains))
	for _, c := range names {
		b.WriteString("\tchain " + c + " {\n\t}\n")
	}
	// The endpoints before the rules that look them up: the kernel checks
	// each element against every rule bound to its map (seconds at 10,000
	// services when the rules come first).
	b.WriteString("}\n")
	rs.writeEndpointsFullElements(&b)
	b.WriteString("table" + t + " {\n")
	for _, c := range names {
		b.WriteString("\tchain " + c + " {\n")
		for line := range strings.Lines(rs.chains[c]) {
			b.WriteString("\t\t" + line)
		}
		b.WriteString("\t}\n")
		ch.Written = append(ch.Written, c)
	}
	for _, bc := range nftBaseChains {
		b.WriteString("\tchain " + bc.name + " {\n\t\t" + bc.decl + "\n")
		for line := range strings.Lines(bc.rules) {
			b.WriteString("\t\t" + line)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	for _, m := range nftMaps {
		els := rs.maps[m.name]
		if len(els) == 0 {
			continue
		}
		b.WriteString("add element" + t + " " + m.name + " {\n")
		for _, k := range slices.Sorted(maps.Keys(els)) {
			b.WriteString("\t" + k + " : " + els[k] + ",\n")
		}
		b.WriteString("}\n")
		ch.Elements += len(els)
	}
	for _, m := range rs.eps {
		ch.Elements += len(m)
	}
	ch.Elements += len(rs.hairpin)
	return []byte(b.String()), ch
}

// RenderChanged returns an `nft -f` transaction that turns prev (the
// applied table) into rs: new sets and chains are added, chains whose rules
// differ are flushed and rewritten, map elements that differ are deleted
// and added, and chains and sets rs no longer has are flushed and deleted
// once nothing refers to them. Empty when nothing changed.
func (rs *NFTRuleset) RenderChanged(prev *NFTRuleset) ([]byte, NFTChanges) {
	var ch NFTChanges
	var b strings.Builder
	t := " ip " + NFTTable + " "
	for _, name := range slices.Sorted(maps.Keys(rs.sets)) {
		if to, ok := prev.sets[name]; !ok || to != rs.sets[name] {
			writeSetDecl(&b, "add set"+t+name+" {", rs.sets[name], "}\n")
		}
	}
	// The endpoints before the rules that look them up (see RenderFull).
	ch.Elements += rs.writeEndpointsElements(&b, prev)
	var write []string
	for c, rules := range rs.chains {
		if old, ok := prev.chains[c]; !ok || old != rules {
			write = append(write, c)
			if !ok {
				b.WriteString("add chain" + t + c + "\n")
			}
		}
	}
	slices.Sort(write)
	for _, c := range write {
		if _, ok := prev.chains[c]; ok {
			b.WriteString("flush chain" + t + c + "\n")
		}
		for line := range strings.Lines(rs.chains[c]) {
			b.WriteString("add rule" + t + c + " " + line)
		}
	}
	ch.Written = write
	for _, m := range nftMaps {
		cur, old := rs.maps[m.name], prev.maps[m.name]
		for k, v := range old {
			if nv, ok := cur[k]; !ok || nv != v {
				b.WriteString("delete element" + t + m.name + " { " + k + " }\n")
				ch.Elements++
			}
		}
		for k, v := range cur {
			if ov, ok := old[k]; !ok || ov != v {
				b.WriteString("add element" + t + m.name + " { " + k + " : " + v + " }\n")
				ch.Elements++
			}
		}
	}
	var del []string
	for c := range prev.chains {
		if _, ok := rs.chains[c]; !ok {
			del = append(del, c)
		}
	}
	slices.Sort(del)
	for _, c := range del {
		b.WriteString("flush chain" + t + c + "\n")
	}
	for _, c := range del {
		b.WriteString("delete chain" + t + c + "\n")
	}
	ch.Deleted = del
	for name := range prev.sets {
		if to, ok := rs.sets[name]; !ok || to != prev.sets[name] {
			b.WriteString("delete set" + t + name + "\n")
		}
	}
	if b.Len() == 0 {
		return nil, ch
	}
	return []byte(b.String()), ch
}

func writeSetDecl(b *strings.Builder, head string, timeout int32, tail string) {
	b.WriteString(head + " type ipv4_addr; flags dynamic,timeout; timeout " + itoa(timeout) + "s; " + tail)
}

// size estimates the length of a full render.
func (rs *NFTRuleset) size() int {
	n := 4096
	for c, r := range rs.chains {
		n += 2*len(c) + len(r) + 32
	}
	for _, m := range rs.maps {
		n += 64 * len(m)
	}
	for _, m := range rs.eps {
		n += 32 * len(m)
	}
	n += 40 * len(rs.hairpin)
	return n
}

// nftStaleUDPFlows is StaleUDPFlows for the nftables mode's rulesets.
func nftStaleUDPFlows(prev, next *NFTRuleset) []StaleFlow {
	if prev == nil {
		return nil
	}
	return staleFlows(prev.udp, next.udp)
}
