package e2e

import (
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// Done-when 3: 50 concurrent updates carrying the same resourceVersion:
// exactly one succeeds, the rest get 409; 20 concurrent creates of one
// name: exactly one 201. It runs alone (no t.Parallel): a leader change
// while the writes are in flight turns answers into "outcome unknown",
// which a loaded machine makes likely and this test cannot count.
func TestConcurrentCompareAndSwap(t *testing.T) {
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	p := testPod("cas")
	if err := cl.Create(ctxT(t, 10*time.Second), p); err != nil {
		t.Fatal(err)
	}
	rv := p.ResourceVersion
	var wg sync.WaitGroup
	results := make([]error, 50)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			q := v1.DeepCopy(p)
			q.Labels = map[string]string{"app": "web", "writer": string(rune('a' + i%26))}
			q.ResourceVersion = rv
			// Spread the writers over all masters: followers forward.
			results[i] = c.Client(i%3).Update(ctxT(t, 20*time.Second), q)
		}(i)
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case v1.IsConflict(err):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || conflicts != 49 {
		t.Fatalf("%d updates succeeded and %d conflicted; want 1 and 49", ok, conflicts)
	}

	created := make([]error, 20)
	for i := range created {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			created[i] = c.Client(i%3).Create(ctxT(t, 20*time.Second), testPod("same-name"))
		}(i)
	}
	wg.Wait()
	ok, exists := 0, 0
	for _, err := range created {
		switch {
		case err == nil:
			ok++
		case v1.IsAlreadyExists(err):
			exists++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || exists != 19 {
		t.Fatalf("%d creates succeeded and %d got AlreadyExists; want 1 and 19", ok, exists)
	}
}
