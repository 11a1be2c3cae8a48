package node

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// waitRuntime is a Runtime whose Wait answers only once released.
type waitRuntime struct {
	fakeRuntime
	release chan struct{}
	exit    chan ExitStatus
	err     error
}

func (r *waitRuntime) Wait(context.Context, string) (<-chan ExitStatus, error) {
	<-r.release
	return r.exit, r.err
}

func TestWatchExitDoesNotWaitForTheRuntime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantEvt bool
	}{
		{"exit reported", nil, true},
		{"wait refused", errors.New("no such container"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &waitRuntime{release: make(chan struct{}), exit: make(chan ExitStatus, 1), err: tc.err}
			w := testWorker(t)
			w.a.cfg.Runtime = rt
			w.log = slog.New(slog.DiscardHandler)
			w.events = make(chan workerEvent, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			returned := make(chan struct{})
			go func() { w.watchExit(ctx, "c1"); close(returned) }()
			select {
			case <-returned:
			case <-time.After(10 * time.Second):
				t.Fatal("watchExit waited for the runtime's Wait")
			}
			close(rt.release)
			rt.exit <- ExitStatus{Code: 3}
			wait := 10 * time.Second
			if !tc.wantEvt {
				wait = 100 * time.Millisecond // a negative check: nothing may arrive
			}
			select {
			case ev := <-w.events:
				if !tc.wantEvt || ev.containerID != "c1" || ev.exit == nil || ev.exit.Code != 3 {
					t.Errorf("event %+v, want one: %v", ev, tc.wantEvt)
				}
			case <-time.After(wait):
				if tc.wantEvt {
					t.Error("the exit was not reported")
				}
			}
		})
	}
}
