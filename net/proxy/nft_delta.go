package proxy

import (
	v1 "orch.io/orch/api/v1"
)

// Partial syncs of the nftables mode work on what changed, as kube-proxy's
// change trackers do: the services whose Service or Endpoints object is
// new (Update's contract makes them immutable, so a changed object is a
// new pointer) are rebuilt, and the ruleset applied before is updated in
// place, so a sync after one change costs work for that service (and one
// pass over the services' pointers) rather than building, diffing and
// copying 10,000 services' chains and elements.

// nsName is a namespaced name.
type nsName struct{ ns, name string }

// endpointsByName indexes endpoints by namespace and name.
func endpointsByName(endpoints []*v1.Endpoints) map[nsName]*v1.Endpoints {
	eps := make(map[nsName]*v1.Endpoints, len(endpoints))
	for _, e := range endpoints {
		if e != nil {
			eps[nsName{e.Namespace, e.Name}] = e
		}
	}
	return eps
}

// delta finds the services of in that differ from the cache's, rebuilds
// them, and returns two rulesets holding only what the changed services
// contributed before and after, to be diffed (after against before). It
// updates applied (the table the kernel holds) to the new state, hairpin
// counts included, and the cache. It returns false when it cannot work
// from the cache (no full build yet, or the cluster CIDR or node addresses
// changed): the caller builds everything.
func (c *nftCache) delta(in RulesInput, applied *NFTRuleset) (before, after *NFTRuleset, ok bool) {
	pr, _ := paramsOf(in)
	if c.entries == nil || c.byName == nil || c.params != pr {
		return nil, nil, false
	}
	eps := endpointsByName(in.Endpoints)
	g := &nftGenerator{cidr: pr.cidr, slots: &c.slots}
	var removed, added []*nftService
	known, seen := len(c.byName), 0
	for _, svc := range in.Services {
		if svc == nil {
			continue
		}
		name := nsName{svc.Namespace, svc.Name}
		key := cacheKey{svc, eps[name]}
		if old, ok := c.byName[name]; ok {
			seen++
			if old == key {
				continue
			}
			removed = append(removed, c.entries[old])
			delete(c.entries, old)
		}
		s := g.service(portsOf(svc, key.eps))
		c.entries[key], c.byName[name] = s, key
		added = append(added, s)
	}
	if seen < known {
		// Services deleted: find them by name.
		current := make(map[nsName]bool, len(in.Services))
		for _, svc := range in.Services {
			if svc != nil {
				current[nsName{svc.Namespace, svc.Name}] = true
			}
		}
		for name, key := range c.byName {
			if !current[name] {
				removed = append(removed, c.entries[key])
				delete(c.entries, key)
				delete(c.byName, name)
			}
		}
	}
	held := map[string]bool{}
	for _, s := range added {
		for _, port := range s.ports {
			held[port] = true
		}
	}
	for _, s := range removed {
		for _, port := range s.ports {
			if !held[port] {
				c.slots.releasePort(port)
			}
		}
	}

	before, after = newNFTRuleset(len(removed)), newNFTRuleset(len(added))
	for _, s := range removed {
		before.add(s)
		applied.remove(s)
	}
	for _, s := range added {
		after.add(s)
	}
	// The hairpin set holds an address while any port balances to it: its
	// element changes when the first comes or the last goes.
	was := make(map[string]bool, len(before.hairpin)+len(after.hairpin))
	for ip := range before.hairpin {
		was[ip] = true
	}
	for ip := range after.hairpin {
		if _, ok := was[ip]; !ok {
			was[ip] = applied.hairpin[ip] > 0
		}
	}
	for _, s := range added {
		applied.add(s)
	}
	before.hairpin, after.hairpin = map[string]int{}, map[string]int{}
	for ip, w := range was {
		switch now := applied.hairpin[ip] > 0; {
		case w && !now:
			before.hairpin[ip] = 1
		case !w && now:
			after.hairpin[ip] = 1
		}
	}
	return before, after, true
}
