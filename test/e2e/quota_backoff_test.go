package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/sched"
	"orch.io/orch/test/harness"
)

// measureWindow is how long the leader's CPU time and the refused creates
// are measured, idle and with the failing RC.
const measureWindow = 20 * time.Second

// TestRCUnderQuotaBacksOff: an RC of 50 in a namespace whose quota allows 10
// pods gets exactly 10, and the condition ReplicaFailure=True, reason
// FailedCreate, with the quota's refusal, as Kubernetes' ReplicaSet
// controller reports it. Its creates keep being refused, but on the
// back-off's schedule: the refused creates counted in a window are at most
// what the schedule allows (one create per retry, retries 5 ms, 10 ms, ...
// apart). The leader's CPU time over the window is logged next to an idle
// window's. Once the quota allows 50, the RC gets its 50 pods and the
// condition goes.
func TestRCUnderQuotaBacksOff(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	ctx := ctxT(t, 5*time.Minute)
	const ns = "capped"
	if err := cl.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	q := &v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "pods", Namespace: ns},
		Spec: v1.ResourceQuotaSpec{Hard: v1.ResourceList{v1.ResourcePods: resource.MustParse("10")}}}
	if err := cl.Create(ctx, q); err != nil {
		t.Fatalf("create quota: %v", err)
	}
	leader := c.WaitLeader(30 * time.Second)
	c.WaitCaughtUp(30 * time.Second)

	// The idle baseline: nothing polls the cluster during a window.
	idle := measure(t, c, leader)

	rc := rcOf("web", 50)
	rc.Namespace = ns
	rc.Spec.Template.Spec.SchedulerName = unscheduled
	if err := cl.Create(ctx, rc); err != nil {
		t.Fatalf("create rc: %v", err)
	}
	var failure v1.ReplicationControllerCondition
	eventually(t, 30*time.Second, "10 pods and ReplicaFailure on the rc", func() error {
		if n := podCount(t, cl, ns); n != 10 {
			return fmt.Errorf("%d pods", n)
		}
		c, err := replicaFailure(t, cl, ns, "web")
		if err != nil || c == nil {
			return fmt.Errorf("no ReplicaFailure condition (%v)", err)
		}
		failure = *c
		return nil
	})
	if failure.Status != v1.ConditionTrue || failure.Reason != "FailedCreate" || !strings.Contains(failure.Message, "exceeded quota") {
		t.Errorf("ReplicaFailure condition %+v: want status True, reason FailedCreate, a message with \"exceeded quota\"", failure)
	}
	t.Logf("ReplicaFailure: %s", failure.Message)

	failing := measure(t, c, leader)
	if n := podCount(t, cl, ns); n != 10 {
		t.Errorf("%d pods after the window, want exactly 10", n)
	}
	// One more for a retry under way as the window opened (counted when
	// its create is refused).
	allowed := maxRetries(measureWindow, sched.DefaultCreateBackoffBase, sched.DefaultCreateBackoffMax) + 1
	t.Logf("leader %s CPU: idle %.2f ms/s; failing RC %.2f ms/s, %d refused creates in %v (the back-off allows at most %d)",
		c.Masters[leader].Name, idle.cpuPerSecond(), failing.cpuPerSecond(), failing.refused, measureWindow, allowed)
	// Each retry tries one create (the first slow-start batch) and stops at
	// its refusal.
	if failing.refused > uint64(allowed) {
		t.Errorf("%d refused creates in %v, more than the back-off's %d retries", failing.refused, measureWindow, allowed)
	}
	if failing.refused == 0 {
		t.Errorf("no refused create in %v: the RC stopped retrying, so a larger quota would never be used", measureWindow)
	}

	// The quota grows: at its next retry (the back-off is at most
	// DefaultCreateBackoffMax) the RC creates the rest and the condition goes.
	eventually(t, 10*time.Second, "raise the quota", func() error {
		var got v1.ResourceQuota
		if err := cl.Get(ctx, "resourcequotas", ns, "pods", &got); err != nil {
			return err
		}
		got.Spec.Hard[v1.ResourcePods] = resource.MustParse("50")
		return cl.Update(ctx, &got)
	})
	start := time.Now()
	eventually(t, sched.DefaultCreateBackoffMax+30*time.Second, "50 pods and no ReplicaFailure", func() error {
		if n := podCount(t, cl, ns); n != 50 {
			return fmt.Errorf("%d pods", n)
		}
		var got v1.ReplicationController
		if err := cl.Get(ctx, "replicationcontrollers", ns, "web", &got); err != nil {
			return err
		}
		if got.Status.Replicas != 50 {
			return fmt.Errorf("status.replicas %d", got.Status.Replicas)
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == sched.RCReplicaFailure {
				return fmt.Errorf("condition still there: %+v", cond)
			}
		}
		return nil
	})
	t.Logf("50 pods and the condition gone %v after the quota grew", time.Since(start).Round(time.Millisecond))
}

