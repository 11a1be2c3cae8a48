package fsm

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// feedEvents makes n events at one index, told apart by name.
func feedEvents(index uint64, n int) []Event {
	var out []Event
	for i := range n {
		p := podObj("default", fmt.Sprintf("p%d-%d", index, i), nil)
		p.SetResourceVersionIndex(index)
		out = append(out, Event{Index: index, Type: v1.Added, Resource: "pods", Record: NewRecord(p, nil)})
	}
	return out
}

func eventNames(evs []Event) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.Record.Meta().Name)
	}
	return out
}

func TestFeedSince(t *testing.T) {
	f := NewFeed(100, 0)
	f.append(feedEvents(1, 1), 1)
	f.append(append(feedEvents(2, 2), feedEvents(3, 1)...), 3) // one batch of two entries
	f.append(nil, 4)                                           // an entry that changed nothing
	f.append(feedEvents(6, 2), 6)

	tests := []struct {
		rv   uint64
		want []string
	}{
		{0, []string{"p1-0", "p2-0", "p2-1", "p3-0", "p6-0", "p6-1"}},
		{1, []string{"p2-0", "p2-1", "p3-0", "p6-0", "p6-1"}},
		{2, []string{"p3-0", "p6-0", "p6-1"}},
		{3, []string{"p6-0", "p6-1"}},
		{4, []string{"p6-0", "p6-1"}},
		{5, []string{"p6-0", "p6-1"}},
		{6, []string{}},
		{100, []string{}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rv), func(t *testing.T) {
			evs, last, wait, closed, err := f.Since(tt.rv)
			if err != nil || closed || wait == nil {
				t.Fatalf("Since(%d): err %v closed %v wait %v", tt.rv, err, closed, wait)
			}
			if last != 6 {
				t.Errorf("last = %d, want 6", last)
			}
			if got := eventNames(evs); !slices.Equal(got, tt.want) {
				t.Errorf("Since(%d) = %q, want %q", tt.rv, got, tt.want)
			}
			for _, e := range evs {
				if e.Index <= tt.rv {
					t.Errorf("event at %d returned for Since(%d)", e.Index, tt.rv)
				}
			}
		})
	}

	// The returned slice is the caller's.
	evs, _, _, _, _ := f.Since(0)
	evs[0] = Event{}
	if again, _, _, _, _ := f.Since(0); again[0].Record == nil {
		t.Error("changing Since's result changed the feed")
	}
}

func TestFeedStart(t *testing.T) {
	f := NewFeed(10, 40)
	if floor, last := f.Window(); floor != 40 || last != 40 {
		t.Errorf("Window = %d %d, want 40 40", floor, last)
	}
	_, _, _, _, err := f.Since(39)
	if !v1.IsGone(err) {
		t.Errorf("Since(39) = %v, want Gone", err)
	}
	evs, last, _, _, err := f.Since(40)
	if err != nil || len(evs) != 0 || last != 40 {
		t.Errorf("Since(40) = %d events, last %d, err %v", len(evs), last, err)
	}
}

// The feed drops old events in whole indexes, keeps at least max events, and
// answers Gone exactly for the resourceVersions it can no longer serve.
func TestFeedEviction(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		sizes []int // events per index, one index per batch
	}{
		{"single events", 3, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{"pairs", 3, []int{2, 2, 2, 2, 2, 2, 2}},
		{"large index in the middle", 3, []int{1, 1, 5, 1, 1, 1, 1, 1}},
		{"large last index", 3, []int{1, 1, 1, 10}},
		{"one huge index", 2, []int{9}},
		{"large then small", 4, []int{7, 1, 1, 1, 3, 1}},
		{"max 1", 1, []int{1, 2, 1, 1, 3, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFeed(tt.max, 0)
			var all []Event
			for i, n := range tt.sizes {
				index := uint64(i + 1)
				evs := feedEvents(index, n)
				all = append(all, evs...)
				f.append(evs, index)

				floor, last := f.Window()
				if last != index {
					t.Fatalf("after index %d: last = %d", index, last)
				}
				if floor > 0 {
					_, _, _, _, err := f.Since(floor - 1)
					if !v1.IsGone(err) || v1.CodeOf(err) != http.StatusGone {
						t.Fatalf("after index %d: Since(floor-1=%d) = %v, want Gone", index, floor-1, err)
					}
				}
				kept, _, _, _, err := f.Since(floor)
				if err != nil {
					t.Fatalf("after index %d: Since(floor=%d): %v", index, floor, err)
				}
				// Exactly the events after the floor are kept: no index is split.
				var want []Event
				for _, e := range all {
					if e.Index > floor {
						want = append(want, e)
					}
				}
				if !slices.Equal(eventNames(kept), eventNames(want)) {
					t.Fatalf("after index %d (floor %d): kept %q, want %q", index, floor, eventNames(kept), eventNames(want))
				}
				if min(tt.max, len(all)) > len(kept) {
					t.Fatalf("after index %d: kept %d events, want at least %d", index, len(kept), min(tt.max, len(all)))
				}
				// More than 2*max events stay only when the oldest kept
				// index reaches into the newest max events: dropping it
				// would leave fewer than max.
				if n := len(kept); n > 2*tt.max && kept[n-tt.max].Index != kept[0].Index {
					t.Fatalf("after index %d: kept %d events with max %d (floor %d)", index, n, tt.max, floor)
				}
			}
		})
	}
}

