package podsecurity

import (
	"context"
	"fmt"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// StoreOf is a Store that reads the current local store, for the leader's
// loops (whose store is the committed state they act on).
func StoreOf(store func() *fsm.Store) Store { return localStore(store) }

type localStore func() *fsm.Store

// Namespace implements Store.
func (s localStore) Namespace(ctx context.Context, name string) (*v1.Namespace, error) {
	rec, err := s().Get("namespaces", "", name)
	if err != nil {
		return nil, err
	}
	ns, ok := rec.Object().(*v1.Namespace)
	if !ok {
		return nil, fmt.Errorf("namespace %s: stored as %T", name, rec.Object())
	}
	return ns, nil
}

// Pods implements Store.
func (s localStore) Pods(ctx context.Context, namespace string) ([]*v1.Pod, error) {
	res, err := s().List("pods", fsm.ListOptions{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := make([]*v1.Pod, 0, len(res.Items))
	for _, rec := range res.Items {
		if pod, ok := rec.Object().(*v1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// AdmitPod admits the create of p as the API admits a pod, for a
// controller that creates pods in the FSM directly (the replication
// manager): Kubernetes' controllers create theirs through the API, where
// Pod Security refuses those that violate the namespace's enforce level.
// Warnings have no one to go to; audit violations are logged.
func (a *Admission) AdmitPod(ctx context.Context, p *v1.Pod) error {
	_, err := a.Admit(ctx, Request{Operation: Create, Resource: "pods", Namespace: p.Namespace, Name: p.Name, Object: p})
	return err
}
