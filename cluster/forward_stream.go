package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
)

// The forwarding stream carries a follower's batches to the leader on one
// connection per sender, upgraded once from an HTTP request, instead of one
// HTTP request per batch: as etcd's followers forward proposals over their
// peer streams. A batch and its answer are the HTTP path's body and answer
// with a length in front:
//
//	batch  = uvarint(len) frames                     (follower to leader)
//	answer = 'A' uvarint(len) answers                (the HTTP path's 200 body)
//	       | 'S' uvarint(len) Status JSON            (a non-200's body; the leader then closes)
//
// A sender waits for a batch's answer before it sends the next, so the
// stream's semantics are the HTTP path's: a batch whose answer did not come
// back has an unknown outcome. A leader that does not serve the stream
// (an older master) answers the upgrade with 404, and its followers carry
// their batches to it over HTTP until the next leader change.
const (
	applyStreamPath       = "/orch/v1/internal/apply-stream"
	forwardStreamProtocol = "orch-forward/1"

	streamAnswers = 'A'
	streamStatus  = 'S'

	// maxForwardBody bounds a batch and an answer, on either path.
	maxForwardBody = 256 << 20
	// streamBufferSize is each end's write buffer: a batch, or an answer,
	// goes out in one TLS record where it fits, not one per command.
	streamBufferSize = 32 << 10
	// streamIOTimeout bounds the reading of a batch that has begun and the
	// writing of an answer on the leader, and the upgrade on the follower.
	streamIOTimeout = 10 * time.Second
)

// forwardStream is one sender's upgraded connection to the leader.
type forwardStream struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	addr string
	// changed is the leader watch's channel when the stream was opened:
	// once it is closed, the stream may lead to a master that no longer
	// leads (or to a dead connection of one that restarted).
	changed <-chan struct{}
}

