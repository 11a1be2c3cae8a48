package apiserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	upgradeproxy "k8s.io/apimachinery/pkg/util/proxy"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"

	v1 "orch.io/orch/api/v1"
)

// The streaming subresources of pods, proxied to the agent of the pod's
// node as kube-apiserver proxies them to the kubelet:
//
//	GET|POST /api/v1/namespaces/{ns}/pods/{name}/exec?command=&container=&stdin=&stdout=&stderr=&tty=
//	     → /exec/{ns}/{name}/{container}?command=&input=1&output=1&error=1&tty=1
//	GET|POST /api/v1/namespaces/{ns}/pods/{name}/attach?container=&stdin=&stdout=&stderr=&tty=
//	     → /attach/{ns}/{name}/{container}?input=1&output=1&error=1&tty=1
//	GET|POST /api/v1/namespaces/{ns}/pods/{name}/portforward[?ports=]
//	     → /portforward/{ns}/{name}[?port=]
//
// All are authorized as the verb create on pods/exec, pods/attach and pods/portforward
// whatever the method, as Kubernetes does since the WebSocket (GET)
// clients became the default. A SPDY upgrade, or a WebSocket of a protocol
// older than v5.channel.k8s.io, is relayed to the agent as it is
// (UpgradeAwareHandler); a v5.channel.k8s.io WebSocket is translated to
// SPDY (StreamTranslatorHandler), and a port-forward WebSocket tunnelling
// SPDY (SPDY/3.1+portforward.k8s.io) is unwrapped (TunnelingHandler).
const (
	subExec        = "exec"
	subAttach      = "attach"
	subPortForward = "portforward"
)

// isStreamSub reports whether a subresource is a streaming one.
func isStreamSub(sub string) bool {
	return sub == subExec || sub == subAttach || sub == subPortForward
}

// hijackable gives the handlers of the upgrade libraries the connection
// under the server's response-writer wrappers (audit, metrics), which do
// not implement http.Hijacker themselves.
type hijackable struct {
	http.ResponseWriter
}

func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

func (h hijackable) Flush() { _ = http.NewResponseController(h.ResponseWriter).Flush() }

func (h hijackable) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// proxyResponder answers errors of the upgrade proxy.
type proxyResponder struct{ node string }

func (p proxyResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	writeError(w, v1.NewServiceUnavailable(fmt.Sprintf("cannot reach the agent of node %s: %v", p.node, err)))
}

// execOptions are the parameters of pods/exec (PodExecOptions).
type execOptions struct {
	container                  string
	command                    []string
	stdin, stdout, stderr, tty bool
}

// parseExecOptions reads PodExecOptions (or, with attach,
// PodAttachOptions, which have no command) from the query as Kubernetes does.
func parseExecOptions(q url.Values, attach bool) (execOptions, error) {
	o := execOptions{container: q.Get("container"), command: q["command"]}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"stdin", &o.stdin}, {"stdout", &o.stdout}, {"stderr", &o.stderr}, {"tty", &o.tty}} {
		if _, ok := q[b.name]; !ok {
			continue
		}
		v, err := parseBool(q.Get(b.name))
		if err != nil {
			return o, v1.NewBadRequest(fmt.Sprintf("%s %q must be true or false", b.name, q.Get(b.name)))
		}
		*b.dst = v
	}
	if attach && len(o.command) > 0 {
		return o, v1.NewBadRequest("command: Forbidden: attach takes no command")
	}
	if !attach && len(o.command) == 0 {
		return o, v1.NewBadRequest("you must specify at least one command for the container")
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, v1.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	if o.tty && o.stderr {
		// As the kubelet: a terminal merges stderr into stdout.
		o.stderr = false
	}
	return o, nil
}

