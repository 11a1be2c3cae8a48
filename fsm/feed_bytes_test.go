package fsm

import (
	"fmt"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// bigEvents makes n events at one index, each a pod carrying an annotation
// of size bytes, the update of the previous one (Prev set) when prev is given.
func bigEvents(index uint64, n, size int, prev *Record) []Event {
	var out []Event
	for i := range n {
		p := podObj("default", fmt.Sprintf("big%d-%d", index, i), nil)
		p.Annotations = map[string]string{"blob": strings.Repeat("x", size)}
		p.SetResourceVersionIndex(index)
		out = append(out, Event{Index: index, Type: v1.Modified, Resource: "pods", Record: NewRecord(p, nil), Prev: prev})
	}
	return out
}

// The feed keeps the sum of its events' sizes within Bytes, evicting whole
// indexes from the oldest, except that the newest index always stays; a
// watch from before the window gets Gone and one from its floor gets every
// event after it.
func TestFeedByteBound(t *testing.T) {
	const kib = 1 << 10
	tests := []struct {
		name     string
		maxBytes int64
		perIndex []int // events of ~16 KiB per index
		// wantKept is the number of events kept at the end.
		wantKept int
	}{
		// Each event is ~16.6 KiB of object + as much of Prev + 0.5 KiB
		// overhead: ~33.7 KiB, so three are over 100 KiB.
		{"bytes bind before count", 100 * kib, []int{1, 1, 1, 1, 1, 1, 1, 1}, 2},
		{"whole indexes are dropped", 100 * kib, []int{2, 2, 2, 2}, 2},
		{"the newest index stays even when alone too big", 50 * kib, []int{1, 1, 5}, 5},
		{"no byte bound", 0, []int{1, 1, 1, 1, 1, 1, 1, 1}, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewBoundedFeed(FeedLimits{Events: 1000, Bytes: tt.maxBytes}, 0)
			var prev *Record
			for i, n := range tt.perIndex {
				index := uint64(i + 1)
				evs := bigEvents(index, n, 16*kib, prev)
				prev = evs[len(evs)-1].Record
				f.append(evs, index)
				var sum int64
				floor, _ := f.Window()
				kept, _, _, _, err := f.Since(floor)
				if err != nil {
					t.Fatalf("Since(floor=%d): %v", floor, err)
				}
				for _, e := range kept {
					sum += eventSize(e)
				}
				if sum != f.Bytes() {
					t.Fatalf("after index %d: Bytes() = %d, the kept events sum to %d", index, f.Bytes(), sum)
				}
				newest := kept[len(kept)-1].Index
				if tt.maxBytes > 0 && sum > tt.maxBytes && kept[0].Index != newest {
					t.Fatalf("after index %d: %d bytes kept over the bound %d with more than the newest index", index, sum, tt.maxBytes)
				}
				if kept[0].Index <= floor || (floor > 0 && func() bool { _, _, _, _, err := f.Since(floor - 1); return !v1.IsGone(err) }()) {
					t.Fatalf("after index %d: floor %d, first kept %d: want Gone below the floor", index, floor, kept[0].Index)
				}
			}
			floor, _ := f.Window()
			kept, _, _, _, _ := f.Since(floor)
			if len(kept) != tt.wantKept {
				t.Errorf("kept %d events (floor %d), want %d", len(kept), floor, tt.wantKept)
			}
		})
	}
}

// The FSM bounds its feed by bytes by default: many updates of a large
// object keep at most DefaultFeedBytes in the feed.
func TestFSMFeedBytesBounded(t *testing.T) {
	f, err := NewWithFeed(FeedLimits{Events: 10000, Bytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	index := uint64(1)
	MustCreate(t, f, index, nsObj("default"))
	p := podObj("default", "big", nil)
	for i := range 40 {
		index++
		p.Annotations = map[string]string{"blob": strings.Repeat(fmt.Sprint(i%10), 100<<10)}
		if i == 0 {
			MustCreate(t, f, index, p)
			continue
		}
		cmd, err := NewUpdate(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := ApplyCommand(t, f, index, cmd).(Result); !ok || r.Err != nil {
			t.Fatalf("update %d: %+v", i, r)
		}
	}
	feed := f.Store().Feed()
	if b := feed.Bytes(); b > 1<<20 {
		t.Errorf("feed keeps %d bytes, bound %d", b, 1<<20)
	}
	floor, last := feed.Window()
	if floor < 30 || last != index {
		t.Errorf("window (%d, %d] after 40 updates of 100 KiB under a 1 MiB bound", floor, last)
	}
	if _, _, _, _, err := feed.Since(1); !v1.IsGone(err) {
		t.Errorf("Since(1) = %v, want Gone", err)
	}
}
