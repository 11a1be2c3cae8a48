package sched

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// TestFullPassPodsEquivalent: the full passes of the replication, Job,
// DaemonSet and StatefulSet controllers plan each controller against the
// pods podsInKeyOrder reads through the pod informer (those it controls
// and the orphans its selector matches) instead of every pod of its
// namespace's list; on random stores (pods controlled by it, by another
// controller, orphans that match or not, in its namespace and another,
// bound or not, running, finished or terminating) each planner makes the
// same plan from both.
func TestFullPassPodsEquivalent(t *testing.T) {
	now := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	web := map[string]string{"app": "web"}
	rc := loopRC("web", 3)
	rs := &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "web-rs", Namespace: "default", UID: "uid-rs-web"},
		Spec: v1.ReplicaSetSpec{Replicas: ptrTo(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: web},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: web},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}
	v1.Default(rs)
	job := testJob(func(j *v1.Job) {
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: web}
		j.Spec.Template.Labels = web
		j.Spec.Parallelism, j.Spec.Completions = ptrTo(int32(2)), ptrTo(int32(4))
	})
	ds := testDS(func(ds *v1.DaemonSet) {
		ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: web}
		ds.Spec.Template.Labels = web
	})
	ss := testSTS(3, v1.OrderedReadyPodManagement)
	owners := []string{rc.UID, rs.UID, job.UID, ds.UID, ss.UID, "uid-stranger", "", ""}
	nodes := []*v1.Node{dsNode("n1", nil), dsNode("n2", nil)}
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 5))
			p := newFakeProposer(t)
			p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other", UID: "ns-other"}})
			var terminate []*v1.Pod
			for i := range 40 + rng.IntN(40) {
				pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("p-%03d", rng.IntN(1000)), Namespace: "default",
					UID: fmt.Sprintf("uid-p-%d", i), CreationTimestamp: v1.NewTime(now.Add(-time.Duration(rng.IntN(600)) * time.Second))},
					Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
				if rng.IntN(5) == 0 {
					pod.Namespace = "other"
				}
				if rng.IntN(4) != 0 {
					pod.Labels = web
				} else if rng.IntN(2) == 0 {
					pod.Labels = map[string]string{"app": "db"}
				}
				if o := owners[rng.IntN(len(owners))]; o != "" {
					pod.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "x", UID: o,
						Controller: ptrTo(true)}}
				}
				if rng.IntN(2) == 0 {
					pod.Spec.NodeName = nodes[rng.IntN(len(nodes))].Name
				}
				pod.Status.Phase = []string{"", v1.PodPending, v1.PodRunning, v1.PodRunning, v1.PodSucceeded, v1.PodFailed}[rng.IntN(6)]
				if rng.IntN(2) == 0 {
					pod.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue,
						LastTransitionTime: v1.NewTime(now.Add(-time.Duration(rng.IntN(60)) * time.Second))}}
				}
				if _, err := p.store().Get("pods", pod.Namespace, pod.Name); err == nil {
					continue
				}
				p.create(t, pod)
				if pod.Spec.NodeName != "" && rng.IntN(6) == 0 {
					terminate = append(terminate, pod)
				}
			}
			for _, pod := range terminate {
				cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: pod.Namespace, Name: pod.Name,
					Now: v1.NewTime(now)})
				p.apply(t, cmd, err)
			}
			s := p.store()
			l, err := s.List("pods", fsm.ListOptions{Namespace: "default"})
			if err != nil {
				t.Fatal(err)
			}
			var listed []*v1.Pod
			for _, r := range l.Items {
				listed = append(listed, r.Object().(*v1.Pod))
			}
			check := func(name string, podsOf func() ([]*v1.Pod, error), plan func(pods []*v1.Pod) any) {
				t.Helper()
				pods, err := podsInKeyOrder(podsOf())
				if err != nil {
					t.Fatal(err)
				}
				if len(pods) >= len(listed) && len(listed) > 10 {
					t.Errorf("%s: the informer gave %d pods of the namespace's %d", name, len(pods), len(listed))
				}
				// The plans' exported fields, pointers followed (a plan may
				// hold a func, which reflect.DeepEqual never finds equal).
				want, err := json.Marshal(plan(listed))
				if err != nil {
					t.Fatal(err)
				}
				got, err := json.Marshal(plan(pods))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: plan from the informer's pods\n%s\nfrom the namespace's list\n%s", name, got, want)
				}
			}
			m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
			if err := m.pods.Sync(s); err != nil {
				t.Fatal(err)
			}
			for _, r := range []Replicated{rc, rs} {
				check(v1.KindOf(r), func() ([]*v1.Pod, error) { return m.podsOf(s, r) },
					func(pods []*v1.Pod) any { return PlanReplication(r, pods, nil, now) })
			}
			jc := NewJobController(JobConfig{Store: p.store, Proposer: p})
			if err := jc.pods.Sync(s); err != nil {
				t.Fatal(err)
			}
			for _, finished := range []bool{false, true} {
				j := v1.DeepCopy(job)
				if finished {
					j.Status.Conditions = []v1.JobCondition{{Type: v1.JobComplete, Status: v1.ConditionTrue}}
				}
				check(fmt.Sprintf("Job (finished %t)", finished), func() ([]*v1.Pod, error) { return jc.podsOf(s, j) },
					func(pods []*v1.Pod) any { return PlanJob(j, pods, nil, now) })
			}
			dc := NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p})
			if err := dc.pods.Sync(s); err != nil {
				t.Fatal(err)
			}
			check("DaemonSet", func() ([]*v1.Pod, error) { return dc.podsOf(s, ds) },
				func(pods []*v1.Pod) any {
					return PlanDaemonSet(ds, nodes, pods, "hash", nil, func(string) bool { return false }, now)
				})
			sc := NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p})
			if err := sc.pods.Sync(s); err != nil {
				t.Fatal(err)
			}
			check("StatefulSet", func() ([]*v1.Pod, error) { return sc.podsOf(s, ss) },
				func(pods []*v1.Pod) any { return PlanStatefulSet(ss, pods, stsRevs(ss), now) })
		})
	}
}

