package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
)

// prober runs exec, httpGet and tcpSocket probes. The agent reaches pods
// through the node's bridge, so HTTP and TCP probes dial the pod IP from
// the agent's own network namespace.
type prober struct {
	rt   Runtime
	http *http.Client
}

func newProber(rt Runtime) *prober {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as Kubernetes'.
		DisableKeepAlives: true,
	}
	return &prober{rt: rt, http: &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// probe runs one probe once: success, or the reason it failed.
func (p *prober) probe(ctx context.Context, pr *v1.Probe, c *v1.Container, podIP, containerID string) (bool, string) {
	timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.Exec != nil:
		code, out, err := p.rt.Exec(ctx, containerID, pr.Exec.Command)
		if err != nil {
			return false, fmt.Sprintf("exec probe: %v", err)
		}
		if code != 0 {
			return false, fmt.Sprintf("exec probe %v exited with %d: %s", pr.Exec.Command, code, strings.TrimSpace(string(out)))
		}
		return true, ""
	case pr.HTTPGet != nil:
		g := pr.HTTPGet
		port, err := resolvePort(g.Port, c)
		if err != nil {
			return false, err.Error()
		}
		host, err := probeHost(g.Host, podIP)
		if err != nil {
			return false, err.Error()
		}
		scheme := "http"
		if strings.EqualFold(g.Scheme, "HTTPS") {
			scheme = "https"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("User-Agent", "orch-probe")
		for _, h := range g.HTTPHeaders {
			req.Header.Add(h.Name, h.Value)
		}
		resp, err := p.http.Do(req)
		if err != nil {
			return false, fmt.Sprintf("http probe: %v", err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return false, fmt.Sprintf("http probe %s: status %d", url, resp.StatusCode)
		}
		return true, ""
	case pr.TCPSocket != nil:
		port, err := resolvePort(pr.TCPSocket.Port, c)
		if err != nil {
			return false, err.Error()
		}
		host, err := probeHost(pr.TCPSocket.Host, podIP)
		if err != nil {
			return false, err.Error()
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("tcp probe: %v", err)
		}
		conn.Close()
		return true, ""
	}
	return false, "the probe has no handler"
}

// probeHost is where an HTTP or TCP probe dials: its host, else the pod's
// IP, as the kubelet does. Without either it fails: an empty host would
// make the dial go to the node's own loopback, which a probe must never
// reach on the pod's behalf (a probe's host is the Pod Security Standards'
// business, refused at baseline).
func probeHost(host, podIP string) (string, error) {
	if host == "" {
		host = podIP
	}
	if host == "" {
		return "", errors.New("probe: the pod has no IP yet")
	}
	return host, nil
}

// resolvePort turns a port number or a container port's name into a number.
func resolvePort(p v1.IntOrString, c *v1.Container) (int, error) {
	if p.Type == 0 {
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("probe port %q: the container has no port of that name", p.StrVal)
}

// Kinds of probes.
const (
	probeReadiness = "readiness"
	probeLiveness  = "liveness"
	probeStartup   = "startup"
)

// startProbes starts the probes of a running container. With a startup
// probe, liveness and readiness probes wait until it succeeded (the
// kubelet's prober manager); a container adopted after an agent restart
// whose last reported status says started does not probe startup again.
func (w *podWorker) startProbes(ctx context.Context, pod *v1.Pod, c *v1.Container, st *containerState) {
	w.mu.Lock()
	if st.stopProbes != nil || !st.running {
		w.mu.Unlock()
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	st.stopProbes = cancel
	id, startedAt := st.id, st.startedAt
	if c.StartupProbe == nil || startedBefore(pod, c.Name, id) {
		st.started = true
	}
	needStartup := !st.started
	w.mu.Unlock()
	podIP := ""
	if w.sandbox != nil {
		podIP = w.sandbox.IP.String()
	}
	cc := *c
	ref := events.ContainerRef(pod, c.Name)
	go func() {
		if needStartup && !w.probeLoop(pctx, cc.StartupProbe, &cc, ref, podIP, id, startedAt, probeStartup) {
			return
		}
		if cc.ReadinessProbe != nil {
			go w.probeLoop(pctx, cc.ReadinessProbe, &cc, ref, podIP, id, startedAt, probeReadiness)
		}
		if cc.LivenessProbe != nil {
			go w.probeLoop(pctx, cc.LivenessProbe, &cc, ref, podIP, id, startedAt, probeLiveness)
		}
	}()
}

// startedBefore reports whether the pod's last reported status says the
// container with this ID had started.
func startedBefore(pod *v1.Pod, name, id string) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == name && cs.ContainerID == containerURI(id) && id != "" && cs.Started != nil && *cs.Started {
			return true
		}
	}
	return false
}

// probeLoop probes every period once initialDelaySeconds have passed since
// the container started. A readiness probe reports each change of its
// verdict (successThreshold successes in a row make ready,
// failureThreshold failures not ready); a liveness probe reports
// failureThreshold failures in a row once and stops; a startup probe
// reports its first success (and returns true) or failureThreshold
// failures in a row (and returns false).
func (w *podWorker) probeLoop(ctx context.Context, pr *v1.Probe, c *v1.Container, ref v1.ObjectReference, podIP, id string, startedAt time.Time, kind string) bool {
	period := time.Duration(max(pr.PeriodSeconds, 1)) * time.Second
	successT, failureT := max(pr.SuccessThreshold, 1), max(pr.FailureThreshold, 1)
	if delay := startedAt.Add(time.Duration(pr.InitialDelaySeconds) * time.Second).Sub(w.a.cfg.Now()); delay > 0 {
		sleepCtx(ctx, delay)
	}
	var ok, fail int32
	var verdict *bool
	tick := time.NewTicker(period)
	defer tick.Stop()
	for ctx.Err() == nil {
		good, msg := w.a.prober.probe(ctx, pr, c, podIP, id)
		if ctx.Err() != nil {
			return false
		}
		if good {
			ok, fail = ok+1, 0
		} else {
			ok, fail = 0, fail+1
			// Every failed probe, as the kubelet's prober; the recorder
			// counts repeats into one event.
			w.a.cfg.Recorder.RefEventf(ref, v1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", probeTitle(kind), msg)
		}
		var ev *workerEvent
		final, result := false, false
		switch {
		case kind == probeStartup && ok >= successT:
			ev, final, result = &workerEvent{containerID: id, started: true}, true, true
		case kind == probeStartup && fail >= failureT:
			ev, final = &workerEvent{containerID: id, startup: msg}, true
		case kind == probeLiveness && fail >= failureT:
			ev, final = &workerEvent{containerID: id, liveness: msg}, true
		case kind == probeReadiness && ok >= successT && (verdict == nil || !*verdict):
			t := true
			verdict = &t
			ev = &workerEvent{containerID: id, ready: verdict}
		case kind == probeReadiness && fail >= failureT && (verdict == nil || *verdict):
			f := false
			verdict = &f
			w.log.Info("readiness probe failed", "container", c.Name, "reason", msg)
			ev = &workerEvent{containerID: id, ready: verdict}
		}
		if ev != nil {
			select {
			case w.events <- *ev:
			case <-ctx.Done():
				return false
			}
			if final {
				return result
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return false
}

// probeTitle is the probe kind as the kubelet's Unhealthy events name it.
func probeTitle(kind string) string {
	switch kind {
	case probeLiveness:
		return "Liveness"
	case probeReadiness:
		return "Readiness"
	}
	return "Startup"
}
