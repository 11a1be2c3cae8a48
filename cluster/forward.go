package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Forwarding is group commit between masters. Writes that reach a follower
// wait in forwardQ; each of forwardSenders loops takes whatever is queued
// (up to maxForwardBatch) and carries it to the leader as one batch on its
// stream (forward_stream.go), which the leader proposes at once. Under load
// the batches fill by themselves; a lone write goes out immediately. One
// batch instead of one request per write is what makes writes through
// followers about as cheap as writes to the leader. Two senders rather than
// four: their batches are larger (each waits for its answer), which cost
// ~8 µs less CPU per forwarded write in BenchmarkForwardedKiBCreates and
// ~6 µs less per write in the write figure's profiles, at the same p99
// (README, performance).
const (
	forwardSenders  = 2
	maxForwardBatch = 128
)

type pendingForward struct {
	cmd  []byte
	done chan forwardResult
	// state goes from forwardQueued to forwardSent when a sender carries the
	// write to a known leader, or to forwardWithdrawn when its caller gave up
	// first; a withdrawn write is never sent, so it surely was not applied.
	state atomic.Int32
}

const (
	forwardQueued int32 = iota
	forwardSent
	forwardWithdrawn
)

type forwardResult struct {
	res any
	err error
}

// runForwarders carries queued writes to the leader until ctx ends.
func (c *Cluster) runForwarders(ctx context.Context) {
	done := make(chan struct{})
	for i := 0; i < forwardSenders; i++ {
		go func() {
			var st senderStream
			defer func() {
				st.close()
				done <- struct{}{}
			}()
			for {
				var batch []*pendingForward
				select {
				case <-ctx.Done():
					return
				case <-st.changed():
					// The stream's leader may be gone: let its end go too.
					st.close()
					continue
				case p := <-c.forwardQ:
					batch = append(batch, p)
				}
			drain:
				for len(batch) < maxForwardBatch {
					select {
					case p := <-c.forwardQ:
						batch = append(batch, p)
					default:
						break drain
					}
				}
				results := c.sendForwardBatch(ctx, &st, batch)
				for i, p := range batch {
					p.done <- results[i]
				}
			}
		}()
	}
	for i := 0; i < forwardSenders; i++ {
		<-done
	}
}

// sendForwardBatch sends one batch, on the sender's stream (st) when the
// leader serves one and over HTTP otherwise, and returns one result per
// command. A batch still in flight an election timeout after the leader
// changed is abandoned rather than at its timeout, with an unknown
// outcome: an old leader cut off from the others would otherwise hold the
// sender, and every write queued behind it, until the timeout, long after a
// new leader took over.
func (c *Cluster) sendForwardBatch(ctx context.Context, st *senderStream, batch []*pendingForward) []forwardResult {
	all := func(err error) []forwardResult { return failAll(len(batch), err) }
	changed := c.leaderChange()
	addr, ok := c.LeaderAPIAddr()
	if !ok {
		return all(fmt.Errorf("%w: no leader known", errRetry))
	}
	// From here on the writes may reach the leader. Those whose callers
	// already gave up are left out (their answers go unread).
	var sent []int
	for i, p := range batch {
		if p.state.CompareAndSwap(forwardQueued, forwardSent) {
			sent = append(sent, i)
		}
	}
	if len(sent) == 0 {
		return all(fmt.Errorf("%w: withdrawn", errRetry))
	}
	c.metrics.forwardBatches.Inc()
	if s := c.stream(ctx, st, addr, changed); s != nil {
		return c.sendOnStream(ctx, st, s, batch, sent, changed)
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout+5e9)
	defer cancel()
	moved, stop := c.watchLeaderMove(rctx, changed, cancel)
	defer stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, "https://"+addr+applyPath, nil)
	if err != nil {
		return all(fmt.Errorf("forward to leader: %w", err))
	}
	setForwardBody(req, batch, sent)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.fwd.Do(req)
	if err != nil {
		if isDialError(err) {
			return all(fmt.Errorf("%w: dial leader %s: %v", errRetry, addr, err))
		}
		if moved() {
			e := v1.NewTimeout(fmt.Sprintf("the leader changed while the write was in flight to %s: %s", addr, ErrUnknownOutcome))
			return all(errors.Join(e, ErrUnknownOutcome))
		}
		e := v1.NewTimeout(fmt.Sprintf("lost the connection to the leader %s: %s", addr, ErrUnknownOutcome))
		return all(errors.Join(e, ErrUnknownOutcome))
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, maxForwardBody)
	if err != nil {
		if moved() {
			err = errors.New("the leader changed while the answer was awaited")
		}
		e := v1.NewTimeout(fmt.Sprintf("reading the leader's answer: %v: %s", err, ErrUnknownOutcome))
		return all(errors.Join(e, ErrUnknownOutcome))
	}
	if resp.StatusCode != http.StatusOK {
		var st v1.Status
		if json.Unmarshal(raw, &st) == nil && st.Code != 0 {
			return all(statusToError(&st))
		}
		return all(fmt.Errorf("forward to leader %s: HTTP %d: %s", addr, resp.StatusCode, bytes.TrimSpace(raw)))
	}
	return readAnswers(raw, batch, sent, addr)
}

