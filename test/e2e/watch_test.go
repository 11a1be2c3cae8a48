package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// Done-when 4: a watch started at resourceVersion N keeps going across a
// leader kill and delivers every change after N exactly once, in order.
func TestWatchResumesAcrossLeaderKill(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	for i := 0; i < 5; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), testPod(fmt.Sprintf("before-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	l, err := cl.List(ctxT(t, 5*time.Second), "pods", "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	startRV := l.ResourceVersion
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w, err := cl.Watch(ctx, "pods", "default", client.WatchOptions{ResourceVersion: startRV})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	// Write through the followers-and-leader client, kill the leader halfway.
	acked := map[string]bool{} // "name@rv" of acknowledged writes
	write := func(i int) {
		p := testPod(fmt.Sprintf("w-%03d", i))
		for attempt := 0; attempt < 20; attempt++ {
			err := cl.Create(ctxT(t, 10*time.Second), p)
			if err == nil {
				acked[p.Name+"@"+p.ResourceVersion] = true
				return
			}
			if v1.IsAlreadyExists(err) {
				return // an earlier attempt with an unknown outcome did apply
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("write %d never succeeded", i)
	}
	for i := 0; i < 40; i++ {
		write(i)
	}
	leader := c.WaitLeader(10 * time.Second)
	c.Kill(leader)
	for i := 40; i < 80; i++ {
		write(i)
	}
	newLeader := c.WaitLeader(15 * time.Second)

	// The canonical history after startRV, from a fresh watch on a survivor.
	fresh, err := c.Client(newLeader).Watch(ctx, "pods", "default", client.WatchOptions{ResourceVersion: startRV})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Stop()
	var want []string
	for len(want) < 80 {
		select {
		case ev, ok := <-fresh.Events():
			if !ok {
				t.Fatalf("fresh watch ended: %v", fresh.Err())
			}
			want = append(want, ev.Type+" "+ev.Name+"@"+ev.ResourceVersion)
		case <-ctx.Done():
			t.Fatalf("fresh watch got %d events", len(want))
		}
	}
	var got []string
	seen := map[string]bool{}
	var lastRV uint64
	for len(got) < len(want) {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %d events: %v", len(got), w.Err())
			}
			key := ev.Type + " " + ev.Name + "@" + ev.ResourceVersion
			if seen[key] {
				t.Fatalf("event delivered twice: %s", key)
			}
			seen[key] = true
			rv, _ := strconv.ParseUint(ev.ResourceVersion, 10, 64)
			if rv < lastRV {
				t.Fatalf("event %s out of order after rv %d", key, lastRV)
			}
			lastRV = rv
			got = append(got, key)
		case <-ctx.Done():
			t.Fatalf("watch delivered %d of %d events", len(got), len(want))
		}
	}
	if err := equalStrings(got, want); err != nil {
		t.Fatalf("the resumed watch differs from the history: %v", err)
	}
	for k := range acked {
		if !seen["ADDED "+k] {
			t.Errorf("acknowledged write %s missing from the watch", k)
		}
	}
}
