package apiserver

import (
	"context"

	v1 "orch.io/orch/api/v1"
	nodeauth "orch.io/orch/auth/node"
)

// admitNodeRestriction runs the NodeRestriction admission (auth/node.Admit)
// on a write by a node, before it is proposed: what a node may write
// depends on the object (its own Node, its own pods, their IPs). old is
// the stored object (nil for a create), obj the one to be written (nil for
// a delete). Users that are not nodes pass.
func (s *Server) admitNodeRestriction(ctx context.Context, req *request, op nodeauth.Operation, obj, old v1.Object) error {
	u := UserFrom(ctx)
	self, isNode := nodeauth.NodeIdentity(u)
	if !isNode {
		return nil
	}
	a := nodeauth.Attributes{User: u, Operation: op, Resource: req.resource.Name, Subresource: req.sub,
		Name: req.name, Namespace: req.namespace, Object: obj, OldObject: old}
	if op == nodeauth.Create && obj != nil {
		a.Name, a.Namespace = obj.GetObjectMeta().Name, obj.GetObjectMeta().Namespace
	}
	if req.resource.Name == "pods" && self != "" {
		// The pod's IPs are checked against the node's pod CIDR and addresses.
		if rec, err := s.backend.Store().Get("nodes", "", self); err == nil {
			a.Node, _ = rec.Object().(*v1.Node)
		}
	}
	if req.resource.Name == "events" {
		a.InvolvedPods = s.involvedPods(ctx, obj, old)
	}
	return nodeauth.Admit(a)
}

// involvedPods reads the pods the events obj and old are about, for the
// NodeRestriction of a node's event. A miss takes a read barrier first:
// this master may not have seen the pod's binding yet.
func (s *Server) involvedPods(ctx context.Context, objs ...v1.Object) map[string]*v1.Pod {
	pods := map[string]*v1.Pod{}
	for _, o := range objs {
		ev, ok := o.(*v1.Event)
		if !ok || ev.InvolvedObject.Kind != "Pod" {
			continue
		}
		ref := ev.InvolvedObject
		key := v1.Key(ref.Namespace, ref.Name)
		if _, seen := pods[key]; seen {
			continue
		}
		pod := s.storedPod(ref.Namespace, ref.Name)
		if pod == nil || pod.Spec.NodeName == "" {
			if _, err := s.backend.ReadBarrier(ctx); err == nil {
				pod = s.storedPod(ref.Namespace, ref.Name)
			}
		}
		pods[key] = pod
	}
	return pods
}

// admitNodeDelete checks a node's delete of a pod against the stored pod
// and pins the delete to that pod's UID (unless the caller gave one), so
// a pod created under the same name meanwhile, perhaps bound to another
// node, is not deleted. A missing pod is 404, as without the check.
func (s *Server) admitNodeDelete(ctx context.Context, req *request, uid *string) error {
	if _, isNode := nodeauth.NodeIdentity(UserFrom(ctx)); !isNode || req.resource.Name != "pods" {
		return nil
	}
	rec, err := s.current(ctx, req, "")
	if err != nil {
		return err
	}
	if err := s.admitNodeRestriction(ctx, req, nodeauth.Delete, nil, rec.Object()); err != nil {
		return err
	}
	if *uid == "" {
		*uid = rec.Meta().UID
	}
	return nil
}

// storedPod is the pod in this master's store, nil when there is none.
func (s *Server) storedPod(namespace, name string) *v1.Pod {
	rec, err := s.backend.Store().Get("pods", namespace, name)
	if err != nil {
		return nil
	}
	p, _ := rec.Object().(*v1.Pod)
	return p
}
