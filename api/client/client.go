// Package client is the Go client of the orch API: CRUD, list, watch with
// transparent resume, and failover across the masters of a cluster.
//
// A Client sends each request to the server that last worked. When a server
// cannot be reached (the request never left this process) or answers 503
// (the cluster did not apply the write), the next server is tried, cycling
// with a small backoff for a bounded number of rounds or until the context
// ends. A write that was sent but whose answer was lost is never retried: it
// fails with an error for which IsUnknownOutcome is true. Reads are retried on
// any transport error. A request the server turned away with 429 and a
// Retry-After header (its in-flight limit) is sent again after that pause,
// up to MaxThrottleRetries times, as client-go does.
//
// API errors are *v1.StatusError, so v1.IsNotFound, v1.IsConflict and the
// other predicates of package v1 work on the errors returned here.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/client-go/util/connrotation"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// Client talks to the API servers of one cluster. It is safe for concurrent
// use; build it once and share it.
type Client struct {
	set       atomic.Pointer[serverSet]
	token     string
	userAgent string
	rounds    int
	warnings  func(string)
	transport *http.Transport
	// dialer tracks the connections it made, so CloseAllConnections can
	// close those in use too (a watch's, after a certificate rotation).
	dialer *connrotation.Dialer
	httpc  *http.Client
	// preferred is the index of the server that last answered.
	preferred atomic.Int64
}

