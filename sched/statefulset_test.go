package sched

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

func testSTS(replicas int32, policy string) *v1.StatefulSet {
	ss := &v1.StatefulSet{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "ss-uid", Generation: 2},
		Spec: v1.StatefulSetSpec{Replicas: &replicas, ServiceName: "nginx", PodManagementPolicy: policy,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox"}}}}}}
	v1.Default(ss)
	return ss
}

// stsPod is the set's pod of ordinal ord in the given state: "ready",
// "pending", "failed", "terminating"; rev "" is the set's update revision.
func stsPod(ss *v1.StatefulSet, ord int, state, rev string) *v1.Pod {
	if rev == "" {
		rev = stsRevs(ss).Update
	}
	p := NewStatefulSetPod(ss, ord, rev)
	p.UID = p.Name + "-uid"
	switch state {
	case "ready", "terminating":
		p.Status.Phase = v1.PodRunning
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
		if state == "terminating" {
			now := v1.NewTime(time.Unix(1, 0))
			p.DeletionTimestamp = &now
		}
	case "pending":
		p.Status.Phase = v1.PodPending
	case "failed":
		p.Status.Phase = v1.PodFailed
	}
	return p
}

// stsRevs are the revisions of a set without history: its template's.
func stsRevs(ss *v1.StatefulSet) StatefulSetRevisions {
	rp, err := PlanStatefulSetRevisions(ss, nil, nil)
	if err != nil {
		panic(err)
	}
	return rp.Revisions
}

// oldRevs are revisions mid-update: "old" (an older image) is current.
func oldRevs(ss *v1.StatefulSet) StatefulSetRevisions {
	r := stsRevs(ss)
	t := v1.DeepCopy(&v1.Pod{Spec: ss.Spec.Template.Spec}).Spec
	t.Containers[0].Image = "busybox:old"
	r.Current, r.CurrentTemplate = "old", &v1.PodTemplateSpec{ObjectMeta: ss.Spec.Template.ObjectMeta, Spec: t}
	return r
}

func stsPodNames(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestStatefulSetOrdinal(t *testing.T) {
	for _, tc := range []struct {
		pod  string
		want int
	}{{"web-0", 0}, {"web-12", 12}, {"web-", -1}, {"web-01", -1}, {"web-x", -1}, {"web-1-2", -1}, {"db-1", -1}, {"web--1", -1}} {
		if got := statefulSetOrdinal("web", tc.pod); got != tc.want {
			t.Errorf("ordinal of %s = %d, want %d", tc.pod, got, tc.want)
		}
	}
	if StatefulSetPodName("web", 3) != "web-3" {
		t.Error("pod name")
	}
}

func TestNewStatefulSetPodIdentity(t *testing.T) {
	ss := testSTS(3, v1.OrderedReadyPodManagement)
	p := NewStatefulSetPod(ss, 2, "web-abc")
	if p.Name != "web-2" || p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "nginx" || p.Namespace != "default" {
		t.Fatalf("identity: name %s hostname %s subdomain %s", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	want := map[string]string{"app": "web", v1.StatefulSetPodNameLabel: "web-2", v1.PodIndexLabel: "2", v1.ControllerRevisionHashLabel: "web-abc"}
	if !v1.JSONEqual(p.Labels, want) {
		t.Fatalf("labels %v, want %v", p.Labels, want)
	}
	if ref := p.ControllerRef(); ref == nil || ref.UID != "ss-uid" || ref.Kind != "StatefulSet" || ref.APIVersion != "apps/v1" {
		t.Fatalf("controller ref %+v", ref)
	}
	if ss.Spec.Template.Labels[v1.PodIndexLabel] != "" {
		t.Fatal("the template was changed")
	}
}

func TestPlanStatefulSet(t *testing.T) {
	now := time.Unix(1000, 0)
	ordered, parallel := v1.OrderedReadyPodManagement, v1.ParallelPodManagement
	tests := []struct {
		name      string
		replicas  int32
		policy    string
		partition int32
		onDelete  bool
		pods      func(ss *v1.StatefulSet) []*v1.Pod
		create    []string
		del       []string
	}{
		{"ordered first pod", 3, ordered, 0, false, func(*v1.StatefulSet) []*v1.Pod { return nil }, []string{"web-0"}, nil},
		{"ordered waits for a pending pod", 3, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "pending", "")}
		}, nil, nil},
		{"ordered next once ready", 3, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", "")}
		}, []string{"web-1"}, nil},
		{"ordered fills a gap first", 3, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", ""), stsPod(ss, 2, "ready", "")}
		}, []string{"web-1"}, nil},
		{"parallel all at once", 3, parallel, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 1, "pending", "")}
		}, []string{"web-0", "web-2"}, nil},
		{"failed pod deleted", 2, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "failed", ""), stsPod(ss, 1, "ready", "")}
		}, nil, []string{"web-0"}},
		{"ordered scale down highest first", 1, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", ""), stsPod(ss, 1, "ready", ""), stsPod(ss, 2, "ready", "")}
		}, nil, []string{"web-2"}},
		{"ordered scale down waits for terminating", 1, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", ""), stsPod(ss, 1, "ready", ""), stsPod(ss, 2, "terminating", "")}
		}, nil, nil},
		{"ordered scale down waits for unhealthy", 1, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "pending", ""), stsPod(ss, 1, "ready", "")}
		}, nil, nil},
		{"parallel scale down", 1, parallel, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", ""), stsPod(ss, 1, "pending", ""), stsPod(ss, 2, "ready", "")}
		}, nil, []string{"web-2", "web-1"}},
		{"rolling update from the top", 3, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "ready", "old")}
		}, nil, []string{"web-2"}},
		{"rolling update waits for the updated pod", 3, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "pending", "")}
		}, nil, nil},
		{"rolling update continues down", 3, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "ready", "")}
		}, nil, []string{"web-1"}},
		{"rolling update stops at the partition", 3, ordered, 2, false, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "ready", "")}
		}, nil, nil},
		{"on delete keeps old pods", 3, ordered, 0, true, func(ss *v1.StatefulSet) []*v1.Pod {
			return []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "ready", "old")}
		}, nil, nil},
		{"other owners left alone", 1, ordered, 0, false, func(ss *v1.StatefulSet) []*v1.Pod {
			p := stsPod(ss, 0, "ready", "")
			p.OwnerReferences[0].UID = "other"
			return []*v1.Pod{p}
		}, []string{"web-0"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := testSTS(tc.replicas, tc.policy)
			*ss.Spec.UpdateStrategy.RollingUpdate.Partition = tc.partition
			if tc.onDelete {
				ss.Spec.UpdateStrategy = v1.StatefulSetUpdateStrategy{Type: v1.OnDeleteStatefulSetStrategyType}
			}
			pods := tc.pods(ss)
			plan := PlanStatefulSet(ss, pods, oldRevs(ss), now)
			if got := stsPodNames(plan.Create); !slices.Equal(got, tc.create) {
				t.Errorf("create %v, want %v", got, tc.create)
			}
			if got := stsPodNames(plan.Delete); !slices.Equal(got, tc.del) {
				t.Errorf("delete %v, want %v", got, tc.del)
			}
		})
	}
}

