package v1

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func validRS() *ReplicaSet {
	rs := &ReplicaSet{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: ReplicaSetSpec{
			Selector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"app": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "edge"}},
				},
			},
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       PodSpec{Containers: []Container{{Name: "web", Image: "busybox"}}},
			},
		},
	}
	Default(rs)
	return rs
}

// causeOf returns the cause of an Invalid error that names field, if any.
func causeOf(err error, field string) (StatusCause, bool) {
	var se *StatusError
	if !errors.As(err, &se) || se.Status.Details == nil {
		return StatusCause{}, false
	}
	for _, c := range se.Status.Details.Causes {
		if c.Field == field {
			return c, true
		}
	}
	return StatusCause{}, false
}

func TestReplicaSetDefaults(t *testing.T) {
	rs := validRS()
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", rs.Spec.Replicas)
	}
	if rs.APIVersion != "apps/v1" || rs.Kind != "ReplicaSet" {
		t.Errorf("type meta = %s %s", rs.APIVersion, rs.Kind)
	}
	if rs.Spec.Template.Spec.RestartPolicy != RestartAlways {
		t.Errorf("template restartPolicy = %q", rs.Spec.Template.Spec.RestartPolicy)
	}
	if len(rs.Labels) != 0 {
		t.Errorf("labels defaulted from the template (apps/v1 does not): %v", rs.Labels)
	}
}

func TestValidateReplicaSet(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ReplicaSet)
		field  string // "" means valid
		msg    string
	}{
		{"valid", func(*ReplicaSet) {}, "", ""},
		{"zero replicas", func(rs *ReplicaSet) { rs.Spec.Replicas = new(int32(0)) }, "", ""},
		{"negative replicas", func(rs *ReplicaSet) { rs.Spec.Replicas = new(int32(-1)) }, "spec.replicas", "must be greater than or equal to 0"},
		{"negative minReadySeconds", func(rs *ReplicaSet) { rs.Spec.MinReadySeconds = -5 }, "spec.minReadySeconds", "must be greater than or equal to 0"},
		{"no selector", func(rs *ReplicaSet) { rs.Spec.Selector = nil }, "spec.selector", "Required value"},
		{"empty selector", func(rs *ReplicaSet) { rs.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector", "empty selector is invalid for deployment"},
		{"bad operator", func(rs *ReplicaSet) {
			rs.Spec.Selector.MatchExpressions[0].Operator = "Near"
		}, "spec.selector.matchExpressions[0].operator", "not a valid selector operator"},
		{"in without values", func(rs *ReplicaSet) {
			rs.Spec.Selector.MatchExpressions[0].Values = nil
		}, "spec.selector.matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'"},
		{"selector misses template", func(rs *ReplicaSet) {
			rs.Spec.Template.Labels = map[string]string{"app": "web", "tier": "back"}
		}, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restart never", func(rs *ReplicaSet) { rs.Spec.Template.Spec.RestartPolicy = RestartNever }, "spec.template.spec.restartPolicy", "Unsupported value"},
		{"active deadline", func(rs *ReplicaSet) { rs.Spec.Template.Spec.ActiveDeadlineSeconds = new(int64(5)) },
			"spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"},
		{"no containers", func(rs *ReplicaSet) { rs.Spec.Template.Spec.Containers = nil }, "spec.template.spec.containers", "Required value"},
		{"status over replicas", func(rs *ReplicaSet) {
			rs.Status = ReplicaSetStatus{Replicas: 1, ReadyReplicas: 2}
		}, "status.readyReplicas", "cannot be greater than status.replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := validRS()
			tt.change(rs)
			err := Validate(rs)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			c, ok := causeOf(err, tt.field)
			if !ok {
				t.Fatalf("Validate = %v, want a cause naming %s", err, tt.field)
			}
			if !strings.Contains(c.Message, tt.msg) {
				t.Errorf("message %q, want %q", c.Message, tt.msg)
			}
		})
	}
}

func TestValidateReplicaSetUpdate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ReplicaSet)
		field  string
	}{
		{"replicas may change", func(rs *ReplicaSet) { rs.Spec.Replicas = new(int32(7)) }, ""},
		{"template may change", func(rs *ReplicaSet) { rs.Spec.Template.Spec.Containers[0].Image = "nginx" }, ""},
		{"selector is immutable", func(rs *ReplicaSet) {
			rs.Spec.Selector.MatchExpressions[0].Values = []string{"front"}
		}, "spec.selector"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validRS()
			rs := DeepCopy(old)
			tt.change(rs)
			err := ValidateUpdate(rs, old)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateUpdate: %v", err)
				}
				return
			}
			c, ok := causeOf(err, tt.field)
			if !ok || !strings.Contains(c.Message, "field is immutable") {
				t.Fatalf("ValidateUpdate = %v, want %s immutable", err, tt.field)
			}
		})
	}
}

