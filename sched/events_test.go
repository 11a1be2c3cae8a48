package sched

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// countingProposer counts the entries proposed through it.
type countingProposer struct {
	*fakeProposer
	entries int
}

func (c *countingProposer) Apply(ctx context.Context, cmd []byte) (any, error) {
	c.entries++
	return c.fakeProposer.Apply(ctx, cmd)
}

func storedEvents(t *testing.T, s *fsm.Store) []*v1.Event {
	t.Helper()
	res, err := s.List("events", fsm.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1.Event
	for _, r := range res.Items {
		out = append(out, r.Object().(*v1.Event))
	}
	return out
}

func TestEventSinkBatches(t *testing.T) {
	p := &countingProposer{fakeProposer: newFakeProposer(t)}
	rec := events.New(events.Config{Component: "default-scheduler", Sink: EventSink{Proposer: p}, QPS: 1000, Burst: 1000, MaxBatch: 50})
	for i := range 120 {
		rec.Eventf(&v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprint("p", i), Namespace: "default", UID: fmt.Sprint("u", i)}},
			v1.EventTypeNormal, "Scheduled", "Successfully assigned default/p%d to n1", i)
	}
	before := p.entries
	for rec.Flush(context.Background()) {
	}
	if got := p.entries - before; got != 3 {
		t.Fatalf("%d entries for 120 events in batches of 50, want 3", got)
	}
	evs := storedEvents(t, p.store())
	if len(evs) != 120 {
		t.Fatalf("%d events stored, want 120", len(evs))
	}
	for _, e := range evs {
		if e.UID == "" || e.CreationTimestamp.IsZero() || e.Count != 1 || e.Source.Component != "default-scheduler" {
			t.Fatalf("stored event %+v lacks uid, creation time, count or source", e)
		}
	}
	// A repeat is an update of the stored event, in one more entry.
	rec.Eventf(&v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p0", Namespace: "default", UID: "u0"}},
		v1.EventTypeNormal, "Scheduled", "Successfully assigned default/p0 to n1")
	for rec.Flush(context.Background()) {
	}
	evs = storedEvents(t, p.store())
	counts := 0
	for _, e := range evs {
		if e.InvolvedObject.Name == "p0" {
			counts += int(e.Count)
		}
	}
	if len(evs) != 120 || counts != 2 {
		t.Fatalf("%d events, p0 counted %d: want 120 and 2", len(evs), counts)
	}
}

func TestEventSinkRefusesInvalid(t *testing.T) {
	p := newFakeProposer(t)
	ev := &v1.Event{ObjectMeta: v1.ObjectMeta{Name: "x.1", Namespace: "default"},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "other", Name: "x"}}
	res := EventSink{Proposer: p}.Write(context.Background(), []events.Write{{Event: ev}})
	if len(res) != 1 || !v1.IsInvalid(res[0].Err) {
		t.Fatalf("result %+v, want Invalid", res)
	}
	if n := len(storedEvents(t, p.store())); n != 0 {
		t.Fatalf("%d events stored", n)
	}
}

func TestEventTTL(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		last     time.Duration // lastTimestamp after t0
		now      time.Duration
		wantKept bool
	}{
		{"fresh", 0, 30 * time.Minute, true},
		{"just before the TTL", 0, time.Hour - time.Second, true},
		{"at the TTL", 0, time.Hour, false},
		{"old but seen again", 50 * time.Minute, 90 * time.Minute, true},
		{"long expired", 0, 5 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProposer(t)
			ev := &v1.Event{ObjectMeta: v1.ObjectMeta{Name: "p.1", Namespace: "default", UID: "e1", CreationTimestamp: v1.NewTime(t0)},
				InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}, Reason: "R", Count: 2,
				FirstTimestamp: v1.NewTime(t0), LastTimestamp: v1.NewTime(t0.Add(tt.last))}
			p.create(t, ev)
			c := NewEventTTL(EventTTLConfig{Store: p.store, Proposer: p, TTL: time.Hour, Now: func() time.Time { return t0.Add(tt.now) }})
			if err := c.Pass(context.Background(), p.store()); err != nil {
				t.Fatal(err)
			}
			if kept := len(storedEvents(t, p.store())) == 1; kept != tt.wantKept {
				t.Fatalf("kept %v, want %v", kept, tt.wantKept)
			}
		})
	}
}

func TestEventTTLKeepsAnEventUpdatedMeanwhile(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := newFakeProposer(t)
	ev := &v1.Event{ObjectMeta: v1.ObjectMeta{Name: "p.1", Namespace: "default", UID: "e1", CreationTimestamp: v1.NewTime(t0)},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}, Reason: "R", LastTimestamp: v1.NewTime(t0)}
	p.create(t, ev)
	stale := p.store() // the pass reads this state ...
	upd := *storedEvents(t, stale)[0]
	upd.ResourceVersion, upd.Count, upd.LastTimestamp = "", 2, v1.NewTime(t0.Add(2*time.Hour))
	cmd, err := fsm.NewUpdate(&upd, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil { // ... and the event is seen again
		t.Fatal(err)
	}
	c := NewEventTTL(EventTTLConfig{Store: p.store, Proposer: p, TTL: time.Hour, Now: func() time.Time { return t0.Add(90 * time.Minute) }})
	if err := c.Pass(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if n := len(storedEvents(t, p.store())); n != 1 {
		t.Fatal("the TTL deleted an event updated after its pass read it")
	}
}

func TestSchedulerRecordsEvents(t *testing.T) {
	p := newFakeProposer(t)
	n := readyNode("n1", "1", "1Gi", nil)
	n.UID = "n1"
	p.create(t, n)
	p.create(t, pendingPod("fits", "100m"))
	p.create(t, pendingPod("huge", "64"))
	rec := events.New(events.Config{Component: "default-scheduler", Sink: EventSink{Proposer: p}, QPS: 1000, Burst: 1000, MaxBatch: 50})
	s := NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Recorder: rec})
	if _, err := s.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	for rec.Flush(context.Background()) {
	}
	got := map[string]*v1.Event{}
	for _, e := range storedEvents(t, p.store()) {
		got[e.InvolvedObject.Name] = e
	}
	if e := got["fits"]; e == nil || e.Reason != "Scheduled" || e.Type != v1.EventTypeNormal || e.Message != "Successfully assigned default/fits to n1" || e.InvolvedObject.UID != "uid-fits" {
		t.Errorf("event of the placed pod: %+v", e)
	}
	if e := got["huge"]; e == nil || e.Reason != "FailedScheduling" || e.Type != v1.EventTypeWarning || e.Message == "" {
		t.Errorf("event of the pod that fits nowhere: %+v", e)
	}
}

func TestReplicationRecordsEvents(t *testing.T) {
	p := newFakeProposer(t)
	rc := loopRC("web", 3)
	p.create(t, rc)
	rec := events.New(events.Config{Component: "replication-controller", Sink: EventSink{Proposer: p}, QPS: 1000, Burst: 1000, MaxBatch: 50})
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p, Recorder: rec})
	for range 3 { // slow start: batches of 1 and 2
		if err := m.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	for rec.Flush(context.Background()) {
	}
	creates := 0
	for _, e := range storedEvents(t, p.store()) {
		if e.InvolvedObject.Kind != "ReplicationController" || e.InvolvedObject.Name != "web" || e.Reason != "SuccessfulCreate" ||
			!strings.HasPrefix(e.Message, "Created pod: web-") {
			t.Errorf("unexpected event %+v", e)
			continue
		}
		creates++
	}
	if creates != 3 {
		t.Fatalf("%d SuccessfulCreate events, want 3", creates)
	}
}