// window is what measure observed on the leader over measureWindow.
type window struct {
	cpu     time.Duration // user + system CPU time of the leader's process
	refused uint64        // orch_replication_create_failures_total's increase
	elapsed time.Duration
}

func (w window) cpuPerSecond() float64 {
	return float64(w.cpu) / float64(time.Millisecond) / w.elapsed.Seconds()
}

// measure waits measureWindow without touching the cluster and returns the
// leader's CPU time and refused creates over it. It fails the test if the
// leadership moved meanwhile (a new leader's back-off starts over).
func measure(t *testing.T, c *harness.Cluster, leader int) window {
	t.Helper()
	pid := c.Masters[leader].PID()
	refused0 := metricValue(t, c, leader, "orch_replication_create_failures_total")
	changes0 := metricValue(t, c, leader, "orch_raft_leader_changes_total")
	cpu0, start := processCPU(t, pid), time.Now()
	// Not a wait for a condition: the window is the measurement.
	<-time.After(measureWindow)
	cpu1, elapsed := processCPU(t, pid), time.Since(start)
	refused1 := metricValue(t, c, leader, "orch_replication_create_failures_total")
	if changes1 := metricValue(t, c, leader, "orch_raft_leader_changes_total"); changes1 != changes0 || c.Masters[leader].PID() != pid {
		t.Fatalf("the leadership moved during the window (%v leader changes seen by %s)", changes1-changes0, c.Masters[leader].Name)
	}
	if refused0 < 0 || refused1 < refused0 {
		t.Fatalf("orch_replication_create_failures_total on %s: %v then %v", c.Masters[leader].Name, refused0, refused1)
	}
	return window{cpu: cpu1 - cpu0, refused: uint64(refused1 - refused0), elapsed: elapsed}
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100

// processCPU returns the user + system CPU time of process pid.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("read the CPU time of %d: %v", pid, err)
	}
	// The fields after "(comm)": state is field 3, utime 14, stime 15.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %q: %v", pid, s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// maxRetries is the most retries an RC whose creates are always refused
// makes in any window of length w: the delays between its retries double
// from base up to limit, so the densest window starts at its first retry.
func maxRetries(w, base, limit time.Duration) int {
	n, spent := 1, time.Duration(0)
	for d := base; spent+d <= w; d = min(2*d, limit) {
		spent += d
		n++
	}
	return n
}

func podCount(t *testing.T, cl *client.Client, ns string) int {
	t.Helper()
	l, err := cl.List(ctxT(t, 5*time.Second), "pods", ns, client.ListOptions{})
	if err != nil {
		return -1
	}
	return len(l.Items)
}

// replicaFailure returns the rc's ReplicaFailure condition (nil if none).
func replicaFailure(t *testing.T, cl *client.Client, ns, name string) (*v1.ReplicationControllerCondition, error) {
	t.Helper()
	var rc v1.ReplicationController
	if err := cl.Get(ctxT(t, 5*time.Second), "replicationcontrollers", ns, name, &rc); err != nil {
		return nil, err
	}
	for _, c := range rc.Status.Conditions {
		if c.Type == sched.RCReplicaFailure {
			return &c, nil
		}
	}
	return nil, nil
}
