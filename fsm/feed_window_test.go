package fsm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// roomFor moves a window to its array's front only when the array holds it
// and the new elements and the evicted slots before it pay for the copy;
// the elements are unchanged and the slots they leave are cleared.
func TestRoomFor(t *testing.T) {
	ptr := func(i int) *int { return &i }
	// window returns base of size c and a window of base[from:to], every
	// slot before from cleared as drop clears them.
	window := func(c, from, to int) ([]*int, []*int) {
		base := make([]*int, c)
		for i := from; i < to; i++ {
			base[i] = ptr(i)
		}
		return base[:to], base[from:to]
	}
	tests := []struct {
		name           string
		c, from, to, n int
		moved          bool
	}{
		{"fits after the window", 10, 2, 6, 4, false},
		{"nothing evicted", 10, 0, 10, 1, false},
		{"evictions make room", 10, 4, 10, 3, true},
		{"evictions short of n", 10, 2, 10, 3, false},
		{"evictions under a quarter of the window", 100, 10, 100, 5, false},
		{"evictions a quarter of the window", 100, 20, 100, 5, true},
		{"empty window", 8, 8, 8, 4, true},
		{"overlapping move", 10, 3, 10, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, s := window(tt.c, tt.from, tt.to)
			want := slices.Clone(s)
			got := roomFor(base, s, tt.n)
			if !slices.Equal(got, want) {
				t.Fatalf("roomFor changed the window's elements")
			}
			moved := cap(got) != cap(s) // moved to base's front, the only other place
			if moved != tt.moved {
				t.Fatalf("moved = %v, want %v", moved, tt.moved)
			}
			if !moved {
				return
			}
			if cap(got)-len(got) < tt.n {
				t.Fatalf("room for %d, want %d", cap(got)-len(got), tt.n)
			}
			for i, p := range base[:cap(base)][len(got):] {
				if p != nil {
					t.Fatalf("slot %d after the window still holds an element", len(got)+i)
				}
			}
		})
	}
}

// A feed whose window is evicted from, by its event count or its byte
// bound, keeps exactly the newest events it appended (those after its
// floor), with their sizes, holds no evicted event in its arrays, and in a
// steady state appends into the arrays it has instead of reallocating them.
func TestFeedWindowReusesItsArrays(t *testing.T) {
	recs := make([]*Record, 8)
	for i := range recs {
		p := podObj("default", fmt.Sprintf("w%d", i), nil)
		p.Annotations = map[string]string{"blob": strings.Repeat("x", 100*i)}
		recs[i] = NewRecord(p, nil)
	}
	for _, lim := range []FeedLimits{{Events: 64}, {Events: 1 << 20, Bytes: 40 << 10}, {Events: 50, Bytes: 30 << 10}} {
		t.Run(fmt.Sprintf("%+v", lim), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(lim.Events)))
			f := NewBoundedFeed(lim, 0)
			var all []Event
			var index uint64
			arrays := map[*Event]bool{}
			for step := range 3000 {
				var evs []Event
				for range rng.IntN(20) {
					index += uint64(rng.IntN(2)) // several events of one index at times
					var prev *Record
					if rng.IntN(2) == 0 {
						prev = recs[rng.IntN(len(recs))]
					}
					evs = append(evs, Event{Index: index + 1, Type: v1.Modified, Resource: "pods",
						Record: recs[rng.IntN(len(recs))], Prev: prev})
				}
				index++
				f.append(evs, index)
				all = append(all, evs...)

				kept := len(f.events)
				if kept > len(all) || !slices.EqualFunc(f.events, all[len(all)-kept:], func(a, b Event) bool { return a == b }) {
					t.Fatalf("step %d: the window is not the newest %d events appended", step, kept)
				}
				if kept < len(all) && f.floor != all[len(all)-kept-1].Index {
					t.Fatalf("step %d: floor %d, want the last evicted index %d", step, f.floor, all[len(all)-kept-1].Index)
				}
				var bytes int64
				for i, e := range f.events {
					if f.sizes[i] != eventSize(e) {
						t.Fatalf("step %d: event %d sized %d, want %d", step, i, f.sizes[i], eventSize(e))
					}
					bytes += f.sizes[i]
				}
				if len(f.sizes) != kept || bytes != f.bytes {
					t.Fatalf("step %d: %d sizes summing to %d, want %d summing to %d", step, len(f.sizes), f.bytes, kept, bytes)
				}
				if kept == 0 {
					continue
				}
				base := f.eventsBase[:cap(f.eventsBase)]
				if cap(f.events) > cap(base) || &base[cap(base)-cap(f.events)] != &f.events[0] {
					t.Fatalf("step %d: the window is not in its base array", step)
				}
				off := cap(base) - cap(f.events)
				for i, e := range base {
					if (i < off || i >= off+kept) && e != (Event{}) {
						t.Fatalf("step %d: slot %d outside the window [%d, %d) holds an event", step, i, off, off+kept)
					}
				}
				if step >= 1000 {
					arrays[&base[0]] = true
				}
			}
			// Past the first thousand appends the window's size is steady:
			// its array is reused, not reallocated as appends run past it.
			if len(arrays) > 2 {
				t.Fatalf("%d event arrays in the last 2,000 appends, want at most 2", len(arrays))
			}
		})
	}
}