// senderStream is a sender loop's stream state.
type senderStream struct {
	s *forwardStream
	// refused is the leader address that answered the upgrade with
	// something other than 101, until refusedChanged is closed.
	refused        string
	refusedChanged <-chan struct{}
	// head is the reused buffer of a batch's length.
	head [binary.MaxVarintLen64]byte
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// changed is the open stream's leader watch channel (nil without one).
func (st *senderStream) changed() <-chan struct{} {
	if st.s == nil {
		return nil
	}
	return st.s.changed
}

// close drops the stream, if any.
func (st *senderStream) close() {
	if st.s != nil {
		st.s.conn.Close()
		st.s = nil
	}
}

// stream returns a stream to the leader at addr, opening one if needed, or
// nil when the HTTP path must carry the batch (the leader refused the
// upgrade since the last leader change, or the stream could not be opened).
// changed is the leader watch's channel from before addr was resolved.
func (c *Cluster) stream(ctx context.Context, st *senderStream, addr string, changed <-chan struct{}) *forwardStream {
	if st.s != nil && (st.s.addr != addr || closed(st.s.changed)) {
		st.close()
	}
	if st.s != nil {
		return st.s
	}
	if st.refused == addr && !closed(st.refusedChanged) {
		return nil
	}
	s, refused, err := c.openStream(ctx, addr)
	if err != nil {
		c.log.Debug("open forwarding stream", "leader", addr, "err", err)
		if refused {
			st.refused, st.refusedChanged = addr, changed
		}
		return nil
	}
	s.changed = changed
	st.s = s
	return s
}

// openStream dials the leader's API and upgrades the connection. refused
// says the leader answered, with something other than the upgrade.
func (c *Cluster) openStream(ctx context.Context, addr string) (s *forwardStream, refused bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, streamIOTimeout)
	defer cancel()
	conn, err := c.dialMasterAPI(dctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	conn.SetDeadline(time.Now().Add(streamIOTimeout))
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+applyStreamPath, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", forwardStreamProtocol)
	bw := bufio.NewWriterSize(conn, streamBufferSize)
	if err := req.Write(bw); err != nil {
		return nil, false, fmt.Errorf("upgrade request: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, false, fmt.Errorf("upgrade request: %w", err)
	}
	br := bufio.NewReaderSize(conn, streamBufferSize)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, false, fmt.Errorf("upgrade answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), forwardStreamProtocol) {
		return nil, true, fmt.Errorf("the leader answered the upgrade with %s", resp.Status)
	}
	conn.SetDeadline(time.Time{})
	ok = true
	return &forwardStream{conn: conn, br: br, bw: bw, addr: addr}, false, nil
}

// sendOnStream carries the commands batch[sent...] over s and returns one
// result per command of batch, as sendForwardBatch's HTTP path does. Any
// failure drops the stream.
func (c *Cluster) sendOnStream(ctx context.Context, st *senderStream, s *forwardStream, batch []*pendingForward, sent []int, changed <-chan struct{}) []forwardResult {
	all := func(err error) []forwardResult { return failAll(len(batch), err) }
	// The batch's deadline, and the leader change, end the exchange by
	// moving the connection's deadline: the reads and writes below fail.
	s.conn.SetDeadline(time.Now().Add(c.cfg.ApplyTimeout + 5*time.Second))
	moved, stop := c.watchLeaderMove(ctx, changed, func() { s.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop() // it moves no deadline of the next batch's
	lost := func(what string, err error) []forwardResult {
		st.close()
		msg := fmt.Sprintf("lost the forwarding stream to the leader %s while %s: %v", s.addr, what, err)
		if moved() {
			msg = fmt.Sprintf("the leader changed while the write was in flight to %s", s.addr)
		}
		e := v1.NewTimeout(msg + ": " + ErrUnknownOutcome.Error())
		return all(errors.Join(e, ErrUnknownOutcome))
	}
	frames, size := frameCommands(batch, sent)
	s.bw.Write(binary.AppendUvarint(st.head[:0], uint64(size)))
	if _, err := frames.WriteTo(s.bw); err != nil {
		return lost("sending", err)
	}
	if err := s.bw.Flush(); err != nil {
		return lost("sending", err)
	}
	kind, raw, err := readStreamAnswer(s.br)
	if err != nil {
		return lost("awaiting the answer", err)
	}
	s.conn.SetDeadline(time.Time{})
	switch kind {
	case streamStatus:
		st.close() // the leader closes the stream after a status
		var status v1.Status
		if json.Unmarshal(raw, &status) == nil && status.Code != 0 {
			return all(statusToError(&status))
		}
		e := v1.NewTimeout(fmt.Sprintf("undecodable status from the leader %s: %s", s.addr, ErrUnknownOutcome))
		return all(errors.Join(e, ErrUnknownOutcome))
	case streamAnswers:
		return readAnswers(raw, batch, sent, s.addr)
	}
	st.close()
	e := v1.NewTimeout(fmt.Sprintf("answer of kind %q from the leader %s: %s", kind, s.addr, ErrUnknownOutcome))
	return all(errors.Join(e, ErrUnknownOutcome))
}

// readStreamAnswer reads one answer: its kind and its bytes.
func readStreamAnswer(br *bufio.Reader) (byte, []byte, error) {
	kind, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return 0, nil, err
	}
	if n > maxForwardBody {
		return 0, nil, fmt.Errorf("an answer of %d bytes", n)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(br, raw); err != nil {
		return 0, nil, err
	}
	return kind, raw, nil
}

// serveApplyStream upgrades a master's request to a forwarding stream and
// applies the batches that come on it until the follower closes it, this
// master stops leading, or a batch is malformed.
func (c *Cluster) serveApplyStream(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), forwardStreamProtocol) {
		writeStatus(w, v1.NewBadRequest(fmt.Sprintf("the forwarding stream needs the header Upgrade: %s", forwardStreamProtocol)))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeStatus(w, v1.NewInternalError(fmt.Errorf("upgrade to a forwarding stream: %w", err)))
		return
	}
	if !c.streams.add(conn) {
		conn.Close() // shutting down
		return
	}
	defer c.streams.remove(conn)
	conn.SetDeadline(time.Time{}) // the server's request timeouts end here
	bw := bufio.NewWriterSize(conn, streamBufferSize)
	bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + forwardStreamProtocol + "\r\n\r\n")
	if bw.Flush() != nil {
		return
	}
	certs := r.TLS.PeerCertificates
	var head [1 + binary.MaxVarintLen64]byte
	for {
		// Idle between batches for as long as the follower keeps it.
		n, err := binary.ReadUvarint(brw.Reader)
		if err != nil {
			return
		}
		conn.SetDeadline(time.Now().Add(streamIOTimeout))
		if n > maxForwardBody {
			writeStreamStatus(bw, v1.NewRequestTooLarge(fmt.Sprintf("a forwarded batch of %d bytes is over %d", n, maxForwardBody)))
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(brw.Reader, body); err != nil {
			return
		}
		// The master may have been removed since the upgrade.
		if se := c.masterPeer(certs); se != nil {
			writeStreamStatus(bw, se)
			return
		}
		conn.SetDeadline(time.Time{}) // the apply has its own timeout
		out, se := c.applyBatch(body)
		if se != nil {
			writeStreamStatus(bw, se)
			return
		}
		conn.SetDeadline(time.Now().Add(streamIOTimeout))
		h := binary.AppendUvarint(append(head[:0], streamAnswers), uint64(out.Len()))
		bw.Write(h)
		bufs := out.buffers()
		if _, err := bufs.WriteTo(bw); err != nil {
			return
		}
		if bw.Flush() != nil {
			return
		}
		conn.SetDeadline(time.Time{})
	}
}

// writeStreamStatus writes e as the answer to the whole batch.
func writeStreamStatus(bw *bufio.Writer, e *v1.StatusError) {
	raw, _ := json.Marshal(e.Status)
	bw.WriteByte(streamStatus)
	bw.Write(binary.AppendUvarint(nil, uint64(len(raw))))
	bw.Write(raw)
	bw.Flush()
}

// streamSet holds the forwarding streams a master serves: the HTTP server
// forgets a connection once it is hijacked, so shutdown closes them here.
type streamSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// add records conn; false once closeAll ran.
func (s *streamSet) add(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[conn] = struct{}{}
	return true
}

// remove forgets conn and closes it.
func (s *streamSet) remove(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	conn.Close()
}

// closeAll closes every stream and refuses new ones.
func (s *streamSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for conn := range s.conns {
		conn.Close()
	}
	s.conns = nil
}