// New builds a client from cfg. It trusts only the configured CA (TLS 1.2 or
// newer), keeps a pool of keep-alive connections per server, and gives up on
// a server that does not accept a connection within cfg.DialTimeout.
func New(cfg *Config) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("client config is nil")
	}
	if len(cfg.Servers) == 0 {
		return nil, errors.New("client config lists no servers")
	}
	c := &Client{token: cfg.Token, userAgent: cfg.UserAgent, rounds: cfg.FailoverRounds, warnings: cfg.WarningHandler}
	if err := c.SetServers(cfg.Servers); err != nil {
		return nil, err
	}
	if c.userAgent == "" {
		c.userAgent = "orch-client"
	}
	if c.rounds <= 0 {
		c.rounds = DefaultFailoverRounds
	}
	pool := cfg.RootCAs
	if pool == nil {
		pemBytes, err := cfg.caPEM()
		if err != nil {
			return nil, err
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, errors.New("certificate authority: no PEM certificate found")
		}
	}
	getCert, err := clientCertificate(cfg)
	if err != nil {
		return nil, err
	}
	dialTimeout := orDefault(cfg.DialTimeout, DefaultDialTimeout)
	dialer := &net.Dialer{
		Timeout: dialTimeout,
		// Probe idle connections (watch streams above all) so a master that
		// vanished without a FIN is noticed in about half a minute.
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	perHost := cfg.MaxIdleConnsPerHost
	if perHost <= 0 {
		perHost = DefaultMaxIdleConnsPerHost
	}
	c.dialer = connrotation.NewDialer(dialer.DialContext)
	c.transport = &http.Transport{
		DialContext:           c.dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, CipherSuites: pki.CipherSuites(), GetClientCertificate: getCert},
		TLSHandshakeTimeout:   orDefault(cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout),
		MaxIdleConns:          perHost * 8,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if cfg.HTTP2 {
		// A custom dialer and TLS config turn HTTP/2 off unless asked for.
		c.transport.ForceAttemptHTTP2 = true
		c.transport.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	}
	c.httpc = &http.Client{
		Transport: c.transport,
		// The API never redirects; a redirect is shown to the caller as is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func parseServer(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(s), "/"))
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", s, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("server %q: scheme must be https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server %q: no host", s)
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// Servers returns the configured server URLs, in configuration order.
func (c *Client) Servers() []string { return append([]string(nil), c.set.Load().names...) }

// serverSet is the list of masters a client fails over between.
type serverSet struct {
	urls  []*url.URL
	names []string
}

// SetServers replaces the masters the client talks to (a node agent learns
// them from gossip). Requests in flight finish on the old list.
func (c *Client) SetServers(servers []string) error {
	if len(servers) == 0 {
		return errors.New("client config lists no servers")
	}
	set := &serverSet{}
	for _, s := range servers {
		u, err := parseServer(s)
		if err != nil {
			return err
		}
		set.urls = append(set.urls, u)
		set.names = append(set.names, u.String())
	}
	c.set.Store(set)
	return nil
}

// CloseIdleConnections closes the pooled connections that are not in use.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// CloseAllConnections closes every connection of the client, idle or in
// use, as client-go does when a client certificate rotates: requests in
// flight fail (and are retried or resumed, watches from their last
// resourceVersion), and every later request handshakes again with the
// certificate GetClientCertificate gives then.
func (c *Client) CloseAllConnections() { c.dialer.CloseAll() }

// request is one API call, independent of the server it goes to.
type request struct {
	method      string
	path        string
	query       url.Values
	body        []byte
	contentType string
	// stream leaves the body of a 2xx answer open for the caller (watch).
	stream bool
}

// idempotent reports whether the request may be sent again after its
// answer was lost.
func (r *request) idempotent() bool { return r.method == http.MethodGet || r.method == http.MethodHead }

// response is a 2xx answer: its body read whole, or the open stream.
type response struct {
	status int
	body   []byte
	stream io.ReadCloser
	server string
	// retryAfter is the answer's Retry-After header, if any.
	retryAfter string
}

// attemptError is the failure of one attempt on one server.
type attemptError struct {
	// sent is true when the whole request reached the connection, so the
	// server may have acted on it.
	sent bool
	// status is the HTTP code when the head of an answer arrived but its
	// body could not be read; 0 otherwise.
	status int
	err    error
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

func (c *Client) urlFor(set *serverSet, idx int, r *request) string {
	base := set.urls[idx]
	u := *base
	u.Path = base.Path + r.path
	u.RawPath = ""
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

// attempt sends r to server idx once. It returns the answer whatever its
// code, or an *attemptError.
func (c *Client) attempt(ctx context.Context, set *serverSet, idx int, r *request) (*response, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	target := c.urlFor(set, idx, r)
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), r.method, target, body)
	if err != nil {
		return nil, &attemptError{err: fmt.Errorf("build request %s %s: %w", r.method, target, err)}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.httpc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &attemptError{sent: wrote.Load(), err: err}
	}
	res := &response{status: resp.StatusCode, server: set.names[idx], retryAfter: resp.Header.Get("Retry-After")}
	c.warn(resp.Header)
	if r.stream && resp.StatusCode/100 == 2 {
		res.stream = resp.Body
		return res, nil
	}
	defer resp.Body.Close()
	var rd io.Reader = resp.Body
	if resp.StatusCode/100 != 2 {
		rd = io.LimitReader(resp.Body, maxErrorBody)
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, &attemptError{sent: true, status: resp.StatusCode,
			err: fmt.Errorf("read answer (HTTP %d) from %s: %w", resp.StatusCode, set.names[idx], err)}
	}
	res.body = b
	return res, nil
}

// send runs r with failover and returns a 2xx answer or an error: a
// *v1.StatusError for an API error, an *UnknownOutcomeError for a write that
// was sent but not answered, or an *UnreachableError.
func (c *Client) send(ctx context.Context, r *request) (*response, error) {
	set := c.set.Load()
	n := len(set.urls)
	start := int(c.preferred.Load()) % n
	var lastErr error
	var unavailable *v1.StatusError
	throttled := 0
rounds:
	for round := 0; round < c.rounds; round++ {
		if round > 0 {
			if err := sleep(ctx, backoff(round)); err != nil {
				break
			}
		}
		for i := range n {
			if ctx.Err() != nil {
				break rounds
			}
			idx := (start + i) % n
			res, err := c.attempt(ctx, set, idx, r)
			if err != nil {
				var ae *attemptError
				if !errors.As(err, &ae) {
					return nil, err
				}
				switch {
				case ae.status == http.StatusServiceUnavailable:
					// The server refused the request; nothing was applied.
					unavailable = decodeStatusError(ae.status, nil)
					lastErr = unavailable
					continue
				case r.idempotent():
					lastErr = ae.err
					continue
				case ae.status/100 == 2:
					return nil, fmt.Errorf("%s %s succeeded (HTTP %d) but its answer could not be read: %w",
						r.method, c.urlFor(set, idx, r), ae.status, ae.err)
				case ae.status != 0:
					return nil, decodeStatusError(ae.status, nil)
				case ae.sent:
					return nil, &UnknownOutcomeError{Method: r.method, URL: c.urlFor(set, idx, r), Err: ae.err}
				}
				lastErr = ae.err
				continue
			}
			if res.status == http.StatusServiceUnavailable {
				unavailable = decodeStatusError(res.status, res.body)
				lastErr = unavailable
				continue
			}
			c.preferred.Store(int64(idx))
			if res.status/100 == 2 {
				return res, nil
			}
			if wait, ok := throttle(res); ok && throttled < MaxThrottleRetries {
				// The server turned the request away before acting on it
				// (its in-flight limit): any verb may be sent again after
				// the pause it asked for, as client-go does.
				throttled++
				if err := sleep(ctx, wait); err != nil {
					return nil, decodeStatusError(res.status, res.body)
				}
				round-- // the same round, the same server
				start = idx
				continue rounds
			}
			se := decodeStatusError(res.status, res.body)
			if res.status == http.StatusGatewayTimeout && !r.idempotent() {
				return nil, &UnknownOutcomeError{Method: r.method, URL: c.urlFor(set, idx, r), Err: se}
			}
			return nil, se
		}
	}
	if unavailable != nil {
		return nil, unavailable
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return nil, &UnreachableError{Servers: c.Servers(), Err: lastErr}
}

// MaxThrottleRetries is how many times a request turned away with 429 and a
// Retry-After header is sent again before the 429 is returned (client-go's
// default maxRetries).
const MaxThrottleRetries = 10

// maxThrottleWait caps the pause a server's Retry-After may ask for.
const maxThrottleWait = 10 * time.Second

// throttle reports whether res is a 429 with a Retry-After header of whole
// seconds (the server's in-flight limit; a 429 without one, as an eviction
// a disruption budget refuses, is an answer to return), and the pause.
func throttle(res *response) (time.Duration, bool) {
	if res.status != http.StatusTooManyRequests || res.retryAfter == "" {
		return 0, false
	}
	n, err := strconv.Atoi(res.retryAfter)
	if err != nil || n < 0 {
		return 0, false
	}
	return min(time.Duration(n)*time.Second, maxThrottleWait), true
}

// backoff is the pause before failover round n (n >= 1): 100 ms doubling up
// to 1 s, with ±20 % jitter so many clients do not retry in step.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 4)
	d = min(d, time.Second)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// sleep waits for d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
