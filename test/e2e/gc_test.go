package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// Finalizers and the garbage collector on one cluster, with a simulated
// node the test speaks for: it confirms the termination of the pods bound
// to it (a delete with grace 0), as a node agent does once it stopped them.
func TestGarbageCollectorAndFinalizers(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode("gc-node", "16")); err != nil {
		t.Fatal(err)
	}
	hb := startHeartbeats(t, cl, []string{"gc-node"}, 2*time.Second)
	defer hb.stop()

	get := func(resource, ns, name string, out v1.Object) (bool, error) {
		err := cl.Get(ctxT(t, 5*time.Second), resource, ns, name, out)
		if v1.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	}
	podsOf := func(ns, app string) []v1.Pod {
		t.Helper()
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", ns, client.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			t.Fatal(err)
		}
		return pods
	}
	// confirm acts as the node: every terminating pod of app is gone.
	confirm := func(ns, app string) {
		t.Helper()
		zero := int64(0)
		for _, p := range podsOf(ns, app) {
			if p.DeletionTimestamp == nil {
				continue
			}
			uid := p.UID
			_, err := cl.Delete(ctxT(t, 5*time.Second), "pods", ns, p.Name, &v1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &v1.Preconditions{UID: &uid}})
			if err != nil && !v1.IsNotFound(err) {
				t.Fatalf("confirm pod %s: %v", p.Name, err)
			}
		}
	}
	rcWithPods := func(name string, replicas int32) *v1.ReplicationController {
		t.Helper()
		rc := &v1.ReplicationController{
			ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": name},
				Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.36"}}}}},
		}
		if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("%d bound pods of %s", replicas, name), func() error {
			n := 0
			for _, p := range podsOf("default", name) {
				if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
					n++
				}
			}
			if n != int(replicas) {
				return fmt.Errorf("%d bound", n)
			}
			return nil
		})
		return rc
	}

	t.Run("a finalizer holds an object until it is removed", func(t *testing.T) {
		ep := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "held", Namespace: "default", Finalizers: []string{"example.com/hold"}}}
		if err := cl.Create(ctxT(t, 10*time.Second), ep); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Delete(ctxT(t, 10*time.Second), "endpoints", "default", "held", nil); err != nil {
			t.Fatal(err)
		}
		var got v1.Endpoints
		if ok, err := get("endpoints", "default", "held", &got); !ok || got.DeletionTimestamp == nil ||
			got.DeletionGracePeriodSeconds == nil || *got.DeletionGracePeriodSeconds != 0 {
			t.Fatalf("after delete: found %v (%v), %+v", ok, err, got.ObjectMeta)
		}
		// Deleting it again answers with it and changes nothing.
		if _, err := cl.Delete(ctxT(t, 10*time.Second), "endpoints", "default", "held", nil); err != nil {
			t.Fatalf("second delete: %v", err)
		}
		err := cl.Patch(ctxT(t, 10*time.Second), "endpoints", "default", "held",
			[]byte(`{"metadata":{"finalizers":["example.com/hold","example.com/late"]}}`), &v1.Endpoints{})
		if v1.CodeOf(err) != 422 || !strings.Contains(err.Error(), `metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/late"}`) {
			t.Errorf("adding a finalizer while deleting: %v", err)
		}
		var still v1.Endpoints
		if ok, _ := get("endpoints", "default", "held", &still); !ok || still.ResourceVersion != got.ResourceVersion {
			t.Errorf("the object changed before its finalizer went: %+v", still.ObjectMeta)
		}
		if err := cl.Patch(ctxT(t, 10*time.Second), "endpoints", "default", "held", []byte(`{"metadata":{"finalizers":null}}`), &v1.Endpoints{}); err != nil {
			t.Fatal(err)
		}
		if ok, err := get("endpoints", "default", "held", &v1.Endpoints{}); ok || err != nil {
			t.Errorf("after the finalizer went: found %v, %v", ok, err)
		}
	})

	t.Run("foreground: the pods go first, then the rc", func(t *testing.T) {
		rcWithPods("fg", 2)
		if _, err := cl.Delete(ctxT(t, 10*time.Second), "replicationcontrollers", "default", "fg",
			&v1.DeleteOptions{PropagationPolicy: v1.PropagationForeground}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "both pods terminating", func() error {
			for _, p := range podsOf("default", "fg") {
				if p.DeletionTimestamp == nil {
					return fmt.Errorf("pod %s not terminating", p.Name)
				}
			}
			return nil
		})
		// While its pods are there the rc waits, with the finalizer.
		var rc v1.ReplicationController
		if ok, err := get("replicationcontrollers", "default", "fg", &rc); !ok || rc.DeletionTimestamp == nil ||
			!slices.Contains(rc.Finalizers, v1.FinalizerDeleteDependents) {
			t.Fatalf("rc while its pods terminate: found %v (%v), %+v", ok, err, rc.ObjectMeta)
		}
		if n := len(podsOf("default", "fg")); n != 2 {
			t.Fatalf("%d pods of a foreground-deleted rc, want its 2 (no replacements)", n)
		}
		confirm("default", "fg")
		eventually(t, 30*time.Second, "the rc gone after its pods", func() error {
			if ok, err := get("replicationcontrollers", "default", "fg", &v1.ReplicationController{}); ok || err != nil {
				return fmt.Errorf("rc still there (%v)", err)
			}
			return nil
		})
		if n := len(podsOf("default", "fg")); n != 0 {
			t.Errorf("%d pods left", n)
		}
	})

	t.Run("orphan: the pods stay without their owner reference", func(t *testing.T) {
		rcWithPods("orph", 2)
		if _, err := cl.Delete(ctxT(t, 10*time.Second), "replicationcontrollers", "default", "orph",
			&v1.DeleteOptions{PropagationPolicy: v1.PropagationOrphan}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the rc gone", func() error {
			if ok, err := get("replicationcontrollers", "default", "orph", &v1.ReplicationController{}); ok || err != nil {
				return fmt.Errorf("rc still there (%v)", err)
			}
			return nil
		})
		pods := podsOf("default", "orph")
		if len(pods) != 2 {
			t.Fatalf("%d pods, want the 2 orphans", len(pods))
		}
		for _, p := range pods {
			if p.DeletionTimestamp != nil || len(p.OwnerReferences) != 0 {
				t.Errorf("pod %s: deletionTimestamp %v ownerReferences %+v", p.Name, p.DeletionTimestamp, p.OwnerReferences)
			}
			if _, err := cl.Delete(ctxT(t, 10*time.Second), "pods", "default", p.Name, nil); err != nil {
				t.Error(err)
			}
		}
		confirm("default", "orph")
	})

	t.Run("background: the rc goes at once, its pods follow", func(t *testing.T) {
		rcWithPods("bg", 2)
		if _, err := cl.Delete(ctxT(t, 10*time.Second), "replicationcontrollers", "default", "bg",
			&v1.DeleteOptions{PropagationPolicy: v1.PropagationBackground}); err != nil {
			t.Fatal(err)
		}
		if ok, err := get("replicationcontrollers", "default", "bg", &v1.ReplicationController{}); ok || err != nil {
			t.Fatalf("rc after a background delete: found %v, %v", ok, err)
		}
		eventually(t, 30*time.Second, "the pods terminating", func() error {
			for _, p := range podsOf("default", "bg") {
				if p.DeletionTimestamp == nil {
					return fmt.Errorf("pod %s not terminating", p.Name)
				}
			}
			return nil
		})
		confirm("default", "bg")
	})

	t.Run("a pod whose owner does not exist is collected", func(t *testing.T) {
		p := testPod("stray")
		p.Labels = map[string]string{"app": "stray"}
		p.Spec.NodeSelector = map[string]string{"no-such": "node"} // stays unbound
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "ghost", UID: uuid.NewString()}}
		if err := cl.Create(ctxT(t, 10*time.Second), p); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the stray pod gone", func() error {
			if ok, err := get("pods", "default", "stray", &v1.Pod{}); ok || err != nil {
				return fmt.Errorf("still there (%v)", err)
			}
			return nil
		})
	})

	t.Run("a namespace waits for a finalizer-held object", func(t *testing.T) {
		if err := cl.Create(ctxT(t, 10*time.Second), &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "gc-ns"}}); err != nil {
			t.Fatal(err)
		}
		held := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "held", Namespace: "gc-ns", Finalizers: []string{"example.com/hold"}}}
		if err := cl.Create(ctxT(t, 10*time.Second), held); err != nil {
			t.Fatal(err)
		}
		p := testPod("idle")
		p.Namespace = "gc-ns"
		p.Spec.NodeSelector = map[string]string{"no-such": "node"}
		if err := cl.Create(ctxT(t, 10*time.Second), p); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Delete(ctxT(t, 10*time.Second), "namespaces", "", "gc-ns", nil); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the content deleted but the held object", func() error {
			if ok, err := get("pods", "gc-ns", "idle", &v1.Pod{}); ok || err != nil {
				return fmt.Errorf("pod still there (%v)", err)
			}
			var ep v1.Endpoints
			if ok, err := get("endpoints", "gc-ns", "held", &ep); !ok || ep.DeletionTimestamp == nil {
				return fmt.Errorf("held endpoints: found %v (%v) %+v", ok, err, ep.ObjectMeta)
			}
			return nil
		})
		var ns v1.Namespace
		if ok, err := get("namespaces", "", "gc-ns", &ns); !ok || ns.Status.Phase != v1.NamespaceTerminating {
			t.Fatalf("namespace: found %v (%v), phase %q", ok, err, ns.Status.Phase)
		}
		if err := cl.Create(ctxT(t, 10*time.Second), &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "late", Namespace: "gc-ns"}}); v1.CodeOf(err) != 403 {
			t.Errorf("create in a terminating namespace: %v", err)
		}
		if err := cl.Patch(ctxT(t, 10*time.Second), "endpoints", "gc-ns", "held", []byte(`{"metadata":{"finalizers":null}}`), &v1.Endpoints{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the namespace gone", func() error {
			if ok, err := get("namespaces", "", "gc-ns", &v1.Namespace{}); ok || err != nil {
				return fmt.Errorf("still there (%v)", err)
			}
			return nil
		})
	})
}

