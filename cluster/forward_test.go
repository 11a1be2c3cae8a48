package cluster

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// queueOnly is a Cluster with nothing but a forwarding queue: no sender
// takes its writes unless the test does.
func queueOnly() *Cluster {
	return &Cluster{forwardQ: make(chan *pendingForward, 1), metrics: newMetrics(nil)}
}

func TestForwardApplyDeadline(t *testing.T) {
	t.Run("never sent: not applied, retried", func(t *testing.T) {
		c := queueOnly()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.forwardApply(ctx, []byte("cmd"))
		if !errors.Is(err, errRetry) || errors.Is(err, ErrUnknownOutcome) {
			t.Fatalf("deadline while queued: got %v, want a retry (the write was never sent)", err)
		}
		if p := <-c.forwardQ; p.state.Load() != forwardWithdrawn {
			t.Fatalf("the queued write is in state %d, want withdrawn", p.state.Load())
		}
	})
	t.Run("sent: unknown outcome", func(t *testing.T) {
		c := queueOnly()
		taken := make(chan *pendingForward, 1)
		go func() {
			p := <-c.forwardQ
			p.state.CompareAndSwap(forwardQueued, forwardSent) // as sendForwardBatch does
			taken <- p                                         // and never answers
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { _, err := c.forwardApply(ctx, []byte("cmd")); done <- err }()
		<-taken
		cancel()
		err := <-done
		if !errors.Is(err, ErrUnknownOutcome) || v1.CodeOf(err) != http.StatusGatewayTimeout {
			t.Fatalf("deadline after the write was sent: got %v (code %d), want 504 and ErrUnknownOutcome", err, v1.CodeOf(err))
		}
	})
}

// TestSendForwardBatchSkipsWithdrawn checks that a write its caller gave up
// on before it was sent never reaches the leader.
func TestSendForwardBatchSkipsWithdrawn(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	f := g.Followers(leader)[0]
	for _, path := range []string{"stream", "http"} {
		t.Run(path, func(t *testing.T) {
			var st senderStream
			defer st.close()
			if path == "http" { // as after a leader that refused the upgrade
				st.refused, st.refusedChanged = leader.APIAddr, f.leaderChange()
			}
			live, gone := newNamespace("live-"+path), newNamespace("withdrawn-"+path)
			batch := []*pendingForward{
				{cmd: createCmd(t, gone), done: make(chan forwardResult, 1)},
				{cmd: createCmd(t, live), done: make(chan forwardResult, 1)},
			}
			batch[0].state.Store(forwardWithdrawn)
			ctx := testCtx(t, 10*time.Second)
			out := f.sendForwardBatch(ctx, &st, batch)
			if len(out) != 2 || out[1].err != nil {
				t.Fatalf("sendForwardBatch = %+v, want a result for the live write", out)
			}
			if (st.s != nil) != (path == "stream") {
				t.Fatalf("after the batch the sender has stream %v, want one only on the stream path", st.s)
			}
			storedNamespace(t, out[1].res, live)
			if _, err := f.ReadBarrier(ctx); err != nil {
				t.Fatalf("read barrier: %v", err)
			}
			if _, err := f.Store().Get("namespaces", "", gone.Name); !v1.IsNotFound(err) {
				t.Fatalf("the withdrawn write: Get = %v, want NotFound", err)
			}
		})
	}
}

// TestLeaderWatch checks that every change closes the channel handed out
// before it, and only that one.
func TestLeaderWatch(t *testing.T) {
	w := newLeaderWatch()
	first := w.changed()
	select {
	case <-first:
		t.Fatal("closed before any change")
	default:
	}
	w.fire()
	second := w.changed()
	select {
	case <-first:
	default:
		t.Fatal("the first change did not close the channel handed out before it")
	}
	select {
	case <-second:
		t.Fatal("the channel handed out after the change is already closed")
	default:
	}
	w.fire()
	<-second
}

// TestReadRequestBody: a forwarded batch's body is read whole into one
// buffer of its Content-Length, one without a length as before (up to
// the limit), and one shorter than its length fails.
func TestReadRequestBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		length  int64
		limit   int64
		want    string
		wantErr bool
	}{
		{"length given", "frames", 6, 100, "frames", false},
		{"empty", "", 0, 100, "", false},
		{"no length", "frames", -1, 100, "frames", false},
		{"no length over the limit", "frames", -1, 3, "fra", false},
		{"length over the limit", "frames", 6, 3, "fra", false},
		{"shorter than its length", "fra", 6, 100, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodPost, "https://leader"+applyPath, io.NopCloser(strings.NewReader(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			r.ContentLength = tt.length
			got, err := readRequestBody(r, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("body %q, want %q", got, tt.want)
			}
		})
	}
}