// portForwardPorts reads ?ports= (PodPortForwardOptions), which only the
// WebSocket protocol needs.
func portForwardPorts(q url.Values) ([]string, error) {
	var out []string
	for _, v := range q["ports"] {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				return nil, v1.NewBadRequest(fmt.Sprintf("ports: Invalid value: %q: must be a port number between 1 and 65535", p))
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// streamTarget finds the pod's agent and the container exec runs in.
func (s *Server) streamTarget(r *http.Request, req *request, container string, needContainer bool) (agentTarget, string, error) {
	store, err := s.read(r)
	if err != nil {
		return agentTarget{}, "", err
	}
	rec, err := store.Get("pods", req.namespace, req.name)
	if err != nil {
		return agentTarget{}, "", err
	}
	pod := rec.Object().(*v1.Pod)
	if needContainer {
		if container == "" {
			if len(pod.Spec.Containers) != 1 {
				names := make([]string, 0, len(pod.Spec.Containers))
				for _, c := range pod.Spec.Containers {
					names = append(names, c.Name)
				}
				return agentTarget{}, "", v1.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names))
			}
			container = pod.Spec.Containers[0].Name
		}
		found := false
		for _, c := range pod.Spec.Containers {
			found = found || c.Name == container
		}
		for _, c := range pod.Spec.InitContainers {
			found = found || c.Name == container
		}
		for _, c := range pod.Spec.EphemeralContainers {
			found = found || c.Name == container
		}
		if !found {
			return agentTarget{}, "", v1.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, pod.Name))
		}
	}
	if pod.Spec.NodeName == "" {
		return agentTarget{}, "", v1.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	t, err := agentOf(store, pod.Spec.NodeName)
	if v1.IsNotFound(err) {
		return agentTarget{}, "", v1.NewServiceUnavailable(fmt.Sprintf("pod %s is bound to node %s, which is not registered", req.name, pod.Spec.NodeName))
	}
	return t, container, err
}

// serveStream proxies pods/exec and pods/portforward to the pod's agent.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, req *request) {
	if s.cfg.AgentCertificate == nil {
		writeError(w, v1.NewServiceUnavailable("this master has no master certificate configured, so it cannot call node agents"))
		return
	}
	q := r.URL.Query()
	var (
		exec  execOptions
		ports []string
		err   error
	)
	if req.sub != subPortForward {
		exec, err = parseExecOptions(q, req.sub == subAttach)
	} else {
		ports, err = portForwardPorts(q)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	lookupCtx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	target, container, err := s.streamTarget(r.WithContext(lookupCtx), req, exec.container, req.sub != subPortForward)
	cancel()
	if err != nil {
		writeError(w, err)
		return
	}
	loc := &url.URL{Scheme: "https", Host: target.addr}
	aq := url.Values{}
	if req.sub != subPortForward {
		loc.Path = "/" + req.sub + "/" + url.PathEscape(req.namespace) + "/" + url.PathEscape(req.name) + "/" + url.PathEscape(container)
		if len(exec.command) > 0 {
			aq["command"] = exec.command
		}
		for _, p := range []struct {
			name string
			on   bool
		}{{"input", exec.stdin}, {"output", exec.stdout}, {"error", exec.stderr}, {"tty", exec.tty}} {
			if p.on {
				aq.Set(p.name, "1")
			}
		}
	} else {
		loc.Path = "/portforward/" + url.PathEscape(req.namespace) + "/" + url.PathEscape(req.name)
		if len(ports) > 0 {
			aq["port"] = ports
		}
	}
	loc.RawQuery = aq.Encode()
	transport := agentClient(target, s.cfg.AgentCertificate).Transport

	// The caller's credentials stay here: the agent trusts the master.
	r = r.Clone(r.Context())
	r.Header.Del("Authorization")
	for k := range r.Header {
		if strings.HasPrefix(k, "Impersonate-") {
			r.Header.Del(k)
		}
	}
	// A stream lasts as long as it is used; the server's deadlines, meant
	// for small requests, must not cut it.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	upgrade := upgradeproxy.NewUpgradeAwareHandler(loc, transport, false, true, proxyResponder{target.node})
	var h http.Handler = upgrade
	var hw http.ResponseWriter = hijackable{w}
	switch {
	case req.sub != subPortForward && wsstream.IsWebSocketRequestWithStreamCloseProtocol(r):
		h = streamproxy.NewStreamTranslatorHandler(loc, transport, 0, streamproxy.Options{
			Stdin: exec.stdin, Stdout: exec.stdout, Stderr: exec.stderr, Tty: exec.tty})
	case req.sub == subPortForward && wsstream.IsWebSocketRequestWithTunnelingProtocol(r):
		h = streamproxy.NewTunnelingHandler(upgrade)
		hw = tunnelHijackable{hijackable{w}}
	}
	h.ServeHTTP(hw, r)
}
