package apiserver

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// The query parameters the API reads are checked here, before anything is
// read or written: a value that does not parse or is out of range is a 400
// naming the parameter, as Kubernetes answers, never a silent default.

// boolParams are the flags the API reads, parsed as Kubernetes parses them.
var boolParams = []string{"watch", "allowWatchBookmarks", "sendInitialEvents", "stale", "pretty", "orphanDependents", "follow", "previous", "timestamps", "force"}

// checkParams validates the parameters every resource request may carry.
func checkParams(q url.Values) error {
	for _, name := range boolParams {
		if vs, ok := q[name]; ok {
			for _, s := range vs {
				if _, err := parseBool(s); err != nil {
					return v1.NewBadRequest(fmt.Sprintf("%s %q must be true or false", name, s))
				}
			}
		}
	}
	switch fv := q.Get("fieldValidation"); fv {
	case "", "Ignore", "Warn", "Strict":
		// orch always decodes strictly: an unknown or duplicate field is an
		// error whatever the client asks, since orch would not honour it.
	default:
		return v1.NewBadRequest(fmt.Sprintf("invalid fieldValidation directive: %q (must be Ignore, Warn or Strict)", fv))
	}
	if fm := q.Get("fieldManager"); len(fm) > 128 {
		return v1.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	switch m := q.Get("resourceVersionMatch"); m {
	case "", "NotOlderThan", "Exact":
	default:
		return v1.NewBadRequest(fmt.Sprintf("resourceVersionMatch: Unsupported value: %q: supported values: \"Exact\", \"NotOlderThan\"", m))
	}
	return nil
}

// parseBool parses a flag as strconv.ParseBool does, an empty value being true
// (?watch is ?watch=true).
func parseBool(s string) (bool, error) {
	if s == "" {
		return true, nil
	}
	return strconv.ParseBool(s)
}

// flag returns a flag's value; checkParams has validated it.
func flag(q url.Values, name string) bool {
	if _, ok := q[name]; !ok {
		return false
	}
	b, _ := parseBool(q.Get(name))
	return b
}

// parseResourceVersion parses a resourceVersion parameter; "" is 0.
func parseResourceVersion(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, v1.NewBadRequest(fmt.Sprintf("resourceVersion: Invalid value: %q: must be a whole number", s))
	}
	return n, nil
}

// tooLargeResourceVersion is Kubernetes' answer to a read or watch from a
// resourceVersion the cluster has not reached.
func tooLargeResourceVersion(rv, current uint64) error {
	e := v1.NewTimeout(fmt.Sprintf("Too large resource version: %d, current: %d", rv, current))
	e.Status.Details = &v1.StatusDetails{Causes: []v1.StatusCause{{Type: "ResourceVersionTooLarge", Message: "Too large resource version"}},
		RetryAfterSeconds: 1}
	return e
}

// atLeast returns the local store once it has applied rv: at once if it has,
// else after a read barrier (which waits for this master to apply everything
// committed). An rv above everything committed is too large.
func (s *Server) atLeast(ctx context.Context, rv uint64) (*fsm.Store, error) {
	store := s.backend.Store()
	if cur := store.Index(); rv <= cur {
		return store, nil
	}
	idx, err := s.backend.ReadBarrier(ctx)
	if err != nil {
		return nil, err
	}
	store = s.backend.Store()
	if cur := store.Index(); rv > cur {
		return nil, tooLargeResourceVersion(rv, max(idx, cur))
	}
	return store, nil
}

// maxSeconds is the largest number of seconds a time.Duration holds.
const maxSeconds = int64(1<<63-1) / int64(time.Second)

// parseSeconds parses a count of seconds in [0, maxSeconds].
func parseSeconds(name, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxSeconds {
		return 0, v1.NewBadRequest(fmt.Sprintf("%s %q must be a whole number of seconds from 0 to %d", name, s, maxSeconds))
	}
	return n, nil
}

// requestTimeout returns the ?timeout= of a request (a Go duration, as
// Kubernetes takes it), capped at the server's request timeout.
func (s *Server) requestTimeout(q url.Values) (time.Duration, error) {
	t := q.Get("timeout")
	if t == "" {
		return s.cfg.RequestTimeout, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil || d <= 0 {
		return 0, v1.NewBadRequest(fmt.Sprintf("invalid timeout specified in the request URL: %q", t))
	}
	return min(d, s.cfg.RequestTimeout), nil
}
