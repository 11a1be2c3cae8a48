package v1

import (
	"net/http"
	"strings"
	"testing"
)

func TestValidateResourceQuota(t *testing.T) {
	tests := []struct {
		name string
		spec ResourceQuotaSpec
		want []string // substrings of the message; none for a valid quota
	}{
		{"compute and counts", ResourceQuotaSpec{Hard: rl("pods", "10", "requests.cpu", "2", "limits.memory", "1Gi",
			"cpu", "500m", "memory", "1Gi", "services", "5", "services.nodeports", "2", "services.loadbalancers", "0",
			"replicationcontrollers", "3", "resourcequotas", "1", "count/pods", "20", "count/endpoints", "5", "count/limitranges", "1")}, nil},
		{"empty", ResourceQuotaSpec{}, nil},
		{"pod scopes", ResourceQuotaSpec{Hard: rl("pods", "1", "requests.cpu", "1"), Scopes: []ResourceQuotaScope{QuotaScopeNotTerminating, QuotaScopeNotBestEffort}}, nil},
		{"best effort counts pods", ResourceQuotaSpec{Hard: rl("pods", "1", "count/pods", "2"), Scopes: []ResourceQuotaScope{QuotaScopeBestEffort}}, nil},
		{"unknown name", ResourceQuotaSpec{Hard: rl("requests.storage", "1Gi")}, []string{`spec.hard[requests.storage]: Invalid value: "requests.storage": must be a standard resource for quota`}},
		{"count of a cluster-scoped kind", ResourceQuotaSpec{Hard: rl("count/nodes", "1")}, []string{"must be a standard resource for quota"}},
		{"count of an unknown kind", ResourceQuotaSpec{Hard: rl("count/widgets.example.com", "1")}, []string{"must be a standard resource for quota"}},
		{"negative", ResourceQuotaSpec{Hard: rl("requests.cpu", "-1")}, []string{`spec.hard[requests.cpu]: Invalid value: "-1": must be greater than or equal to 0`}},
		{"fractional count", ResourceQuotaSpec{Hard: rl("services", "500m")}, []string{`spec.hard[services]: Invalid value: "500m": must be an integer`}},
		{"unknown scope", ResourceQuotaSpec{Hard: rl("pods", "1"), Scopes: []ResourceQuotaScope{"PriorityClass"}}, []string{`spec.scopes: Unsupported value: "PriorityClass"`}},
		{"best effort with cpu", ResourceQuotaSpec{Hard: rl("requests.cpu", "1"), Scopes: []ResourceQuotaScope{QuotaScopeBestEffort}}, []string{"unsupported scope applied to resource"}},
		{"scope on services", ResourceQuotaSpec{Hard: rl("services", "1"), Scopes: []ResourceQuotaScope{QuotaScopeNotTerminating}}, []string{"unsupported scope applied to resource"}},
		{"conflicting scopes", ResourceQuotaSpec{Hard: rl("pods", "1"), Scopes: []ResourceQuotaScope{QuotaScopeTerminating, QuotaScopeNotTerminating}}, []string{"conflicting scopes"}},
		{"scope selector", ResourceQuotaSpec{Hard: rl("pods", "1"), ScopeSelector: &ScopeSelector{}}, []string{"spec.scopeSelector: Forbidden: is not supported"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &ResourceQuota{ObjectMeta: ObjectMeta{Name: "q", Namespace: "default"}, Spec: tt.spec}
			Default(q)
			err := Validate(q)
			wantInvalidWith(t, err, tt.want)
		})
	}
}

