package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Paths of the masters' internal endpoints (mutual TLS, master certificate).
const (
	applyPath     = "/orch/v1/internal/apply"
	readIndexPath = "/orch/v1/internal/readindex"
)

// ErrUnknownOutcome wraps failures after which a write may or may not have
// been committed (leadership lost mid-flight, connection to the leader lost).
var ErrUnknownOutcome = errors.New("the write may or may not have been applied")

// Apply commits an encoded command (fsm.Encode) and returns its result: an
// fsm.Result or fsm.BatchResult. A Result carrying an error (NotFound,
// Conflict, ...) is returned as that error for single commands. On a
// follower the command is forwarded to the leader. Errors that say the write
// was not applied are *v1.StatusError with code 503; ones after which it may
// have been are 504 and wrap ErrUnknownOutcome.
func (c *Cluster) Apply(ctx context.Context, cmd []byte) (any, error) {
	start := time.Now()
	backoff := 5 * time.Millisecond
	for {
		var res any
		var err error
		path := "leader"
		if c.IsLeader() {
			res, err = c.applyLocal(cmd)
		} else {
			path = "forwarded"
			res, err = c.forwardApply(ctx, cmd)
		}
		if err == nil {
			c.metrics.applyLatency.WithLabelValues(path).Observe(time.Since(start).Seconds())
			return unwrapSingle(res)
		}
		if !errors.Is(err, errRetry) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, v1.NewServiceUnavailable(fmt.Sprintf("no leader could take the write before the deadline (%v): quorum may be lost", err))
		case <-time.After(backoff):
		}
		if backoff < 25*time.Millisecond {
			backoff *= 2
		}
	}
}

// errRetry marks an attempt that did not reach a leader and may be retried.
var errRetry = errors.New("retry")

func unwrapSingle(res any) (any, error) {
	if r, ok := res.(fsm.Result); ok && r.Err != nil {
		return nil, r.Err
	}
	return res, nil
}

func (c *Cluster) applyLocal(cmd []byte) (any, error) {
	f := c.raft.Apply(cmd, c.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, fmt.Errorf("%w: %v", errRetry, err)
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, v1.NewServiceUnavailable("the leader is overloaded: the write was not applied, retry")
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, v1.NewServiceUnavailable("this master is shutting down: the write was not applied")
		case errors.Is(err, raft.ErrLeadershipLost):
			e := v1.NewTimeout("leadership was lost while the write was in flight: " + ErrUnknownOutcome.Error())
			return nil, errors.Join(e, ErrUnknownOutcome)
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	return f.Response(), nil
}

// wireResult is one fsm.Result as it travels between masters.
type wireResult struct {
	Resource string          `json:"resource,omitempty"`
	Object   json.RawMessage `json:"object,omitempty"`
	Error    *v1.Status      `json:"error,omitempty"`
}

type wireResponse struct {
	Batch   bool         `json:"batch,omitempty"`
	Results []wireResult `json:"results"`
}

func toWire(res any) (wireResponse, error) {
	var out wireResponse
	var list []fsm.Result
	switch r := res.(type) {
	case fsm.Result:
		list = []fsm.Result{r}
	case fsm.BatchResult:
		out.Batch = true
		list = r
	case nil:
		list = []fsm.Result{{}}
	default:
		return out, fmt.Errorf("unexpected apply result %T", res)
	}
	for _, r := range list {
		var w wireResult
		if r.Err != nil {
			var se *v1.StatusError
			if !errors.As(r.Err, &se) {
				se = v1.NewInternalError(r.Err)
			}
			st := se.Status
			w.Error = &st
		}
		if r.Record != nil {
			res, err := v1.ResourceOf(r.Record.Obj)
			if err != nil {
				return out, err
			}
			raw, err := r.Record.JSON()
			if err != nil {
				return out, err
			}
			w.Resource, w.Object = res.Name, raw
		}
		out.Results = append(out.Results, w)
	}
	return out, nil
}

func fromWire(w wireResponse) (any, error) {
	list := make(fsm.BatchResult, 0, len(w.Results))
	for _, r := range w.Results {
		var out fsm.Result
		if r.Error != nil {
			out.Err = &v1.StatusError{Status: *r.Error}
		}
		if r.Object != nil {
			res, ok := v1.ResourceByName(r.Resource)
			if !ok {
				return nil, fmt.Errorf("forwarded result of unknown resource %q", r.Resource)
			}
			obj := res.New()
			if err := json.Unmarshal(r.Object, obj); err != nil {
				return nil, fmt.Errorf("decode forwarded %s: %w", res.Kind, err)
			}
			out.Record = fsm.NewRecord(obj, r.Object)
		}
		list = append(list, out)
	}
	if w.Batch {
		return list, nil
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("forwarded result has %d entries, want 1", len(list))
	}
	return list[0], nil
}

// forwardApply sends the command to the leader's internal endpoint.
func (c *Cluster) forwardApply(ctx context.Context, cmd []byte) (any, error) {
	addr, ok := c.LeaderAPIAddr()
	if !ok {
		return nil, fmt.Errorf("%w: no leader known", errRetry)
	}
	c.metrics.forwarded.Inc()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+applyPath, bytes.NewReader(cmd))
	if err != nil {
		return nil, fmt.Errorf("forward to leader: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.fwd.Do(req)
	if err != nil {
		if isDialError(err) {
			return nil, fmt.Errorf("%w: dial leader %s: %v", errRetry, addr, err)
		}
		e := v1.NewTimeout(fmt.Sprintf("lost the connection to the leader %s: %s", addr, ErrUnknownOutcome))
		return nil, errors.Join(e, ErrUnknownOutcome)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		e := v1.NewTimeout(fmt.Sprintf("reading the leader's answer: %v: %s", err, ErrUnknownOutcome))
		return nil, errors.Join(e, ErrUnknownOutcome)
	}
	if resp.StatusCode != http.StatusOK {
		var st v1.Status
		if json.Unmarshal(body, &st) == nil && st.Code != 0 {
			if st.Code == http.StatusServiceUnavailable && st.Reason == reasonNotLeader {
				return nil, fmt.Errorf("%w: %s", errRetry, st.Message)
			}
			return nil, &v1.StatusError{Status: st}
		}
		return nil, fmt.Errorf("forward to leader %s: HTTP %d: %s", addr, resp.StatusCode, bytes.TrimSpace(body))
	}
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decode the leader's answer: %w", err)
	}
	return fromWire(w)
}

// reasonNotLeader marks the leader's answer "I am not the leader any more".
const reasonNotLeader = "NotLeader"
