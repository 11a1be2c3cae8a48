package fsm

import (
	"fmt"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// subEvent makes an event of resource at index for obj, with prev as the object
// before (nil for ADDED).
func subEvent(index uint64, resource string, obj, prev v1.Object) Event {
	e := Event{Index: index, Type: v1.Added, Resource: resource, Record: NewRecord(obj, nil)}
	if prev != nil {
		e.Type, e.Prev = v1.Modified, NewRecord(prev, nil)
	}
	return e
}

func leaseObj(name string) *v1.Lease {
	return &v1.Lease{ObjectMeta: testMeta("kube-node-lease", name)}
}

// eventKeys names events as index/resource/key, to compare them.
func eventKeys(evs []Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d/%s/%s", e.Index, e.Resource, e.Record.Key()))
	}
	return out
}

// subscriptionEvents is a stream of changes of several resources: pods
// created unbound, bound, moved between namespaces' nodes, Leases, Nodes
// and Services.
func subscriptionEvents() []Event {
	return []Event{
		subEvent(1, "pods", podObj("a", "p1", nil), nil),
		subEvent(2, "pods", boundPod("a", "p1", "n1"), podObj("a", "p1", nil)),
		subEvent(3, "pods", boundPod("b", "p2", "n2"), nil),
		subEvent(4, "leases", leaseObj("n1"), nil),
		subEvent(5, "nodes", nodeObj("n1"), nil),
		subEvent(6, "nodes", nodeObj("n2"), nil),
		subEvent(7, "services", svcObj("a", "s1"), nil),
		subEvent(8, "pods", podObj("a", "p1", nil), boundPod("a", "p1", "n1")), // n1 → "": prev on n1
	}
}

func TestSubscriptionFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter WatchFilter
		want   []string
	}{
		{"every pod", WatchFilter{Resource: "pods"},
			[]string{"1/pods/a/p1", "2/pods/a/p1", "3/pods/b/p2", "8/pods/a/p1"}},
		{"pods of n1 (bound, then unbound)", WatchFilter{Resource: "pods", Field: FieldNodeName, Value: "n1"},
			[]string{"2/pods/a/p1", "8/pods/a/p1"}},
		{"pods of n2", WatchFilter{Resource: "pods", Field: FieldNodeName, Value: "n2"},
			[]string{"3/pods/b/p2"}},
		{"unbound pods", WatchFilter{Resource: "pods", Field: FieldNodeName, Value: ""},
			[]string{"1/pods/a/p1", "2/pods/a/p1", "8/pods/a/p1"}},
		{"pods of n3", WatchFilter{Resource: "pods", Field: FieldNodeName, Value: "n3"}, []string{}},
		{"node n1 by name", WatchFilter{Resource: "nodes", Field: FieldName, Value: "n1"}, []string{"5/nodes/n1"}},
		{"pods of namespace b", WatchFilter{Resource: "pods", Field: FieldNamespace, Value: "b"}, []string{"3/pods/b/p2"}},
		{"cluster-scoped nodes by namespace", WatchFilter{Resource: "nodes", Field: FieldNamespace, Value: ""},
			[]string{"5/nodes/n1", "6/nodes/n2"}},
		{"leases", WatchFilter{Resource: "leases"}, []string{"4/leases/kube-node-lease/n1"}},
		{"nothing of a resource not changed", WatchFilter{Resource: "endpoints"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Events appended after the subscription are handed over as
			// they come; the same events from a subscription from 0 are
			// read from the window. Both see the same.
			live := NewFeed(100, 0)
			sub, err := live.Subscribe(0, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Stop()
			var got []Event
			for _, e := range subscriptionEvents() {
				live.append([]Event{e}, e.Index)
				evs, last, closed, err := sub.Next()
				if err != nil || closed || last != e.Index {
					t.Fatalf("Next after %d: last %d closed %v err %v", e.Index, last, closed, err)
				}
				got = append(got, evs...)
			}
			if k := eventKeys(got); !slices.Equal(k, tt.want) {
				t.Errorf("live: got %q, want %q", k, tt.want)
			}

			late := NewFeed(100, 0)
			for _, e := range subscriptionEvents() {
				late.append([]Event{e}, e.Index)
			}
			sub2, err := late.Subscribe(0, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Stop()
			select {
			case <-sub2.Wait():
			default:
				t.Fatal("a subscription with a backlog is not woken")
			}
			evs, last, _, err := sub2.Next()
			if err != nil || last != 8 {
				t.Fatalf("backlog: last %d err %v", last, err)
			}
			if k := eventKeys(evs); !slices.Equal(k, tt.want) {
				t.Errorf("backlog: got %q, want %q", k, tt.want)
			}
		})
	}
}

// What one change costs the feed depends on the watches it concerns, not
// on how many others there are: with n nodes each watching its own pods,
// the services and the endpoints, a Lease renewal is handed to no watch
// and wakes none, a pod's binding to one node is handed to that node's
// watch alone, and a service change to each services watch.
func TestSubscriptionWorkIndependentOfWatchers(t *testing.T) {
	for _, n := range []int{10, 100, 2000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := NewFeed(100, 0)
			podSubs := make([]*Subscription, n)
			var svcSubs []*Subscription
			for i := range n {
				node := fmt.Sprintf("n%d", i)
				s, err := f.Subscribe(0, WatchFilter{Resource: "pods", Field: FieldNodeName, Value: node})
				if err != nil {
					t.Fatal(err)
				}
				podSubs[i] = s
				for _, res := range []string{"services", "endpoints"} {
					s, err := f.Subscribe(0, WatchFilter{Resource: res})
					if err != nil {
						t.Fatal(err)
					}
					if res == "services" {
						svcSubs = append(svcSubs, s)
					}
				}
			}
			woken := func(subs []*Subscription) int {
				k := 0
				for _, s := range subs {
					select {
					case <-s.Wait():
						k++
					default:
					}
				}
				return k
			}

			before := f.Handed()
			f.append([]Event{subEvent(1, "leases", leaseObj("n3"), leaseObj("n3")), subEvent(1, "nodes", nodeObj("n3"), nodeObj("n3"))}, 1)
			if d := f.Handed() - before; d != 0 {
				t.Errorf("a Lease and a Node change were handed %d times, want 0", d)
			}
			if w := woken(podSubs) + woken(svcSubs); w != 0 {
				t.Errorf("a Lease and a Node change woke %d watches, want 0", w)
			}

			before = f.Handed()
			f.append([]Event{subEvent(2, "pods", boundPod("a", "p", "n3"), podObj("a", "p", nil))}, 2)
			if d := f.Handed() - before; d != 1 {
				t.Errorf("a binding to n3 was handed %d times, want 1", d)
			}
			if w := woken(podSubs); w != 1 {
				t.Errorf("a binding to n3 woke %d pod watches, want 1", w)
			}
			if evs, _, _, _ := podSubs[3].Next(); len(evs) != 1 {
				t.Errorf("n3's watch got %d events, want 1", len(evs))
			}

			before = f.Handed()
			f.append([]Event{subEvent(3, "services", svcObj("a", "s"), nil)}, 3)
			if d := f.Handed() - before; d != uint64(n) {
				t.Errorf("a service was handed %d times, want %d (one per services watch)", d, n)
			}
		})
	}
}

