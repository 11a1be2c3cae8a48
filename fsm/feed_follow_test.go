package fsm

import (
	"slices"
	"testing"
)

// A Follow subscription takes the events of its resources, in order, live
// and (after a lag) from the window alike, and nothing else: no event, no
// wake.
func TestFollow(t *testing.T) {
	tests := []struct {
		name      string
		resources []string
		want      []string
	}{
		{"pods and nodes", []string{"pods", "nodes"},
			[]string{"1/pods/a/p1", "2/pods/a/p1", "3/pods/b/p2", "5/nodes/n1", "6/nodes/n2", "8/pods/a/p1"}},
		{"a resource named twice counts once", []string{"leases", "services", "leases"},
			[]string{"4/leases/kube-node-lease/n1", "7/services/a/s1"}},
		{"everything", []string{AllResources},
			[]string{"1/pods/a/p1", "2/pods/a/p1", "3/pods/b/p2", "4/leases/kube-node-lease/n1", "5/nodes/n1", "6/nodes/n2",
				"7/services/a/s1", "8/pods/a/p1"}},
		{"pods and everything", []string{"pods", AllResources},
			[]string{"1/pods/a/p1", "2/pods/a/p1", "3/pods/b/p2", "4/leases/kube-node-lease/n1", "5/nodes/n1", "6/nodes/n2",
				"7/services/a/s1", "8/pods/a/p1"}},
		{"a resource not changed", []string{"endpoints"}, []string{}},
		{"nothing", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFeed(100, 0)
			sub, last := f.Follow(tt.resources...)
			defer sub.Stop()
			if last != 0 {
				t.Fatalf("Follow: last %d, want 0", last)
			}
			got := []Event{}
			for _, e := range subscriptionEvents() {
				f.append([]Event{e}, e.Index)
				want := slices.Contains(tt.want, eventKeys([]Event{e})[0])
				select {
				case <-sub.Wait():
					if !want {
						t.Fatalf("woken for %q", eventKeys([]Event{e}))
					}
				default:
					if want {
						t.Fatalf("not woken for %q", eventKeys([]Event{e}))
					}
				}
				if _, pending := sub.Pending(); pending != want {
					t.Fatalf("after %q: pending %v", eventKeys([]Event{e}), pending)
				}
				evs, last, closed, err := sub.Next()
				if err != nil || closed || last != e.Index {
					t.Fatalf("Next after %d: last %d closed %v err %v", e.Index, last, closed, err)
				}
				got = append(got, evs...)
			}
			if k := eventKeys(got); !slices.Equal(k, tt.want) {
				t.Errorf("live: got %q, want %q", k, tt.want)
			}

			// The same events read after a lag: from the window, filtered.
			lagged := NewFeed(100, 0)
			sub2, _ := lagged.Follow(tt.resources...)
			defer sub2.Stop()
			sub2.lag = true // as after subscriptionQueue events unread
			for _, e := range subscriptionEvents() {
				lagged.append([]Event{e}, e.Index)
			}
			evs, last, _, err := sub2.Next()
			if err != nil || last != 8 {
				t.Fatalf("lagged: last %d err %v", last, err)
			}
			if k := eventKeys(evs); !slices.Equal(k, tt.want) {
				t.Errorf("lagged: got %q, want %q", k, tt.want)
			}
		})
	}
}

// Skip drops what is queued (and a lag, even one past the window) and goes
// on from the feed's last index; Stop unfiles the subscription from every
// resource it follows; the feed's end reaches a follower of nothing.
func TestFollowSkipStopClose(t *testing.T) {
	evs := subscriptionEvents()
	f := NewFeed(2, 0)
	sub, _ := f.Follow("pods", "nodes")
	for _, e := range evs[:3] {
		f.append([]Event{e}, e.Index)
	}
	if last, closed := sub.Skip(); last != 3 || closed {
		t.Fatalf("Skip: last %d closed %v, want 3 false", last, closed)
	}
	if _, pending := sub.Pending(); pending {
		t.Fatal("pending after Skip")
	}
	f.append(evs[3:5], 5) // a lease and a node
	got, last, _, err := sub.Next()
	if err != nil || last != 5 || !slices.Equal(eventKeys(got), []string{"5/nodes/n1"}) {
		t.Fatalf("Next after Skip: %q last %d err %v", eventKeys(got), last, err)
	}

	// Fallen behind the window: Next says Gone until Skip.
	sub.lag, sub.sent = true, 0
	for _, e := range evs[5:] {
		f.append([]Event{e}, e.Index)
	}
	if _, _, _, err := sub.Next(); err == nil {
		t.Fatal("Next of a subscription behind the window: no error")
	}
	if last, _ := sub.Skip(); last != 8 {
		t.Fatalf("Skip: last %d, want 8", last)
	}
	if got, _, _, err := sub.Next(); err != nil || len(got) != 0 {
		t.Fatalf("Next after Skip: %q err %v", eventKeys(got), err)
	}

	sub.Stop()
	if len(f.subs) != 0 {
		t.Fatalf("after Stop the feed keeps subscribers of %d resources", len(f.subs))
	}

	none, _ := f.Follow()
	f.close()
	select {
	case <-none.Wait():
	default:
		t.Fatal("a follower of nothing not woken by the feed's end")
	}
	if _, _, closed, _ := none.Next(); !closed {
		t.Fatal("Next after the feed's end: not closed")
	}
	if _, closed := none.Skip(); !closed {
		t.Fatal("Skip after the feed's end: not closed")
	}
}
