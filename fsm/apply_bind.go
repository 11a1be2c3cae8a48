package fsm

import (
	"fmt"
	"strings"

	jsoniter "github.com/json-iterator/go"

	v1 "orch.io/orch/api/v1"
)

func applyBind(w *writeTxn, body []byte) any {
	var req BindRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	out := make(BatchResult, 0, len(req.Bindings))
	for _, b := range req.Bindings {
		out = append(out, bindOne(w, b, req.Now))
	}
	return out
}

func bindOne(w *writeTxn, b Binding, now v1.Time) Result {
	old, err := w.get("pods", b.Namespace, b.Name)
	if err != nil {
		return Result{Err: err}
	}
	p := old.Object().(*v1.Pod)
	if b.UID != "" && b.UID != p.UID {
		return Result{Err: v1.NewConflict("pods", b.Name, "the pod was replaced (uid changed)")}
	}
	if p.Spec.NodeName != "" {
		return Result{Err: v1.NewConflict("pods", b.Name, fmt.Sprintf("pod %s is already assigned to node %q", b.Name, p.Spec.NodeName))}
	}
	if p.DeletionTimestamp != nil {
		return Result{Err: v1.NewConflict("pods", b.Name, "the pod is being deleted")}
	}
	nodeRec, err := w.get("nodes", "", b.Node)
	if err != nil {
		return Result{Err: err}
	}
	// The scheduler decided on a view that may be stale, and several
	// decisions may land in one batch: re-check that the node still fits,
	// counting every pod bound to it so far, earlier bindings of this batch
	// included.
	if short := v1.Insufficient(v1.NodeAllocatable(nodeRec.Object().(*v1.Node)), nodeUsage(w, b.Node), v1.PodRequests(p)); len(short) > 0 {
		return Result{Err: v1.NewConflict("pods", b.Name, fmt.Sprintf("node %s no longer fits the pod: insufficient %s", b.Node, strings.Join(short, ", ")))}
	}
	if err := hostPortConflict(w, b.Node, p); err != nil {
		return Result{Err: err}
	}
	np := shallowCopy(p).(*v1.Pod)
	np.Spec.NodeName = b.Node
	np.Status.Conditions = v1.SetPodCondition(p.Status.Conditions, v1.PodCondition{
		Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: now})
	return Result{Record: w.put("pods", v1.Modified, np, old)}
}

// nodeUsage sums the requests of the pods bound to a node that have not finished.
func nodeUsage(w *writeTxn, node string) v1.Requests {
	it, err := podsOnNode(w.txn, node, nil)
	if err != nil {
		panic(fmt.Sprintf("fsm: pods on node %s: %v", node, err))
	}
	var used v1.Requests
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if req, terminal := podUsage(raw.(*Record)); !terminal {
			used = used.Add(req)
		}
	}
	return used
}

// podUsage returns what the stored pod of r asks of its node
// (v1.PodRequests) and whether it finished: from the decoded pod while r
// holds it, else from what readPodUsage reads of its bytes, else from the
// decoded pod. A binding checks every pod already bound to its node, and a
// master that decoded none of them (a follower, or the leader after a
// garbage collection let the objects go) decoded each in full for each
// binding: a node filled one binding at a time had its pods decoded
// O(pods²) times.
func podUsage(r *Record) (v1.Requests, bool) {
	if !r.decoded() {
		if raw, err := r.JSON(); err == nil {
			var p v1.Pod
			if readPodUsage(raw, &p) {
				return v1.PodRequests(&p), p.Terminal()
			}
		}
	}
	p := r.Object().(*v1.Pod)
	return v1.PodRequests(p), p.Terminal()
}

// readPodUsage reads into p, from a pod's JSON as encoding/json writes it,
// what v1.PodRequests and Terminal read (spec.containers[].resources,
// spec.initContainers[].resources, status.phase), skipping every other
// value unread. It returns false when raw does not read so (the caller
// then decodes the whole pod) or is not a pod's. Every stored pod
// round-trips through its JSON, so the pod read here asks for what the
// decoded one asks for.
func readPodUsage(raw []byte, p *v1.Pod) bool {
	it := jsoniter.ConfigDefault.BorrowIterator(raw)
	defer jsoniter.ConfigDefault.ReturnIterator(it)
	var kind string
	for field := it.ReadObject(); field != "" && it.Error == nil; field = it.ReadObject() {
		switch field {
		case "kind":
			kind = it.ReadString()
		case "spec":
			for field := it.ReadObject(); field != "" && it.Error == nil; field = it.ReadObject() {
				switch field {
				case "containers":
					p.Spec.Containers = readContainerResources(it)
				case "initContainers":
					p.Spec.InitContainers = readContainerResources(it)
				default:
					it.Skip()
				}
			}
		case "status":
			for field := it.ReadObject(); field != "" && it.Error == nil; field = it.ReadObject() {
				if field == "phase" {
					p.Status.Phase = it.ReadString()
				} else {
					it.Skip()
				}
			}
		default:
			it.Skip()
		}
	}
	return it.Error == nil && kind == "Pod"
}

// readContainerResources reads a list of containers, keeping only each
// one's resources.
func readContainerResources(it *jsoniter.Iterator) []v1.Container {
	var out []v1.Container
	for it.ReadArray() && it.Error == nil {
		out = append(out, v1.Container{})
		c := &out[len(out)-1]
		for field := it.ReadObject(); field != "" && it.Error == nil; field = it.ReadObject() {
			if field == "resources" {
				it.ReadVal(&c.Resources)
			} else {
				it.Skip()
			}
		}
	}
	return out
}
