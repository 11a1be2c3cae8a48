package fsm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// sharedFeedResources are what TestFeedSharesTheLastBatch's events and
// subscriptions name.
var sharedFeedResources = []string{"pods", "nodes", "leases", "services"}

// A Follow subscription's Next and Since give exactly the events they gave
// when each read made a copy of the window (the events after the reader's
// index that it takes, in order: the reference below), under random
// batches of mixed resources, evictions and readers that read after every
// batch or after several; the events a read shared with the feed stay as
// they were while later batches are appended and evicted.
func TestFeedSharesTheLastBatch(t *testing.T) {
	recs := map[string]*Record{}
	for _, r := range sharedFeedResources {
		recs[r] = NewRecord(podObj("default", "x-"+r, nil), nil)
	}
	type reader struct {
		sub  *Subscription
		take func(Event) bool
		sent uint64 // the reference's index: the last a read covered
	}
	type held struct {
		got, want []Event
	}
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			f := NewFeed(1+rng.IntN(40), 0)
			var all []Event
			var readers []*reader
			for range 6 {
				var follow []string
				for _, r := range append(sharedFeedResources, AllResources) {
					if rng.IntN(3) == 0 {
						follow = append(follow, r)
					}
				}
				sub, last := f.Follow(follow...)
				defer sub.Stop()
				take := func(e Event) bool {
					return slices.Contains(follow, AllResources) || slices.Contains(follow, e.Resource)
				}
				readers = append(readers, &reader{sub: sub, take: take, sent: last})
			}
			sinceFrom := uint64(0)
			var kept []held
			var index uint64
			for range 300 {
				// One resource most of the time, as a batch of pod creates.
				only := sharedFeedResources[rng.IntN(len(sharedFeedResources))]
				mixed := rng.IntN(3) == 0
				var evs []Event
				for range rng.IntN(6) {
					index += uint64(rng.IntN(2))
					r := only
					if mixed {
						r = sharedFeedResources[rng.IntN(len(sharedFeedResources))]
					}
					evs = append(evs, Event{Index: index + 1, Type: v1.Added, Resource: r, Record: recs[r]})
				}
				index++
				all = append(all, evs...)
				f.append(evs, index)
				floor, last := f.Window()
				for _, rd := range readers {
					if rng.IntN(3) == 0 {
						continue // reads after the next batch
					}
					got, gotLast, closed, err := rd.sub.Next()
					if rd.sent < floor {
						// The reference lost the events too: a Gone, or
						// none when none it takes were evicted.
						if err != nil {
							rd.sent = last
							continue
						}
					}
					if err != nil || closed || gotLast != last {
						t.Fatalf("Next: last %d (want %d) closed %v err %v", gotLast, last, closed, err)
					}
					var want []Event
					for _, e := range all {
						if e.Index > rd.sent && rd.take(e) {
							want = append(want, e)
						}
					}
					if rd.sent >= floor && !slices.Equal(got, want) {
						t.Fatalf("Next from %d: %d events, want %d: %v, want %v", rd.sent, len(got), len(want), eventKeys(got), eventKeys(want))
					}
					rd.sent = last
					kept = append(kept, held{got, slices.Clone(got)})
				}
				if sinceFrom < floor {
					sinceFrom = floor
				}
				got, _, _, _, err := f.Since(sinceFrom)
				if err != nil {
					t.Fatal(err)
				}
				var want []Event
				for _, e := range all {
					if e.Index > sinceFrom {
						want = append(want, e)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("Since(%d): %v, want %v", sinceFrom, eventKeys(got), eventKeys(want))
				}
				kept = append(kept, held{got, slices.Clone(got)})
				if rng.IntN(2) == 0 {
					sinceFrom = last
				}
			}
			for i, h := range kept {
				if !slices.Equal(h.got, h.want) {
					t.Fatalf("read %d changed after it was made", i)
				}
			}
		})
	}
}

// A leader loop woken per committed batch, following the batch's resource
// or everything, reads the batch without a copy: Next returns the batch's
// own slice, and Since from before the batch allocates nothing. A reader
// that takes one run of the batch gets that run of it, and one that takes
// events apart, or of more than one batch, a copy of them.
func TestFeedLastBatchReadWithoutCopy(t *testing.T) {
	f := NewFeed(1000, 0)
	pods, _ := f.Follow("pods", "nodes")
	defer pods.Stop()
	all, _ := f.Follow(AllResources)
	defer all.Stop()
	nodes, _ := f.Follow("nodes")
	defer nodes.Stop()
	rec := NewRecord(podObj("default", "p", nil), nil)
	var index uint64
	batch := func() []Event {
		evs := make([]Event, 16)
		for i := range evs {
			index++
			evs[i] = Event{Index: index, Type: v1.Added, Resource: "pods", Record: rec}
		}
		evs[3].Resource = "nodes"
		return evs
	}
	for _, sub := range []*Subscription{pods, all} {
		sub.Next() // read up to now
		evs := batch()
		before := index - uint64(len(evs))
		f.append(evs, index)
		got, _, _, _ := sub.Next()
		if len(got) != len(evs) || &got[0] != &evs[0] {
			t.Fatalf("Next: %d events, not the batch's", len(got))
		}
		if a := testing.AllocsPerRun(10, func() {
			got, _, _, _, _ := f.Since(before)
			if len(got) != len(evs) || &got[0] != &evs[0] {
				t.Fatalf("Since: %d events, not the batch's", len(got))
			}
		}); a != 0 {
			t.Errorf("Since allocated %v times, want 0", a)
		}
	}
	// The nodes' reader read neither batch: it gets a copy of the two
	// batches' node events.
	got, _, _, _ := nodes.Next()
	if len(got) != 2 || &got[1] == &f.batch[3] || got[0].Resource != "nodes" || got[1].Resource != "nodes" {
		t.Fatalf("nodes: %v", eventKeys(got))
	}
	// The nodes of one batch, in one run, are that run of the batch; in
	// two, a copy.
	for _, at := range [][]int{{3}, {3, 4, 5}, {3, 5}} {
		evs := batch()
		for _, i := range at {
			evs[i].Resource = "nodes"
		}
		f.append(evs, index)
		got, _, _, _ := nodes.Next()
		shared := &got[0] == &evs[at[0]]
		if len(got) != len(at) || shared != (at[len(at)-1]-at[0] == len(at)-1) {
			t.Fatalf("nodes at %v: %d events, shared %v", at, len(got), shared)
		}
		for _, e := range got {
			if e.Resource != "nodes" {
				t.Fatalf("nodes at %v: got %v", at, eventKeys(got))
			}
		}
	}
}
