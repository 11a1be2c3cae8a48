package events

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	v1 "orch.io/orch/api/v1"
)

// memSink stores events in a map, as the API would: a create of a taken
// name is AlreadyExists, an update of a missing one NotFound.
type memSink struct {
	mu     sync.Mutex
	stored map[string]*v1.Event
	writes [][]Write
	fail   error // every write fails with it while set
}

func newMemSink() *memSink { return &memSink{stored: map[string]*v1.Event{}} }

func (s *memSink) Write(_ context.Context, ws []Write) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, ws)
	out := make([]Result, len(ws))
	for i, w := range ws {
		key := v1.Key(w.Event.Namespace, w.Event.Name)
		_, exists := s.stored[key]
		switch {
		case s.fail != nil:
			out[i].Err = s.fail
		case w.Update && !exists:
			out[i].Err = v1.NewNotFound("events", w.Event.Name)
		case !w.Update && exists:
			out[i].Err = v1.NewAlreadyExists("events", w.Event.Name)
		default:
			ev := *w.Event
			ev.ResourceVersion = fmt.Sprint(len(s.writes))
			s.stored[key] = &ev
			out[i].Event = &ev
		}
	}
	return out
}

func (s *memSink) events() []*v1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*v1.Event
	for _, e := range s.stored {
		out = append(out, e)
	}
	return out
}

func testPod(name string) *v1.Pod {
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name}}
}

