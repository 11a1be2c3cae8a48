package apiserver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
	"orch.io/orch/pki"
)

// The master proxies two requests to a node agent's own HTTPS endpoint
// (package node/agentserver):
//
//	GET  /api/v1/namespaces/{ns}/pods/{name}/log?container=&follow=&tailLines=&previous=&timestamps=&sinceSeconds=&sinceTime=&limitBytes=
//	     → GET  https://{InternalIP}:{kubeletEndpoint.Port}/pods/{ns}/{name}/log?...
//	POST /api/v1/nodes/{name}/images   (an OCI image tarball)
//	     → POST https://{InternalIP}:{kubeletEndpoint.Port}/images
//
// Both are authorized as pods/log and nodes/images. The agent is found
// through its Node object: the InternalIP of status.addresses,
// status.daemonEndpoints.kubeletEndpoint.Port, and the SHA-256 of the
// agent's self-signed certificate in the annotation
// v1.AnnotationAgentCertSHA256, which the master pins instead of verifying
// a chain. The master authenticates with its master certificate (mutual
// TLS): an agent serves only masters, never another node.

const (
	// subLog and subImages are the proxied subresources.
	subLog    = "log"
	subImages = "images"
	// agentDialTimeout bounds connecting to an agent (TCP and TLS each).
	agentDialTimeout = 5 * time.Second
	// imageUploadTimeout bounds an image upload, body and import included.
	imageUploadTimeout = 30 * time.Minute
	// nodeAddressInternalIP is the type of the node address agents listen on.
	nodeAddressInternalIP = "InternalIP"
)

// logQueryParams are the query parameters a log request passes to the agent.
var logQueryParams = []string{"container", "follow", "tailLines", "previous", "timestamps", "sinceSeconds", "sinceTime", "limitBytes"}

// checkProxySub refuses the methods the proxied subresources do not serve.
func checkProxySub(req *request) error {
	switch {
	case req.sub == subLog && req.verb != "get":
		return v1.NewMethodNotAllowed("pods/log supports GET only")
	case req.sub == subImages && req.verb != "create":
		return v1.NewMethodNotAllowed("nodes/images supports POST only")
	case isStreamSub(req.sub) && req.verb != "create":
		return v1.NewMethodNotAllowed("pods/" + req.sub + " supports GET and POST only")
	}
	return nil
}

// isProxySub reports whether a request goes to a node agent.
func isProxySub(req *request) bool {
	return req.sub == subLog || req.sub == subImages || isStreamSub(req.sub)
}

// serveProxy serves the subresources proxied to a node agent. It runs
// outside the RequestTimeout that bounds other requests: a followed log
// lasts until its container ends, an upload may be large.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, req *request) {
	switch req.sub {
	case subLog:
		s.serveLogProxy(w, r, req)
	case subImages:
		s.serveImagesProxy(w, r, req)
	case subExec, subAttach, subPortForward:
		s.serveStream(w, r, req)
	}
}

// agentTarget is where a node's agent serves.
type agentTarget struct {
	node string
	addr string // host:port
	pin  string // hex SHA-256 of its certificate
}

// nodeAgent reads a node and returns its agent's endpoint. A node that
// does not publish one yields 503.
func (s *Server) nodeAgent(r *http.Request, name string) (agentTarget, error) {
	store, err := s.read(r)
	if err != nil {
		return agentTarget{}, err
	}
	return agentOf(store, name)
}

// agentOf returns the agent endpoint of a node in store.
func agentOf(store *fsm.Store, name string) (agentTarget, error) {
	rec, err := store.Get("nodes", "", name)
	if err != nil {
		return agentTarget{}, err
	}
	n := rec.Object().(*v1.Node)
	ip := ""
	for _, a := range n.Status.Addresses {
		if a.Type == nodeAddressInternalIP && a.Address != "" {
			ip = a.Address
			break
		}
	}
	port := n.Status.DaemonEndpoints.KubeletEndpoint.Port
	pin := strings.ToLower(strings.TrimSpace(n.Annotations[v1.AnnotationAgentCertSHA256]))
	switch {
	case ip == "":
		return agentTarget{}, v1.NewServiceUnavailable(fmt.Sprintf("node %s publishes no InternalIP address in status.addresses: its agent cannot be reached", name))
	case port <= 0 || port > 65535:
		return agentTarget{}, v1.NewServiceUnavailable(fmt.Sprintf("node %s publishes no agent port in status.daemonEndpoints.kubeletEndpoint.Port", name))
	case pin == "":
		return agentTarget{}, v1.NewServiceUnavailable(fmt.Sprintf("node %s publishes no agent certificate (annotation %s)", name, v1.AnnotationAgentCertSHA256))
	}
	return agentTarget{node: name, addr: net.JoinHostPort(ip, strconv.Itoa(int(port))), pin: pin}, nil
}