func TestReplicaSetSelector(t *testing.T) {
	rs := validRS()
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"app": "web", "tier": "front"}, true},
		{map[string]string{"app": "web", "tier": "edge", "x": "y"}, true},
		{map[string]string{"app": "web", "tier": "back"}, false},
		{map[string]string{"app": "web"}, false},
		{map[string]string{"tier": "front"}, false},
	}
	sel := ReplicaSetSelector(rs)
	for _, tt := range tests {
		if got := sel.Matches(labels.Set(tt.labels)); got != tt.want {
			t.Errorf("matches %v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	for name, s := range map[string]*metav1.LabelSelector{"missing": nil, "empty": {},
		"invalid": {MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}} {
		rs.Spec.Selector = s
		if ReplicaSetSelector(rs).Matches(labels.Set{"app": "web", "tier": "front"}) {
			t.Errorf("%s selector matches a pod", name)
		}
	}
}

func TestScaleStatus(t *testing.T) {
	rs := validRS()
	rs.Status.Replicas = 2
	if got, want := rs.ScaleStatus(), (ScaleStatus{Replicas: 2, Selector: "app=web,tier in (edge,front)"}); got != want {
		t.Errorf("replica set scale status = %+v, want %+v", got, want)
	}
	rc := validRC()
	rc.Spec.Selector = map[string]string{"b": "2", "a": "1"}
	rc.Status.Replicas = 3
	if got, want := rc.ScaleStatus(), (ScaleStatus{Replicas: 3, Selector: "a=1,b=2"}); got != want {
		t.Errorf("rc scale status = %+v, want %+v", got, want)
	}
}

func TestResourceCapabilities(t *testing.T) {
	tests := []struct {
		name                   string
		scale, template        bool
		groupResource, gv      string
		categoryAll, hasStatus bool
	}{
		{"replicationcontrollers", true, true, "replicationcontrollers", "v1", true, true},
		{"replicasets", true, true, "replicasets.apps", "apps/v1", true, true},
		{"pods", false, false, "pods", "v1", true, true},
		{"poddisruptionbudgets", false, false, "poddisruptionbudgets.policy", "policy/v1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := ResourceByName(tt.name)
			if !ok {
				t.Fatal("not in the table")
			}
			if r.HasScale() != tt.scale || r.HasPodTemplate() != tt.template {
				t.Errorf("scale %v template %v", r.HasScale(), r.HasPodTemplate())
			}
			if r.GroupResource() != tt.groupResource || r.GroupVersion() != tt.gv {
				t.Errorf("group resource %q, group version %q", r.GroupResource(), r.GroupVersion())
			}
			if (len(r.Categories) > 0) != tt.categoryAll || r.HasStatus != tt.hasStatus {
				t.Errorf("categories %v status %v", r.Categories, r.HasStatus)
			}
			if got, ok := ResourceByGroupResource(tt.groupResource); !ok || got.Name != tt.name {
				t.Errorf("ResourceByGroupResource(%q) = %v, %v", tt.groupResource, got.Name, ok)
			}
		})
	}
	if r, ok := ResourceByName("rs"); !ok || r.Kind != "ReplicaSet" {
		t.Errorf("short name rs: %v %v", r.Kind, ok)
	}
}

func TestQuotaCountsReplicaSets(t *testing.T) {
	for _, name := range []ResourceName{"count/replicasets.apps", "count/replicasets"} {
		if !QuotaResourceSupported(name) {
			t.Errorf("%s not supported", name)
		}
		if res, ok := ObjectCountResource(name); !ok || res != "replicasets" {
			t.Errorf("ObjectCountResource(%s) = %q, %v", name, res, ok)
		}
	}
	if QuotaResourceSupported("count/replicasets.batch") {
		t.Error("count/replicasets.batch supported")
	}
	u := QuotaUsage("replicasets", validRS())
	for _, name := range []ResourceName{"count/replicasets.apps", "count/replicasets"} {
		if q, ok := u[name]; !ok || q.Value() != 1 {
			t.Errorf("usage %s = %v", name, u)
		}
	}
}

func TestCopyAndResetStatus(t *testing.T) {
	rs, src := validRS(), validRS()
	src.Status = ReplicaSetStatus{Replicas: 3, ReadyReplicas: 2}
	CopyStatus(rs, src)
	if rs.Status.Replicas != 3 || rs.Status.ReadyReplicas != 2 {
		t.Errorf("CopyStatus: %+v", rs.Status)
	}
	ResetStatus(rs)
	if rs.Status.Replicas != 0 || rs.Status.ReadyReplicas != 0 {
		t.Errorf("ResetStatus: %+v", rs.Status)
	}
	ep, epSrc := &Endpoints{}, &Endpoints{Subsets: []EndpointSubset{{}}}
	CopyStatus(ep, epSrc) // no status: nothing happens
	if len(ep.Subsets) != 0 {
		t.Error("CopyStatus changed a kind without status")
	}
}