// failAll is the results of a batch of n commands that all failed with err.
func failAll(n int, err error) []forwardResult {
	out := make([]forwardResult, n)
	for i := range out {
		out[i].err = err
	}
	return out
}

// watchLeaderMove gives up a batch in flight: it calls abandon an election
// timeout after changed is closed (moved then reports true), or as soon as
// ctx ends. A leader that handed over (a transfer) still answers, with a
// definite outcome, so it gets that long. stop ends the watch and returns
// once the watcher is gone: abandon is never called after it.
func (c *Cluster) watchLeaderMove(ctx context.Context, changed <-chan struct{}, abandon func()) (moved func() bool, stop func()) {
	var m atomic.Bool
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-changed:
		case <-ctx.Done():
			abandon()
			return
		case <-done:
			return
		}
		select {
		case <-time.After(c.cfg.ElectionTimeout):
			m.Store(true)
			abandon()
		case <-ctx.Done():
			abandon()
		case <-done:
		}
	}()
	return m.Load, func() { close(done); <-exited }
}

// readAnswers reads the leader's answers to batch[sent...] (raw, as
// applyForwarded encoded them) into one result per command of batch.
func readAnswers(raw []byte, batch []*pendingForward, sent []int, addr string) []forwardResult {
	rd := newAnswerReader(raw)
	out := make([]forwardResult, len(batch))
	for _, i := range sent {
		res, err := readAnswer(rd)
		if err != nil {
			e := v1.NewTimeout(fmt.Sprintf("undecodable answer from the leader %s (%v): %s", addr, err, ErrUnknownOutcome))
			return failAll(len(batch), errors.Join(e, ErrUnknownOutcome))
		}
		if r, ok := res.(fsm.Result); ok && r.Err != nil {
			out[i].err = r.Err // NotLeader retries, 504 keeps its unknown outcome
			continue
		}
		out[i].res = res
	}
	return out
}

// frameCommands frames the commands batch[sent...] for the leader
// (uvarint length and command, repeated, as readFrames splits them) as
// the commands themselves between their lengths, not copied into one
// buffer: the transport copies the body into its connection's buffer
// anyway. It returns the frames and their length.
func frameCommands(batch []*pendingForward, sent []int) (net.Buffers, int64) {
	// Each length is a slice of lens, which is never reallocated.
	lens := make([]byte, 0, binary.MaxVarintLen64*len(sent))
	frames := make(net.Buffers, 0, 2*len(sent))
	size := int64(0)
	for _, i := range sent {
		cmd := batch[i].cmd
		start := len(lens)
		lens = binary.AppendUvarint(lens, uint64(len(cmd)))
		frames = append(frames, lens[start:len(lens):len(lens)])
		if len(cmd) > 0 {
			frames = append(frames, cmd)
		}
		size += int64(len(lens)-start) + int64(len(cmd))
	}
	return frames, size
}

