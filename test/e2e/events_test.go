package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// eventsOf lists the events about one object through the API, with the
// field selector kubectl describe uses.
func eventsOf(t *testing.T, cl *client.Client, kind, name string) []v1.Event {
	t.Helper()
	sel := fmt.Sprintf("involvedObject.kind=%s,involvedObject.name=%s,involvedObject.namespace=default", kind, name)
	evs, _, err := client.ListTyped[v1.Event](ctxT(t, 10*time.Second), cl, "events", "default", client.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatalf("list events of %s %s: %v", kind, name, err)
	}
	return evs
}

func reasons(evs []v1.Event) map[string]int32 {
	out := map[string]int32{}
	for _, e := range evs {
		out[e.Reason] += max(e.Count, 1)
	}
	return out
}

// eventWrites sums, over every master's /metrics, the event writes the
// API served (creates and updates: the node agents', whichever master
// they reached) and those the leader's event sources proposed.
func eventWrites(t *testing.T, c *harness.Cluster) (api, leader float64) {
	t.Helper()
	for i := range c.Masters {
		a, l := masterEventWrites(t, c, i)
		api, leader = api+a, leader+l
	}
	return api, leader
}

func masterEventWrites(t *testing.T, c *harness.Cluster, i int) (api, leader float64) {
	t.Helper()
	var raw []byte
	if err := c.Client(i).Do(ctxT(t, 5*time.Second), "GET", "/metrics", nil, nil, &raw); err != nil {
		t.Fatalf("metrics of master %d: %v", i, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, v, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "orch_api_requests_total{") && strings.Contains(name, `resource="events"`) &&
			(strings.Contains(name, `verb="create"`) || strings.Contains(name, `verb="update"`) || strings.Contains(name, `verb="patch"`)):
			api += f
		case strings.HasPrefix(name, "orch_event_writes_total{"):
			leader += f
		}
	}
	return api, leader
}

