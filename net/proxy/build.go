package proxy

import (
	"cmp"
	"slices"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// block accumulates the rules of one chain as iptables-save prints them.
type block struct {
	chain string
	buf   []byte
}

// rule appends "-A <chain> " + parts + "\n".
func (b *block) rule(parts ...string) {
	b.buf = append(b.buf, "-A "...)
	b.buf = append(b.buf, b.chain...)
	b.buf = append(b.buf, ' ')
	for _, p := range parts {
		b.buf = append(b.buf, p...)
	}
	b.buf = append(b.buf, '\n')
}

// take returns the block's text and resets it for another chain.
func (b *block) take() string {
	s := string(b.buf)
	b.buf = b.buf[:0]
	return s
}

// serviceRules is what one service (with its endpoints) contributes: lines
// for the shared chains and its own SVC and SEP chains.
type serviceRules struct {
	services, nodePorts, firewall string
	chains                        []chainBlock
}

type chainBlock struct{ name, block string }

// params are the inputs every service's rules depend on besides its own objects.
type params struct {
	cidr     string
	nodeDsts string // space-separated
}

// buildCache remembers each service's rules by the identity of its Service
// and Endpoints objects (which Update's contract makes immutable), so a
// sync after one change rebuilds one service, not all of them, and (delta)
// finds which services changed without building the others.
type buildCache struct {
	params  params
	entries map[cacheKey]*serviceRules
	byName  map[nsName]*nameEntry // the entries' keys by service
	order   []nsName              // the services by namespace and name: the shared chains' order
	pass    uint64                // counts delta's passes over the services
}

type cacheKey struct {
	svc *v1.Service
	eps *v1.Endpoints
}

// BuildRules computes the full desired ruleset. It is pure: the same input
// always gives the same Ruleset, and it touches nothing on the machine.
func BuildRules(in RulesInput) *Ruleset {
	return buildRules(in, nil)
}

// buildRules is BuildRules with an optional cache of per-service rules.
func buildRules(in RulesInput, cache *buildCache) *Ruleset {
	// Where node ports answer: every local address, or the node's own ones.
	pr, nodeDsts := paramsOf(in)
	var old map[cacheKey]*serviceRules
	if cache != nil && cache.params == pr {
		old = cache.entries
	}

	eps := endpointsByName(in.Endpoints)
	services := slices.DeleteFunc(slices.Clone(in.Services), func(s *v1.Service) bool { return s == nil })
	slices.SortFunc(services, func(a, b *v1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})

	g := &generator{params: pr, nodeDsts: nodeDsts}
	all := make([]*serviceRules, 0, len(services))
	next := make(map[cacheKey]*serviceRules, len(services))
	var byName map[nsName]*nameEntry
	var order []nsName
	dups := false
	if cache != nil {
		byName, order = make(map[nsName]*nameEntry, len(services)), make([]nsName, 0, len(services))
	}
	nChains, nServices := 8, 0
	for _, svc := range services {
		name := nsName{svc.Namespace, svc.Name}
		key := cacheKey{svc, eps[name]}
		sr := old[key]
		if sr == nil {
			sr = g.service(portsOf(svc, key.eps))
		}
		next[key] = sr
		all = append(all, sr)
		nChains += len(sr.chains)
		nServices += len(sr.services)
		if byName != nil {
			if _, dup := byName[name]; dup {
				dups = true
			}
			byName[name] = &nameEntry{key: key}
			order = append(order, name)
		}
	}
	if cache != nil {
		if dups {
			// Two services of one name both contribute rules here; delta,
			// which goes by name, cannot follow them: it builds everything.
			byName, order = nil, nil
		}
		cache.params, cache.entries, cache.byName, cache.order = pr, next, byName, order
	}

	rs := newRuleset()
	rs.tables[TableNAT] = &table{chains: make(map[string]string, nChains)}
	nat, filter := rs.table(TableNAT), rs.table(TableFilter)
	for _, b := range baseChains {
		rs.table(b.table).ensure(b.chain)
	}
	var svcLines, npLines, fwLines strings.Builder
	svcLines.Grow(nServices + 256)
	for _, sr := range all {
		svcLines.WriteString(sr.services)
		npLines.WriteString(sr.nodePorts)
		fwLines.WriteString(sr.firewall)
		for _, c := range sr.chains {
			nat.setBlock(c.name, c.block)
		}
	}
	svcLines.WriteString(servicesTail(nodeDsts))
	nat.setBlock(ChainServices, svcLines.String())
	nat.setBlock(ChainNodePorts, npLines.String())
	filter.setBlock(ChainFirewall, fwLines.String())
	filter.setBlock(ChainLocalnet, localnetRules)

	mark := &block{chain: ChainMarkMasq}
	mark.rule("-j MARK --set-xmark ", masqMark, "/", masqMark)
	nat.setBlock(ChainMarkMasq, mark.take())
	post := &block{chain: ChainPostrouting}
	if pr.cidr != "" {
		post.rule("-s ", pr.cidr, " ! -d ", pr.cidr, " -j MASQUERADE")
	}
	post.rule("-m mark ! --mark ", masqMark, "/", masqMark, " -j RETURN")
	post.rule("-j MARK --set-xmark ", masqMark, "/0x0")
	post.rule("-j MASQUERADE --random-fully")
	nat.setBlock(ChainPostrouting, post.take())
	return rs
}

// servicesTail is the end of ORCH-SERVICES, after every service's portals:
// the jump to ORCH-NODEPORTS for packets to the node's addresses.
func servicesTail(nodeDsts []string) string {
	tail := &block{chain: ChainServices}
	if len(nodeDsts) == 0 {
		tail.rule("-m addrtype --dst-type LOCAL -j ", ChainNodePorts)
	} else {
		for _, d := range nodeDsts {
			tail.rule("-d ", d, "/32 -j ", ChainNodePorts)
		}
	}
	return tail.take()
}

// generator writes the rules of one service at a time, reusing its buffers.
type generator struct {
	params
	nodeDsts                      []string
	services, nodePorts, firewall block
	svc, sep                      block
	seps                          []string
}

// service returns the rules of one service's ports.
func (g *generator) service(ports []*servicePort) *serviceRules {
	sr := &serviceRules{}
	g.services.chain, g.nodePorts.chain, g.firewall.chain = ChainServices, ChainNodePorts, ChainFirewall
	for _, p := range ports {
		proto, port := p.proto, itoa(p.port)
		if p.clusterIP != "" {
			g.services.rule("-d ", p.clusterIP, "/32 -p ", proto, " -m ", proto, " --dport ", port, " -j ", p.svcChain)
		}
		if p.nodePort > 0 {
			np := itoa(p.nodePort)
			g.nodePorts.rule("-p ", proto, " -m ", proto, " --dport ", np, " -j ", ChainMarkMasq)
			g.nodePorts.rule("-p ", proto, " -m ", proto, " --dport ", np, " -j ", p.svcChain)
		}
		if len(p.endpoints) == 0 {
			sr.chains = append(sr.chains, chainBlock{p.svcChain, ""})
			g.rejectNoEndpoints(p)
			continue
		}
		g.svc.chain = p.svcChain
		if g.cidr != "" && p.clusterIP != "" {
			g.svc.rule("! -s ", g.cidr, " -d ", p.clusterIP, "/32 -p ", proto, " -m ", proto, " --dport ", port, " -j ", ChainMarkMasq)
		}
		g.seps = g.seps[:0]
		for _, ep := range p.endpoints {
			g.seps = append(g.seps, hashName(PrefixSEP, p.key, proto, ep.String()))
		}
		affinity := ""
		if p.affinity > 0 {
			affinity = itoa(p.affinity)
			for _, sep := range g.seps {
				g.svc.rule("-m recent --rcheck --seconds ", affinity, " --reap --name ", sep, " --mask 255.255.255.255 --rsource -j ", sep)
			}
		}
		n := len(g.seps)
		for i, sep := range g.seps {
			if i < n-1 {
				g.svc.rule("-m statistic --mode random --probability ", Probability(n-i), " -j ", sep)
			} else {
				g.svc.rule("-j ", sep)
			}
		}
		sr.chains = append(sr.chains, chainBlock{p.svcChain, g.svc.take()})
		for i, ep := range p.endpoints {
			sep := g.seps[i]
			g.sep.chain = sep
			dest := ep.String()
			g.sep.rule("-s ", ep.ip, "/32 -j ", ChainMarkMasq)
			if affinity != "" {
				g.sep.rule("-p ", proto, " -m recent --set --name ", sep, " --mask 255.255.255.255 --rsource -j DNAT --to-destination ", dest)
			} else {
				g.sep.rule("-p ", proto, " -j DNAT --to-destination ", dest)
			}
			sr.chains = append(sr.chains, chainBlock{sep, g.sep.take()})
		}
	}
	sr.services, sr.nodePorts, sr.firewall = g.services.take(), g.nodePorts.take(), g.firewall.take()
	return sr
}

// rejectNoEndpoints adds the filter rules that refuse a service port with
// no ready endpoints at once (ECONNREFUSED) instead of letting it time out.
func (g *generator) rejectNoEndpoints(p *servicePort) {
	with := " -j REJECT --reject-with icmp-port-unreachable"
	if p.proto == "tcp" {
		with = " -j REJECT --reject-with tcp-reset"
	}
	proto, fw := p.proto, &g.firewall
	if p.clusterIP != "" {
		fw.rule("-d ", p.clusterIP, "/32 -p ", proto, " -m ", proto, " --dport ", itoa(p.port), with)
	}
	if p.nodePort == 0 {
		return
	}
	np := itoa(p.nodePort)
	if len(g.nodeDsts) == 0 {
		fw.rule("-p ", proto, " -m addrtype --dst-type LOCAL -m ", proto, " --dport ", np, with)
		return
	}
	for _, d := range g.nodeDsts {
		fw.rule("-d ", d, "/32 -p ", proto, " -m ", proto, " --dport ", np, with)
	}
}
