package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// TestQuotaRace: 20 clients spread over the three masters race to create
// pods in a namespace whose quota allows 10. Exactly 10 are created, the
// quota's used is exactly 10 on every master, and the others are refused
// with 403 and Kubernetes' quota message. orchctl describe shows Used
// against Hard. LimitRange defaults show up on pods created through the API
// and on the replication manager's pods.
func TestQuotaRace(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	ctx := ctxT(t, 2*time.Minute)
	for _, ns := range []string{"quota", "limits"} {
		if err := cl.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	q := &v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "pods", Namespace: "quota"},
		Spec: v1.ResourceQuotaSpec{Hard: v1.ResourceList{v1.ResourcePods: resource.MustParse("10")}}}
	if err := cl.Create(ctx, q); err != nil {
		t.Fatalf("create quota: %v", err)
	}

	errs := make([]error, 20)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := testPod(fmt.Sprintf("race-%02d", i))
			p.Namespace = "quota"
			errs[i] = c.Client(i%3).Create(ctxT(t, 30*time.Second), p)
		}(i)
	}
	wg.Wait()
	created, refused := 0, 0
	for i, err := range errs {
		name := fmt.Sprintf("race-%02d", i)
		want := fmt.Sprintf(`pods %q is forbidden: exceeded quota: pods, requested: pods=1, used: pods=10, limited: pods=10`, name)
		switch {
		case err == nil:
			created++
		case v1.CodeOf(err) == 403 && err.Error() == want:
			refused++
		default:
			t.Errorf("create %s: %v (code %d), want success or 403 %q", name, err, v1.CodeOf(err), want)
		}
	}
	if created != 10 || refused != 10 {
		t.Fatalf("%d pods created and %d refused; want 10 and 10", created, refused)
	}
	pods, err := cl.List(ctx, "pods", "quota", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 10 {
		t.Errorf("%d pods in the namespace, want 10", len(pods.Items))
	}
	// Every master holds the same quota, used = 10.
	for i := range c.Masters {
		eventually(t, 10*time.Second, fmt.Sprintf("quota used on master %d", i), func() error {
			var got v1.ResourceQuota
			if err := c.Client(i).Get(ctx, "resourcequotas", "quota", "pods", &got, client.Stale()); err != nil {
				return err
			}
			if u := got.Status.Used[v1.ResourcePods]; u.Value() != 10 {
				return fmt.Errorf("used pods = %s", u.String())
			}
			return nil
		})
	}

	out, stderr, err := c.Orchctl("", "describe", "quota", "pods", "-n", "quota")
	if err != nil {
		t.Fatalf("orchctl describe quota: %v: %s", err, stderr)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	if err := equalStrings(rows, []string{"Name: pods", "Namespace: quota", "Resource Used Hard", "-------- ---- ----", "pods 10 10"}); err != nil {
		t.Errorf("describe quota: %v:\n%s", err, out)
	}
	out, stderr, err = c.Orchctl("", "get", "quota", "-n", "quota")
	if err != nil || !strings.Contains(out, "pods: 10/10") {
		t.Errorf("orchctl get quota: %v %s:\n%s", err, stderr, out)
	}

	// A freed pod makes room for exactly one more.
	if _, err := cl.Delete(ctx, "pods", "quota", podName(t, pods, 0), nil); err != nil {
		t.Fatal(err)
	}
	more := testPod("after-delete")
	more.Namespace = "quota"
	if err := cl.Create(ctx, more); err != nil {
		t.Errorf("create after a delete: %v", err)
	}

	testLimitRangeDefaults(t, c)
}

func podName(t *testing.T, l *client.RawList, i int) string {
	t.Helper()
	var p v1.Pod
	if err := json.Unmarshal(l.Items[i], &p); err != nil {
		t.Fatal(err)
	}
	return p.Name
}

// testLimitRangeDefaults checks LimitRange defaults on a pod created through
// the API and on the pods of a replication controller.
func testLimitRangeDefaults(t *testing.T, c *harness.Cluster) {
	cl := c.Client()
	ctx := ctxT(t, time.Minute)
	lr := &v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "defaults", Namespace: "limits"},
		Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{{Type: v1.LimitTypeContainer,
			Max:            v1.ResourceList{v1.ResourceCPU: resource.MustParse("1")},
			Default:        v1.ResourceList{v1.ResourceCPU: resource.MustParse("200m"), v1.ResourceMemory: resource.MustParse("64Mi")},
			DefaultRequest: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")}}}}}
	if err := cl.Create(ctx, lr); err != nil {
		t.Fatalf("create limit range: %v", err)
	}
	// Admission reads each master's own store: wait until all have it.
	for i := range c.Masters {
		eventually(t, 10*time.Second, fmt.Sprintf("limit range on master %d", i), func() error {
			var got v1.LimitRange
			return c.Client(i).Get(ctx, "limitranges", "limits", "defaults", &got, client.Stale())
		})
	}
	wantResources := func(what string, r v1.ResourceRequirements) {
		t.Helper()
		if l, rq := v1.FormatResources(r.Limits), v1.FormatResources(r.Requests); l != "cpu=200m,memory=64Mi" || rq != "cpu=100m,memory=64Mi" {
			t.Errorf("%s: limits %s requests %s, want cpu=200m,memory=64Mi and cpu=100m,memory=64Mi", what, l, rq)
		}
	}
	p := testPod("defaulted")
	p.Namespace = "limits"
	if err := c.Client(1).Create(ctx, p); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	wantResources("pod created through the API", p.Spec.Containers[0].Resources)

	big := testPod("too-big")
	big.Namespace = "limits"
	big.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceCPU: resource.MustParse("3")}
	err := c.Client(2).Create(ctx, big)
	if want := `pods "too-big" is forbidden: maximum cpu usage per Container is 1, but limit is 3`; v1.CodeOf(err) != 403 || err.Error() != want {
		t.Errorf("create of a pod over the max: %v, want 403 %q", err, want)
	}

	two := int32(2)
	tmpl := testPod("")
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "limits"},
		Spec: v1.ReplicationControllerSpec{Replicas: &two, Selector: map[string]string{"app": "rc"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "rc"}}, Spec: tmpl.Spec}}}
	if err := cl.Create(ctx, rc); err != nil {
		t.Fatalf("create rc: %v", err)
	}
	eventually(t, 20*time.Second, "the rc's pods", func() error {
		l, err := cl.List(ctx, "pods", "limits", client.ListOptions{})
		if err != nil {
			return err
		}
		n := 0
		for _, raw := range l.Items {
			var p v1.Pod
			if err := json.Unmarshal(raw, &p); err != nil {
				return err
			}
			if strings.HasPrefix(p.Name, "web-") {
				n++
				wantResources("pod of the rc", p.Spec.Containers[0].Resources)
			}
		}
		if n != 2 {
			return fmt.Errorf("%d pods of the rc", n)
		}
		return nil
	})
}