func TestPlanStatefulSetStatus(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := testSTS(3, v1.OrderedReadyPodManagement)
	revs := oldRevs(ss)
	pods := []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "ready", "")}
	st := PlanStatefulSet(ss, pods, revs, now).Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.CurrentReplicas != 2 || st.UpdatedReplicas != 1 ||
		st.CurrentRevision != "old" || st.UpdateRevision != revs.Update || st.ObservedGeneration != 2 {
		t.Fatalf("mid-update status %+v", st)
	}
	done := []*v1.Pod{stsPod(ss, 0, "ready", ""), stsPod(ss, 1, "ready", ""), stsPod(ss, 2, "ready", "")}
	st = PlanStatefulSet(ss, done, revs, now).Status
	if st.CurrentRevision != st.UpdateRevision || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 {
		t.Fatalf("completed update status %+v", st)
	}
	// A create the plan makes counts, not ready; refused ones do not.
	plan := PlanStatefulSet(ss, done[:2], revs, now)
	if plan.Status.Replicas != 3 || plan.Status.ReadyReplicas != 2 || plan.statusWith(0).Replicas != 2 {
		t.Fatalf("status with a create %+v, without %+v", plan.Status, plan.statusWith(0))
	}
}

func TestPlanStatefulSetOrdinalsStart(t *testing.T) {
	ss := testSTS(2, v1.ParallelPodManagement)
	ss.Spec.Ordinals = &v1.StatefulSetOrdinals{Start: 5}
	plan := PlanStatefulSet(ss, []*v1.Pod{stsPod(ss, 0, "ready", "")}, stsRevs(ss), time.Unix(1000, 0))
	if got := stsPodNames(plan.Create); !slices.Equal(got, []string{"web-5", "web-6"}) {
		t.Fatalf("create %v", got)
	}
	if got := stsPodNames(plan.Delete); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("delete %v", got)
	}
}

