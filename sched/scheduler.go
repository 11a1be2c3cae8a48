package sched

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// NodeInfo is a node as the scheduler sees it: what it offers and what the
// pods bound to it (and the ones placed earlier in the same plan) use.
type NodeInfo struct {
	Node  *v1.Node
	Offer v1.Requests
	Used  v1.Requests
	// Ports holds the host ports in use.
	Ports v1.HostPortSet
	// ByController counts the pods of each controller (by uid) on the node.
	ByController map[string]int
	// core is the node as Kubernetes' node affinity matcher reads it.
	core *corev1.Node
	// idx is the node's index in Snapshot.Nodes.
	idx int
	// facts is what the first filters read of Node, read once per Node
	// (see facts).
	facts nodeFacts
}

// nodeFacts is what the node filters read of a Node for every pod: read
// once (when the cache takes a new Node) instead of from the Node for
// every pod and node, which was a tenth of a pass's time at 1,000 nodes.
type nodeFacts struct {
	// of is the Node they were read from.
	of *v1.Node
	// ready: its Ready condition is True.
	ready bool
	// unschedulable is spec.unschedulable.
	unschedulable bool
	// taints are its NoSchedule and NoExecute taints.
	taints []v1.Taint
}

// nodeFacts returns the facts of ni's Node, read again when it changed.
func (ni *NodeInfo) nodeFacts() *nodeFacts {
	if ni.facts.of != ni.Node {
		n := ni.Node
		f := nodeFacts{of: n, unschedulable: n.Spec.Unschedulable}
		if c := n.Status.Condition(v1.NodeReady); c != nil && c.Status == v1.ConditionTrue {
			f.ready = true
		}
		for _, t := range n.Spec.Taints {
			if t.Effect == v1.TaintNoSchedule || t.Effect == v1.TaintNoExecute {
				f.taints = append(f.taints, t)
			}
		}
		ni.facts = f
	}
	return &ni.facts
}

// Snapshot is the cluster as one scheduling pass sees it.
type Snapshot struct {
	Nodes []*NodeInfo
	// nsLabels are the labels of each namespace, for the namespace
	// selectors of pod affinity terms.
	nsLabels map[string]labels.Set
	// groups are the placed pods by groupKey; groupList the same groups
	// in the order they were made; affGroups those whose pods have pod
	// (anti-)affinity terms, which constrain and score later pods too.
	groups    map[string]*podGroup
	groupList []*podGroup
	affGroups []*podGroup
	// indexed are the topology keys the groups count domains of.
	indexed map[string]bool
	// keys are the group keys computed for this snapshot's pods;
	// prevKeys those of the previous pass, reused.
	keys, prevKeys map[*v1.Pod]string
	// domainIDs numbers the domains of a key: each node's domain number
	// (-1 without the key); domainNames maps the key's values to them.
	domainIDs   map[string][]int32
	domainNames map[string]map[string]int32
}

// NewSnapshot builds the view from nodes and the pods bound to them;
// finished pods use nothing.
func NewSnapshot(nodes []*v1.Node, bound []*v1.Pod) *Snapshot {
	return newSnapshot(nodes, bound, nil)
}

// newSnapshot is NewSnapshot that takes the group keys of pods from the
// previous pass's snapshot (stored pods are immutable, so a pod's key
// stays right): its keys are then kept for the next.
func newSnapshot(nodes []*v1.Node, bound []*v1.Pod, prev map[*v1.Pod]string) *Snapshot {
	s := &Snapshot{prevKeys: prev, keys: make(map[*v1.Pod]string, len(bound))}
	byName := map[string]*NodeInfo{}
	for _, n := range nodes {
		ni := newNodeInfo(n)
		s.Nodes = append(s.Nodes, ni)
		byName[n.Name] = ni
	}
	s.sortNodes()
	for _, p := range bound {
		if ni := byName[p.Spec.NodeName]; ni != nil && !p.Terminal() {
			s.place(ni, s.podInfo(p))
		}
	}
	return s
}

