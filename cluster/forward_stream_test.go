package cluster

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// rawStream upgrades a connection to addr's forwarding stream with cfg.
func rawStream(t *testing.T, addr string, cfg *tls.Config) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+applyStreamPath, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", forwardStreamProtocol)
	if err := req.Write(conn); err != nil {
		t.Fatalf("upgrade request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("upgrade answer: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upgrade answered %s: %s", resp.Status, b)
	}
	return conn, br
}

// sendRaw writes one batch of the given frames, with length n.
func sendRaw(t *testing.T, conn net.Conn, n uint64, frames []byte) {
	t.Helper()
	if _, err := conn.Write(append(binary.AppendUvarint(nil, n), frames...)); err != nil {
		t.Fatalf("send batch: %v", err)
	}
}

func framed(cmds ...[]byte) []byte {
	var out []byte
	for _, c := range cmds {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

// TestForwardStreamProtocol drives the leader's and a follower's stream
// endpoint by hand: batches answered in order on one stream, and every
// refusal a status for the whole batch after which the stream is closed.
func TestForwardStreamProtocol(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	follower := g.Followers(leader)[0]
	peer := masterClientTLS(t, g.Bundle.Dir, "m1")

	t.Run("batches on one stream", func(t *testing.T) {
		conn, br := rawStream(t, leader.APIAddr, peer)
		for i, names := range [][]string{{"stream-a"}, {"stream-b", "stream-c"}} {
			var cmds [][]byte
			var nss []*v1.Namespace
			for _, name := range names {
				ns := newNamespace(name)
				nss = append(nss, ns)
				cmds = append(cmds, createCmd(t, ns))
			}
			f := framed(cmds...)
			sendRaw(t, conn, uint64(len(f)), f)
			kind, raw, err := readStreamAnswer(br)
			if err != nil || kind != streamAnswers {
				t.Fatalf("batch %d: answer of kind %q: %v", i, kind, err)
			}
			rd := newAnswerReader(raw)
			for _, ns := range nss {
				res, err := readAnswer(rd)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				storedNamespace(t, res, ns)
			}
			if rd.Len() != 0 {
				t.Fatalf("batch %d: %d bytes after the answers", i, rd.Len())
			}
		}
	})

	refusals := []struct {
		name   string
		addr   string
		n      uint64 // the batch's length
		frames []byte
		code   int32
		reason string
	}{
		{"to a follower", follower.APIAddr, 0, nil, http.StatusServiceUnavailable, reasonNotLeader},
		{"truncated frame", leader.APIAddr, 0, nil, http.StatusBadRequest, v1.ReasonBadRequest},
		{"over the size limit", leader.APIAddr, maxForwardBody + 1, nil, http.StatusRequestEntityTooLarge, v1.ReasonRequestTooLarge},
	}
	cmd := createCmd(t, newNamespace("stream-refused"))
	refusals[0].frames = framed(cmd)
	refusals[0].n = uint64(len(refusals[0].frames))
	refusals[1].frames = framed(cmd)[:len(cmd)]
	refusals[1].n = uint64(len(refusals[1].frames))
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			conn, br := rawStream(t, tc.addr, peer)
			sendRaw(t, conn, tc.n, tc.frames)
			kind, raw, err := readStreamAnswer(br)
			if err != nil || kind != streamStatus {
				t.Fatalf("answer of kind %q (%v), want a status", kind, err)
			}
			var st v1.Status
			if err := json.Unmarshal(raw, &st); err != nil || st.Code != tc.code || st.Reason != tc.reason {
				t.Fatalf("status %s (%v), want %d %s", raw, err, tc.code, tc.reason)
			}
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the status the stream gave %v, want EOF (closed)", err)
			}
		})
	}
	if _, err := leader.Store().Get("namespaces", "", "stream-refused"); !v1.IsNotFound(err) {
		t.Fatalf("a refused batch created its namespace: Get = %v", err)
	}

	t.Run("no upgrade header", func(t *testing.T) {
		code, b := post(t, httpsClient(t, peer), leader.APIAddr, applyStreamPath, nil)
		if st := decodeStatus(t, b); code != http.StatusBadRequest || st.Code != http.StatusBadRequest {
			t.Fatalf("POST %s without Upgrade: HTTP %d %s, want 400", applyStreamPath, code, b)
		}
	})
}