func TestValidateLimitRange(t *testing.T) {
	tests := []struct {
		name  string
		items []LimitRangeItem
		want  []string
	}{
		{"container and pod", []LimitRangeItem{
			{Type: LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("cpu", "2", "memory", "1Gi"), Default: rl("cpu", "500m"),
				DefaultRequest: rl("cpu", "200m"), MaxLimitRequestRatio: rl("cpu", "4")},
			{Type: LimitTypePod, Max: rl("memory", "2Gi")},
		}, nil},
		{"unknown type", []LimitRangeItem{{Type: "PersistentVolumeClaim"}}, []string{`spec.limits[0].type: Unsupported value: "PersistentVolumeClaim"`}},
		{"duplicate type", []LimitRangeItem{{Type: LimitTypePod}, {Type: LimitTypePod}}, []string{`spec.limits[1].type: Duplicate value: "Pod"`}},
		{"defaults on a pod item", []LimitRangeItem{{Type: LimitTypePod, Default: rl("cpu", "1"), DefaultRequest: rl("cpu", "1")}},
			[]string{"spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'", "spec.limits[0].defaultRequest: Forbidden"}},
		{"unsupported resource", []LimitRangeItem{{Type: LimitTypeContainer, Max: rl("ephemeral-storage", "1Gi")}}, []string{`spec.limits[0].max[ephemeral-storage]: Unsupported value: "ephemeral-storage"`}},
		{"min over max", []LimitRangeItem{{Type: LimitTypePod, Min: rl("cpu", "2"), Max: rl("cpu", "1")}}, []string{"min value 2 is greater than max value 1"}},
		{"default over max", []LimitRangeItem{{Type: LimitTypeContainer, Default: rl("memory", "2Gi"), Max: rl("memory", "1Gi")}},
			[]string{"default value 2Gi is greater than max value 1Gi"}},
		{"default request over default", []LimitRangeItem{{Type: LimitTypeContainer, Default: rl("cpu", "1"), DefaultRequest: rl("cpu", "2")}},
			[]string{"default request value 2 is greater than default limit value 1"}},
		{"ratio under one", []LimitRangeItem{{Type: LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "500m")}}, []string{"ratio 500m is less than 1"}},
		{"ratio over max/min", []LimitRangeItem{{Type: LimitTypePod, Min: rl("cpu", "1"), Max: rl("cpu", "2"), MaxLimitRequestRatio: rl("cpu", "3")}},
			[]string{"ratio 3 is greater than max/min = 2.000000"}},
		{"negative", []LimitRangeItem{{Type: LimitTypePod, Max: rl("cpu", "-1")}}, []string{"must be greater than or equal to 0"}},
		{"max cpu past the bound", []LimitRangeItem{{Type: LimitTypeContainer, Max: rl("cpu", "9223372036854776")}},
			[]string{`spec.limits[0].max[cpu]: Invalid value: "9223372036854776": must be less than or equal to 1M`}},
		{"default memory past the bound", []LimitRangeItem{{Type: LimitTypeContainer, Default: rl("memory", "1e30")}},
			[]string{`spec.limits[0].default[memory]: Invalid value: "1e30": must be less than or equal to`}},
		{"min and defaultRequest past the bound", []LimitRangeItem{{Type: LimitTypeContainer, Min: rl("cpu", "2M"), DefaultRequest: rl("memory", "1e30")}},
			[]string{"spec.limits[0].min[cpu]", "spec.limits[0].defaultRequest[memory]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := &LimitRange{ObjectMeta: ObjectMeta{Name: "l", Namespace: "default"}, Spec: LimitRangeSpec{Limits: tt.items}}
			Default(lr)
			err := Validate(lr)
			wantInvalidWith(t, err, tt.want)
		})
	}
}

func TestDefaultLimitRange(t *testing.T) {
	lr := &LimitRange{Spec: LimitRangeSpec{Limits: []LimitRangeItem{
		{Type: LimitTypeContainer, Max: rl("cpu", "2", "memory", "1Gi"), Min: rl("memory", "64Mi"), Default: rl("memory", "512Mi")},
		{Type: LimitTypePod, Max: rl("cpu", "4")},
	}}}
	Default(lr)
	c, p := lr.Spec.Limits[0], lr.Spec.Limits[1]
	if got := FormatResources(c.Default); got != "cpu=2,memory=512Mi" {
		t.Errorf("default = %s, want the max for cpu and the given memory", got)
	}
	if got := FormatResources(c.DefaultRequest); got != "cpu=2,memory=512Mi" {
		t.Errorf("defaultRequest = %s, want the default limits", got)
	}
	if p.Default != nil || p.DefaultRequest != nil {
		t.Errorf("a Pod item got defaults: %+v", p)
	}
}