// A pod with a finalizer on a real node: deleting it stops it as usual (the
// node confirms with grace 0), but it stays, terminating, until its
// finalizer is removed; then it goes at once.
func TestFinalizerHoldsAPodItsNodeStopped(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	p := testPod("held")
	p.Spec.SchedulerName = "" // the default scheduler's
	grace := int64(2)
	p.Spec.TerminationGracePeriodSeconds = &grace
	p.Finalizers = []string{"example.com/hold"}
	createPod(t, cl, p)
	waitFor(t, 60*time.Second, "the held pod running", func() (bool, string) {
		return len(runningPods(t, cl, "")) == 1, ""
	})
	if _, err := cl.Delete(ctxT(t, 10*time.Second), "pods", "default", "held", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the node's confirmation (grace 0) on the held pod", func() (bool, string) {
		var got v1.Pod
		if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "held", &got); err != nil {
			return false, err.Error()
		}
		g := got.DeletionGracePeriodSeconds
		return got.DeletionTimestamp != nil && g != nil && *g == 0, fmt.Sprintf("deletionTimestamp %v grace %v", got.DeletionTimestamp, g)
	})
	var got v1.Pod
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "held", &got); err != nil || !slices.Contains(got.Finalizers, "example.com/hold") {
		t.Fatalf("held pod after its node stopped it: %v %+v", err, got.ObjectMeta)
	}
	if err := cl.Patch(ctxT(t, 10*time.Second), "pods", "default", "held", []byte(`{"metadata":{"finalizers":null}}`), &v1.Pod{}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "held", &v1.Pod{}); !v1.IsNotFound(err) {
		t.Errorf("the pod after its finalizer went: %v", err)
	}
}
