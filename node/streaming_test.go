package node

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

func streamingAgent(rt Runtime) *Agent {
	a := &Agent{cfg: Config{Runtime: rt}, workers: map[string]*podWorker{}}
	w := &podWorker{a: a, uid: "u1", containers: map[string]*containerState{
		"app":  {name: "app", id: "cid-app", running: true},
		"done": {name: "done", id: "cid-done", exited: true},
	}}
	a.workers["u1"] = w
	return a
}

func TestExecInContainer(t *testing.T) {
	var gotID string
	rt := &fakeRuntime{execStream: func(id string, cmd []string, sio StreamIO) (int, error) {
		gotID = id
		return 7, nil
	}}
	a := streamingAgent(rt)
	for _, tc := range []struct {
		uid, container string
		want           error
		code           int
	}{
		{"u1", "app", nil, 7},
		{"u2", "app", ErrPodNotFound, -1},
		{"u1", "nope", ErrContainerNotFound, -1},
		{"u1", "done", ErrContainerNotRunning, -1},
	} {
		gotID = ""
		code, err := a.ExecInContainer(context.Background(), tc.uid, tc.container, []string{"true"}, StreamIO{})
		if !errors.Is(err, tc.want) || code != tc.code {
			t.Errorf("%s/%s: %d %v, want %d %v", tc.uid, tc.container, code, err, tc.code, tc.want)
		}
		if tc.want == nil && gotID != "cid-app" {
			t.Errorf("the runtime ran in %q, want cid-app", gotID)
		}
	}
}

// echoServer accepts one connection on loopback and echoes it.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	return ln.Addr().String()
}

// A forwarded stream reaches the port on the pod's loopback and carries
// data both ways; a half-closed stream ends the forward.
func TestPortForward(t *testing.T) {
	for _, tc := range []struct {
		name    string
		netNS   string
		hostNet bool
		wantErr bool
	}{
		{name: "entering a network namespace", netNS: "/proc/self/ns/net"},
		{name: "host network", hostNet: true},
		{name: "no sandbox yet", wantErr: true},
		{name: "namespace gone", netNS: "/nonexistent/ns", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := echoServer(t)
			_, portStr, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(portStr)
			a := streamingAgent(&fakeRuntime{})
			w := a.workers["u1"]
			w.netNS, w.hostNet = tc.netNS, tc.hostNet
			client, stream := net.Pipe()
			done := make(chan error, 1)
			go func() { done <- a.PortForward(context.Background(), "u1", int32(port), stream) }()
			if tc.wantErr {
				if err := <-done; err == nil {
					t.Fatal("PortForward succeeded, want an error")
				}
				return
			}
			client.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := client.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("read %q %v, want the echo", buf, err)
			}
			client.Close()
			if err := <-done; err != nil {
				t.Fatalf("PortForward: %v", err)
			}
		})
	}
}

func TestPortForwardUnknownPod(t *testing.T) {
	a := streamingAgent(&fakeRuntime{})
	_, stream := net.Pipe()
	if err := a.PortForward(context.Background(), "u9", 80, stream); !errors.Is(err, ErrPodNotFound) {
		t.Fatalf("got %v, want ErrPodNotFound", err)
	}
}