// SetNamespaces gives the snapshot the namespaces' labels, which the
// namespace selectors of pod affinity terms match.
func (s *Snapshot) SetNamespaces(nss []*v1.Namespace) {
	s.nsLabels = make(map[string]labels.Set, len(nss))
	for _, ns := range nss {
		s.nsLabels[ns.Name] = labels.Set(ns.Labels)
	}
}

func (s *Snapshot) place(ni *NodeInfo, p *podInfo) {
	ni.Used = ni.Used.Add(p.req)
	ni.Ports.Add(p.ports...)
	if p.ctrl != "" {
		ni.ByController[p.ctrl]++
	}
	p.on = ni
	s.addToGroup(ni, p)
}

// podInfo is what the filters and scores need of a pod, computed once per pass.
type podInfo struct {
	pod   *v1.Pod
	req   v1.Requests
	ports []v1.HostPort
	ctrl  string // controller uid, "" for none
	// node is the pod's nodeSelector and node affinity, parsed (for a
	// pending pod only: placed pods' node constraints are spent).
	node nodeAffinityInfo
	// aff is the pod's pod (anti-)affinity terms, parsed; nil for none.
	aff *podAffinityInfo
	// on is the node the pod is placed on (nil while pending).
	on *NodeInfo
	// group is the pod's groupKey.
	group string
	// state is what the pod affinity filter counted over the snapshot
	// for this pod before its nodes are filtered.
	state podAffinityState
	// spread is the pod's topology spread constraints, parsed (for a
	// pending pod only); spreadState what the filter counted for them.
	spread      spreadInfo
	spreadState *spreadFilterState
}

// podInfo makes the pod's info, with the parsed terms of its group when
// the snapshot has placed a pod of the group already.
func (s *Snapshot) podInfo(p *v1.Pod) *podInfo {
	key, ok := s.prevKeys[p]
	if !ok {
		key = groupKey(p)
	}
	if s.keys != nil {
		s.keys[p] = key
	}
	pi := &podInfo{pod: p, req: v1.PodRequests(p), ports: v1.PodHostPorts(p), aff: s.parsedAffinity(p, key), group: key}
	if ref := p.ControllerRef(); ref != nil {
		pi.ctrl = ref.UID
	}
	return pi
}

// pendingPodInfo is podInfo with what only the filters and scores of the
// pod itself need.
func (s *Snapshot) pendingPodInfo(p *v1.Pod) *podInfo {
	pi := s.podInfo(p)
	pi.node = newNodeAffinityInfo(&p.Spec)
	pi.spread = newSpreadInfo(&p.Spec)
	return pi
}

// newPendingPodInfo is pendingPodInfo outside any snapshot.
func newPendingPodInfo(p *v1.Pod) *podInfo {
	return (&Snapshot{}).pendingPodInfo(p)
}

// A filter says why a pod cannot go to a node ("" when it can). The
// reasons are the words of the PodScheduled=False message.
type filter func(p *podInfo, ni *NodeInfo) string

// filters run in order; a node is reported under the first one it fails.
var filters = []filter{nodeReady, nodeSchedulable, nodeTaints, nodeAffinity, nodeResources, nodePorts, podTopologySpread, podAffinity}

func nodeReady(_ *podInfo, ni *NodeInfo) string {
	if !ni.nodeFacts().ready {
		return "node(s) were not ready"
	}
	return ""
}

// unschedulableTaint is the taint a pod must tolerate to go to a cordoned
// node (daemon pods do), as Kubernetes' NodeUnschedulable filter asks.
var unschedulableTaint = v1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: v1.TaintNoSchedule}

func nodeSchedulable(p *podInfo, ni *NodeInfo) string {
	if ni.nodeFacts().unschedulable && !tolerates(p.pod.Spec.Tolerations, unschedulableTaint) {
		return "node(s) were unschedulable"
	}
	return ""
}

func nodeTaints(p *podInfo, ni *NodeInfo) string {
	for _, t := range ni.nodeFacts().taints {
		if !tolerates(p.pod.Spec.Tolerations, t) {
			return "node(s) had untolerated taints"
		}
	}
	return ""
}