// TestControllerFullPassCostIndependentOfUnownedPods: a full pass (a
// resync) of the replication, Job, DaemonSet, StatefulSet and deployment
// controllers, each with one controller, reads the same number of records
// beside 1,000 or 100,000 pods no controller owns; each listed and decoded
// every pod of the store (the deployment controller when one deployment
// is a Recreate).
func TestControllerFullPassCostIndependentOfUnownedPods(t *testing.T) {
	passes := []struct {
		name string
		obj  func() v1.Object
		pass func(p *fakeProposer) func(ctx context.Context, s *fsm.Store) error
	}{
		{"replication", func() v1.Object { return loopRC("fp-rc", 3) }, func(p *fakeProposer) func(context.Context, *fsm.Store) error {
			return NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p}).Pass
		}},
		{"job", func() v1.Object {
			return testJob(func(j *v1.Job) {
				j.Name, j.UID = "fp-job", "uid-fp-job"
				j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "fp-job"}}
				j.Spec.Template.Labels = map[string]string{"app": "fp-job"}
			})
		}, func(p *fakeProposer) func(context.Context, *fsm.Store) error {
			return NewJobController(JobConfig{Store: p.store, Proposer: p}).Pass
		}},
		{"daemonset", func() v1.Object {
			return testDS(func(ds *v1.DaemonSet) { ds.Name, ds.UID = "fp-ds", "uid-fp-ds" })
		}, func(p *fakeProposer) func(context.Context, *fsm.Store) error {
			return NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p}).Pass
		}},
		{"statefulset", func() v1.Object { return costSTS("fp-sts") }, func(p *fakeProposer) func(context.Context, *fsm.Store) error {
			return NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p}).Pass
		}},
		{"deployment (Recreate)", func() v1.Object {
			d := testDeployment(3, "1", "0")
			d.Name, d.UID, d.ResourceVersion = "fp-deploy", "uid-fp-deploy", ""
			d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "fp-deploy"}}
			d.Spec.Template.Labels = map[string]string{"app": "fp-deploy"}
			d.Spec.Strategy = v1.DeploymentStrategy{Type: v1.RecreateDeploymentStrategyType}
			return d
		}, func(p *fakeProposer) func(context.Context, *fsm.Store) error {
			return NewDeploymentController(DeploymentConfig{Store: p.store, Proposer: p}).Pass
		}},
	}
	for _, tc := range passes {
		t.Run(tc.name, func(t *testing.T) {
			assertCostIndependentOf(t, useUnownedScaleEnv, func(t *testing.T, e *scaleEnv) uint64 {
				p, ctx := e.p, context.Background()
				obj := tc.obj()
				res, err := v1.ResourceOf(obj)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.store().Get(res.Name, "default", obj.GetObjectMeta().Name); v1.IsNotFound(err) {
					p.create(t, obj)
				}
				pass := tc.pass(p)
				// The first pass makes the controller's pods; the second
				// is a resync of a controller that has them.
				for range 3 {
					if err := pass(ctx, p.store()); err != nil {
						t.Fatal(err)
					}
				}
				return readsOf(p.store(), func() {
					if err := pass(ctx, p.store()); err != nil {
						t.Fatal(err)
					}
				})
			})
		})
	}
}

