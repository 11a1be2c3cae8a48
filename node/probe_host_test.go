package node

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A probe without a host for a pod without an IP fails instead of dialling
// the node's own loopback (Go dials the local system for an empty host).
func TestProbeWithoutPodIPStaysOffTheNode(t *testing.T) {
	// An HTTP server on the node's loopback answers TCP and HTTP probes.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	p := &prober{http: http.DefaultClient}
	onLoopback := v1.IntOrString{IntVal: int32(port)}
	for _, tc := range []struct {
		name  string
		probe v1.ProbeHandler
		podIP string
		want  bool
	}{
		{"tcp, no pod IP", v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: onLoopback}}, "", false},
		{"http, no pod IP", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: onLoopback}}, "", false},
		// The control: the listener answers a probe that does reach it.
		{"tcp to the pod IP", v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: onLoopback}}, "127.0.0.1", true},
		{"http to the pod IP", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: onLoopback}}, "127.0.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := p.probe(context.Background(), &v1.Probe{ProbeHandler: tc.probe, TimeoutSeconds: 1}, &v1.Container{}, tc.podIP, "id")
			if ok != tc.want {
				t.Fatalf("probe = %v (%s), want %v", ok, msg, tc.want)
			}
		})
	}
}
