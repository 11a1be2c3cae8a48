package sched

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestIndexSetFollowsAMap: an index set, through its changes of form
// (sparse while small or a small share of the numbers in use, dense
// otherwise), holds what a plain map of the same adds and removes holds.
func TestIndexSetFollowsAMap(t *testing.T) {
	for _, tc := range []struct {
		name    string
		numbers int // numbers in use (the informer's keys)
		ids     uint32
	}{
		{"a small share stays sparse", 100_000, 50_000},
		{"a large share turns dense", 1_000, 1_000},
		{"grows past both bounds and back", 300, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			s, want := newIndexSet(), map[uint32]struct{}{}
			sawDense, sawSparse := false, false
			for i := range 20_000 {
				id := rng.Uint32N(tc.ids)
				// Add more than remove in the first half, the reverse after.
				if (i < 10_000) == (rng.IntN(4) > 0) {
					s.add(id, tc.numbers)
					want[id] = struct{}{}
				} else {
					s.remove(id, tc.numbers)
					delete(want, id)
				}
				sawDense, sawSparse = sawDense || s.ids == nil, sawSparse || s.ids != nil
				if s.len() != len(want) {
					t.Fatalf("step %d: len %d, want %d", i, s.len(), len(want))
				}
			}
			var got []uint32
			s.each(func(id uint32) { got = append(got, id) })
			slices.Sort(got)
			if w := slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
				t.Fatalf("members %v, want %v", got, w)
			}
			t.Logf("dense at some step: %v, sparse at some step: %v", sawDense, sawSparse)
			if tc.numbers <= int(tc.ids) && !sawDense {
				t.Fatal("a set of most numbers in use never turned dense")
			}
			if tc.numbers > 16*int(tc.ids) && sawDense {
				t.Fatal("a set of a small share of the numbers turned dense")
			}
		})
	}
}
