package sched

import (
	"fmt"
	"maps"
	"sort"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// schedulerCache is the cluster as the scheduler keeps it between passes,
// as kube-scheduler's cache: a Snapshot whose nodes hold what their bound
// pods use and whose pod groups hold the counts affinity and spreading
// read, kept up to date from the store's change feed, with the pods a pass
// placed assumed on their nodes until their bindings come back through the
// feed (or are refused and forgotten).
//
// Cost: a pod event costs O(the pod's labels and terms), plus, for a pod
// with host ports leaving a node, O(pods on that node); a node event
// costs O(the node's fields) when its labels stay, else O(pods on the
// node + nodes·log nodes + pod groups). A rebuild (first pass, store
// replaced, feed window lost) costs O(all pods + nodes) reads and a
// summary of each unbound pod.
type schedulerCache struct {
	snap  *Snapshot
	store *fsm.Store
	seen  uint64
	// pods are the bound pods that have not finished, and the assumed
	// ones, by key; onNode the same by node name. A pod whose node is not
	// (or no longer) registered is kept unplaced (on == nil) until it is.
	pods   map[string]cachedPod
	onNode map[string]map[string]*podInfo
	nodes  map[string]*NodeInfo
	// standIns are the bound pods' stand-ins by group key (see share).
	standIns map[string]*standIn
	// pending holds the keys of the unbound pods this scheduler places
	// that are not being deleted or finished (notePending): what a pass
	// reads to place.
	pending map[string]struct{}
}

// standIn is what the cache keeps of the pods of one group in place of
// each pod's decoded object: a pod with the group's namespace, labels and
// termination state, all that placing other pods reads of a bound pod
// (its group's rep), shared by the group's bound pods with the group key
// and their controller's uid. n counts the pods sharing it.
//
// Memory: a bound pod costs its podInfo and its key in two maps, no
// string or object of its own: ~480 B, where its decoded object made it
// ~3.3 KB (TestLeaderCachesMemoryPerPod), so a leader at 150,000 bound
// pods holds them in ~75 MB, not ~490.
type standIn struct {
	pod   *v1.Pod
	group string
	ctrl  string
	n     int
}

// cachedPod is a cached pod and the node it is bound (or assumed) to.
type cachedPod struct {
	pi   *podInfo
	node string
}

// sync catches the cache up with s: the feed's events since the last sync,
// or a rebuild when s is another store than last time (a restore replaced
// it), the feed no longer holds the events since, or reset asked for one.
func (c *schedulerCache) sync(s *fsm.Store) error {
	if c.store == s {
		evs, last, _, closed, err := s.Feed().Since(c.seen)
		if err == nil && !closed {
			for _, ev := range evs {
				c.apply(ev)
			}
			c.seen = last
			return nil
		}
	}
	return c.rebuild(s)
}

// rebuild makes the cache anew from the lists of nodes and pods. The
// lists may be taken at different indexes: the cache continues from the
// older one, and replaying a change it already holds changes nothing.
func (c *schedulerCache) rebuild(s *fsm.Store) error {
	nodesRes, err := s.List("nodes", fsm.ListOptions{})
	if err != nil {
		return fmt.Errorf("scheduler cache: %w", err)
	}
	podsRes, err := s.List("pods", fsm.ListOptions{})
	if err != nil {
		return fmt.Errorf("scheduler cache: %w", err)
	}
	*c = schedulerCache{store: s, seen: min(nodesRes.Index, podsRes.Index), snap: &Snapshot{},
		pods: map[string]cachedPod{}, onNode: map[string]map[string]*podInfo{}, nodes: make(map[string]*NodeInfo, len(nodesRes.Items)),
		standIns: map[string]*standIn{}, pending: map[string]struct{}{}}
	for _, r := range nodesRes.Items {
		n := r.Object().(*v1.Node)
		ni := newNodeInfo(n)
		c.nodes[n.Name] = ni
		c.snap.Nodes = append(c.snap.Nodes, ni)
	}
	c.snap.sortNodes()
	for _, r := range podsRes.Items {
		if r.NodeName() == "" {
			c.notePending(r, false)
			continue
		}
		if p := r.Object().(*v1.Pod); !p.Terminal() {
			c.add(r.Key(), p)
		}
	}
	return nil
}

// apply takes one change into the cache.
func (c *schedulerCache) apply(ev fsm.Event) {
	switch ev.Resource {
	case "pods":
		c.notePending(ev.Record, ev.Type == v1.Deleted)
		if c.confirm(ev) {
			return
		}
		key := ev.Record.Key()
		c.remove(key)
		if ev.Type == v1.Deleted || ev.Record.NodeName() == "" {
			return
		}
		if p := ev.Record.Object().(*v1.Pod); !p.Terminal() {
			c.add(key, p)
		}
	case "nodes":
		n := ev.Record.Object().(*v1.Node)
		if ev.Type == v1.Deleted {
			c.deleteNode(n.Name)
			return
		}
		c.setNode(n)
	}
}

// add caches a bound pod and places it when its node is registered.
func (c *schedulerCache) add(key string, p *v1.Pod) {
	pi := c.snap.podInfo(p)
	c.share(pi)
	c.file(key, pi, p.Spec.NodeName)
}

// share gives a bound pod's info its group's stand-in in place of the
// decoded pod, and the stand-in's group key and controller uid in place of
// its own equal strings, so the cache does not keep the pod's object
// alive (the store's record holds its bytes, and its object only while a
// reader holds it). The pods of a group have the same namespace, labels
// and termination state (they are in the group key), so the stand-in
// answers for each; pod (anti-)affinity terms were parsed from the pod
// itself. A bound pod's info is read only as its group's rep: never its
// name or spec.
func (c *schedulerCache) share(pi *podInfo) {
	si := c.standIns[pi.group]
	if si == nil {
		p := pi.pod
		si = &standIn{pod: &v1.Pod{ObjectMeta: v1.ObjectMeta{Namespace: p.Namespace, Labels: p.Labels,
			DeletionTimestamp: p.DeletionTimestamp}}, group: pi.group, ctrl: pi.ctrl}
		c.standIns[pi.group] = si
	}
	si.n++
	pi.pod, pi.group = si.pod, si.group
	if pi.ctrl == si.ctrl {
		pi.ctrl = si.ctrl
	}
}

// unshare lets go of a removed pod's stand-in; the last pod of a group
// drops it. Infos that are not a stand-in's (assumed pods) are skipped.
func (c *schedulerCache) unshare(pi *podInfo) {
	si := c.standIns[pi.group]
	if si == nil || si.pod != pi.pod {
		return
	}
	if si.n--; si.n <= 0 {
		delete(c.standIns, pi.group)
	}
}

// file caches pi under key on the node, placing it there when the node
// is registered.
func (c *schedulerCache) file(key string, pi *podInfo, node string) {
	c.pods[key] = cachedPod{pi, node}
	on := c.onNode[node]
	if on == nil {
		on = map[string]*podInfo{}
		c.onNode[node] = on
	}
	on[key] = pi
	if ni := c.nodes[node]; ni != nil {
		c.snap.place(ni, pi)
	}
}

// assume caches a pod a pass placed (Schedule has placed it on ni) until
// its binding comes back through the feed.
func (c *schedulerCache) assume(pi *podInfo) {
	key := v1.Key(pi.pod.Namespace, pi.pod.Name)
	c.remove(key)
	node := pi.on.Node.Name
	c.pods[key] = cachedPod{pi, node}
	if c.onNode[node] == nil {
		c.onNode[node] = map[string]*podInfo{}
	}
	c.onNode[node][key] = pi
}

// remove drops the cached pod of key, if any, from its node.
func (c *schedulerCache) remove(key string) {
	cp, ok := c.pods[key]
	if !ok {
		return
	}
	delete(c.pods, key)
	pi, node, ni := cp.pi, cp.node, cp.pi.on
	c.unshare(pi)
	if on := c.onNode[node]; on != nil {
		delete(on, key)
		if len(on) == 0 {
			delete(c.onNode, node)
		}
	}
	if ni == nil {
		return
	}
	c.snap.unplace(ni, pi)
	if len(pi.ports) > 0 {
		// The ports of the pods left, as HostPortSet cannot remove.
		ni.Ports = v1.HostPortSet{}
		for _, q := range c.onNode[node] {
			if q.on == ni {
				ni.Ports.Add(q.ports...)
			}
		}
	}
}

// setNode registers a node or takes its change. A change that keeps the
// node's labels updates it in place; one that changes them (and a new
// node) re-places the node's pods, as their topology domains moved.
func (c *schedulerCache) setNode(n *v1.Node) {
	if ni := c.nodes[n.Name]; ni != nil {
		if maps.Equal(ni.Node.Labels, n.Labels) {
			ni.Node, ni.Offer, ni.core = n, v1.NodeAllocatable(n), coreNode(n)
			return
		}
		c.deleteNode(n.Name)
	}
	ni := newNodeInfo(n)
	c.nodes[n.Name] = ni
	c.snap.Nodes = append(c.snap.Nodes, ni)
	c.snap.sortNodes()
	c.snap.forgetDomains()
	for _, pi := range c.onNode[n.Name] {
		c.snap.place(ni, pi)
	}
}

// deleteNode unregisters a node; its pods stay cached, unplaced.
func (c *schedulerCache) deleteNode(name string) {
	ni := c.nodes[name]
	if ni == nil {
		return
	}
	for _, pi := range c.onNode[name] {
		if pi.on == ni {
			c.snap.unplace(ni, pi)
		}
	}
	delete(c.nodes, name)
	nodes := c.snap.Nodes[:0]
	for _, o := range c.snap.Nodes {
		if o != ni {
			nodes = append(nodes, o)
		}
	}
	clear(c.snap.Nodes[len(nodes):])
	c.snap.Nodes = nodes
	c.snap.sortNodes()
	c.snap.forgetDomains()
}

// newNodeInfo is a node with nothing placed on it.
func newNodeInfo(n *v1.Node) *NodeInfo {
	return &NodeInfo{Node: n, Offer: v1.NodeAllocatable(n), ByController: map[string]int{}, core: coreNode(n)}
}

// sortNodes orders the nodes by name and numbers them.
func (s *Snapshot) sortNodes() {
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Node.Name < s.Nodes[j].Node.Name })
	for i, ni := range s.Nodes {
		ni.idx = i
	}
}