// A watcher that is up to date is not sent away with Gone because one
// large entry arrived.
func TestFeedLargeEntryKeepsUpToDateWatchers(t *testing.T) {
	f := NewFeed(3, 0)
	for i := uint64(1); i <= 3; i++ {
		f.append(feedEvents(i, 1), i)
	}
	f.append(feedEvents(4, 10), 4)
	evs, _, _, _, err := f.Since(3)
	if err != nil {
		t.Fatalf("Since(3) after a 10-event entry: %v", err)
	}
	if len(evs) != 10 {
		t.Errorf("Since(3) = %d events, want 10", len(evs))
	}
}

func TestFeedWait(t *testing.T) {
	f := NewFeed(10, 0)
	_, _, wait, _, err := f.Since(0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-wait:
		t.Fatal("wait channel closed before anything was appended")
	default:
	}

	got := make(chan []Event)
	go func() {
		<-wait
		evs, _, _, _, _ := f.Since(0)
		got <- evs
	}()
	f.append(feedEvents(1, 2), 1)
	select {
	case evs := <-got:
		if len(evs) != 2 {
			t.Errorf("woken watcher read %d events, want 2", len(evs))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watcher was not woken by append")
	}

	// The next Since hands out a fresh channel.
	_, _, wait2, _, _ := f.Since(1)
	select {
	case <-wait2:
		t.Fatal("new wait channel is already closed")
	default:
	}
	// An append without events (a failed command) still wakes watchers, so
	// they can report progress.
	f.append(nil, 2)
	select {
	case <-wait2:
	default:
		t.Fatal("append without events did not wake watchers")
	}
	if _, last := f.Window(); last != 2 {
		t.Errorf("last = %d, want 2", last)
	}
}

func TestFeedClose(t *testing.T) {
	f := NewFeed(10, 0)
	f.append(feedEvents(1, 1), 1)
	_, _, wait, _, _ := f.Since(1)
	f.close()
	select {
	case <-wait:
	default:
		t.Fatal("close did not wake watchers")
	}
	for _, rv := range []uint64{0, 1, 5} {
		evs, last, w, closed, err := f.Since(rv)
		if !closed || err != nil || evs != nil || w != nil || last != 1 {
			t.Errorf("Since(%d) on a closed feed = %d events, last %d, wait %v, closed %v, err %v", rv, len(evs), last, w, closed, err)
		}
	}
	f.close() // idempotent
}

// The FSM publishes each applied entry to the store's feed after commit.
func TestFeedFromFSM(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"))
	_, _, wait, _, err := h.f.Store().Feed().Since(h.index)
	if err != nil {
		t.Fatal(err)
	}
	h.create(podObj("default", "a", nil))
	select {
	case <-wait:
	default:
		t.Fatal("apply did not wake watchers")
	}
	evs := h.eventsSince(1)
	if len(evs) != 1 || evs[0].Type != v1.Added || evs[0].Index != 2 || evs[0].Prev != nil {
		t.Fatalf("events = %+v", evs)
	}
	// The event's record is the stored record: readers see the committed state.
	if evs[0].Record != h.get("pods", "default", "a") {
		t.Error("event record is not the stored record")
	}
	p := podObj("default", "a", map[string]string{"v": "2"})
	h.update(p, false)
	evs = h.eventsSince(2)
	if len(evs) != 1 || evs[0].Type != v1.Modified || evs[0].Prev == nil || evs[0].Prev.Meta().ResourceVersion != "2" {
		t.Fatalf("update event = %+v", evs)
	}
	h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "a"})
	evs = h.eventsSince(3)
	if len(evs) != 1 || evs[0].Type != v1.Deleted || evs[0].Record.Meta().ResourceVersion != "4" || evs[0].Prev.Meta().ResourceVersion != "3" {
		t.Fatalf("delete event = %+v", evs)
	}
}