// TestFullPassDeploymentInputsEquivalent: the deployment controller's full
// pass plans each deployment against the ReplicaSets and pods inputsOf
// reads through the informers (sorted by key) instead of every set and pod
// of its namespace; on random stores (sets it controls, another's, orphans
// that match or not, created at the same moment or not, and their pods)
// PlanDeployment makes the same step from both, Recreate or RollingUpdate.
func TestFullPassDeploymentInputsEquivalent(t *testing.T) {
	now := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	for seed := range uint64(16) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			d := testDeployment(3, "1", "0")
			if rng.IntN(2) == 0 {
				d.Spec.Strategy = v1.DeploymentStrategy{Type: v1.RecreateDeploymentStrategyType}
			}
			hash, err := ComputeHash(&d.Spec.Template, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := newFakeProposer(t)
			var rsUIDs []string
			for i := range 3 + rng.IntN(6) {
				lbls := map[string]string{"app": []string{"web", "web", "db"}[rng.IntN(3)], v1.DefaultDeploymentUniqueLabelKey: fmt.Sprintf("h%d", i)}
				tmpl := v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: lbls},
					Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: fmt.Sprintf("busybox:%d", i)}}}}
				name, current := fmt.Sprintf("rs-%d", rng.IntN(100)), false
				if i == 0 && rng.IntN(3) != 0 { // the deployment's current set
					tmpl = v1.DeepCopy(d).Spec.Template
					tmpl.Labels = map[string]string{"app": "web", v1.DefaultDeploymentUniqueLabelKey: hash}
					lbls, name, current = tmpl.Labels, "web-"+hash, true
				}
				rs := &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default",
					UID: fmt.Sprintf("uid-rs-%d", i), Labels: lbls,
					CreationTimestamp: v1.NewTime(now.Add(-time.Duration(rng.IntN(3)) * time.Minute))},
					Spec: v1.ReplicaSetSpec{Replicas: ptrTo(int32(rng.IntN(4))), Selector: &metav1.LabelSelector{MatchLabels: lbls},
						Template: tmpl},
					Status: v1.ReplicaSetStatus{Replicas: int32(rng.IntN(4))}}
				switch k := rng.IntN(6); {
				case current || k < 4:
					rs.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptrTo(true)}}
				case k == 4:
					rs.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "x", UID: "uid-other", Controller: ptrTo(true)}}
				}
				if _, err := p.store().Get("replicasets", "default", rs.Name); err == nil {
					continue
				}
				p.create(t, rs)
				rsUIDs = append(rsUIDs, rs.UID)
			}
			for i := range 10 + rng.IntN(20) {
				pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("p-%02d", i), Namespace: "default", UID: fmt.Sprintf("uid-p-%d", i)},
					Spec:   v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
					Status: v1.PodStatus{Phase: []string{v1.PodRunning, v1.PodSucceeded, v1.PodFailed, ""}[rng.IntN(4)]}}
				if k := rng.IntN(len(rsUIDs) + 1); k < len(rsUIDs) {
					pod.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: rsUIDs[k], Controller: ptrTo(true)}}
				}
				p.create(t, pod)
			}
			s := p.store()
			rss, err := listByNamespace[*v1.ReplicaSet](s, "replicasets")
			if err != nil {
				t.Fatal(err)
			}
			pods, err := listByNamespace[*v1.Pod](s, "pods")
			if err != nil {
				t.Fatal(err)
			}
			c := NewDeploymentController(DeploymentConfig{Store: p.store, Proposer: p})
			if err := c.rss.Sync(s); err != nil {
				t.Fatal(err)
			}
			if err := c.pods.Sync(s); err != nil {
				t.Fatal(err)
			}
			gotRSs, gotPods, err := c.inputsOf(s, d)
			if err != nil {
				t.Fatal(err)
			}
			step := func(rss []*v1.ReplicaSet, pods []*v1.Pod) []byte {
				st, err := PlanDeployment(d, rss, pods, now)
				b, jerr := json.Marshal(st)
				if jerr != nil {
					t.Fatal(jerr)
				}
				return fmt.Appendf(b, " err=%v", err)
			}
			want, got := step(rss["default"], pods["default"]), step(inKeyOrder(gotRSs), inKeyOrder(gotPods))
			if !bytes.Equal(got, want) {
				t.Errorf("step from the informers' inputs\n%s\nfrom the namespace's lists\n%s", got, want)
			}
		})
	}
}