func newTestRecorder(sink Sink, clk *clocktesting.FakeClock, qps float32, burst, batch int) *Recorder {
	return New(Config{Component: "test", Host: "n1", Sink: sink, QPS: qps, Burst: burst, MaxBatch: batch, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
}

// drain flushes until nothing is pending, advancing the fake clock by
// step whenever the bucket is empty; it returns the fake time spent.
func drain(t *testing.T, r *Recorder, clk *clocktesting.FakeClock, step time.Duration) time.Duration {
	t.Helper()
	var spent time.Duration
	for i := 0; r.Pending() > 0; i++ {
		if i > 100000 {
			t.Fatalf("still %d pending", r.Pending())
		}
		if !r.Flush(context.Background()) {
			clk.Step(step)
			spent += step
		}
	}
	return spent
}

func TestAggregation(t *testing.T) {
	tests := []struct {
		name       string
		record     func(r *Recorder, clk *clocktesting.FakeClock)
		wantEvents int
		check      func(t *testing.T, evs []*v1.Event)
	}{
		{"identical events become one with a count", func(r *Recorder, clk *clocktesting.FakeClock) {
			for range 5 {
				r.Eventf(testPod("a"), v1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s", "c")
			}
		}, 1, func(t *testing.T, evs []*v1.Event) {
			if evs[0].Count != 5 {
				t.Errorf("count %d, want 5", evs[0].Count)
			}
		}},
		{"different reasons stay apart", func(r *Recorder, clk *clocktesting.FakeClock) {
			r.Eventf(testPod("a"), v1.EventTypeNormal, "Created", "Created container: c")
			r.Eventf(testPod("a"), v1.EventTypeNormal, "Started", "Started container c")
		}, 2, nil},
		{"different objects stay apart", func(r *Recorder, clk *clocktesting.FakeClock) {
			r.Eventf(testPod("a"), v1.EventTypeNormal, "Scheduled", "x")
			r.Eventf(testPod("b"), v1.EventTypeNormal, "Scheduled", "x")
		}, 2, nil},
		{"similar events with different messages are combined after 10", func(r *Recorder, clk *clocktesting.FakeClock) {
			for i := range 15 {
				r.Eventf(testPod("a"), v1.EventTypeWarning, "Unhealthy", "probe failed: attempt %d", i)
				clk.Step(time.Millisecond) // client-go names the combined event by the time
			}
		}, 10, func(t *testing.T, evs []*v1.Event) {
			combined := 0
			for _, e := range evs {
				if strings.HasPrefix(e.Message, "(combined from similar events)") {
					combined++
					if e.Count != 6 {
						t.Errorf("combined count %d, want 6", e.Count)
					}
				}
			}
			if combined != 1 {
				t.Errorf("%d combined events, want 1", combined)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			sink := newMemSink()
			r := newTestRecorder(sink, clk, 1000, 1000, 1)
			tt.record(r, clk)
			drain(t, r, clk, time.Second)
			evs := sink.events()
			if len(evs) != tt.wantEvents {
				t.Fatalf("%d stored events, want %d: %+v", len(evs), tt.wantEvents, evs)
			}
			for _, e := range evs {
				if e.Source.Component != "test" || e.Source.Host != "n1" || e.InvolvedObject.Kind != "Pod" || e.Namespace != "default" {
					t.Errorf("event %+v lacks its source or object", e)
				}
				if err := v1.Validate(e); err != nil {
					t.Errorf("recorded event is not valid: %v", err)
				}
			}
			if tt.check != nil {
				tt.check(t, evs)
			}
		})
	}
}

func TestRepeatAfterWriteIsAnUpdate(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := newMemSink()
	r := newTestRecorder(sink, clk, 1000, 1000, 1)
	r.Eventf(testPod("a"), v1.EventTypeWarning, "BackOff", "m")
	drain(t, r, clk, time.Second)
	clk.Step(time.Minute)
	r.Eventf(testPod("a"), v1.EventTypeWarning, "BackOff", "m")
	drain(t, r, clk, time.Second)
	if len(sink.writes) != 2 || sink.writes[0][0].Update || !sink.writes[1][0].Update {
		t.Fatalf("writes %+v, want a create then an update", sink.writes)
	}
	evs := sink.events()
	if len(evs) != 1 || evs[0].Count != 2 || !evs[0].LastTimestamp.After(evs[0].FirstTimestamp.Time) {
		t.Fatalf("events %+v, want one with count 2 and a later lastTimestamp", evs)
	}
	// The stored event expired (TTL): the next repeat creates it again.
	sink.mu.Lock()
	sink.stored = map[string]*v1.Event{}
	sink.mu.Unlock()
	r.Eventf(testPod("a"), v1.EventTypeWarning, "BackOff", "m")
	drain(t, r, clk, time.Second)
	if evs := sink.events(); len(evs) != 1 || evs[0].Count != 3 {
		t.Fatalf("events %+v, want the event created again with count 3", evs)
	}
}

func TestSpamFilter(t *testing.T) {
	tests := []struct {
		name      string
		objects   int
		perObject int
		wait      time.Duration
		wantKept  int
	}{
		// client-go's defaults: a burst of 25 per source and object.
		{"one object is cut at the burst", 1, 40, 0, 25},
		{"each object has its own bucket", 2, 30, 0, 50},
		{"the bucket refills at 1 per 5 minutes", 1, 40, 10 * time.Minute, 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			r := newTestRecorder(newMemSink(), clk, 1000, 1000, 1)
			for o := range tt.objects {
				for i := range tt.perObject {
					r.Eventf(testPod(fmt.Sprint("p", o)), v1.EventTypeNormal, "R", "message %d", i)
				}
			}
			clk.Step(tt.wait)
			if tt.wait > 0 {
				for i := range 5 {
					r.Eventf(testPod("p0"), v1.EventTypeNormal, "R", "late %d", i)
				}
			}
			s := r.Stats()
			if kept := s.Recorded - s.Filtered; kept != tt.wantKept {
				t.Fatalf("kept %d of %d events, want %d", kept, s.Recorded, tt.wantKept)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name         string
		qps          float32
		burst, batch int
		pods         int
	}{
		{"one event per write", 2, 5, 1, 60},
		{"batches", 1, 3, 20, 200},
		{"burst 1", 10, 1, 1, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			sink := newMemSink()
			r := newTestRecorder(sink, clk, tt.qps, tt.burst, tt.batch)
			for i := range tt.pods {
				r.Eventf(testPod(fmt.Sprint("p", i)), v1.EventTypeNormal, "Scheduled", "x")
			}
			spent := drain(t, r, clk, 100*time.Millisecond)
			writes := len(sink.writes)
			limit := tt.burst + int(float64(tt.qps)*spent.Seconds()) + 1
			if writes > limit {
				t.Fatalf("%d writes in %v, limit %d (burst %d, qps %v)", writes, spent, limit, tt.burst, tt.qps)
			}
			if got := len(sink.events()); got != tt.pods {
				t.Fatalf("%d events stored, want %d", got, tt.pods)
			}
			for _, w := range sink.writes {
				if len(w) > tt.batch {
					t.Fatalf("a write of %d events, batch %d", len(w), tt.batch)
				}
			}
		})
	}
}

func TestCoalescingWhileLimited(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := newMemSink()
	r := newTestRecorder(sink, clk, 1, 1, 1)
	r.Eventf(testPod("a"), v1.EventTypeWarning, "BackOff", "m")
	if !r.Flush(context.Background()) {
		t.Fatal("first flush did not write")
	}
	// The bucket is empty: twenty repeats wait as one pending update.
	for range 20 {
		r.Eventf(testPod("a"), v1.EventTypeWarning, "BackOff", "m")
	}
	if r.Pending() != 1 {
		t.Fatalf("%d pending, want 1", r.Pending())
	}
	if r.Flush(context.Background()) {
		t.Fatal("flushed without a token")
	}
	drain(t, r, clk, time.Second)
	evs := sink.events()
	if len(sink.writes) != 2 || len(evs) != 1 || evs[0].Count != 21 {
		t.Fatalf("%d writes, events %+v: want 2 writes and count 21", len(sink.writes), evs)
	}
}

func TestPendingBoundAndRetries(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := newMemSink()
	r := New(Config{Component: "test", Sink: sink, QPS: 1000, Burst: 1000, MaxPending: 3, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	for i := range 5 {
		r.Eventf(testPod(fmt.Sprint("p", i)), v1.EventTypeNormal, "Scheduled", "x")
	}
	if s := r.Stats(); s.Dropped != 2 || r.Pending() != 3 {
		t.Fatalf("dropped %d, pending %d; want 2 and 3", s.Dropped, r.Pending())
	}
	sink.fail = fmt.Errorf("connection refused")
	for range maxTries {
		r.Flush(context.Background())
	}
	if r.Pending() != 3 {
		t.Fatalf("%d pending after failures, want 3 (retried)", r.Pending())
	}
	sink.fail = nil
	drain(t, r, clk, time.Second)
	if got := len(sink.events()); got != 3 {
		t.Fatalf("%d events stored, want 3", got)
	}
}

func TestRefs(t *testing.T) {
	n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1", UID: "real-uid"}}
	if ref := Ref(n); ref.Kind != "Node" || ref.UID != "n1" || ref.Namespace != "" || ref.APIVersion != "v1" {
		t.Errorf("node ref %+v: want kind Node, uid = name", ref)
	}
	p := testPod("a")
	p.Spec.InitContainers = []v1.Container{{Name: "init"}}
	if ref := ContainerRef(p, "c"); ref.FieldPath != "spec.containers{c}" || ref.UID != "uid-a" {
		t.Errorf("container ref %+v", ref)
	}
	if ref := ContainerRef(p, "init"); ref.FieldPath != "spec.initContainers{init}" {
		t.Errorf("init container ref %+v", ref)
	}
	var nilRec *Recorder
	nilRec.Eventf(p, v1.EventTypeNormal, "R", "a nil recorder records nothing")
}
