package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// CreateNodeRequest creates a Node and, when its spec names no pod CIDR,
// gives it the lowest subnet of ClusterCIDR (of prefix length MaskSize) that
// no other node holds (none when every subnet is taken: the node is created
// without one). The choice is made here, in the FSM, so every master
// picks the same subnet and two nodes registering at once never share one;
// the cluster CIDR travels in the command so masters configured differently
// cannot diverge.
type CreateNodeRequest struct {
	ClusterCIDR string `json:"clusterCIDR"`
	MaskSize    int    `json:"maskSize"`
	// Object is the node as NewCreate would encode it.
	Object json.RawMessage `json:"object"`
}

// NewCreateNode encodes a RegisterNodeCommand for node: a node registering
// while every subnet is taken is created without a pod CIDR.
func NewCreateNode(node *v1.Node, clusterCIDR string, maskSize int) ([]byte, error) {
	v1.SetTypeMeta(node)
	m := node.GetObjectMeta()
	m.Generation, m.ResourceVersion = 1, ""
	raw, err := json.Marshal(node)
	if err != nil {
		return nil, fmt.Errorf("encode node %s: %w", node.Name, err)
	}
	return Encode(RegisterNodeCommand, CreateNodeRequest{ClusterCIDR: clusterCIDR, MaskSize: maskSize, Object: raw})
}

// applyCreateNode applies a CreateNodeCommand: with no free subnet the
// node is refused.
func applyCreateNode(w *writeTxn, body []byte) any { return applyNodeCreate(w, body, false) }

// applyRegisterNode applies a RegisterNodeCommand: with no free subnet the
// node is created without one.
func applyRegisterNode(w *writeTxn, body []byte) any { return applyNodeCreate(w, body, true) }

func applyNodeCreate(w *writeTxn, body []byte, withoutCIDR bool) any {
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
		cidr, err := allocatePodCIDR(w, req.ClusterCIDR, req.MaskSize)
		switch {
		case errors.Is(err, ErrPodCIDRsExhausted) && withoutCIDR:
			// As Kubernetes: the node registers without a pod CIDR and
			// the leader's node IPAM gives it one when a subnet frees up
			// (and says why meanwhile).
		case errors.Is(err, ErrPodCIDRsExhausted):
			return Result{Err: v1.NewInvalid("Node", node.Name, []v1.StatusCause{{Type: "FieldValueInvalid",
				Field: "spec.podCIDR", Message: strings.TrimPrefix(err.Error(), ErrPodCIDRsExhausted.Error()+": ")}})}
		case err != nil:
			return Result{Err: err}
		default:
			node.Spec.PodCIDR, node.Spec.PodCIDRs = cidr, []string{cidr}
		}
	}
	raw, err := json.Marshal(node)
	if err != nil {
		panic(fmt.Sprintf("fsm: encode node at index %d: %v", w.index, err))
	}
	frame := CreateRequest{Resource: "nodes", Name: node.Name, UID: node.UID, Object: raw}.appendFrame(nil)
	return applyCreate(w, frame)
}
