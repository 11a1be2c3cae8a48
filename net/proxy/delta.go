package proxy

import (
	"cmp"
	"slices"
	"strings"
)

// Partial syncs of the iptables mode work on what changed, as the nftables
// mode's do (nft_delta.go) and kube-proxy's change trackers: the services
// whose Service or Endpoints object is new (a changed object is a new
// pointer) are rebuilt, the applied ruleset is updated in place, and the
// restore is rendered from what the changed services contributed before
// and after. A sync after one change costs one pass over the services'
// pointers and that service's chains, not building, comparing and
// dropping 10,000 services' 40,000 chains.

// ruleDelta is what the changed services of a partial sync contributed
// before and after, ready to render (after against before): their own
// chains, and the shared chains (ORCH-SERVICES, ORCH-NODEPORTS,
// ORCH-FIREWALL) whole, only where their text changed. Stale lists the
// UDP flows the change made stale.
type ruleDelta struct {
	before, after *Ruleset
	stale         []StaleFlow
}

// sharedChain is a chain every service contributes lines to.
type sharedChain struct {
	table, chain string
	part         func(*serviceRules) string
}

var sharedChains = []sharedChain{
	{TableNAT, ChainServices, func(sr *serviceRules) string { return sr.services }},
	{TableNAT, ChainNodePorts, func(sr *serviceRules) string { return sr.nodePorts }},
	{TableFilter, ChainFirewall, func(sr *serviceRules) string { return sr.firewall }},
}

// delta finds the services of in whose objects differ from the cache's,
// rebuilds them, updates applied (the chains the kernel holds, as the
// previous sync left them) and the cache to the new state, and returns
// what changed. It returns false, having touched neither, when it cannot
// work from the cache (no full build yet, the cluster CIDR or node
// addresses changed, or two services share a name): the caller builds
// everything.
func (c *buildCache) delta(in RulesInput, applied *Ruleset) (ruleDelta, bool) {
	pr, nodeDsts := paramsOf(in)
	if c.entries == nil || c.byName == nil || c.params != pr || applied.tables[TableNAT] == nil || applied.tables[TableFilter] == nil {
		return ruleDelta{}, false
	}
	eps := endpointsByName(in.Endpoints)
	// One pass over the services: those whose objects are not the cached
	// ones change; a name seen twice (which the cache, by name, cannot
	// follow) gives up before anything is touched.
	c.pass++
	var changes []svcChange
	var added map[nsName]bool
	seen := 0
	for _, svc := range in.Services {
		if svc == nil {
			continue
		}
		name := nsName{svc.Namespace, svc.Name}
		key := cacheKey{svc, eps[name]}
		e := c.byName[name]
		switch {
		case e == nil:
			if added == nil {
				added = map[nsName]bool{}
			}
			if added[name] {
				return ruleDelta{}, false
			}
			added[name] = true
			changes = append(changes, svcChange{name: name, key: key})
			continue
		case e.pass == c.pass:
			return ruleDelta{}, false
		}
		e.pass = c.pass
		seen++
		if e.key != key {
			changes = append(changes, svcChange{name: name, key: key, old: c.entries[e.key]})
		}
	}
	if seen < len(c.byName) {
		// Services gone.
		for name, e := range c.byName {
			if e.pass != c.pass {
				changes = append(changes, svcChange{name: name, old: c.entries[e.key]})
			}
		}
	}
	if len(changes) == 0 {
		return ruleDelta{before: newRuleset(), after: newRuleset()}, true
	}

	// Rebuild the changed services and update the cache.
	g := &generator{params: pr, nodeDsts: nodeDsts}
	namesChanged := false
	for i := range changes {
		ch := &changes[i]
		if e := c.byName[ch.name]; e != nil {
			delete(c.entries, e.key)
		}
		if ch.key.svc == nil {
			delete(c.byName, ch.name)
			namesChanged = true
			continue
		}
		ch.new = g.service(portsOf(ch.key.svc, ch.key.eps))
		c.entries[ch.key] = ch.new
		if e := c.byName[ch.name]; e != nil {
			e.key = ch.key
		} else {
			c.byName[ch.name] = &nameEntry{key: ch.key, pass: c.pass}
			namesChanged = true
		}
	}
	if namesChanged {
		c.order = make([]nsName, 0, len(c.byName))
		for name := range c.byName {
			c.order = append(c.order, name)
		}
		slices.SortFunc(c.order, func(a, b nsName) int { return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name)) })
	}

	// What the changed services contributed before and after: their own
	// chains, and their lines of the shared chains (for the UDP flows).
	d := ruleDelta{before: newRuleset(), after: newRuleset()}
	parts := make([][2]strings.Builder, len(sharedChains))
	for _, ch := range changes {
		for i, s := range sharedChains {
			if ch.old != nil {
				parts[i][0].WriteString(s.part(ch.old))
			}
			if ch.new != nil {
				parts[i][1].WriteString(s.part(ch.new))
			}
		}
		if ch.old != nil {
			for _, cb := range ch.old.chains {
				d.before.table(TableNAT).setBlock(cb.name, cb.block)
			}
		}
		if ch.new != nil {
			for _, cb := range ch.new.chains {
				d.after.table(TableNAT).setBlock(cb.name, cb.block)
			}
		}
	}
	for i, s := range sharedChains {
		d.before.table(s.table).setBlock(s.chain, parts[i][0].String())
		d.after.table(s.table).setBlock(s.chain, parts[i][1].String())
	}
	d.stale = StaleUDPFlows(d.before, d.after)

	// A shared chain is rewritten whole when the changed services' lines
	// in it differ, or may have moved (services came or went: the lines
	// are in name order), and its text differs from the applied one;
	// otherwise it stays out of the restore.
	for i, s := range sharedChains {
		bt, at := d.before.tables[s.table], d.after.tables[s.table]
		was, is := parts[i][0].String(), parts[i][1].String()
		old := applied.tables[s.table].chains[s.chain]
		text, rewrite := old, was != is || (namesChanged && is != "")
		if rewrite {
			text = c.sharedText(s, nodeDsts)
		}
		if text == old {
			bt.remove(s.chain)
			at.remove(s.chain)
			continue
		}
		bt.setBlock(s.chain, old)
		at.setBlock(s.chain, text)
		applied.tables[s.table].setBlock(s.chain, text)
	}

	// The applied state becomes the new one.
	nat := applied.tables[TableNAT]
	for name := range d.before.tables[TableNAT].chains {
		if !d.after.HasChain(TableNAT, name) {
			nat.remove(name)
		}
	}
	for name, b := range d.after.tables[TableNAT].chains {
		if strings.HasPrefix(name, PrefixSVC) || strings.HasPrefix(name, PrefixSEP) {
			nat.setBlock(name, b)
		}
	}
	return d, true
}

// svcChange is one service whose objects differ from the cache's.
type svcChange struct {
	name     nsName
	key      cacheKey      // the new objects; no Service when it is gone
	old, new *serviceRules // nil: the service is new, or gone
}

// nameEntry is the cache's entry for one service name: the key of its
// rules, and the last delta pass that saw it.
type nameEntry struct {
	key  cacheKey
	pass uint64
}

// sharedText is the whole text of a shared chain: every service's lines in
// order (and ORCH-SERVICES' tail).
func (c *buildCache) sharedText(s sharedChain, nodeDsts []string) string {
	var b strings.Builder
	for _, name := range c.order {
		b.WriteString(s.part(c.entries[c.byName[name].key]))
	}
	if s.chain == ChainServices {
		b.WriteString(servicesTail(nodeDsts))
	}
	return b.String()
}
