package apiserver

import (
	"context"

	v1 "orch.io/orch/api/v1"
	nodeauth "orch.io/orch/auth/node"
	"orch.io/orch/fsm"
)

// subEphemeral is the ephemeralcontainers subresource of pods: GET returns
// the pod, PUT and PATCH change only spec.ephemeralContainers (authorized
// as update of pods/ephemeralcontainers), as kubectl debug uses it.
const subEphemeral = "ephemeralcontainers"

// updateEphemeralContainers commits obj's spec.ephemeralContainers to the
// stored pod old, as Kubernetes' podEphemeralContainersStrategy does:
// every other change in obj is dropped; the ephemeral containers the pod
// had may not be removed or changed; the pod is validated and admitted by
// Pod Security with the new list. The stored resourceVersion is the
// precondition when obj carries none, so concurrent additions never lose one.
func (s *Server) updateEphemeralContainers(ctx context.Context, req *request, obj v1.Object, old *fsm.Record) (*fsm.Record, error) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, v1.NewBadRequest("ephemeralcontainers is a subresource of pods")
	}
	oldPod := old.Object().(*v1.Pod)
	next := v1.DeepCopy(oldPod)
	next.Spec.EphemeralContainers = pod.Spec.EphemeralContainers
	next.ResourceVersion = pod.ResourceVersion
	if next.ResourceVersion == "" {
		next.ResourceVersion = oldPod.ResourceVersion
	}
	v1.DefaultPodSpec(&next.Spec)
	if err := s.admitNodeRestriction(ctx, req, nodeauth.Update, next, oldPod); err != nil {
		return nil, err
	}
	if err := v1.ValidateEphemeralContainersUpdate(next, oldPod); err != nil {
		return nil, err
	}
	if err := s.admitPodSecurity(ctx, req, next, oldPod); err != nil {
		return nil, err
	}
	cmd, err := fsm.NewUpdateEphemeralContainers(next)
	if err != nil {
		return nil, err
	}
	return s.apply(ctx, cmd)
}