func TestPlanStatefulSetMinReadyWakes(t *testing.T) {
	now := time.Unix(1000, 0)
	ss := testSTS(2, v1.OrderedReadyPodManagement)
	ss.Spec.MinReadySeconds = 10
	p := stsPod(ss, 0, "ready", "")
	p.Status.Conditions[0].LastTransitionTime = v1.NewTime(now.Add(-4 * time.Second))
	plan := PlanStatefulSet(ss, []*v1.Pod{p}, stsRevs(ss), now)
	if len(plan.Create) != 0 || !plan.Wake.Equal(now.Add(6*time.Second)) {
		t.Fatalf("create %v wake %v", stsPodNames(plan.Create), plan.Wake)
	}
	if plan = PlanStatefulSet(ss, []*v1.Pod{p}, stsRevs(ss), now.Add(6*time.Second)); !slices.Equal(stsPodNames(plan.Create), []string{"web-1"}) {
		t.Fatalf("after minReadySeconds: create %v", stsPodNames(plan.Create))
	}
}

func TestPlanStatefulSetPartitionKeepsCurrentRevision(t *testing.T) {
	ss := testSTS(3, v1.OrderedReadyPodManagement)
	*ss.Spec.UpdateStrategy.RollingUpdate.Partition = 2
	revs := oldRevs(ss)
	// web-0 (below the partition) was deleted: it comes back as it was.
	plan := PlanStatefulSet(ss, []*v1.Pod{stsPod(ss, 1, "ready", "old"), stsPod(ss, 2, "ready", "")}, revs, time.Unix(1000, 0))
	if len(plan.Create) != 1 || plan.Create[0].Name != "web-0" || plan.Create[0].Labels[v1.ControllerRevisionHashLabel] != "old" ||
		plan.Create[0].Spec.Containers[0].Image != "busybox:old" {
		t.Fatalf("create %+v", plan.Create)
	}
	// web-2 (at the partition) comes back at the update revision.
	plan = PlanStatefulSet(ss, []*v1.Pod{stsPod(ss, 0, "ready", "old"), stsPod(ss, 1, "ready", "old")}, revs, time.Unix(1000, 0))
	if len(plan.Create) != 1 || plan.Create[0].Labels[v1.ControllerRevisionHashLabel] != revs.Update ||
		plan.Create[0].Spec.Containers[0].Image != "busybox" {
		t.Fatalf("create %+v", plan.Create)
	}
}

