package sched

import (
	"strconv"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// rolloutSim drives PlanDeployment against a simulated replication
// manager: a set's pods exist as soon as it is scaled, and become available
// one round later unless stuck.
type rolloutSim struct {
	t     *testing.T
	d     *v1.Deployment
	sets  []*v1.ReplicaSet
	now   time.Time
	stuck bool // new pods never become available
	rv    int
	// lagged are the scaled-down sets (by resourceVersion) whose status
	// already lagged one round.
	lagged map[string]bool
}

func (s *rolloutSim) nextRV() string { s.rv++; return strconv.Itoa(s.rv) }

// step plans once and applies the step; it reports whether anything was written.
func (s *rolloutSim) step() bool {
	st, err := PlanDeployment(s.d, s.sets, nil, s.now)
	if err != nil {
		s.t.Fatalf("PlanDeployment: %v", err)
	}
	wrote := false
	put := func(rs *v1.ReplicaSet) {
		rs = v1.DeepCopy(rs)
		rs.ResourceVersion = s.nextRV()
		for i, x := range s.sets {
			if x.UID == rs.UID {
				s.sets[i] = rs
				return
			}
		}
		s.sets = append(s.sets, rs)
	}
	for _, rs := range append(st.Adopt, st.Update...) {
		put(rs)
		wrote = true
	}
	if st.Create != nil {
		rs := v1.DeepCopy(st.Create)
		rs.UID = rs.Name + "-uid"
		rs.CreationTimestamp = v1.NewTime(s.now)
		rs.Generation = 1
		put(rs)
		wrote = true
	}
	for _, del := range st.Delete {
		for i, x := range s.sets {
			if x.UID == del.UID {
				s.sets = append(s.sets[:i], s.sets[i+1:]...)
				break
			}
		}
		wrote = true
	}
	if st.Meta != nil {
		s.d = v1.DeepCopy(st.Meta)
		wrote = true
	}
	if st.Status != nil {
		s.d = v1.DeepCopy(s.d)
		s.d.Status = *st.Status
		wrote = true
	}
	return wrote
}

// settle is the replication manager's pass: status follows spec; pods
// that existed before become available (unless stuck and new).
func (s *rolloutSim) settle() {
	if s.lagged == nil {
		s.lagged = map[string]bool{}
	}
	for i, rs := range s.sets {
		c := v1.DeepCopy(rs)
		n := rsReplicas(c)
		if n < c.Status.Replicas && !s.lagged[c.ResourceVersion] {
			// A scaled-down set reports its deletions one round late.
			s.lagged[c.ResourceVersion] = true
			continue
		}
		avail := min(c.Status.Replicas, n)
		newest := EqualIgnoreHash(&c.Spec.Template, &s.d.Spec.Template)
		if s.stuck && newest {
			avail = 0
		}
		c.Status = v1.ReplicaSetStatus{Replicas: n, ReadyReplicas: avail, AvailableReplicas: avail, ObservedGeneration: c.Generation}
		s.sets[i] = c
	}
}

// counts are the pods that exist and are available: the simulated
// replication manager makes and deletes pods at once, and reports them
// only when it settles, so a set scaled down has no more pods than its
// spec even while its status still counts them.
func (s *rolloutSim) counts() (pods, available int32) {
	for _, rs := range s.sets {
		pods += rsReplicas(rs)
		available += min(rs.Status.AvailableReplicas, rsReplicas(rs))
	}
	return pods, available
}

// run alternates planning and settling until neither changes anything.
func (s *rolloutSim) run(check func()) {
	for round := 0; round < 200; round++ {
		// The controller plans twice on the same statuses: the second plan
		// sees sets it just scaled whose status still counts the old pods.
		wrote := s.step()
		check()
		if s.step() {
			wrote = true
		}
		check()
		prev := make([]v1.ReplicaSetStatus, len(s.sets))
		for i, rs := range s.sets {
			prev[i] = rs.Status
		}
		s.settle()
		check()
		changed := false
		for i, rs := range s.sets {
			if i >= len(prev) || !v1.JSONEqual(prev[i], rs.Status) {
				changed = true
			}
		}
		if !wrote && !changed {
			return
		}
		s.now = s.now.Add(time.Second)
	}
	s.t.Fatalf("no steady state after 200 rounds: %+v", s.d.Status)
}

func TestRollingUpdateBounds(t *testing.T) {
	s := &rolloutSim{t: t, d: testDeployment(30, "25%", "25%"), now: time.Unix(10000, 0)}
	s.run(func() {})
	if p, a := s.counts(); p != 30 || a != 30 || len(s.sets) != 1 {
		t.Fatalf("first rollout: %d pods, %d available, %d sets", p, a, len(s.sets))
	}
	first := s.sets[0]
	if first.Annotations[v1.RevisionAnnotation] != "1" || s.d.Annotations[v1.RevisionAnnotation] != "1" {
		t.Errorf("revisions: set %q, deployment %q", first.Annotations[v1.RevisionAnnotation], s.d.Annotations[v1.RevisionAnnotation])
	}
	if first.Labels[v1.DefaultDeploymentUniqueLabelKey] == "" || first.Name != "web-"+first.Labels[v1.DefaultDeploymentUniqueLabelKey] ||
		first.Spec.Selector.MatchLabels[v1.DefaultDeploymentUniqueLabelKey] == "" {
		t.Errorf("set %s labels %v selector %v", first.Name, first.Labels, first.Spec.Selector)
	}

	s.d = v1.DeepCopy(s.d)
	s.d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	s.d.Generation++
	minAvail, maxPods := int32(30), int32(0)
	s.run(func() {
		p, a := s.counts()
		minAvail, maxPods = min(minAvail, a), max(maxPods, p)
	})
	if minAvail < 23 || maxPods > 38 {
		t.Errorf("rollout went to %d available (min 23), %d pods (max 38)", minAvail, maxPods)
	}
	if maxPods != 38 || minAvail != 23 {
		t.Errorf("rollout used %d pods and %d available: want the bounds reached (38, 23)", maxPods, minAvail)
	}
	c := getDeploymentCondition(&s.d.Status, v1.DeploymentProgressing)
	if c == nil || c.Reason != ReasonNewReplicaSetAvailable || s.d.Status.UpdatedReplicas != 30 || s.d.Status.AvailableReplicas != 30 {
		t.Errorf("status after rollout: %+v", s.d.Status)
	}
	if len(s.sets) != 2 || s.d.Annotations[v1.RevisionAnnotation] != "2" {
		t.Errorf("%d sets, revision %q", len(s.sets), s.d.Annotations[v1.RevisionAnnotation])
	}

	// Roll back: the old set becomes the new one with revision 3.
	s.d = v1.DeepCopy(s.d)
	s.d.Spec.Template.Spec.Containers[0].Image = "busybox:1"
	s.d.Generation++
	s.run(func() {})
	for _, rs := range s.sets {
		if rs.UID == first.UID && (rs.Annotations[v1.RevisionAnnotation] != "3" || rs.Annotations[v1.RevisionHistoryAnnotation] != "1" || rsReplicas(rs) != 30) {
			t.Errorf("rolled-back set: revision %q, history %q, %d replicas", rs.Annotations[v1.RevisionAnnotation],
				rs.Annotations[v1.RevisionHistoryAnnotation], rsReplicas(rs))
		}
	}
	if len(s.sets) != 2 {
		t.Errorf("rollback made a set: %d sets", len(s.sets))
	}
}

func TestRecreateScalesDownFirst(t *testing.T) {
	s := &rolloutSim{t: t, d: testDeployment(5, "25%", "25%"), now: time.Unix(10000, 0)}
	s.d.Spec.Strategy = v1.DeploymentStrategy{Type: v1.RecreateDeploymentStrategyType}
	s.run(func() {})
	s.d = v1.DeepCopy(s.d)
	s.d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	s.d.Generation++
	s.run(func() {
		var old, nw int32
		for _, rs := range s.sets {
			if EqualIgnoreHash(&rs.Spec.Template, &s.d.Spec.Template) {
				nw += rs.Status.Replicas
			} else {
				old += rs.Status.Replicas
			}
		}
		if old > 0 && nw > 0 {
			t.Fatalf("old (%d) and new (%d) pods at once", old, nw)
		}
	})
	if p, a := s.counts(); p != 5 || a != 5 {
		t.Errorf("%d pods, %d available", p, a)
	}
}

func TestProgressDeadline(t *testing.T) {
	s := &rolloutSim{t: t, d: testDeployment(4, "25%", "25%"), now: time.Unix(10000, 0)}
	s.run(func() {})
	s.stuck = true
	s.d = v1.DeepCopy(s.d)
	s.d.Spec.Template.Spec.Containers[0].Image = "busybox:bad"
	s.d.Spec.ProgressDeadlineSeconds = new(int32(30))
	s.d.Generation++
	s.run(func() {})
	c := getDeploymentCondition(&s.d.Status, v1.DeploymentProgressing)
	if c == nil || c.Reason == ReasonProgressDeadlineExceeded {
		t.Fatalf("timed out before the deadline: %+v", c)
	}
	st, _ := PlanDeployment(s.d, s.sets, nil, s.now)
	if st.Wake.IsZero() || st.Wake.Before(c.LastUpdateTime.Add(30*time.Second)) {
		t.Errorf("wake %v, want after %v", st.Wake, c.LastUpdateTime.Add(30*time.Second))
	}
	s.now = c.LastUpdateTime.Add(31 * time.Second)
	s.run(func() {})
	c = getDeploymentCondition(&s.d.Status, v1.DeploymentProgressing)
	if c == nil || c.Status != v1.ConditionFalse || c.Reason != ReasonProgressDeadlineExceeded {
		t.Errorf("after the deadline: %+v", c)
	}
	if a := getDeploymentCondition(&s.d.Status, v1.DeploymentAvailable); a == nil || a.Reason != ReasonMinimumReplicasAvailable {
		t.Errorf("available condition %+v", a)
	}
}

func TestPausedScalesButDoesNotRoll(t *testing.T) {
	s := &rolloutSim{t: t, d: testDeployment(4, "25%", "25%"), now: time.Unix(10000, 0)}
	s.run(func() {})
	s.d = v1.DeepCopy(s.d)
	s.d.Spec.Paused = true
	s.d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	s.d.Spec.Replicas = new(int32(6))
	s.d.Generation++
	s.run(func() {})
	if len(s.sets) != 1 || rsReplicas(s.sets[0]) != 6 {
		t.Fatalf("paused: %d sets, first with %d replicas", len(s.sets), rsReplicas(s.sets[0]))
	}
	if c := getDeploymentCondition(&s.d.Status, v1.DeploymentProgressing); c == nil || c.Reason != ReasonDeploymentPaused {
		t.Errorf("progressing %+v, want DeploymentPaused", c)
	}
	s.d = v1.DeepCopy(s.d)
	s.d.Spec.Paused = false
	s.run(func() {})
	if c := getDeploymentCondition(&s.d.Status, v1.DeploymentProgressing); c == nil || c.Reason != ReasonNewReplicaSetAvailable {
		t.Errorf("resumed: progressing %+v", c)
	}
	if len(s.sets) != 2 {
		t.Errorf("resumed: %d sets", len(s.sets))
	}
}

func TestCleanupKeepsHistoryLimit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := testDeployment(2, "25%", "25%")
	d.Spec.RevisionHistoryLimit = new(int32(1))
	var sets []*v1.ReplicaSet
	for i := 1; i <= 3; i++ {
		rs := deployRS("old"+strconv.Itoa(i), 0, 0, i, t0.Add(time.Duration(i)*time.Second))
		rs.Spec.Template.Spec.Containers = []v1.Container{{Name: "web", Image: "busybox:" + strconv.Itoa(10+i)}}
		sets = append(sets, rs)
	}
	busy := deployRS("busy", 0, 0, 0, t0)
	busy.Status.Replicas = 1 // pods still terminating: kept
	busy.Spec.Template.Spec.Containers = []v1.Container{{Name: "web", Image: "busybox:9"}}
	cur := deployRS("cur", 2, 2, 4, t0.Add(5*time.Second))
	cur.Spec.Template = d.Spec.Template
	setReplicasAnnotations(cur, 2, 3)
	d.Annotations = map[string]string{v1.RevisionAnnotation: "4"}
	d.Status = v1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	st, err := PlanDeployment(d, append(sets, busy, cur), nil, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rs := range st.Delete {
		got = append(got, rs.Name)
	}
	if len(got) != 2 || got[0] != "old1" || got[1] != "old2" {
		t.Errorf("deleted %v, want [old1 old2] (busy has pods, old3 is kept)", got)
	}
}

func TestAdoptsOrphanSets(t *testing.T) {
	d := testDeployment(2, "25%", "25%")
	orphan := deployRS("orphan", 2, 2, 1, time.Unix(1000, 0))
	orphan.OwnerReferences = nil
	other := deployRS("other", 2, 2, 1, time.Unix(1000, 0))
	other.OwnerReferences[0].UID = "someone-else"
	st, err := PlanDeployment(d, []*v1.ReplicaSet{orphan, other}, nil, time.Unix(2000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Adopt) != 1 || st.Adopt[0].Name != "orphan" || st.Adopt[0].ControllerRef().UID != d.UID ||
		st.Adopt[0].ResourceVersion != orphan.ResourceVersion {
		t.Fatalf("adopted %+v", st.Adopt)
	}
	if st.Create != nil || st.Status != nil || len(st.Update) != 0 {
		t.Errorf("adoption step wrote more: %+v", st)
	}
}
