package fsm

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"

	v1 "orch.io/orch/api/v1"
)

// CreateNodeRequest creates a Node and, when its spec names no pod CIDR,
// gives it the lowest subnet of ClusterCIDR (of prefix length MaskSize) that
// no other node holds. The choice is made here, in the FSM, so every master
// picks the same subnet and two nodes registering at once never share one;
// the cluster CIDR travels in the command so masters configured differently
// cannot diverge.
type CreateNodeRequest struct {
	ClusterCIDR string `json:"clusterCIDR"`
	MaskSize    int    `json:"maskSize"`
	// Object is the node as NewCreate would encode it.
	Object json.RawMessage `json:"object"`
}

// NewCreateNode encodes a CreateNodeCommand for node.
func NewCreateNode(node *v1.Node, clusterCIDR string, maskSize int) ([]byte, error) {
	v1.SetTypeMeta(node)
	m := node.GetObjectMeta()
	m.Generation, m.ResourceVersion = 1, ""
	raw, err := json.Marshal(node)
	if err != nil {
		return nil, fmt.Errorf("encode node %s: %w", node.Name, err)
	}
	return Encode(CreateNodeCommand, CreateNodeRequest{ClusterCIDR: clusterCIDR, MaskSize: maskSize, Object: raw})
}

func applyCreateNode(w *writeTxn, body []byte) any {
	var req CreateNodeRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	node := &v1.Node{}
	if res, ok := w.decode(req.Object, node); !ok {
		return res
	}
	if node.Spec.PodCIDR != "" {
		if err := checkPodCIDRs(w, node, req.ClusterCIDR); err != nil {
			return Result{Err: err}
		}
	} else {
		cidr, err := allocatePodCIDR(w, node.Name, req.ClusterCIDR, req.MaskSize)
		if err != nil {
			return Result{Err: err}
		}
		node.Spec.PodCIDR, node.Spec.PodCIDRs = cidr, []string{cidr}
	}
	raw, err := json.Marshal(node)
	if err != nil {
		panic(fmt.Sprintf("fsm: encode node at index %d: %v", w.index, err))
	}
	frame := CreateRequest{Resource: "nodes", Name: node.Name, UID: node.UID, Object: raw}.appendFrame(nil)
	return applyCreate(w, frame)
}

// allocatePodCIDR returns the lowest /maskSize subnet of clusterCIDR that no
// node's spec.podCIDR overlaps.
func allocatePodCIDR(w *writeTxn, node, clusterCIDR string, maskSize int) (string, error) {
	_, cluster, err := net.ParseCIDR(clusterCIDR)
	if err != nil || cluster.IP.To4() == nil {
		return "", v1.NewBadRequest(fmt.Sprintf("cluster CIDR %q is not an IPv4 CIDR", clusterCIDR))
	}
	ones, _ := cluster.Mask.Size()
	if maskSize < ones || maskSize > 30 {
		return "", v1.NewBadRequest(fmt.Sprintf("node CIDR mask /%d does not fit cluster CIDR %s", maskSize, clusterCIDR))
	}
	base := binary.BigEndian.Uint32(cluster.IP.To4())
	count := uint32(1) << (maskSize - ones)
	size := uint32(1) << (32 - maskSize)
	used := make(map[uint32]bool)
	it, err := w.txn.Get("nodes", indexID)
	if err != nil {
		return "", v1.NewInternalError(fmt.Errorf("list nodes: %w", err))
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n, ok := raw.(*Record).Object().(*v1.Node)
		if !ok {
			continue // stored by an older orch and unreadable: it holds no CIDR
		}
		for _, c := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
			_, sub, err := net.ParseCIDR(c)
			if err != nil || sub.IP.To4() == nil || !cluster.Contains(sub.IP) {
				continue
			}
			start := binary.BigEndian.Uint32(sub.IP.To4())
			subOnes, _ := sub.Mask.Size()
			end := start + uint32(1)<<(32-subOnes) - 1
			for i := (start - base) / size; i < count && base+i*size <= end; i++ {
				used[i] = true
			}
		}
	}
	for i := uint32(0); i < count; i++ {
		if !used[i] {
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, base+i*size)
			return fmt.Sprintf("%s/%d", ip, maskSize), nil
		}
	}
	return "", v1.NewInvalid("Node", node, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "spec.podCIDR",
		Message: fmt.Sprintf("no free /%d left in cluster CIDR %s", maskSize, clusterCIDR)}})
}
