package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/api/v1/v1test"
)

func TestQuotaREST(t *testing.T) {
	e := newTestEnv(t)
	const path = "/api/v1/namespaces/default/resourcequotas"
	q := &v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "compute"}, Spec: v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "2", "limits.cpu", "1")}}
	q.Status.Used = v1test.Resources("pods", "9") // the FSM's, not the client's
	got := decode[v1.ResourceQuota](t, e.expectCode(t, http.StatusCreated, http.MethodPost, path, q))
	if v1.FormatResources(got.Status.Used) != "limits.cpu=0,pods=0" || v1.FormatResources(got.Status.Hard) != "limits.cpu=1,pods=2" {
		t.Fatalf("created quota status = %+v", got.Status)
	}

	invalid := []struct {
		name string
		spec v1.ResourceQuotaSpec
		want string
	}{
		{"unknown resource", v1.ResourceQuotaSpec{Hard: v1test.Resources("gpus", "1")}, `spec.hard[gpus]: Invalid value: "gpus": must be a standard resource for quota`},
		{"negative", v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "-1")}, `must be greater than or equal to 0`},
		{"fraction of a count", v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "1500m")}, `must be an integer`},
		{"count of an unknown resource", v1.ResourceQuotaSpec{Hard: v1test.Resources("count/widgets", "1")}, `must be a standard resource for quota`},
		{"unsupported scope", v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "1"), Scopes: []v1.ResourceQuotaScope{"PriorityClass"}}, `spec.scopes: Unsupported value: "PriorityClass"`},
		{"scope on a service count", v1.ResourceQuotaSpec{Hard: v1test.Resources("services", "1"), Scopes: []v1.ResourceQuotaScope{v1.QuotaScopeTerminating}}, `unsupported scope applied to resource`},
		{"conflicting scopes", v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "1"), Scopes: []v1.ResourceQuotaScope{v1.QuotaScopeBestEffort, v1.QuotaScopeNotBestEffort}}, `conflicting scopes`},
		{"scope selector", v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "1"), ScopeSelector: &v1.ScopeSelector{}}, `spec.scopeSelector: Forbidden`},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPost, path,
				&v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "bad"}, Spec: tt.spec})
			if !contains(st.Message, tt.want) {
				t.Errorf("message %q lacks %q", st.Message, tt.want)
			}
		})
	}

	// A pod without limits is refused by the limits quota; pods with limits
	// are admitted until the pod count is used up, with Kubernetes' message.
	st := e.expectStatus(t, http.StatusForbidden, http.MethodPost, podPath(""), newPod("x", nil))
	if want := `pods "x" is forbidden: failed quota: compute: must specify limits.cpu for: c`; st.Message != want || st.Reason != v1.ReasonForbidden {
		t.Errorf("status %q %q, want %q", st.Reason, st.Message, want)
	}
	for _, name := range []string{"a", "b"} {
		p := newPod(name, nil)
		p.Spec.Containers[0].Resources.Limits = v1test.Resources("cpu", "100m")
		e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), p)
	}
	p := newPod("c", nil)
	p.Spec.Containers[0].Resources.Limits = v1test.Resources("cpu", "100m")
	st = e.expectStatus(t, http.StatusForbidden, http.MethodPost, podPath(""), p)
	if want := `pods "c" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2`; st.Message != want {
		t.Errorf("message %q, want %q", st.Message, want)
	}
	got = decode[v1.ResourceQuota](t, e.expectCode(t, http.StatusOK, http.MethodGet, path+"/compute", nil))
	if s := v1.FormatResources(got.Status.Used); s != "limits.cpu=200m,pods=2" {
		t.Errorf("used = %s", s)
	}
	e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("a"), nil)
	e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), p)
}

func TestLimitRangeAdmission(t *testing.T) {
	e := newTestEnv(t)
	const path = "/api/v1/namespaces/default/limitranges"
	lr := &v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "limits"}, Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{
		{Type: v1.LimitTypeContainer, Max: v1test.Resources("cpu", "2"), Default: v1test.Resources("cpu", "500m", "memory", "128Mi"), DefaultRequest: v1test.Resources("cpu", "250m")},
		{Type: v1.LimitTypePod, Max: v1test.Resources("memory", "1Gi")},
	}}}
	got := decode[v1.LimitRange](t, e.expectCode(t, http.StatusCreated, http.MethodPost, path, lr))
	// Kubernetes' defaulting: a missing default request is the default limit.
	if s := v1.FormatResources(got.Spec.Limits[0].DefaultRequest); s != "cpu=250m,memory=128Mi" {
		t.Errorf("defaultRequest = %s", s)
	}

	pod := decode[v1.Pod](t, e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), newPod("d", nil)))
	res := pod.Spec.Containers[0].Resources
	if v1.FormatResources(res.Limits) != "cpu=500m,memory=128Mi" || v1.FormatResources(res.Requests) != "cpu=250m,memory=128Mi" {
		t.Errorf("defaulted resources = %+v", res)
	}
	if want := "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"; pod.Annotations[v1.LimitRangerAnnotation] != want {
		t.Errorf("annotation %q, want %q", pod.Annotations[v1.LimitRangerAnnotation], want)
	}

	refused := []struct {
		name   string
		limits v1.ResourceList
		want   string
	}{
		{"container over max", v1test.Resources("cpu", "3"), `pods "x" is forbidden: maximum cpu usage per Container is 2, but limit is 3`},
		{"pod over max", v1test.Resources("memory", "2Gi"), `pods "x" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 2Gi`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod("x", nil)
			p.Spec.Containers[0].Resources.Limits = tt.limits
			st := e.expectStatus(t, http.StatusForbidden, http.MethodPost, podPath(""), p)
			if st.Message != tt.want {
				t.Errorf("message %q, want %q", st.Message, tt.want)
			}
		})
	}

	bad := &v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "bad"}, Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{
		{Type: v1.LimitTypePod, Default: v1test.Resources("cpu", "1")},
		{Type: v1.LimitTypeContainer, Min: v1test.Resources("cpu", "2"), Max: v1test.Resources("cpu", "1")},
	}}}
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPost, path, bad)
	for _, want := range []string{"spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'",
		"min value 2 is greater than max value 1"} {
		if !contains(st.Message, want) {
			t.Errorf("message %q lacks %q", st.Message, want)
		}
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}
