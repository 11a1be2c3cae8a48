package apiserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// warningsOf parses the Warning headers of resp, as kubectl does.
func warningsOf(t *testing.T, resp *http.Response) []string {
	t.Helper()
	ws, errs := utilnet.ParseWarningHeaders(resp.Header.Values("Warning"))
	if len(errs) > 0 {
		t.Fatalf("bad Warning headers %q: %v", resp.Header.Values("Warning"), errs)
	}
	var out []string
	for _, w := range ws {
		if w.Code != 299 || w.Agent != "-" {
			t.Errorf("warning %+v: want code 299 and agent -", w)
		}
		out = append(out, w.Text)
	}
	return out
}

func probeHostPod(name string) *v1.Pod {
	p := newPod(name, nil)
	p.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{
		TCPSocket: &v1.TCPSocketAction{Host: "127.0.0.1", Port: v1.IntOrString{IntVal: 6443}}}}
	return p
}

const restrictedPlainPod = `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
	`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
	`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
	`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`

// TestPodSecurityREST drives Pod Security admission through the real API:
// the refusal's Status, the Warning headers, the template and namespace
// paths, and a write that must change nothing when refused.
func TestPodSecurityREST(t *testing.T) {
	e := newTestEnv(t)
	for _, ns := range []*v1.Namespace{
		{ObjectMeta: v1.ObjectMeta{Name: "restricted", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}},
		{ObjectMeta: v1.ObjectMeta{Name: "warned", Labels: map[string]string{"pod-security.kubernetes.io/warn": "restricted"}}},
		{ObjectMeta: v1.ObjectMeta{Name: "privileged", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged",
			"pod-security.kubernetes.io/warn": "privileged", "pod-security.kubernetes.io/audit": "privileged"}}},
	} {
		e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces", ns)
	}
	inNS := func(p *v1.Pod, ns string) *v1.Pod { p.Namespace = ns; return p }
	rcOf := func(p *v1.Pod, ns string) *v1.ReplicationController {
		return &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "rc", Namespace: ns}, Spec: v1.ReplicationControllerSpec{
			Replicas: new(int32), Selector: map[string]string{"app": "x"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: p.Spec}}}
	}
	tests := []struct {
		name     string
		path     string
		body     any
		code     int
		message  string
		warnings []string
	}{
		{name: "plain pod in default", path: "/api/v1/namespaces/default/pods", body: newPod("plain", nil), code: 201},
		{name: "probe host refused at the default baseline", path: "/api/v1/namespaces/default/pods", body: probeHostPod("probe"), code: 403,
			message: `pods "probe" is forbidden: violates PodSecurity "baseline:latest": probe or lifecycle host (container "c" uses probe or lifecycle host "127.0.0.1")`},
		{name: "generated name", path: "/api/v1/namespaces/default/pods", body: func() *v1.Pod { p := probeHostPod(""); p.GenerateName = "gen-"; return p }(), code: 403,
			message: `is forbidden: violates PodSecurity "baseline:latest": probe or lifecycle host`},
		{name: "probe host admitted where privileged", path: "/api/v1/namespaces/privileged/pods", body: inNS(probeHostPod("probe"), "privileged"), code: 201},
		{name: "plain pod refused where restricted", path: "/api/v1/namespaces/restricted/pods", body: inNS(newPod("plain", nil), "restricted"), code: 403,
			message: `pods "plain" is forbidden: violates PodSecurity "restricted:latest": ` + restrictedPlainPod},
		{name: "plain pod warned about", path: "/api/v1/namespaces/warned/pods", body: inNS(newPod("plain", nil), "warned"), code: 201,
			warnings: []string{`would violate PodSecurity "restricted:latest": ` + restrictedPlainPod}},
		{name: "template warned about, not refused", path: "/api/v1/namespaces/default/replicationcontrollers", body: rcOf(probeHostPod("t"), "default"), code: 201,
			warnings: []string{`would violate PodSecurity "baseline:latest": probe or lifecycle host (container "c" uses probe or lifecycle host "127.0.0.1")`}},
		{name: "template in a restricted namespace", path: "/api/v1/namespaces/restricted/replicationcontrollers", body: rcOf(newPod("t", nil), "restricted"), code: 201,
			warnings: []string{`would violate PodSecurity "restricted:latest": ` + restrictedPlainPod}},
		{name: "pod in a missing namespace is 404", path: "/api/v1/namespaces/nowhere/pods", body: inNS(probeHostPod("probe"), "nowhere"), code: 404},
		{name: "namespace with an invalid level", path: "/api/v1/namespaces", code: 422,
			body:    &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "bad", Labels: map[string]string{"pod-security.kubernetes.io/enforce": "strict"}}},
			message: `Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.send(t, e.http, http.MethodPost, tt.path, tt.body)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tt.code, b)
			}
			if tt.message != "" {
				var st v1.Status
				if err := json.Unmarshal(b, &st); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(st.Message, tt.message) || st.Code != int32(tt.code) {
					t.Errorf("status %d %q, want %q", st.Code, st.Message, tt.message)
				}
			}
			if got := warningsOf(t, resp); !slices.Equal(got, tt.warnings) {
				t.Errorf("warnings %q, want %q", got, tt.warnings)
			}
		})
	}
	if _, err := e.server.backend.Store().Get("pods", "default", "probe"); !v1.IsNotFound(err) {
		t.Errorf("refused pod stored: %v", err)
	}

	// Tightening default's enforce level warns about the pod that violates
	// it, and an update of that pod's image is then refused.
	t.Run("tightened namespace", func(t *testing.T) {
		resp := e.send(t, e.http, http.MethodPatch, "/api/v1/namespaces/default",
			`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`, withContentType("application/merge-patch+json"))
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
		}
		want := []string{`existing pods in namespace "default" violate the new PodSecurity enforce level "restricted:latest"`,
			`plain: allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`}
		if got := warningsOf(t, resp); !slices.Equal(got, want) {
			t.Errorf("warnings %q, want %q", got, want)
		}
		st := e.expectStatus(t, http.StatusForbidden, http.MethodPatch, podPath("plain"),
			`{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`, withContentType("application/merge-patch+json"))
		if want := `pods "plain" is forbidden: violates PodSecurity "restricted:latest": `; !strings.HasPrefix(st.Message, want) {
			t.Errorf("message %q, want prefix %q", st.Message, want)
		}
		// A label change is not a significant update.
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("plain"), `{"metadata":{"labels":{"a":"b"}}}`, withContentType("application/merge-patch+json"))
		e.expectCode(t, http.StatusUnprocessableEntity, http.MethodPatch, "/api/v1/namespaces/default",
			`{"metadata":{"labels":{"pod-security.kubernetes.io/audit-version":"1.30"}}}`, withContentType("application/merge-patch+json"))
	})
}

