package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// podEvent is a watch event of pod p.
func podEvent(t *testing.T, typ string, p *v1.Pod) client.Event {
	t.Helper()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return client.Event{Type: typ, Object: raw, Name: p.Name, Namespace: p.Namespace}
}

func TestOrchStarterObserve(t *testing.T) {
	pending := barePod("p")
	noIP := barePod("p")
	noIP.Status.Phase = v1.PodRunning
	running := barePod("p")
	running.Status.Phase, running.Status.PodIP = v1.PodRunning, "10.244.1.5"
	crashing := barePod("p")
	crashing.Status.Phase = v1.PodPending
	crashing.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "web",
		State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CreateContainerError", Message: "no"}}}}
	for _, tc := range []struct {
		name      string
		events    []func(t *testing.T) client.Event
		wantRun   bool   // running closed
		wantErr   string // in p.err; "" for none
		wantIP    string
		wantRunAt int // index of the event whose stamp runningAt holds
		wantGone  bool
	}{
		{"pending only", []func(*testing.T) client.Event{
			func(t *testing.T) client.Event { return podEvent(t, v1.Added, pending) }}, false, "", "", 0, false},
		{"running without an IP is not yet running", []func(*testing.T) client.Event{
			func(t *testing.T) client.Event { return podEvent(t, v1.Added, pending) },
			func(t *testing.T) client.Event { return podEvent(t, v1.Modified, noIP) }}, false, "", "", 0, false},
		{"running with an IP: the first such event's stamp", []func(*testing.T) client.Event{
			func(t *testing.T) client.Event { return podEvent(t, v1.Added, pending) },
			func(t *testing.T) client.Event { return podEvent(t, v1.Modified, running) },
			func(t *testing.T) client.Event { return podEvent(t, v1.Modified, running) }}, true, "", "10.244.1.5", 1, false},
		{"a container that cannot be created fails the start", []func(*testing.T) client.Event{
			func(t *testing.T) client.Event { return podEvent(t, v1.Modified, crashing) }}, true, "CreateContainerError", "", 0, false},
		{"deleted before it ran", []func(*testing.T) client.Event{
			func(t *testing.T) client.Event { return podEvent(t, v1.Deleted, pending) }}, true, "deleted before it ran", "", 0, true},
		{"deleted after it ran keeps the start", []func(*testing.T) client.Event{
			func(t *testing.T) client.Event { return podEvent(t, v1.Modified, running) },
			func(t *testing.T) client.Event { return podEvent(t, v1.Deleted, running) }}, true, "", "10.244.1.5", 0, true},
		{"an undecodable object fails the start", []func(*testing.T) client.Event{
			func(*testing.T) client.Event { return client.Event{Type: v1.Modified, Name: "p", Object: []byte("{")} }}, true, "decode pod p", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &orchStarter{}
			p := &orchPod{running: make(chan struct{}), gone: make(chan struct{})}
			base := time.Unix(1000, 0)
			for i, ev := range tc.events {
				o.observe(p, ev(t), base.Add(time.Duration(i)*time.Second))
			}
			closed := func(c chan struct{}) bool {
				select {
				case <-c:
					return true
				default:
					return false
				}
			}
			if got := closed(p.running); got != tc.wantRun {
				t.Fatalf("running closed %v, want %v", got, tc.wantRun)
			}
			if got := closed(p.gone); got != tc.wantGone {
				t.Errorf("gone closed %v, want %v", got, tc.wantGone)
			}
			if !tc.wantRun {
				return
			}
			if tc.wantErr == "" {
				if p.err != nil {
					t.Fatalf("err %v", p.err)
				}
				if p.ip != tc.wantIP || !p.runningAt.Equal(base.Add(time.Duration(tc.wantRunAt)*time.Second)) {
					t.Errorf("ip %q at %v, want %q at event %d", p.ip, p.runningAt, tc.wantIP, tc.wantRunAt)
				}
			} else if p.err == nil || !strings.Contains(p.err.Error(), tc.wantErr) {
				t.Errorf("err %v, want one with %q", p.err, tc.wantErr)
			}
		})
	}
}