// setForwardBody makes the frames of batch[sent...] req's body, with
// its length, as http.NewRequest does for a bytes.Reader: one body of
// known length, and GetBody for a transport that must send it again
// (reading net.Buffers consumes it, so that is framed anew).
func setForwardBody(req *http.Request, batch []*pendingForward, sent []int) {
	frames, size := frameCommands(batch, sent)
	req.ContentLength = size
	req.Body = io.NopCloser(&frames)
	req.GetBody = func() (io.ReadCloser, error) {
		again, _ := frameCommands(batch, sent)
		return io.NopCloser(&again), nil
	}
}

// readBody reads a response's body of at most limit bytes, into one
// buffer of its Content-Length when it has one (the leader's answers do).
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 && n <= limit {
		raw := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, raw); err != nil {
			return nil, err
		}
		return raw, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

// readRequestBody reads a request's body of at most limit bytes, into
// one buffer of its Content-Length when it has one (a forwarded batch
// does) rather than one grown by doubling.
func readRequestBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit))
}

// statusToError turns a Status from the leader into the error Apply returns.
func statusToError(st *v1.Status) error {
	if st.Code == http.StatusServiceUnavailable && st.Reason == reasonNotLeader {
		return fmt.Errorf("%w: %s", errRetry, st.Message)
	}
	if st.Code == http.StatusServiceUnavailable && st.Reason == reasonDiskFull {
		return fmt.Errorf("%w: %w", errRetry, &DiskFullError{msg: st.Message})
	}
	se := &v1.StatusError{Status: *st}
	if st.Code == http.StatusGatewayTimeout {
		return errors.Join(se, ErrUnknownOutcome)
	}
	return se
}

// readFrames splits a forwarded batch into its commands. They are
// slices of body (three-index, so an append cannot run into the next),
// which the caller owns and does not change: raft keeps each as its log
// entry's data, so copying them would cost an allocation and a copy per
// write for nothing.
func readFrames(body []byte) ([][]byte, error) {
	var out [][]byte
	for len(body) > 0 {
		n, k := binary.Uvarint(body)
		if k <= 0 || n > uint64(len(body)-k) {
			return nil, fmt.Errorf("bad frame in forwarded batch: length %d with %d bytes left", n, len(body))
		}
		body = body[k:]
		out = append(out, body[:n:n])
		body = body[n:]
	}
	return out, nil
}

// applyForwarded proposes every command of a batch at once, then encodes
// the outcomes in order (see wire.go).
func (c *Cluster) applyForwarded(cmds [][]byte) (*answerBuf, error) {
	futures := make([]raft.ApplyFuture, len(cmds))
	for i, cmd := range cmds {
		futures[i] = c.raft.Apply(cmd, c.cfg.ApplyTimeout)
	}
	// The answers' own bytes are short (tags, lengths, a resource's name,
	// an error's status): the records' JSON is referred to, not copied
	// into one buffer about as long as the commands, which was made,
	// zeroed and filled for each batch.
	out := &answerBuf{head: make([]byte, 0, 32*len(cmds)), cuts: make([]answerCut, 0, len(cmds))}
	for _, f := range futures {
		res, err := futureResult(f)
		if err := out.add(res, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// forwardStatus is how an apply error travels back to the follower: a
// write that surely was not applied says NotLeader, or DiskFull when the
// leader could not store it (the follower retries either); a Status keeps
// its code; anything else may have been applied (504).
func forwardStatus(err error) v1.Status {
	if df := (*DiskFullError)(nil); errors.As(err, &df) && errors.Is(err, errRetry) {
		st := v1.NewServiceUnavailable(df.Error()).Status
		st.Reason = reasonDiskFull
		return st
	}
	if errors.Is(err, errRetry) {
		return notLeader(err.Error()).Status
	}
	if se := asStatus(err); se != nil {
		return se.Status
	}
	var se *v1.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return v1.NewTimeout(fmt.Sprintf("%v: %s", err, ErrUnknownOutcome)).Status
}
