package fsm

import (
	"encoding/json"
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// NewUpdateEphemeralContainers encodes an UpdateEphemeralContainersCommand:
// the pod's spec.ephemeralContainers become pod's, nothing else changes. A
// non-empty resourceVersion is a compare-and-swap precondition.
func NewUpdateEphemeralContainers(pod *v1.Pod) ([]byte, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("encode Pod: %w", err)
	}
	return Encode(UpdateEphemeralContainersCommand, UpdateRequest{Resource: "pods", Object: raw})
}

// applyUpdateEphemeralContainers replaces only spec.ephemeralContainers of
// the stored pod, re-checking at apply time that the stored ones are all
// kept unchanged (they may only be added).
func applyUpdateEphemeralContainers(w *writeTxn, body []byte) any {
	r, obj, bad := decodeFramed(w, body)
	if bad != nil {
		return *bad
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return w.reject("ephemeral containers are a field of pods, not of %s", r.Name)
	}
	old, err := w.get(r.Name, pod.Namespace, pod.Name)
	if err != nil {
		return Result{Err: err}
	}
	if err := preconditions(r.Name, old, pod.UID, pod.ResourceVersion); err != nil {
		return Result{Err: err}
	}
	op := old.Object().(*v1.Pod)
	if errs := v1.EphemeralContainersChange(pod.Spec.EphemeralContainers, op.Spec.EphemeralContainers); len(errs) > 0 {
		causes := make([]v1.StatusCause, 0, len(errs))
		for _, e := range errs {
			causes = append(causes, v1.StatusCause{Type: string(e.Type), Field: e.Field, Message: e.Error()})
		}
		return Result{Err: v1.NewInvalid("Pod", pod.Name, causes)}
	}
	next := shallowCopy(op).(*v1.Pod)
	next.Spec.EphemeralContainers = pod.Spec.EphemeralContainers
	v1.SetTypeMeta(next)
	return Result{Record: w.put(r.Name, v1.Modified, next, old)}
}