// toleratesNode reports whether the pod tolerates the node's NoSchedule
// and NoExecute taints.
func toleratesNode(p *v1.Pod, n *v1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect != v1.TaintNoSchedule && t.Effect != v1.TaintNoExecute {
			continue
		}
		if !tolerates(p.Spec.Tolerations, t) {
			return false
		}
	}
	return true
}

// tolerates reports whether one of the tolerations matches the taint, by
// Kubernetes' rules: an empty key with Exists matches every taint; an empty
// effect matches every effect.
func tolerates(tols []v1.Toleration, t v1.Taint) bool {
	for _, tol := range tols {
		if tol.Effect != "" && tol.Effect != t.Effect {
			continue
		}
		switch tol.Operator {
		case "Exists":
			if tol.Key == "" || tol.Key == t.Key {
				return true
			}
		default: // Equal
			if tol.Key == t.Key && tol.Value == t.Value {
				return true
			}
		}
	}
	return false
}

func nodeResources(p *podInfo, ni *NodeInfo) string {
	short := v1.Insufficient(ni.Offer, ni.Used, p.req)
	if len(short) == 0 {
		return ""
	}
	if short[0] == "pods" {
		return "Too many pods"
	}
	return "Insufficient " + short[0]
}

// nodePorts is Kubernetes' NodePorts filter: the pod's host ports must not
// conflict with those of the pods on the node (same protocol and port,
// overlapping host IPs). hostNetwork pods count too: they bind the node's
// ports themselves.
func nodePorts(p *podInfo, ni *NodeInfo) string {
	if _, conflict := ni.Ports.Conflict(p.ports); conflict {
		return v1.HostPortsConflictMessage
	}
	return ""
}

// Weights of the affinity and spreading scores, each normalised to 0-100
// over the feasible nodes, as Kubernetes' default scheduler profile weighs
// its NodeAffinity, InterPodAffinity and PodTopologySpread plugins.
const (
	nodeAffinityWeight      = 2
	interPodAffinityWeight  = 2
	podTopologySpreadWeight = 2
)

// score ranks a feasible node for a pod; higher is better. It adds the
// share of the node left free after placing the pod (least allocated) and a
// spreading term that prefers nodes with fewer pods of the pod's controller.
// pick adds the affinity scores, which need every feasible node at once.
func score(p *podInfo, ni *NodeInfo, same, maxSame int) float64 {
	want := p.req
	free := func(offer, used, w int64) float64 {
		if offer == v1.Unlimited || offer <= 0 {
			return 1
		}
		return float64(offer-used-w) / float64(offer)
	}
	least := (free(ni.Offer.MilliCPU, ni.Used.MilliCPU, want.MilliCPU) + free(ni.Offer.Memory, ni.Used.Memory, want.Memory)) / 2
	spread := 1.0
	if p.ctrl != "" && maxSame > 0 {
		spread = 1 - float64(same)/float64(maxSame+1)
	}
	return 100*least + 200*spread
}

// Plan is the outcome of one scheduling pass.
type Plan struct {
	// Bindings to commit in one entry (the FSM re-checks each).
	Bindings []fsm.Binding
	// Unschedulable maps namespace/name of the pods that fit nowhere to the
	// message for their PodScheduled=False condition.
	Unschedulable map[string]string
	// placed are the infos of the bound pods, as Bindings orders them (a
	// scheduler cache assumes them).
	placed []*podInfo
}

// feasibleToFind is how many feasible nodes a pod's search stops at, as
// Kubernetes' numFeasibleNodesToFind: every node up to 100, then a share
// that falls from 50% as clusters grow (never under 5%), so a big cluster
// is not filtered and scored in full for every pod.
func feasibleToFind(nodes int) int {
	if nodes <= 100 {
		return nodes
	}
	pct := max(50-nodes/125, 5)
	return max(nodes*pct/100, 100)
}

