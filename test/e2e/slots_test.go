package e2e

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// slowFirst ranks the suite's slowest parallel tests, slowest first, from
// `go test -json ./test/e2e` (elapsed seconds on an idle 2-core machine,
// 2026-12-06): they take the first slots, so their long waits on timers
// (whole-minute cron schedules, certificates of a minute, event TTLs)
// overlap the many short tests instead of starting last and ending the
// package alone. Released at random (as t.Parallel's waiters are), the
// longest began in the last quarter of the run and the package took ~60 s
// more than its tests' sum over the slots. A name missing here (a renamed or
// new test) only loses its place in the order.
var slowFirst = []string{
	"TestEvents",                                       // 154 s
	"TestNodeCertificateRenewal",                       // 149 s
	"TestJobs",                                         // 122 s
	"TestCronJobLeaderFailover",                        // 119 s
	"TestServiceAccountInClusterClient",                // 74 s
	"TestClientGoInformersExactlyOnce",                 // 67 s
	"TestKubectlWalk",                                  // 50 s
	"TestSilentNodeIsEvictedButAFailoverEvictsNothing", // 45 s
	"TestServicesNFTables",                             // 43 s
	"TestServices",                                     // 42 s
	"TestRCUnderQuotaBacksOff",                         // 42 s
	"TestEmptyDirSizeLimitDeepTree",                    // 35 s
	"TestConfigMapVolumeReaderSeesWholeUpdates",        // 30 s
	"TestKubernetesServiceInCluster",                   // 29 s
}

// slotsEnv names the number of parallel tests that run at once when the
// suite orders them (make e2e sets it to E2E_PARALLEL and raises go test's
// -parallel past the number of tests, so go test holds none of them back).
// Unset, parallel is t.Parallel and go test's -parallel alone limits them.
const slotsEnv = "ORCH_E2E_SLOTS"

// slotSet hands out the suite's slots for parallel tests: slowFirst's tests
// first, in its order, then the others as they come.
type slotSet struct {
	mu         sync.Mutex
	cond       *sync.Cond
	size       int // slots; 0: unordered (t.Parallel alone)
	free       int // slots not taken
	registered int // tests that asked for a slot
	arrived    int // of those, released by go test to wait for one
	waiting    map[*waiter]bool
	seq        int // arrivals so far: the order among equal ranks
	goParallel int // go test's -parallel
}

// waiter is a test waiting for a slot: slowFirst's tests by their place in
// it, then the others in order of arrival.
type waiter struct{ rank, seq int }

func (w *waiter) before(o *waiter) bool {
	return w.rank < o.rank || w.rank == o.rank && w.seq < o.seq
}

var slots = newSlotSet()

func newSlotSet() *slotSet {
	s := &slotSet{waiting: map[*waiter]bool{}}
	s.cond = sync.NewCond(&s.mu)
	if v := os.Getenv(slotsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			panic(fmt.Sprintf("%s=%q: want a number of slots of at least 1", slotsEnv, v))
		}
		s.size, s.free = n, n
	}
	return s
}

// parallel marks t to run beside the suite's other parallel tests, as
// t.Parallel does, and when the suite orders them (slotsEnv) holds it
// until it has a slot. Every parallel test of the suite calls it first.
func parallel(t *testing.T) {
	t.Helper()
	if slots.size == 0 {
		t.Parallel()
		return
	}
	slots.register()
	t.Parallel()
	asked := time.Now()
	slots.acquire(t.Name())
	t.Cleanup(slots.release)
	// go test counts a test's time from its start, so its elapsed time
	// holds this wait: say how much of it was.
	if waited := time.Since(asked); waited >= time.Second {
		t.Logf("waited %v for one of the suite's %d slots", waited.Round(time.Second), slots.size)
	}
}

func (s *slotSet) register() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registered++
}

// acquire waits for a slot for the test named name. go test releases the
// parallel tests together once the serial ones are done, every
// registration before; the slots are handed out once all of them wait, in
// rank order, unless go test's -parallel holds some back, when waiting for
// them would never end: then in order of arrival.
func (s *slotSet) acquire(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.goParallel == 0 {
		s.goParallel = goTestParallel()
	}
	w := &waiter{rank: len(slowFirst), seq: s.seq}
	s.seq++
	if i := slices.Index(slowFirst, name); i >= 0 {
		w.rank = i
	}
	s.waiting[w] = true
	s.arrived++
	s.cond.Broadcast()
	for !s.turn(w) {
		s.cond.Wait()
	}
	delete(s.waiting, w)
	s.free--
	s.cond.Broadcast()
}

// turn reports whether w may take a slot now.
func (s *slotSet) turn(w *waiter) bool {
	if s.free == 0 {
		return false
	}
	if s.goParallel < s.registered {
		return true // some tests never arrive while others hold go test's slots
	}
	if s.arrived < s.registered {
		return false
	}
	for o := range s.waiting {
		if o.before(w) {
			return false
		}
	}
	return true
}

func (s *slotSet) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free++
	s.cond.Broadcast()
}

// goTestParallel is go test's -parallel (GOMAXPROCS unless given).
func goTestParallel() int {
	f := flag.Lookup("test.parallel")
	if f == nil {
		return 1
	}
	n, err := strconv.Atoi(f.Value.String())
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func TestSlotsGoSlowestFirst(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int
		goParallel int
		arrivals   []string
		// want is the order the slots go in, as each granted test ends
		// (the first size of them at once, in any order).
		want []string
		// early is how many slots are taken before the last arrival.
		early int
	}{
		{"ranked first once all wait", 2, 100,
			[]string{"TestA", "TestJobs", "TestB", "TestEvents", "TestC"},
			[]string{"TestEvents", "TestJobs", "TestA", "TestB", "TestC"}, 0},
		{"one slot", 1, 100,
			[]string{"TestC", "TestKubectlWalk", "TestNodeCertificateRenewal"},
			[]string{"TestNodeCertificateRenewal", "TestKubectlWalk", "TestC"}, 0},
		{"go test holds some back: as they come", 2, 2,
			[]string{"TestA", "TestB", "TestEvents"},
			[]string{"TestA", "TestB", "TestEvents"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &slotSet{size: tc.size, free: tc.size, waiting: map[*waiter]bool{}, goParallel: tc.goParallel}
			s.cond = sync.NewCond(&s.mu)
			for range tc.arrivals {
				s.register()
			}
			granted := make(chan string, len(tc.arrivals))
			for i, name := range tc.arrivals {
				go func() {
					s.acquire(name)
					granted <- name
				}()
				// The next arrives once this one waits or holds a slot
				// (acquire counts an arrival and takes a free slot it
				// may have without unlocking between).
				s.mu.Lock()
				for s.arrived < i+1 {
					s.cond.Wait()
				}
				taken := s.size - s.free
				s.mu.Unlock()
				if i == len(tc.arrivals)-2 && taken != tc.early {
					t.Fatalf("%d slots taken before the last arrival, want %d", taken, tc.early)
				}
			}
			var got []string
			for range tc.arrivals {
				select {
				case name := <-granted:
					got = append(got, name)
				case <-time.After(10 * time.Second):
					t.Fatalf("no slot granted after %v", got)
				}
				if len(got) >= tc.size {
					s.release() // the earliest granted test ends
				}
			}
			slices.Sort(got[:tc.size])
			want := slices.Clone(tc.want)
			slices.Sort(want[:tc.size])
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("slots went to %v, want %v (the first %d in any order)", got, tc.want, tc.size)
			}
		})
	}
}
