package fsm

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func quotaObj(ns, name string, hard map[string]string, scopes ...v1.ResourceQuotaScope) *v1.ResourceQuota {
	q := &v1.ResourceQuota{ObjectMeta: testMeta(ns, name), Spec: v1.ResourceQuotaSpec{Hard: resList(hard), Scopes: scopes}}
	v1.Default(q)
	return q
}

func resList(m map[string]string) v1.ResourceList {
	if m == nil {
		return nil
	}
	out := v1.ResourceList{}
	for k, v := range m {
		out[v1.ResourceName(k)] = resource.MustParse(v)
	}
	return out
}

// computePod is a pod whose one container "app" has the given requests and limits.
func computePod(ns, name string, requests, limits map[string]string) *v1.Pod {
	p := podObj(ns, name, nil)
	p.Spec.Containers[0].Name = "app"
	p.Spec.Containers[0].Resources = v1.ResourceRequirements{Requests: resList(requests), Limits: resList(limits)}
	return p
}

// used renders a quota's status.used as FormatResources does.
func (h *harness) used(ns, name string) string {
	h.t.Helper()
	return v1.FormatResources(h.get("resourcequotas", ns, name).Object().(*v1.ResourceQuota).Status.Used)
}

func TestQuotaCreate(t *testing.T) {
	tests := []struct {
		name     string
		quotas   []*v1.ResourceQuota
		setup    []v1.Object
		obj      v1.Object
		wantErr  string // "" for success
		wantUsed map[string]string
	}{
		{
			name:     "pod within the pod count",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "count", map[string]string{"pods": "2"})},
			setup:    []v1.Object{podObj("default", "web-0", nil)},
			obj:      podObj("default", "web-1", nil),
			wantUsed: map[string]string{"count": "pods=2"},
		},
		{
			name:     "pod over the pod count",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "compute", map[string]string{"pods": "1"})},
			setup:    []v1.Object{podObj("default", "web-0", nil)},
			obj:      podObj("default", "web-1", nil),
			wantErr:  `pods "web-1" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1`,
			wantUsed: map[string]string{"compute": "pods=1"},
		},
		{
			name: "cpu and memory requests summed",
			quotas: []*v1.ResourceQuota{quotaObj("default", "compute", map[string]string{
				"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2", "limits.memory": "2Gi"})},
			setup: []v1.Object{computePod("default", "a", map[string]string{"cpu": "500m", "memory": "256Mi"},
				map[string]string{"cpu": "1", "memory": "512Mi"})},
			obj: computePod("default", "b", map[string]string{"cpu": "500m", "memory": "256Mi"},
				map[string]string{"cpu": "1", "memory": "512Mi"}),
			wantUsed: map[string]string{"compute": "limits.cpu=2,limits.memory=1Gi,requests.cpu=1,requests.memory=512Mi"},
		},
		{
			name:     "cpu request over",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "compute", map[string]string{"requests.cpu": "1", "pods": "10"})},
			setup:    []v1.Object{computePod("default", "a", map[string]string{"cpu": "600m"}, nil)},
			obj:      computePod("default", "b", map[string]string{"cpu": "600m"}, nil),
			wantErr:  `pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1`,
			wantUsed: map[string]string{"compute": "pods=1,requests.cpu=600m"},
		},
		{
			name:     "a limit stands in for a missing request",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "compute", map[string]string{"requests.cpu": "1", "cpu": "1"})},
			obj:      computePod("default", "a", nil, map[string]string{"cpu": "300m"}),
			wantUsed: map[string]string{"compute": "cpu=300m,requests.cpu=300m"},
		},
		{
			name:     "limits quota needs a limit on every container",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "compute", map[string]string{"limits.cpu": "2", "limits.memory": "1Gi"})},
			obj:      computePod("default", "x", map[string]string{"cpu": "100m"}, nil),
			wantErr:  `pods "x" is forbidden: failed quota: compute: must specify limits.cpu for: app; limits.memory for: app`,
			wantUsed: map[string]string{"compute": "limits.cpu=0,limits.memory=0"},
		},
		{
			name: "the first quota by name that is exceeded is named; none is charged",
			quotas: []*v1.ResourceQuota{
				quotaObj("default", "a-wide", map[string]string{"pods": "10"}),
				quotaObj("default", "b-tight", map[string]string{"pods": "1"}),
			},
			setup:    []v1.Object{podObj("default", "p0", nil)},
			obj:      podObj("default", "p1", nil),
			wantErr:  `pods "p1" is forbidden: exceeded quota: b-tight, requested: pods=1, used: pods=1, limited: pods=1`,
			wantUsed: map[string]string{"a-wide": "pods=1", "b-tight": "pods=1"},
		},
		{
			name:     "quota of another namespace does not count",
			quotas:   []*v1.ResourceQuota{quotaObj("other", "compute", map[string]string{"pods": "0"})},
			obj:      podObj("default", "web", nil),
			wantUsed: map[string]string{"compute": "pods=0"},
		},
		{
			name:     "services and object counts",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "objects", map[string]string{"services": "1", "count/services": "5", "count/pods": "5"})},
			setup:    []v1.Object{svcObj("default", "a")},
			obj:      svcObj("default", "b"),
			wantErr:  `services "b" is forbidden: exceeded quota: objects, requested: services=1, used: services=1, limited: services=1`,
			wantUsed: map[string]string{"objects": "count/pods=0,count/services=1,services=1"},
		},
		{
			name:     "a scoped quota ignores pods outside its scope",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "besteffort", map[string]string{"pods": "0"}, v1.QuotaScopeBestEffort)},
			obj:      computePod("default", "a", map[string]string{"cpu": "100m"}, nil),
			wantUsed: map[string]string{"besteffort": "pods=0"},
		},
		{
			name:     "a scoped quota refuses pods in its scope",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "besteffort", map[string]string{"pods": "0"}, v1.QuotaScopeBestEffort)},
			obj:      podObj("default", "a", nil),
			wantErr:  `pods "a" is forbidden: exceeded quota: besteffort, requested: pods=1, used: pods=0, limited: pods=0`,
			wantUsed: map[string]string{"besteffort": "pods=0"},
		},
		{
			name:     "quotas count themselves",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "q1", map[string]string{"resourcequotas": "2"})},
			obj:      quotaObj("default", "q2", map[string]string{"pods": "5"}),
			wantUsed: map[string]string{"q1": "resourcequotas=2", "q2": "pods=0"},
		},
		{
			name:     "a quota over the quota count",
			quotas:   []*v1.ResourceQuota{quotaObj("default", "q1", map[string]string{"resourcequotas": "1"})},
			obj:      quotaObj("default", "q2", map[string]string{"pods": "5"}),
			wantErr:  `resourcequotas "q2" is forbidden: exceeded quota: q1, requested: resourcequotas=1, used: resourcequotas=1, limited: resourcequotas=1`,
			wantUsed: map[string]string{"q1": "resourcequotas=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(nsObj("default"), nsObj("other"))
			for _, q := range tt.quotas {
				h.create(q)
			}
			h.create(tt.setup...)
			before := h.index
			res := h.result(mustCreateCmd(t, tt.obj))
			if tt.wantErr == "" {
				if res.Err != nil {
					t.Fatalf("create: %v", res.Err)
				}
			} else {
				if res.Err == nil || res.Err.Error() != tt.wantErr || v1.CodeOf(res.Err) != 403 {
					t.Fatalf("create error = %v (code %d), want 403 %q", res.Err, v1.CodeOf(res.Err), tt.wantErr)
				}
				wantEvents(t, h, before) // a refusal changes nothing
			}
			for name, want := range tt.wantUsed {
				ns := "default"
				if tt.quotas[0].Namespace == "other" {
					ns = "other"
				}
				if got := h.used(ns, name); got != want {
					t.Errorf("quota %s used = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestQuotaRelease(t *testing.T) {
	hard := map[string]string{"pods": "10", "count/pods": "10", "requests.cpu": "2"}
	setup := func(t *testing.T) *harness {
		h := newHarness(t)
		h.create(nsObj("default"), nodeObj("n1"), quotaObj("default", "q", hard))
		h.create(computePod("default", "unbound", map[string]string{"cpu": "500m"}, nil))
		p := computePod("default", "bound", map[string]string{"cpu": "1"}, nil)
		p.Spec.NodeName = "n1"
		h.create(p)
		if got, want := h.used("default", "q"), "count/pods=2,pods=2,requests.cpu=1500m"; got != want {
			t.Fatalf("used after setup = %q, want %q", got, want)
		}
		return h
	}
	tests := []struct {
		name string
		act  func(h *harness)
		want string
	}{
		{"delete of an unbound pod", func(h *harness) {
			h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "unbound"})
		}, "count/pods=1,pods=1,requests.cpu=1"},
		{"graceful delete keeps the charge until the node confirms", func(h *harness) {
			h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound"})
		}, "count/pods=2,pods=2,requests.cpu=1500m"},
		{"confirmed delete releases", func(h *harness) {
			h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound"})
			zero := int64(0)
			h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound", GracePeriodSeconds: &zero})
		}, "count/pods=1,pods=1,requests.cpu=500m"},
		{"a finished pod keeps only its object count", func(h *harness) {
			p := v1.DeepCopy(h.pod("default", "bound"))
			p.Status.Phase = v1.PodSucceeded
			if res := h.update(p, true); res.Err != nil {
				h.t.Fatal(res.Err)
			}
		}, "count/pods=2,pods=1,requests.cpu=500m"},
		{"a finished pod's removal releases its count", func(h *harness) {
			p := v1.DeepCopy(h.pod("default", "bound"))
			p.Status.Phase = v1.PodFailed
			h.update(p, true)
			h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "bound"})
		}, "count/pods=1,pods=1,requests.cpu=500m"},
		{"a status update that is not terminal changes nothing", func(h *harness) {
			p := v1.DeepCopy(h.pod("default", "bound"))
			p.Status.Phase = v1.PodRunning
			h.update(p, true)
		}, "count/pods=2,pods=2,requests.cpu=1500m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := setup(t)
			tt.act(h)
			if got := h.used("default", "q"); got != tt.want {
				t.Errorf("used = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQuotaCreatedAfterObjects(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), nsObj("other"))
	h.create(computePod("default", "a", map[string]string{"cpu": "250m", "memory": "64Mi"}, map[string]string{"cpu": "500m"}))
	h.create(computePod("default", "b", map[string]string{"cpu": "250m"}, nil))
	h.create(podObj("other", "c", nil), svcObj("default", "s"))
	done := v1.DeepCopy(h.pod("default", "b"))
	done.Status.Phase = v1.PodSucceeded
	h.update(done, true)
	h.create(quotaObj("default", "q", map[string]string{"pods": "5", "count/pods": "5", "requests.cpu": "4",
		"limits.cpu": "4", "memory": "1Gi", "services": "2", "resourcequotas": "3"}))
	want := "count/pods=2,limits.cpu=500m,memory=64Mi,pods=1,requests.cpu=250m,resourcequotas=1,services=1"
	if got := h.used("default", "q"); got != want {
		t.Errorf("used = %q, want %q", got, want)
	}
	q := h.get("resourcequotas", "default", "q").Object().(*v1.ResourceQuota)
	if !v1.JSONEqual(q.Status.Hard, q.Spec.Hard) {
		t.Errorf("status.hard = %v, want spec.hard %v", q.Status.Hard, q.Spec.Hard)
	}

	// An update of the quota recounts; a status written by a client is replaced.
	q = v1.DeepCopy(q)
	q.Spec.Hard = resList(map[string]string{"pods": "1"})
	q.Status.Used = resList(map[string]string{"pods": "7"})
	if res := h.update(q, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := h.used("default", "q"); got != "pods=1" {
		t.Errorf("used after update = %q, want pods=1", got)
	}
	q = v1.DeepCopy(h.get("resourcequotas", "default", "q").Object().(*v1.ResourceQuota))
	q.Status.Used = resList(map[string]string{"pods": "0"})
	if res := h.update(q, true); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := h.used("default", "q"); got != "pods=1" {
		t.Errorf("used after a status write = %q, want pods=1", got)
	}
}

// TestQuotaBatchStopsAtLimit applies many creates in one entry, as the
// replication manager does: exactly the quota's worth succeed.
func TestQuotaBatchStopsAtLimit(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), quotaObj("default", "q", map[string]string{"pods": "3"}))
	var items []BatchItem
	for i := range 5 {
		cmd := mustCreateCmd(t, podObj("default", fmt.Sprintf("p%d", i), nil))
		items = append(items, BatchItem{Type: CommandType(cmd[0]), Body: cmd[1:]})
	}
	res := h.batch(mustEncode(t, BatchCommand, BatchRequest{Items: items}))
	var ok, refused int
	for _, r := range res {
		switch {
		case r.Err == nil:
			ok++
		case v1.CodeOf(r.Err) == 403:
			refused++
		default:
			t.Errorf("unexpected error %v", r.Err)
		}
	}
	if ok != 3 || refused != 2 {
		t.Errorf("ok %d refused %d, want 3 and 2", ok, refused)
	}
	if got := h.used("default", "q"); got != "pods=3" {
		t.Errorf("used = %q, want pods=3", got)
	}
}

// TestQuotaDeterministic applies the same entries to two FSMs and compares
// every quota byte for byte.
func TestQuotaDeterministic(t *testing.T) {
	build := func() *harness {
		h := newHarness(t)
		h.create(nsObj("default"), quotaObj("default", "a", map[string]string{"pods": "4", "requests.cpu": "1500m", "requests.memory": "1Gi"}),
			quotaObj("default", "b", map[string]string{"count/pods": "6"}))
		for i := range 8 {
			h.apply(mustCreateCmd(t, computePod("default", fmt.Sprintf("p%d", i),
				map[string]string{"cpu": "300m", "memory": "200Mi"}, nil)))
		}
		h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "p1"})
		return h
	}
	x, y := build(), build()
	for _, name := range []string{"a", "b"} {
		bx, _ := x.get("resourcequotas", "default", name).JSON()
		by, _ := y.get("resourcequotas", "default", name).JSON()
		if string(bx) != string(by) {
			t.Errorf("quota %s differs:\n%s\n%s", name, bx, by)
		}
	}
	if got := x.used("default", "a"); got != "pods=3,requests.cpu=900m,requests.memory=600Mi" {
		t.Errorf("used of a = %q", got)
	}
}

// TestQuotaNamespaceDelete removes a namespace with quotas and pods.
func TestQuotaNamespaceDelete(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), quotaObj("default", "q", map[string]string{"pods": "3"}), podObj("default", "a", nil))
	if res := h.del(DeleteRequest{Resource: "namespaces", Name: "default"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	// The namespace controller deletes the content; the namespace goes with it.
	for _, d := range []DeleteRequest{{Resource: "pods", Namespace: "default", Name: "a"}, {Resource: "resourcequotas", Namespace: "default", Name: "q"}} {
		if res := h.del(d); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	h.gone("resourcequotas", "default", "q")
	h.gone("namespaces", "", "default")
}

// TestQuotaFreeNamespaceCreateStaysLazy: the quota check keeps the create
// path's lazy records: a pod is stored as its bytes whether or not its
// namespace has quotas (the check decodes its own copy only when there are).
func TestQuotaKeepsCreatesLazy(t *testing.T) {
	tests := []struct {
		name     string
		quotaNS  string
		wantLazy bool
	}{
		{"no quota anywhere", "", true},
		{"quota in another namespace", "other", true},
		{"quota in the namespace", "default", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(nsObj("default"), nsObj("other"))
			if tt.quotaNS != "" {
				h.create(quotaObj(tt.quotaNS, "q", map[string]string{"pods": "5"}))
			}
			res := h.result(mustCreateCmd(t, podObj("default", "p", nil)))
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if lazy := res.Record.obj.Load() == nil; lazy != tt.wantLazy {
				t.Errorf("stored record decoded = %v, want lazy %v", !lazy, tt.wantLazy)
			}
		})
	}
}
