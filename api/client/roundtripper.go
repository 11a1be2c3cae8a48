package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
)

// FailoverRoundTripper sends each request to the master that last answered
// and, when that master cannot take it, to the next one, with the rules of
// Client: a request that never reached a server (the connection could not be
// made) or that a server refused with 503 goes to the next server, whatever
// its method; a read (GET, HEAD) also goes to the next server after any other
// transport error; a write that was sent but not answered is never sent
// again. It is what lets a client-go rest.Config (orchctl's kubectl verbs)
// fail over across the masters of one orch cluster: install it with
// rest.Config.WrapTransport, the Host being any one of the servers.
type FailoverRoundTripper struct {
	next    http.RoundTripper
	servers []*url.URL
	// preferred is the index of the server that last answered.
	preferred atomic.Int64
}

// NewFailoverRoundTripper returns a FailoverRoundTripper over servers (https
// base URLs, as in Config.Servers) that sends through next.
func NewFailoverRoundTripper(servers []string, next http.RoundTripper) (*FailoverRoundTripper, error) {
	if len(servers) == 0 {
		return nil, errors.New("failover: no servers")
	}
	if next == nil {
		return nil, errors.New("failover: no transport")
	}
	rt := &FailoverRoundTripper{next: next}
	for _, s := range servers {
		u, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		rt.servers = append(rt.servers, u)
	}
	return rt, nil
}

// WrappedRoundTripper returns the transport requests go through, as
// client-go's wrappers do (for CancelRequest and connection teardown).
func (f *FailoverRoundTripper) WrappedRoundTripper() http.RoundTripper { return f.next }

// RoundTrip implements http.RoundTripper. The request's scheme and host are
// replaced by each server's in turn, from the preferred one on; its path and
// query are kept (orch's masters serve the API at their root).
func (f *FailoverRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	n := len(f.servers)
	start := int(f.preferred.Load()) % n
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	var lastErr error
	for i := range n {
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
		idx := (start + i) % n
		if i > 0 && !resendable(req) {
			return nil, lastErr // the body went with the first attempt
		}
		attempt, wrote, err := f.requestFor(req, idx, i > 0)
		if err != nil {
			return nil, err
		}
		resp, err := f.next.RoundTrip(attempt)
		if err != nil {
			lastErr = err
			if wrote.Load() && !idempotent {
				return nil, err // sent, answer lost: never resent
			}
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable && i < n-1 && resendable(req) {
			// The server refused it; nothing was applied. Try the next one.
			resp.Body.Close()
			lastErr = fmt.Errorf("%s answered 503 Service Unavailable", f.servers[idx].Host)
			continue
		}
		f.preferred.Store(int64(idx))
		return resp, nil
	}
	return nil, lastErr
}

// requestFor returns req aimed at server idx, with a fresh body when resend
// is set, and a flag that is set once the request was written whole.
func (f *FailoverRoundTripper) requestFor(req *http.Request, idx int, resend bool) (*http.Request, *atomic.Bool, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	ctx := httptrace.WithClientTrace(req.Context(), trace)
	r := req.Clone(ctx)
	base := f.servers[idx]
	u := *req.URL
	u.Scheme, u.Host = base.Scheme, base.Host
	r.URL, r.Host = &u, ""
	if resend && req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, nil, fmt.Errorf("failover: resend body: %w", err)
		}
		r.Body = body
	}
	return r, &wrote, nil
}

// resendable reports whether req's body can be sent again.
func resendable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}