func TestApplyLimitRangeDefaults(t *testing.T) {
	lrs := []*LimitRange{{Spec: LimitRangeSpec{Limits: []LimitRangeItem{{Type: LimitTypeContainer,
		Default: rl("cpu", "500m", "memory", "128Mi"), DefaultRequest: rl("cpu", "100m", "memory", "64Mi")}}}}}
	tests := []struct {
		name                   string
		requests, limits       ResourceList
		wantReq, wantLim, note string
	}{
		{"nothing set", nil, nil, "cpu=100m,memory=64Mi", "cpu=500m,memory=128Mi",
			"LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"},
		{"request set", rl("cpu", "200m"), nil, "cpu=200m,memory=64Mi", "cpu=500m,memory=128Mi",
			"LimitRanger plugin set: memory request for container app; cpu, memory limit for container app"},
		{"limit set: the request follows it", nil, rl("cpu", "1"), "memory=64Mi", "cpu=1,memory=128Mi",
			"LimitRanger plugin set: memory request for container app; memory limit for container app"},
		{"everything set", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"), "cpu=1,memory=1Gi", "cpu=1,memory=1Gi", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := FormatResources(tt.requests)
			p := &Pod{Spec: PodSpec{Containers: []Container{{Name: "app",
				Resources: ResourceRequirements{Requests: tt.requests, Limits: tt.limits}}}}}
			ApplyLimitRangeDefaults(p, lrs)
			r := p.Spec.Containers[0].Resources
			if FormatResources(r.Requests) != tt.wantReq || FormatResources(r.Limits) != tt.wantLim {
				t.Errorf("requests %s limits %s, want %s and %s", FormatResources(r.Requests), FormatResources(r.Limits), tt.wantReq, tt.wantLim)
			}
			if got := p.Annotations[LimitRangerAnnotation]; got != tt.note {
				t.Errorf("annotation %q, want %q", got, tt.note)
			}
			if FormatResources(tt.requests) != before {
				t.Errorf("the caller's requests map was changed: %s, was %s", FormatResources(tt.requests), before)
			}
		})
	}
}

func TestValidateLimitRanges(t *testing.T) {
	lrs := []*LimitRange{{Spec: LimitRangeSpec{Limits: []LimitRangeItem{
		{Type: LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("cpu", "2"), MaxLimitRequestRatio: rl("memory", "2")},
		{Type: LimitTypePod, Max: rl("memory", "1Gi")},
	}}}}
	pod := func(reqs, lims []ResourceList) *Pod {
		p := &Pod{}
		for i := range reqs {
			p.Spec.Containers = append(p.Spec.Containers, Container{Name: "c", Resources: ResourceRequirements{Requests: reqs[i], Limits: lims[i]}})
		}
		return p
	}
	tests := []struct {
		name string
		pod  *Pod
		want string
	}{
		{"within", pod([]ResourceList{rl("cpu", "1", "memory", "256Mi")}, []ResourceList{rl("cpu", "2", "memory", "512Mi")}), ""},
		{"container over max", pod([]ResourceList{rl("cpu", "1", "memory", "256Mi")}, []ResourceList{rl("cpu", "3", "memory", "256Mi")}),
			"maximum cpu usage per Container is 2, but limit is 3"},
		{"no limit under a max", pod([]ResourceList{rl("cpu", "1", "memory", "256Mi")}, []ResourceList{rl("memory", "256Mi")}),
			"maximum cpu usage per Container is 2.  No limit is specified"},
		{"under min", pod([]ResourceList{rl("cpu", "50m", "memory", "256Mi")}, []ResourceList{rl("cpu", "1", "memory", "256Mi")}),
			"minimum cpu usage per Container is 100m, but request is 50m"},
		{"ratio", pod([]ResourceList{rl("cpu", "1", "memory", "100Mi")}, []ResourceList{rl("cpu", "1", "memory", "300Mi")}),
			"memory max limit to request ratio per Container is 2, but provided ratio is 3.000000"},
		{"pod over max, several errors", pod([]ResourceList{rl("cpu", "1", "memory", "600Mi"), rl("cpu", "1", "memory", "600Mi")},
			[]ResourceList{rl("cpu", "3", "memory", "600Mi"), rl("cpu", "1", "memory", "600Mi")}),
			"[maximum cpu usage per Container is 2, but limit is 3, maximum memory usage per Pod is 1Gi, but limit is 1200Mi]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLimitRanges(tt.pod, lrs)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQuotaUsage(t *testing.T) {
	withInit := &Pod{Spec: PodSpec{
		InitContainers: []Container{{Name: "init", Resources: ResourceRequirements{Requests: rl("cpu", "2")}}},
		Containers: []Container{
			{Name: "a", Resources: ResourceRequirements{Requests: rl("cpu", "500m", "memory", "64Mi"), Limits: rl("cpu", "1")}},
			{Name: "b", Resources: ResourceRequirements{Limits: rl("cpu", "250m", "memory", "64Mi")}},
		}}}
	finished := &Pod{Status: PodStatus{Phase: PodFailed}, Spec: withInit.Spec}
	tests := []struct {
		name string
		res  string
		obj  Object
		want string
	}{
		{"pod: init containers count at their largest", "pods", withInit,
			"count/pods=1,cpu=2,limits.cpu=1250m,limits.memory=64Mi,memory=128Mi,pods=1,requests.cpu=2,requests.memory=128Mi"},
		{"finished pod: only its object count", "pods", finished, "count/pods=1"},
		{"nodeport service", "services", &Service{Spec: ServiceSpec{Type: ServiceTypeNodePort, Ports: []ServicePort{{Port: 80}, {Port: 443}}}},
			"count/services=1,services=1,services.nodeports=2"},
		{"rc", "replicationcontrollers", &ReplicationController{}, "count/replicationcontrollers=1,replicationcontrollers=1"},
		{"endpoints", "endpoints", &Endpoints{}, "count/endpoints=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatResources(QuotaUsage(tt.res, tt.obj)); got != tt.want {
				t.Errorf("usage %s, want %s", got, tt.want)
			}
		})
	}
}

