package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// The endpoints controller follows a service's pods: not ready, ready, gone.
func TestEndpointsFollowPodReadinessAndDeletion(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode("node-0", "8")); err != nil {
		t.Fatal(err)
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "ep"},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctxT(t, 10*time.Second), rcOf("ep", 2)); err != nil {
		t.Fatal(err)
	}
	// Act as the node agent: give each bound pod an IP; readiness comes later.
	var pods []v1.Pod
	eventually(t, 20*time.Second, "2 bound pods", func() error {
		var err error
		pods, _, err = client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=ep"})
		if err != nil {
			return err
		}
		if len(pods) != 2 || pods[0].Spec.NodeName == "" || pods[1].Spec.NodeName == "" {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	setStatus := func(p *v1.Pod, ip string, ready bool) {
		t.Helper()
		st := v1.ConditionFalse
		if ready {
			st = v1.ConditionTrue
		}
		for attempt := 0; ; attempt++ {
			var cur v1.Pod
			if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", p.Name, &cur); err != nil {
				t.Fatal(err)
			}
			cur.Status.Phase, cur.Status.PodIP = v1.PodRunning, ip
			cur.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: st}}
			err := cl.UpdateStatus(ctxT(t, 5*time.Second), &cur)
			if err == nil {
				return
			}
			if !v1.IsConflict(err) || attempt > 5 {
				t.Fatal(err)
			}
		}
	}
	setStatus(&pods[0], "10.244.0.10", false)
	setStatus(&pods[1], "10.244.0.11", false)
	endpoints := func() (ready, notReady []string, port int32, err error) {
		var ep v1.Endpoints
		if err = cl.Get(ctxT(t, 5*time.Second), "endpoints", "default", "web", &ep); err != nil {
			return
		}
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				ready = append(ready, a.IP)
			}
			for _, a := range s.NotReadyAddresses {
				notReady = append(notReady, a.IP)
			}
			if len(s.Ports) > 0 {
				port = s.Ports[0].Port
			}
		}
		sort.Strings(ready)
		sort.Strings(notReady)
		return
	}
	expect := func(what string, wantReady, wantNotReady []string) {
		t.Helper()
		eventually(t, 15*time.Second, what, func() error {
			r, nr, port, err := endpoints()
			if err != nil {
				return err
			}
			if fmt.Sprint(r) != fmt.Sprint(wantReady) || fmt.Sprint(nr) != fmt.Sprint(wantNotReady) || port != 8080 {
				return fmt.Errorf("ready %v not ready %v port %d", r, nr, port)
			}
			return nil
		})
	}
	expect("both not ready, port resolved by name", nil, []string{"10.244.0.10", "10.244.0.11"})
	setStatus(&pods[0], "10.244.0.10", true)
	expect("one ready", []string{"10.244.0.10"}, []string{"10.244.0.11"})
	zero := int64(0)
	if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", pods[0].Name, &v1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	// The RC replaces it with a pod that has no IP yet: only the second remains.
	expect("deleted pod gone", nil, []string{"10.244.0.11"})
}