// agentClient returns an HTTP client for one agent: it presents cert,
// trusts exactly the certificate whose SHA-256 is the pin, and keeps no
// idle connection.
func agentClient(t agentTarget, cert func(*tls.CertificateRequestInfo) (*tls.Certificate, error)) *http.Client {
	tlsConfig := &tls.Config{
		MinVersion:           tls.VersionTLS12,
		CipherSuites:         pki.CipherSuites(),
		GetClientCertificate: cert,
		// The agent's certificate is self-signed: no chain is verified, the
		// pin is checked instead (VerifyConnection runs in either case).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the agent presented no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := hex.EncodeToString(sum[:]); got != t.pin {
				return fmt.Errorf("the agent's certificate (SHA-256 %s) does not match the pin %s of annotation %s",
					got, t.pin, v1.AnnotationAgentCertSHA256)
			}
			return nil
		},
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: agentDialTimeout}).DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: agentDialTimeout,
		DisableKeepAlives:   true,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// agentRequest sends a request to an agent, authenticated with the master
// certificate. An agent that cannot be reached yields 503.
func (s *Server) agentRequest(ctx context.Context, t agentTarget, method, path string, query url.Values, body io.Reader, header http.Header) (*http.Response, error) {
	if s.cfg.AgentCertificate == nil {
		return nil, v1.NewServiceUnavailable("this master has no master certificate configured, so it cannot call node agents")
	}
	u := url.URL{Scheme: "https", Host: t.addr, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("build request to the agent of node %s: %w", t.node, err)
	}
	if sr, ok := body.(*sizedReader); ok {
		req.ContentLength = sr.n
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := agentClient(t, s.cfg.AgentCertificate).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, v1.NewServiceUnavailable(fmt.Sprintf("cannot reach the agent of node %s at %s: %v", t.node, t.addr, err))
	}
	return resp, nil
}

// relayError answers with the agent's error. A Status passes through;
// the agent refusing the master's certificate is the master's problem (500),
// not the caller's.
func (s *Server) relayError(w http.ResponseWriter, t agentTarget, resp *http.Response) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		writeError(w, v1.NewServiceUnavailable(fmt.Sprintf("read the answer of the agent of node %s: %v", t.node, err)))
		return
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		writeError(w, v1.NewInternalError(fmt.Errorf("the agent of node %s refused this master's certificate (HTTP %d): %s",
			t.node, resp.StatusCode, strings.TrimSpace(string(b)))))
		return
	}
	var st v1.Status
	if json.Unmarshal(b, &st) == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		writeJSON(w, resp.StatusCode, st)
		return
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	writeError(w, v1.NewInternalError(fmt.Errorf("the agent of node %s answered HTTP %d: %s", t.node, resp.StatusCode, msg)))
}