func TestQuotaMatchesScopes(t *testing.T) {
	deadline := int64(60)
	bestEffort := &Pod{Spec: PodSpec{Containers: []Container{{Name: "c"}}}}
	burstable := &Pod{Spec: PodSpec{Containers: []Container{{Name: "c", Resources: ResourceRequirements{Requests: rl("memory", "1Mi")}}}}}
	terminating := &Pod{Spec: PodSpec{ActiveDeadlineSeconds: &deadline, Containers: []Container{{Name: "c"}}}}
	tests := []struct {
		scopes []ResourceQuotaScope
		obj    Object
		want   bool
	}{
		{nil, &Service{}, true},
		{[]ResourceQuotaScope{QuotaScopeBestEffort}, bestEffort, true},
		{[]ResourceQuotaScope{QuotaScopeBestEffort}, burstable, false},
		{[]ResourceQuotaScope{QuotaScopeNotBestEffort}, burstable, true},
		{[]ResourceQuotaScope{QuotaScopeTerminating}, terminating, true},
		{[]ResourceQuotaScope{QuotaScopeNotTerminating}, terminating, false},
		{[]ResourceQuotaScope{QuotaScopeNotTerminating, QuotaScopeBestEffort}, bestEffort, true},
		{[]ResourceQuotaScope{QuotaScopeNotTerminating}, &Service{}, false},
	}
	for i, tt := range tests {
		q := &ResourceQuota{Spec: ResourceQuotaSpec{Scopes: tt.scopes}}
		if got := QuotaMatches(q, tt.obj); got != tt.want {
			t.Errorf("case %d: QuotaMatches(%v, %T) = %v, want %v", i, tt.scopes, tt.obj, got, tt.want)
		}
	}
}

func TestQuotaConstraints(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		InitContainers: []Container{{Name: "init"}},
		Containers: []Container{
			{Name: "b", Resources: ResourceRequirements{Limits: rl("cpu", "1")}},
			{Name: "a"},
		}}}
	tests := []struct {
		hard ResourceList
		want string
	}{
		{rl("pods", "5"), ""},
		{rl("limits.cpu", "5"), "must specify limits.cpu for: a,init"},
		{rl("requests.cpu", "5", "memory", "1Gi"), "must specify memory for: a,b,init; requests.cpu for: a,init"},
	}
	for _, tt := range tests {
		err := QuotaConstraints(tt.hard, p)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("hard %s: got %q, want %q", FormatResources(tt.hard), got, tt.want)
		}
	}
}

// wantInvalidWith fails unless err is nil for no want, or a 422 whose
// message holds every want.
func wantInvalidWith(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return
	}
	if CodeOf(err) != http.StatusUnprocessableEntity {
		t.Fatalf("Validate = %v (code %d), want 422", err, CodeOf(err))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q lacks %q", err, w)
		}
	}
}