// TestForwardStreamsClosedAtShutdown checks that a master's shutdown ends
// the streams it serves: the HTTP server forgets hijacked connections.
func TestForwardStreamsClosedAtShutdown(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	conn, br := rawStream(t, leader.APIAddr, masterClientTLS(t, g.Bundle.Dir, "m1"))
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	leader.Stop()
	_, err := br.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the stream after the leader stopped: read gave %v, want it closed", err)
	}
}

// TestForwardStreamFollowsTheLeader checks that a follower's senders drop
// their streams at a leader change and open new ones to the next leader.
func TestForwardStreamFollowsTheLeader(t *testing.T) {
	var applies applyCounter
	g := NewTestGroup(t, 3, TestOptions{WrapHandler: applies.wrap, RaftTimeout: steadyRaftTimeout})
	old := g.WaitLeader(t)
	ctx := testCtx(t, 30*time.Second)
	for _, f := range g.Followers(old) {
		if _, err := f.Apply(ctx, createCmd(t, newNamespace("before-"+f.ID()))); err != nil {
			t.Fatalf("write through %s: %v", f.ID(), err)
		}
	}
	if err := old.TransferLeadership(); err != nil {
		t.Fatalf("transfer leadership: %v", err)
	}
	next := g.WaitLeader(t)
	if next == old {
		t.Fatalf("leadership stayed with %s", old.ID())
	}
	// The member that followed both leaders had a stream to the old one.
	var third *TestMember
	for _, m := range g.Members {
		if m != old && m != next {
			third = m
		}
	}
	toOld := applies.fromTo(third.ID(), old.ID(), applyStreamPath)
	if toOld < 1 {
		t.Fatalf("%s opened no stream to the first leader %s", third.ID(), old.ID())
	}
	ns := newNamespace("after")
	res, err := third.Apply(ctx, createCmd(t, ns))
	if err != nil {
		t.Fatalf("write through %s after the transfer: %v", third.ID(), err)
	}
	storedNamespace(t, res, ns)
	if n := applies.fromTo(third.ID(), next.ID(), applyStreamPath); n < 1 {
		t.Fatalf("%s opened no stream to the new leader %s", third.ID(), next.ID())
	}
	if n := applies.fromTo(third.ID(), old.ID(), applyStreamPath); n != toOld {
		t.Fatalf("%s opened %d more streams to the old leader %s after the transfer", third.ID(), n-toOld, old.ID())
	}
	if n := applies.from(third.ID(), applyPath); n != 0 {
		t.Fatalf("%s sent %d batches over HTTP, want all on streams", third.ID(), n)
	}
	// The followers let go of the streams to the old leader at the change,
	// without waiting for a write: it serves none.
	waitFor(t, 10*time.Second, func() bool { return old.streams.len() == 0 },
		func() string { return fmt.Sprintf("%s still serves %d streams", old.ID(), old.streams.len()) })
}

func (s *streamSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// TestForwardStreamOfARemovedMaster checks that a stream opened by a master
// that is then removed from the cluster takes no more writes: the leader
// checks the peer at every batch, not only at the upgrade.
func TestForwardStreamOfARemovedMaster(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	gone := g.Followers(leader)[0]
	conn, br := rawStream(t, leader.APIAddr, masterClientTLS(t, g.Bundle.Dir, gone.ID()))
	if err := leader.ChangeMembership(testCtx(t, 10*time.Second), MembershipRequest{Op: MembershipRemove, Name: gone.ID()}); err != nil {
		t.Fatalf("remove %s: %v", gone.ID(), err)
	}
	ns := newNamespace("from-a-removed-master")
	f := framed(createCmd(t, ns))
	sendRaw(t, conn, uint64(len(f)), f)
	kind, raw, err := readStreamAnswer(br)
	if err != nil || kind != streamStatus {
		t.Fatalf("answer of kind %q (%v), want a status", kind, err)
	}
	var st v1.Status
	if err := json.Unmarshal(raw, &st); err != nil || st.Code != http.StatusForbidden {
		t.Fatalf("status %s (%v), want 403", raw, err)
	}
	if _, err := leader.Store().Get("namespaces", "", ns.Name); !v1.IsNotFound(err) {
		t.Fatalf("the removed master's batch created its namespace: Get = %v", err)
	}
}
