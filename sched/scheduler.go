package sched

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

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
	// Ports holds "protocol/hostIP/port" of the host ports in use.
	Ports map[string]bool
	// ByController counts the pods of each controller (by uid) on the node.
	ByController map[string]int
}

// Snapshot is the cluster as one scheduling pass sees it.
type Snapshot struct {
	Nodes []*NodeInfo
}

// NewSnapshot builds the view from nodes and the pods bound to them;
// finished pods use nothing.
func NewSnapshot(nodes []*v1.Node, bound []*v1.Pod) *Snapshot {
	s := &Snapshot{}
	byName := map[string]*NodeInfo{}
	for _, n := range nodes {
		ni := &NodeInfo{Node: n, Offer: v1.NodeAllocatable(n), Ports: map[string]bool{}, ByController: map[string]int{}}
		s.Nodes = append(s.Nodes, ni)
		byName[n.Name] = ni
	}
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Node.Name < s.Nodes[j].Node.Name })
	for _, p := range bound {
		if ni := byName[p.Spec.NodeName]; ni != nil && !p.Terminal() {
			ni.place(p)
		}
	}
	return s
}

func (ni *NodeInfo) place(p *v1.Pod) {
	ni.Used = ni.Used.Add(v1.PodRequests(p))
	for _, port := range hostPorts(p) {
		ni.Ports[port] = true
	}
	if ref := p.ControllerRef(); ref != nil {
		ni.ByController[ref.UID]++
	}
}

func hostPorts(p *v1.Pod) []string {
	var out []string
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort != 0 {
				out = append(out, fmt.Sprintf("%s/%s/%d", cp.Protocol, cp.HostIP, cp.HostPort))
			}
		}
	}
	return out
}

// A filter says why a pod cannot go to a node ("" when it can). The
// reasons are the words of the PodScheduled=False message.
type filter func(p *v1.Pod, ni *NodeInfo) string

// filters run in order; a node is reported under the first one it fails.
var filters = []filter{nodeReady, nodeSchedulable, nodeTaints, nodeSelector, nodeResources, nodePorts}

func nodeReady(_ *v1.Pod, ni *NodeInfo) string {
	if c := ni.Node.Status.Condition(v1.NodeReady); c == nil || c.Status != v1.ConditionTrue {
		return "node(s) were not ready"
	}
	return ""
}

func nodeSchedulable(_ *v1.Pod, ni *NodeInfo) string {
	if ni.Node.Spec.Unschedulable {
		return "node(s) were unschedulable"
	}
	return ""
}

func nodeTaints(p *v1.Pod, ni *NodeInfo) string {
	for _, t := range ni.Node.Spec.Taints {
		if t.Effect != v1.TaintNoSchedule && t.Effect != v1.TaintNoExecute {
			continue
		}
		if !tolerates(p.Spec.Tolerations, t) {
			return "node(s) had untolerated taints"
		}
	}
	return ""
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

func nodeSelector(p *v1.Pod, ni *NodeInfo) string {
	if len(p.Spec.NodeSelector) > 0 && !labels.SelectorFromSet(p.Spec.NodeSelector).Matches(labels.Set(ni.Node.Labels)) {
		return "node(s) didn't match node selector"
	}
	return ""
}

func nodeResources(p *v1.Pod, ni *NodeInfo) string {
	short := v1.Insufficient(ni.Offer, ni.Used, v1.PodRequests(p))
	if len(short) == 0 {
		return ""
	}
	if short[0] == "pods" {
		return "Too many pods"
	}
	return "Insufficient " + short[0]
}

func nodePorts(p *v1.Pod, ni *NodeInfo) string {
	for _, port := range hostPorts(p) {
		if ni.Ports[port] {
			return "node(s) didn't have free ports for the requested pod ports"
		}
	}
	return ""
}

// score ranks a feasible node for a pod; higher is better. It adds the
// share of the node left free after placing the pod (least allocated) and a
// spreading term that prefers nodes with fewer pods of the pod's controller.
func score(p *v1.Pod, ni *NodeInfo, maxSame int) float64 {
	want := v1.PodRequests(p)
	free := func(offer, used, w int64) float64 {
		if offer == v1.Unlimited || offer <= 0 {
			return 1
		}
		return float64(offer-used-w) / float64(offer)
	}
	least := (free(ni.Offer.MilliCPU, ni.Used.MilliCPU, want.MilliCPU) + free(ni.Offer.Memory, ni.Used.Memory, want.Memory)) / 2
	spread := 1.0
	if ref := p.ControllerRef(); ref != nil && maxSame > 0 {
		spread = 1 - float64(ni.ByController[ref.UID])/float64(maxSame+1)
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
}

// Schedule places pods (unbound, in the given order) on the snapshot's
// nodes. Each placement is added to the snapshot before the next pod is
// placed, so one plan never overcommits a node by itself. rng breaks ties.
func Schedule(snap *Snapshot, pods []*v1.Pod, rng *rand.Rand) Plan {
	plan := Plan{Unschedulable: map[string]string{}}
	for _, p := range pods {
		var feasible []*NodeInfo
		reasons := map[string]int{}
		for _, ni := range snap.Nodes {
			why := ""
			for _, f := range filters {
				if why = f(p, ni); why != "" {
					break
				}
			}
			if why != "" {
				reasons[why]++
				continue
			}
			feasible = append(feasible, ni)
		}
		if len(feasible) == 0 {
			plan.Unschedulable[v1.Key(p.Namespace, p.Name)] = unschedulableMessage(len(snap.Nodes), reasons)
			continue
		}
		best := pick(p, feasible, rng)
		best.place(p)
		plan.Bindings = append(plan.Bindings, fsm.Binding{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Node: best.Node.Name})
	}
	return plan
}

func pick(p *v1.Pod, feasible []*NodeInfo, rng *rand.Rand) *NodeInfo {
	maxSame := 0
	if ref := p.ControllerRef(); ref != nil {
		for _, ni := range feasible {
			maxSame = max(maxSame, ni.ByController[ref.UID])
		}
	}
	var top []*NodeInfo
	bestScore := 0.0
	for _, ni := range feasible {
		s := score(p, ni, maxSame)
		switch {
		case len(top) == 0 || s > bestScore+1e-9:
			top, bestScore = []*NodeInfo{ni}, s
		case s > bestScore-1e-9:
			top = append(top, ni)
		}
	}
	return top[rng.IntN(len(top))]
}

// unschedulableMessage says why no node fits, as Kubernetes does:
// "0/5 nodes available: 3 Insufficient cpu, 2 node(s) didn't match node selector".
func unschedulableMessage(nodes int, reasons map[string]int) string {
	if nodes == 0 {
		return "0/0 nodes available: no nodes are registered"
	}
	type rc struct {
		why string
		n   int
	}
	var list []rc
	for why, n := range reasons {
		list = append(list, rc{why, n})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].why < list[j].why
	})
	parts := make([]string, len(list))
	for i, r := range list {
		parts[i] = fmt.Sprintf("%d %s", r.n, r.why)
	}
	return fmt.Sprintf("0/%d nodes available: %s", nodes, strings.Join(parts, ", "))
}
