package e2e

import (
	"fmt"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// A pod bound to a node that does not exist blocks nothing: deleting its
// namespace leaves it Terminating (no agent will confirm it), the leader's
// PodGC force-deletes it once the node has been missing for the quarantine,
// and the namespace disappears.
func TestPodGCFinishesNamespaceOfPodOnMissingNode(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{MasterArgs: []string{"--pod-gc-quarantine=3s"}})
	cl := c.Client()
	ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "gc-e2e"}}
	if err := cl.Create(ctxT(t, 10*time.Second), ns); err != nil {
		t.Fatal(err)
	}
	pod := testPod("stuck")
	pod.Namespace, pod.Spec.NodeName = "gc-e2e", "no-such-node"
	if err := cl.Create(ctxT(t, 10*time.Second), pod); err != nil {
		t.Fatalf("create a pod bound to a missing node: %v", err)
	}
	if _, err := cl.Delete(ctxT(t, 10*time.Second), "namespaces", "", "gc-e2e", nil); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	start := time.Now()
	eventually(t, 60*time.Second, "namespace gc-e2e gone", func() error {
		var got v1.Namespace
		err := cl.Get(ctxT(t, 5*time.Second), "namespaces", "", "gc-e2e", &got)
		switch {
		case v1.IsNotFound(err):
			return nil
		case err != nil:
			return err
		}
		return fmt.Errorf("namespace is %s", got.Status.Phase)
	})
	t.Logf("namespace gone %v after its delete (quarantine 3s)", time.Since(start).Round(100*time.Millisecond))
	var p v1.Pod
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "gc-e2e", "stuck", &p); !v1.IsNotFound(err) {
		t.Fatalf("pod after its namespace went: %v", err)
	}
}