// Schedule places pods (unbound, in the given order) on the snapshot's
// nodes. Each placement is added to the snapshot before the next pod is
// placed, so one plan never overcommits a node by itself. Each pod's search
// starts where the previous one stopped, so every node gets its turn when
// searches stop early. rng breaks ties.
func Schedule(snap *Snapshot, pods []*v1.Pod, rng *rand.Rand) Plan {
	plan := Plan{Unschedulable: map[string]string{}}
	n := len(snap.Nodes)
	want := feasibleToFind(n)
	next := 0
	// One pod's feasible nodes and pick's scratch, reused by the next.
	feasible := make([]*NodeInfo, 0, want)
	var scratch pickScratch
	for _, p := range pods {
		pi := snap.pendingPodInfo(p)
		snap.prefilter(pi)
		feasible = feasible[:0]
		var reasons map[string]int // made at the first node refused
		checked := 0
		for ; checked < n && len(feasible) < want; checked++ {
			ni := snap.Nodes[(next+checked)%n]
			why := ""
			for _, f := range filters {
				if why = f(pi, ni); why != "" {
					break
				}
			}
			if why != "" {
				if reasons == nil {
					reasons = map[string]int{}
				}
				reasons[why]++
				continue
			}
			feasible = append(feasible, ni)
		}
		if n > 0 {
			next = (next + checked) % n
		}
		if len(feasible) == 0 {
			plan.Unschedulable[v1.Key(p.Namespace, p.Name)] = unschedulableMessage(n, reasons)
			continue
		}
		best := pick(snap, pi, feasible, rng, &scratch)
		pi.state, pi.spreadState = podAffinityState{}, nil // counted for this pod only
		snap.place(best, pi)
		plan.Bindings = append(plan.Bindings, fsm.Binding{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Node: best.Node.Name})
		plan.placed = append(plan.placed, pi)
	}
	return plan
}

// pickScratch is what pick allocates for one pod, kept for the next.
type pickScratch struct {
	// same is each feasible node's count of the pod's controller's pods.
	same []int
	// top is the nodes of the best score so far.
	top []*NodeInfo
}

func pick(snap *Snapshot, p *podInfo, feasible []*NodeInfo, rng *rand.Rand, sc *pickScratch) *NodeInfo {
	maxSame := 0
	same := sc.same[:0]
	if p.ctrl != "" {
		for _, ni := range feasible {
			k := ni.ByController[p.ctrl]
			same = append(same, k)
			maxSame = max(maxSame, k)
		}
	}
	sc.same = same
	// The affinity scores, nil (all 0) when no term can score: most pods
	// have none, and a pass must not allocate per node for them.
	var nodeAff, podAff, spread []int64
	if p.node.preferred != nil {
		nodeAff = normalizeToMax(feasible, func(ni *NodeInfo) int64 { return nodeAffinityScore(p, ni) })
	}
	if topo := snap.podAffinityTopologyScores(p); topo != nil {
		podAff = normalizeMinMax(feasible, func(ni *NodeInfo) int64 { return topo.score(ni) })
	}
	if len(p.spread.soft) > 0 {
		spread = snap.spreadScores(p, feasible)
	}
	at := func(scores []int64, i int) float64 {
		if scores == nil {
			return 0
		}
		return float64(scores[i])
	}
	top := sc.top[:0]
	bestScore := 0.0
	for i, ni := range feasible {
		k := 0
		if len(same) > 0 {
			k = same[i]
		}
		s := score(p, ni, k, maxSame) + nodeAffinityWeight*at(nodeAff, i) + interPodAffinityWeight*at(podAff, i) +
			podTopologySpreadWeight*at(spread, i)
		switch {
		case len(top) == 0 || s > bestScore+1e-9:
			top, bestScore = append(top[:0], ni), s
		case s > bestScore-1e-9:
			top = append(top, ni)
		}
	}
	best := top[rng.IntN(len(top))]
	clear(top) // the scratch keeps no node alive
	sc.top = top[:0]
	return best
}

// unschedulableMessage says why no node fits, as Kubernetes' FitError
// does: the count of nodes per reason, sorted as strings, "0/3 nodes are
// available: 1 node(s) didn't match Pod's node affinity/selector, 2
// node(s) didn't match pod anti-affinity rules.".
func unschedulableMessage(nodes int, reasons map[string]int) string {
	if nodes == 0 {
		return "0/0 nodes are available: no nodes are registered."
	}
	parts := make([]string, 0, len(reasons))
	for why, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, why))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", nodes, strings.Join(parts, ", "))
}