// A reader that falls more than subscriptionQueue events behind still gets
// every event, from the window, and Gone once its position left it.
func TestSubscriptionLag(t *testing.T) {
	f := NewFeed(3*subscriptionQueue, 0)
	sub, err := f.Subscribe(0, WatchFilter{Resource: "pods", Field: FieldNodeName, Value: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	total := 2 * subscriptionQueue
	var want []string
	for i := range total {
		idx := uint64(i + 1)
		node := "n1"
		if i%3 == 0 {
			node = "n2"
		}
		e := subEvent(idx, "pods", boundPod("a", fmt.Sprintf("p%d", i), node), nil)
		if node == "n1" {
			want = append(want, eventKeys([]Event{e})...)
		}
		f.append([]Event{e}, idx)
	}
	f.append([]Event{subEvent(uint64(total+1), "pods", boundPod("a", "x", "n1"), nil)}, uint64(total+1))
	want = append(want, fmt.Sprintf("%d/pods/a/x", total+1))
	if len(want) <= subscriptionQueue {
		t.Fatalf("the test hands %d events, not more than the queue's %d", len(want), subscriptionQueue)
	}
	evs, last, _, err := sub.Next()
	if err != nil || last != uint64(total+1) {
		t.Fatalf("Next: last %d err %v", last, err)
	}
	if k := eventKeys(evs); !slices.Equal(k, want) {
		t.Errorf("a lagging reader got %d events, want %d", len(k), len(want))
	}
	// Caught up: the next event comes through the queue again.
	f.append([]Event{subEvent(uint64(total+2), "pods", boundPod("a", "y", "n1"), nil)}, uint64(total+2))
	if evs, _, _, err := sub.Next(); err != nil || len(evs) != 1 {
		t.Errorf("after catching up: %d events, err %v; want 1", len(evs), err)
	}

	// Behind the window: Gone.
	small := NewFeed(2, 0)
	sub2, err := small.Subscribe(0, WatchFilter{Resource: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Stop()
	for i := range subscriptionQueue + 1 {
		small.append(feedEvents(uint64(i+1), 1), uint64(i+1))
	}
	if _, _, _, err := sub2.Next(); !v1.IsGone(err) {
		t.Errorf("a reader behind the window: err %v, want Gone", err)
	}
	if _, err := small.Subscribe(1, WatchFilter{Resource: "pods"}); !v1.IsGone(err) {
		t.Errorf("Subscribe from before the window: err %v, want Gone", err)
	}
}

func TestSubscriptionStopAndClose(t *testing.T) {
	f := NewFeed(100, 0)
	filters := []WatchFilter{{Resource: "pods"}, {Resource: "pods", Field: FieldNodeName, Value: "n1"},
		{Resource: "nodes", Field: FieldName, Value: "n1"}}
	var subs []*Subscription
	for _, flt := range filters {
		s, err := f.Subscribe(0, flt)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	subs[0].Stop()
	subs[1].Stop()
	before := f.Handed()
	f.append([]Event{subEvent(1, "pods", boundPod("a", "p", "n1"), nil)}, 1)
	if d := f.Handed() - before; d != 0 {
		t.Errorf("stopped subscriptions were handed %d events", d)
	}
	if len(f.subs) != 1 {
		t.Errorf("the feed keeps %d resources' subscriptions after two of three stopped, want 1", len(f.subs))
	}

	f.close()
	select {
	case <-subs[2].Wait():
	default:
		t.Fatal("closing the feed did not wake a subscription")
	}
	if _, _, closed, _ := subs[2].Next(); !closed {
		t.Error("Next after the feed closed: not closed")
	}
	subs[2].Stop()
	s, err := f.Subscribe(1, WatchFilter{Resource: "pods"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, closed, _ := s.Next(); !closed {
		t.Error("a subscription to a closed feed is not closed")
	}
}

// BenchmarkFeedAppendWatchers appends a Lease renewal and a pod's status
// to a feed with n nodes' pod, services and endpoints watches: the
// allocations per append do not grow with n.
func BenchmarkFeedAppendWatchers(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		b.Run(fmt.Sprintf("watchers=%d", 3*n), func(b *testing.B) {
			f := NewFeed(1000, 0)
			for i := range n {
				for _, flt := range []WatchFilter{{Resource: "pods", Field: FieldNodeName, Value: fmt.Sprintf("n%d", i)},
					{Resource: "services"}, {Resource: "endpoints"}} {
					if _, err := f.Subscribe(0, flt); err != nil {
						b.Fatal(err)
					}
				}
			}
			lease := leaseObj("n1")
			pod := boundPod("a", "p", "n1")
			sub, err := f.Subscribe(0, WatchFilter{Resource: "pods", Field: FieldNodeName, Value: "n1"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				idx := uint64(i + 1)
				f.append([]Event{subEvent(idx, "leases", lease, lease), subEvent(idx, "pods", pod, pod)}, idx)
				sub.Next()
			}
		})
	}
}