// forgetDomains drops the domain numbering of every key and the groups'
// counts by it, after the nodes or their labels changed (denseCounts
// makes them again when asked).
func (s *Snapshot) forgetDomains() {
	s.domainIDs, s.domainNames = nil, nil
	for _, g := range s.groupList {
		g.dense = nil
	}
}

// unplace undoes place: p no longer uses ni (the caller mends ni.Ports),
// and its group no longer counts it; a group left empty is dropped.
func (s *Snapshot) unplace(ni *NodeInfo, p *podInfo) {
	ni.Used = subRequests(ni.Used, p.req)
	if p.ctrl != "" {
		if ni.ByController[p.ctrl]--; ni.ByController[p.ctrl] <= 0 {
			delete(ni.ByController, p.ctrl)
		}
	}
	p.on = nil
	g := s.groups[p.group]
	if g == nil {
		return
	}
	if g.nodes[ni]--; g.nodes[ni] <= 0 {
		delete(g.nodes, ni)
	}
	for k, counts := range g.domains {
		if v, ok := ni.Node.Labels[k]; ok {
			if counts[v]--; counts[v] <= 0 {
				delete(counts, v)
			}
		}
	}
	for k, dense := range g.dense {
		if id := s.domainIDs[k][ni.idx]; id >= 0 {
			dense[id]--
		}
	}
	if g.size--; g.size > 0 {
		return
	}
	delete(s.groups, p.group)
	last := s.groupList[len(s.groupList)-1]
	s.groupList[g.pos], last.pos = last, g.pos
	s.groupList[len(s.groupList)-1] = nil
	s.groupList = s.groupList[:len(s.groupList)-1]
	if g.affPos >= 0 {
		last := s.affGroups[len(s.affGroups)-1]
		s.affGroups[g.affPos], last.affPos = last, g.affPos
		s.affGroups[len(s.affGroups)-1] = nil
		s.affGroups = s.affGroups[:len(s.affGroups)-1]
	}
}

// subRequests returns r - o, for taking off what Requests.Add put on.
func subRequests(r, o v1.Requests) v1.Requests {
	out := v1.Requests{MilliCPU: r.MilliCPU - o.MilliCPU, Memory: r.Memory - o.Memory, Pods: r.Pods - o.Pods}
	if len(r.Extended) > 0 {
		out.Extended = make(map[v1.ResourceName]int64, len(r.Extended))
		for k, v := range r.Extended {
			if v -= o.Extended[k]; v != 0 {
				out.Extended[k] = v
			}
		}
	}
	return out
}