func TestPlanStatefulSetRevisions(t *testing.T) {
	ss := testSTS(1, v1.OrderedReadyPodManagement)
	rev := func(image string, n int64) *v1.ControllerRevision {
		s := v1.DeepCopy(ss)
		s.Spec.Template.Spec.Containers[0].Image = image
		cr, err := NewStatefulSetRevision(s, n)
		if err != nil {
			t.Fatal(err)
		}
		cr.UID = image + "-uid"
		return cr
	}
	cur := rev("busybox", 1)
	two := int32(2)
	tests := []struct {
		name      string
		revisions func() []*v1.ControllerRevision
		pods      func() []*v1.Pod
		limit     *int32
		status    string // status.currentRevision
		create    int64  // revision number of a new revision, 0 for none
		renumber  int64
		collision bool
		deleted   []string
		current   string
	}{
		{name: "first revision", revisions: func() []*v1.ControllerRevision { return nil }, create: 1},
		{name: "template unchanged", revisions: func() []*v1.ControllerRevision { return []*v1.ControllerRevision{rev("a", 1), rev("busybox", 2)} }},
		{name: "new template", revisions: func() []*v1.ControllerRevision { return []*v1.ControllerRevision{rev("a", 1), rev("b", 2)} }, create: 3},
		{name: "rollback renumbers", revisions: func() []*v1.ControllerRevision {
			c := v1.DeepCopy(cur)
			return []*v1.ControllerRevision{c, rev("b", 2)}
		}, renumber: 3},
		{name: "name taken", revisions: func() []*v1.ControllerRevision {
			other := v1.DeepCopy(cur)
			other.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace"}}}`)
			other.OwnerReferences = nil
			return []*v1.ControllerRevision{other}
		}, collision: true},
		{name: "history limit", limit: &two, revisions: func() []*v1.ControllerRevision {
			return []*v1.ControllerRevision{rev("a", 1), rev("b", 2), rev("c", 3), rev("d", 4), rev("e", 5), rev("busybox", 6)}
		}, deleted: []string{rev("a", 1).Name, rev("b", 2).Name, rev("c", 3).Name}},
		{name: "history keeps what pods use", limit: &two, revisions: func() []*v1.ControllerRevision {
			return []*v1.ControllerRevision{rev("a", 1), rev("b", 2), rev("c", 3), rev("d", 4), rev("e", 5), rev("busybox", 6)}
		}, pods: func() []*v1.Pod { return []*v1.Pod{stsPod(ss, 0, "ready", rev("a", 1).Name)} },
			deleted: []string{rev("b", 2).Name, rev("c", 3).Name}},
		{name: "current from the status", status: rev("a", 1).Name, revisions: func() []*v1.ControllerRevision {
			return []*v1.ControllerRevision{rev("a", 1), rev("busybox", 2)}
		}, current: rev("a", 1).Name},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := v1.DeepCopy(ss)
			if tc.limit != nil {
				s.Spec.RevisionHistoryLimit = tc.limit
			}
			s.Status.CurrentRevision = tc.status
			var pods []*v1.Pod
			if tc.pods != nil {
				pods = tc.pods()
			}
			rp, err := PlanStatefulSetRevisions(s, tc.revisions(), pods)
			if err != nil {
				t.Fatal(err)
			}
			if rp.Collision != tc.collision {
				t.Fatalf("collision %v", rp.Collision)
			}
			if tc.collision {
				return
			}
			if (rp.Create != nil) != (tc.create != 0) || rp.Create != nil && (rp.Create.Revision != tc.create || rp.Create.Name != cur.Name) {
				t.Errorf("create %+v, want revision %d", rp.Create, tc.create)
			}
			if (rp.Renumber != nil) != (tc.renumber != 0) || rp.Renumber != nil && rp.Renumber.Revision != tc.renumber {
				t.Errorf("renumber %+v, want %d", rp.Renumber, tc.renumber)
			}
			var deleted []string
			for _, cr := range rp.Delete {
				deleted = append(deleted, cr.Name)
			}
			if !slices.Equal(deleted, tc.deleted) {
				t.Errorf("deleted %v, want %v", deleted, tc.deleted)
			}
			want := tc.current
			if want == "" {
				want = cur.Name
			}
			if rp.Revisions.Update != cur.Name || rp.Revisions.Current != want {
				t.Errorf("revisions %+v, want update %s current %s", rp.Revisions, cur.Name, want)
			}
			if want != cur.Name && (rp.Revisions.CurrentTemplate == nil || rp.Revisions.CurrentTemplate.Spec.Containers[0].Image != "a") {
				t.Errorf("current template %+v", rp.Revisions.CurrentTemplate)
			}
		})
	}
	if tmpl, err := revisionTemplate(cur); err != nil || !v1.JSONEqual(*tmpl, ss.Spec.Template) {
		t.Fatalf("a revision's template %+v %v", tmpl, err)
	}
}
