package node

import (
	"context"
	"fmt"
	"slices"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// StorePods answers Pods from a master's store. A pod's spec.nodeName is
// set once and never changes, so a local copy that names a node is right;
// a miss or an unbound pod may only mean this master is behind (the node
// may have seen the binding through another master), so it takes a read
// barrier and reads again.
type StorePods struct {
	// Store returns the master's current store.
	Store func() *fsm.Store
	// Barrier makes the following local read linearizable.
	Barrier func(ctx context.Context) error
}

// PodNodeName implements Pods.
func (p StorePods) PodNodeName(ctx context.Context, namespace, name string) (string, bool, error) {
	nodeName, found, err := podNodeName(p.Store(), namespace, name)
	if err != nil || (found && nodeName != "") || p.Barrier == nil {
		return nodeName, found, err
	}
	if err := p.Barrier(ctx); err != nil {
		return "", false, fmt.Errorf("read barrier: %w", err)
	}
	return podNodeName(p.Store(), namespace, name)
}

func podNodeName(s *fsm.Store, namespace, name string) (string, bool, error) {
	rec, err := s.Get("pods", namespace, name)
	if v1.IsNotFound(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	pod, ok := rec.Object().(*v1.Pod)
	if !ok {
		return "", false, fmt.Errorf("pods %s/%s holds a %T", namespace, name, rec.Object())
	}
	return pod.Spec.NodeName, true, nil
}

// ConfigMapUsed implements Pods.
func (p StorePods) ConfigMapUsed(ctx context.Context, node, namespace, name string) (bool, error) {
	return p.used(ctx, node, namespace, name, v1.PodConfigMapNames)
}

// SecretUsed implements Pods.
func (p StorePods) SecretUsed(ctx context.Context, node, namespace, name string) (bool, error) {
	return p.used(ctx, node, namespace, name, v1.PodSecretNames)
}

// used reports whether a pod bound to node, in namespace, names the
// object among those names lists.
func (p StorePods) used(ctx context.Context, node, namespace, name string, names func(*v1.PodSpec) []string) (bool, error) {
	ok, err := podNames(p.Store(), node, namespace, name, names)
	if err != nil || ok || p.Barrier == nil {
		return ok, err
	}
	// A pod bound a moment ago may not be here yet.
	if err := p.Barrier(ctx); err != nil {
		return false, fmt.Errorf("read barrier: %w", err)
	}
	return podNames(p.Store(), node, namespace, name, names)
}

func podNames(s *fsm.Store, node, namespace, name string, names func(*v1.PodSpec) []string) (bool, error) {
	pods, err := s.PodsOnNode(node)
	if err != nil {
		return false, err
	}
	for _, pod := range pods {
		if pod.Namespace == namespace && slices.Contains(names(&pod.Spec), name) {
			return true, nil
		}
	}
	return false, nil
}