func (s *Server) serveLogProxy(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	follow, _ := strconv.ParseBool(q.Get("follow")) // as the agent parses it; it rejects a bad value
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc := http.NewResponseController(w)
	if follow {
		// Like a watch: no request timeout, and no write deadline left on
		// the connection by an earlier request. It ends with the server.
		rc.SetWriteDeadline(time.Time{})
		if stopping, _ := r.Context().Value(stoppingKey{}).(<-chan struct{}); stopping != nil {
			go func() {
				select {
				case <-stopping:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
	} else {
		ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
		rc.SetWriteDeadline(time.Now().Add(s.cfg.RequestTimeout + 5*time.Second))
	}
	// Finding the pod and its node is bounded as any read.
	lookupCtx, lookupCancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	target, err := s.podAgent(r.WithContext(lookupCtx), req)
	lookupCancel()
	if err != nil {
		writeError(w, err)
		return
	}
	aq := url.Values{}
	for _, k := range logQueryParams {
		if v, ok := q[k]; ok {
			aq[k] = v
		}
	}
	path := "/pods/" + url.PathEscape(req.namespace) + "/" + url.PathEscape(req.name) + "/log"
	resp, err := s.agentRequest(ctx, target, http.MethodGet, path, aq, nil, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.relayError(w, target, resp)
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if werr := rc.Flush(); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				// The agent went away mid-stream: break the answer too, so the
				// client sees an error rather than a log that merely ended.
				s.log.Warn("log proxy: the agent's stream broke", "node", target.node,
					"pod", req.namespace+"/"+req.name, "err", err)
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

// podAgent returns the agent of the node a pod is bound to.
func (s *Server) podAgent(r *http.Request, req *request) (agentTarget, error) {
	store, err := s.read(r)
	if err != nil {
		return agentTarget{}, err
	}
	rec, err := store.Get("pods", req.namespace, req.name)
	if err != nil {
		return agentTarget{}, err
	}
	pod := rec.Object().(*v1.Pod)
	if pod.Spec.NodeName == "" {
		return agentTarget{}, v1.NewBadRequest(fmt.Sprintf("pod %s is not bound to a node", req.name))
	}
	t, err := agentOf(store, pod.Spec.NodeName)
	if v1.IsNotFound(err) {
		return agentTarget{}, v1.NewServiceUnavailable(fmt.Sprintf("pod %s is bound to node %s, which is not registered", req.name, pod.Spec.NodeName))
	}
	return t, err
}

// countingReader remembers the error of the body it reads, so a failed
// upload can be blamed on the caller (body too large, caller gone) rather
// than on the agent. The transport reads it on its own goroutine, and may
// still be reading when the agent's answer arrives; detach ends that.
type countingReader struct {
	mu       sync.Mutex // held across each read of r
	r        io.Reader
	err      error
	detached bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.detached {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		c.err = err
	}
	return n, err
}

// detach waits for a read in progress and stops further reads of the
// caller's body: the transport may go on reading a request body after Do
// returns, but the handler must not read its body after it returns. It
// returns the error reading the caller's body failed with, if any.
func (c *countingReader) detach() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.detached = true
	return c.err
}

func (s *Server) serveImagesProxy(w http.ResponseWriter, r *http.Request, req *request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/x-tar" && mt != "application/octet-stream") {
			writeError(w, v1.NewUnsupportedMediaType(fmt.Sprintf("Content-Type %q is not supported here (use application/x-tar)", ct)))
			return
		}
	}
	if r.ContentLength > v1.MaxImageUploadBytes {
		writeError(w, v1.NewRequestTooLarge(fmt.Sprintf("the image tarball is larger than the limit of %d bytes", v1.MaxImageUploadBytes)))
		return
	}
	// The server's ReadTimeout is sized for small objects, not tarballs.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(imageUploadTimeout))
	rc.SetWriteDeadline(time.Now().Add(imageUploadTimeout + 5*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), imageUploadTimeout)
	defer cancel()

	lookupCtx, lookupCancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	target, err := s.nodeAgent(r.WithContext(lookupCtx), req.name)
	lookupCancel()
	if err != nil {
		writeError(w, err)
		return
	}
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, v1.MaxImageUploadBytes)}
	// A body of unknown length is sent chunked; a known one with its length.
	header := http.Header{"Content-Type": {"application/x-tar"}}
	resp, err := s.agentRequest(ctx, target, http.MethodPost, "/images", nil, readerWithLength(body, r.ContentLength), header)
	berr := body.detach()
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(berr, &tooBig):
			writeError(w, v1.NewRequestTooLarge(fmt.Sprintf("the image tarball is larger than the limit of %d bytes", v1.MaxImageUploadBytes)))
		case berr != nil:
			writeError(w, v1.NewBadRequest(fmt.Sprintf("read the image tarball: %v", berr)))
		default:
			writeError(w, err)
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.relayError(w, target, resp)
		return
	}
	var res v1.ImageLoadResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		writeError(w, v1.NewInternalError(fmt.Errorf("decode the answer of the agent of node %s: %w", target.node, err)))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// sizedReader is a body whose length is known, so the upstream request
// carries a Content-Length instead of being chunked.
type sizedReader struct {
	io.Reader
	n int64
}

// readerWithLength wraps r so that agentRequest can set its length.
func readerWithLength(r io.Reader, n int64) io.Reader {
	if n <= 0 {
		return r
	}
	return &sizedReader{Reader: r, n: n}
}