func TestWarningHeaderLimits(t *testing.T) {
	h := http.Header{}
	ctx := withWarnings(t.Context(), h)
	long := strings.Repeat("x", 3000)
	addWarnings(ctx, "a", "a", `quote " and \ backslash`, "", long, long+"y", "bad\x00control", "b")
	got, errs := utilnet.ParseWarningHeaders(h.Values("Warning"))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var texts []string
	for _, w := range got {
		texts = append(texts, w.Text)
	}
	want := []string{"a", `quote " and \ backslash`, long, strings.Repeat("x", warningItemRunes), "b"}
	if !slices.Equal(texts, want) {
		t.Errorf("warnings %q\nwant %q", texts, want)
	}
	addWarnings(t.Context(), "no recorder") // no panic without one
}

// staleBackend shows the store of another cluster (an older view) until a
// read barrier is asked for, as a follower that has not yet applied the
// latest entries would.
type staleBackend struct {
	Backend
	stale   *fsm.Store
	barrier atomic.Bool
}

func (b *staleBackend) Store() *fsm.Store {
	if b.barrier.Load() {
		return b.Backend.Store()
	}
	return b.stale
}

func (b *staleBackend) ReadBarrier(ctx context.Context) (uint64, error) {
	b.barrier.Store(true)
	return b.Backend.ReadBarrier(ctx)
}

// A namespace relaxed a moment ago (committed, not yet applied on the
// master that admits the pod) does not refuse the pod by its old labels.
func TestPodSecurityRefusalRereadsCommittedLabels(t *testing.T) {
	e := newTestEnv(t)
	old := newTestEnv(t)
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	privileged := map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}
	old.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "infra", Labels: restricted}})
	e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "infra", Labels: privileged}})
	p := probeHostPod("probe")
	p.Namespace = "infra"
	// The old labels alone refuse it.
	old.expectCode(t, http.StatusForbidden, http.MethodPost, "/api/v1/namespaces/infra/pods", p)
	var sb *staleBackend
	lagging := e.serveAlso(t, nil, func(b Backend) Backend {
		sb = &staleBackend{Backend: b, stale: old.server.backend.Store()}
		return sb
	})
	lagging.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces/infra/pods", p)
	if !sb.barrier.Load() {
		t.Error("the pod was admitted without a read barrier")
	}
}
