package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// hostileNode is the Node the suite's node cases write to (and are).
const hostileNode = "hostile-n1"

// hostileFixtures are the objects the cases aim at, as the cluster stored them.
type hostileFixtures struct {
	pod  *v1.Pod
	node *v1.Node
	rc   *v1.ReplicationController
}

// fixtures creates a pod nobody schedules, a Ready node and an RC of no
// replicas, and waits until the replication manager has observed the RC,
// so no controller writes while the cases run.
func (e *hostileEnv) fixtures(t *testing.T) hostileFixtures {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	admin := e.admin[0]
	// The pod is bound to the suite's node, so the node's cases reach it
	// (a node may touch only its own pods).
	fx := hostileFixtures{pod: testPod("keep")}
	fx.pod.Spec.NodeName = hostileNode
	if err := admin.Create(ctx, fx.pod); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	// And an unbound pod, for the binding cases.
	if err := admin.Create(ctx, testPod("loose")); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	fx.node = &v1.Node{ObjectMeta: v1.ObjectMeta{Name: hostileNode},
		Spec: v1.NodeSpec{Unschedulable: true}, // the RC's pods would not land here anyway
		Status: v1.NodeStatus{
			Capacity:    v1.ResourceList{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi"), "pods": resource.MustParse("110")},
			Allocatable: v1.ResourceList{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi"), "pods": resource.MustParse("110")},
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: v1.NewTime(time.Now())}},
		}}
	if err := e.node[0].Create(ctx, fx.node); err != nil {
		t.Fatalf("register node with its certificate: %v", err)
	}
	zero := int32(0)
	fx.rc = &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "rc", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &zero, Selector: map[string]string{"app": "rc"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "rc"}}, Spec: testPod("").Spec}}}
	if err := admin.Create(ctx, fx.rc); err != nil {
		t.Fatalf("create rc: %v", err)
	}
	eventually(t, 20*time.Second, "the replication manager observes the rc", func() error {
		var rc v1.ReplicationController
		if err := admin.Get(ctx, "replicationcontrollers", "default", "rc", &rc); err != nil {
			return err
		}
		if rc.Status.ObservedGeneration != rc.Generation {
			return fmt.Errorf("observedGeneration %d of %d", rc.Status.ObservedGeneration, rc.Generation)
		}
		fx.rc = &rc
		return nil
	})
	return fx
}

// hugeReplicas: Kubernetes accepts replicas up to 2^31-1 and so does orch;
// what bounds it is the slow start of the replication manager and a quota.
// An RC of 10^9 replicas in a namespace with a quota of 3 pods gets 3 pods
// and no more, crashes nothing, and scales back to 0.
func (e *hostileEnv) hugeReplicas(t *testing.T) {
	ctx := ctxT(t, 40*time.Second)
	admin := e.admin[1%len(e.admin)]
	const ns = "hostile-replicas"
	if err := admin.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	quota := &v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "pods", Namespace: ns},
		Spec: v1.ResourceQuotaSpec{Hard: v1.ResourceList{"pods": resource.MustParse("3")}}}
	if err := admin.Create(ctx, quota); err != nil {
		t.Fatal(err)
	}
	huge := int32(1_000_000_000)
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "huge", Namespace: ns},
		Spec: v1.ReplicationControllerSpec{Replicas: &huge, Selector: map[string]string{"app": "huge"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "huge"}}, Spec: testPod("").Spec}}}
	if err := admin.Create(ctx, rc); err != nil {
		t.Fatalf("replicas 1000000000 refused: %v (Kubernetes accepts it)", err)
	}
	pods := func() (int, error) {
		l, err := admin.List(ctx, "pods", ns, client.ListOptions{})
		if err != nil {
			return 0, err
		}
		return len(l.Items), nil
	}
	eventually(t, 20*time.Second, "the quota's 3 pods exist", func() error {
		if n, err := pods(); err != nil || n != 3 {
			return fmt.Errorf("%d pods (%v)", n, err)
		}
		return nil
	})
	var got v1.ReplicationController
	eventually(t, 20*time.Second, "the rc reports the quota's refusal", func() error {
		if err := admin.Get(ctx, "replicationcontrollers", ns, "huge", &got); err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == "ReplicaFailure" && c.Status == v1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", got.Status.Conditions)
	})
	if n, err := pods(); err != nil || n != 3 {
		t.Fatalf("%d pods (%v), the quota allows 3", n, err)
	}
	e.checkMasters(t)
	if err := admin.Scale(ctx, ns, "huge", 0); err != nil {
		t.Fatalf("scale back to 0: %v", err)
	}
	eventually(t, 20*time.Second, "the rc scales back to 0", func() error {
		if n, err := pods(); err != nil || n != 0 {
			return fmt.Errorf("%d pods (%v)", n, err)
		}
		return nil
	})
}

// tlsConfig trusts the cluster CA only.
func tlsConfig(t *testing.T, caPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the cluster CA is not PEM")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// statusFrom decodes the Status of an error answer.
func statusFrom(code int, body []byte) error {
	var st v1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Code == 0 {
		return fmt.Errorf("HTTP %d is not a Status: %q", code, body)
	}
	if int(st.Code) != code {
		return fmt.Errorf("HTTP %d carries a Status of code %d", code, st.Code)
	}
	return &v1.StatusError{Status: st}
}
