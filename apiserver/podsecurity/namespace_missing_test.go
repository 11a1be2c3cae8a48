package podsecurity

import (
	"context"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestMissingNamespaceRefused checks that a write into a namespace the
// admission cannot find is refused with the namespace's 404, as
// Kubernetes' NamespaceLifecycle refuses it before Pod Security runs. An
// answer of "allowed" would let the write reach the FSM unchecked: a client
// that creates the namespace between the admission's read and the FSM's
// apply gets a hostNetwork pod into a namespace whose level (the cluster's
// baseline default) refuses it.
func TestMissingNamespaceRefused(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{name: "pod create", req: Request{Operation: Create, Resource: "pods", Name: "p", Object: hostNetPod("p")}},
		{name: "pod update that changes an image", req: Request{Operation: Update, Resource: "pods", Name: "p",
			Object: func() *v1.Pod {
				p := hostNetPod("p")
				p.Spec.Containers[0].Image = "busybox:2"
				return p
			}(), OldObject: hostNetPod("p")}},
		{name: "replication controller create", req: Request{Operation: Create, Resource: "replicationcontrollers", Name: "rc",
			Object: rc(hostNetPod("p"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Namespace = "gone"
			a := newTestAdmission(t, Config{}, newFakeStore())
			_, err := a.Admit(context.Background(), tt.req)
			if err == nil {
				t.Fatal("admitted a write into a namespace that does not exist")
			}
			if !v1.IsNotFound(err) || err.Error() != `namespaces "gone" not found` {
				t.Fatalf("err = %v (code %d), want the namespace's 404", err, v1.CodeOf(err))
			}
		})
	}
	// The admission of the replication manager's pods says the same.
	a := newTestAdmission(t, Config{}, newFakeStore())
	p := hostNetPod("p")
	p.Namespace = "gone"
	if err := a.AdmitPod(context.Background(), p); !v1.IsNotFound(err) {
		t.Fatalf("AdmitPod: err = %v, want the namespace's 404", err)
	}
}