// A pod's life is told by its events, through the API, kubectl describe,
// kubectl get events and orchctl get events; a crash-looping RC of 100
// pods costs no more event writes than the rate limits allow, its repeats
// are counted into events; and every event goes after the TTL.
func TestEvents(t *testing.T) {
	parallel(t)
	const (
		ttl        = 40 * time.Second
		nodeQPS    = 5
		nodeBurst  = 10
		leaderQPS  = 2
		leaderBurs = 5
	)
	c, _ := nodeCluster(t, 1, false,
		[]string{"--event-ttl", ttl.String(), "--event-qps", fmt.Sprint(leaderQPS), "--event-burst", fmt.Sprint(leaderBurs)},
		// Restarts every 10 s at most: 100 pods still make several
		// times the events the limits allow, without taking the
		// machine from the tests running beside this one.
		"--restart-backoff", "2s", "--restart-backoff-max", "10s",
		"--event-qps", fmt.Sprint(nodeQPS), "--event-burst", fmt.Sprint(nodeBurst))
	cl := c.Client()

	// (1) A pod's life.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "ev-web"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "3600"}}}}})
	waitFor(t, 60*time.Second, "the pod's Scheduled, Pulled, Created and Started events", func() (bool, string) {
		r := reasons(eventsOf(t, cl, "Pod", "ev-web"))
		return r["Scheduled"] > 0 && r["Pulled"] > 0 && r["Created"] > 0 && r["Started"] > 0, fmt.Sprint(r)
	})
	for _, e := range eventsOf(t, cl, "Pod", "ev-web") {
		switch e.Reason {
		case "Scheduled":
			if e.Source.Component != "default-scheduler" || e.Message != "Successfully assigned default/ev-web to node-1" {
				t.Errorf("Scheduled event %+v", e)
			}
		case "Started":
			if e.Source.Component != "kubelet" || e.Source.Host != "node-1" || e.InvolvedObject.FieldPath != "spec.containers{c}" ||
				e.Message != "Started container c" {
				t.Errorf("Started event %+v", e)
			}
		}
	}
	// kubectl describe, get events and kubectl events show them: TestKubectlWalk.
	if out, errOut, err := c.Orchctl("", "describe", "pod", "ev-web"); err != nil || !strings.Contains(out, "Successfully assigned default/ev-web to node-1") {
		t.Errorf("orchctl describe pod: %v %s\n%s", err, errOut, out)
	}
	if out, errOut, err := c.Orchctl("", "get", "events"); err != nil || !strings.Contains(out, "pod/ev-web") || !strings.Contains(out, "Started container c") {
		t.Errorf("orchctl get events: %v %s\n%s", err, errOut, out)
	}

	// (2) 100 crash-looping pods on the one node for 30 seconds.
	apiBefore, leaderBefore := eventWrites(t, c)
	start := time.Now()
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "crash", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: ptr(int32(100)), Selector: map[string]string{"app": "crash"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "crash"}},
				Spec: v1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(0)),
					Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", "exit 1"}}}}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	// The RC's events, before the TTL takes them.
	waitFor(t, 30*time.Second, "the RC's SuccessfulCreate events", func() (bool, string) {
		r := reasons(eventsOf(t, cl, "ReplicationController", "crash"))
		return r["SuccessfulCreate"] > 0, fmt.Sprint(r)
	})
	deadline := start.Add(30 * time.Second)
	for time.Now().Before(deadline) {
		api, leader := eventWrites(t, c)
		elapsed := time.Since(start).Seconds()
		// The bound of one token bucket, plus one for a write in flight.
		if maxAPI := nodeBurst + nodeQPS*elapsed + 1; api-apiBefore > maxAPI {
			t.Fatalf("the node wrote %v events in %.0fs, more than its limit %.0f", api-apiBefore, elapsed, maxAPI)
		}
		// Three leader sources (scheduler, replication, node lifecycle).
		if maxLeader := 3 * (leaderBurs + leaderQPS*elapsed + 1); leader-leaderBefore > maxLeader {
			t.Fatalf("the leader proposed %v event entries in %.0fs, more than its limit %.0f", leader-leaderBefore, elapsed, maxLeader)
		}
		time.Sleep(2 * time.Second) // a sampling period, not a synchronisation
	}
	api, leader := eventWrites(t, c)
	t.Logf("30 s of 100 crash-looping pods: %v node event writes, %v leader event entries", api-apiBefore, leader-leaderBefore)
	if api-apiBefore == 0 || leader-leaderBefore == 0 {
		t.Error("no event writes counted: the node's or the leader's events are missing")
	}
	// Repeats (each crash starts the container again) are counted into
	// the events, not written one by one.
	evs, _, err := client.ListTyped[v1.Event](ctxT(t, 10*time.Second), cl, "events", "default",
		client.ListOptions{FieldSelector: "source=kubelet"})
	if err != nil {
		t.Fatal(err)
	}
	occurrences, counted := 0, 0
	for _, e := range evs {
		if strings.HasPrefix(e.InvolvedObject.Name, "crash-") {
			occurrences += int(e.Count)
			if e.Count > 1 {
				counted++
			}
		}
	}
	t.Logf("%d kubelet events about the crash pods stand for %d occurrences", len(evs), occurrences)
	if counted == 0 {
		t.Errorf("no event about the crash pods counted past 1: repeats are not aggregated")
	}

	// (3) Everything stops; every event is deleted once the TTL has passed
	// since it was last seen.
	// Background, as kubectl sends it: an RC's own default is to orphan its pods.
	if _, err := cl.Delete(ctxT(t, 10*time.Second), "replicationcontrollers", "default", "crash",
		&v1.DeleteOptions{PropagationPolicy: v1.PropagationBackground}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Delete(ctxT(t, 10*time.Second), "pods", "default", "ev-web", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "the crash pods gone", func() (bool, string) {
		ps, _, err := client.ListTyped[v1.Pod](ctxT(t, 10*time.Second), cl, "pods", "default", client.ListOptions{})
		return err == nil && len(ps) == 0, fmt.Sprintf("%d pods, %v", len(ps), err)
	})
	// No event may go before the TTL has passed since it was last seen
	// (timestamps are whole seconds: a second of slack).
	lastSeen := map[string]time.Time{}
	waitFor(t, ttl+90*time.Second, "every event expired", func() (bool, string) {
		evs, _, err := client.ListTyped[v1.Event](ctxT(t, 10*time.Second), cl, "events", "", client.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		now := time.Now()
		present := map[string]bool{}
		for _, e := range evs {
			present[e.Namespace+"/"+e.Name] = true
			lastSeen[e.Namespace+"/"+e.Name] = e.LastSeen()
		}
		for k, seen := range lastSeen {
			if !present[k] {
				if age := now.Sub(seen); age < ttl-time.Second {
					t.Errorf("event %s deleted %v after it was last seen, before the TTL %v", k, age, ttl)
				}
				delete(lastSeen, k)
			}
		}
		return len(evs) == 0, fmt.Sprintf("%d events left", len(evs))
	})
}

func ptr[T any](v T) *T { return &v }
