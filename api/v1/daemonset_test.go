package v1

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validDS() *DaemonSet {
	ds := &DaemonSet{
		ObjectMeta: ObjectMeta{Name: "fluentd", Namespace: "kube-system"},
		Spec: DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"name": "fluentd"}},
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"name": "fluentd"}},
				Spec:       PodSpec{Containers: []Container{{Name: "fluentd", Image: "busybox"}}},
			},
		},
	}
	Default(ds)
	return ds
}

func TestDaemonSetDefaults(t *testing.T) {
	ds := validDS()
	u := ds.Spec.UpdateStrategy
	if u.Type != DaemonSetRollingUpdate || u.RollingUpdate == nil {
		t.Fatalf("update strategy = %+v, want RollingUpdate", u)
	}
	if *u.RollingUpdate.MaxUnavailable != intstr.FromInt32(1) || *u.RollingUpdate.MaxSurge != intstr.FromInt32(0) {
		t.Errorf("rollingUpdate = %v/%v, want maxUnavailable 1, maxSurge 0", u.RollingUpdate.MaxUnavailable, u.RollingUpdate.MaxSurge)
	}
	if ds.Spec.RevisionHistoryLimit == nil || *ds.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("revisionHistoryLimit = %v, want 10", ds.Spec.RevisionHistoryLimit)
	}
	if ds.APIVersion != "apps/v1" || ds.Kind != "DaemonSet" {
		t.Errorf("type meta = %s %s", ds.APIVersion, ds.Kind)
	}
	od := &DaemonSet{Spec: DaemonSetSpec{UpdateStrategy: DaemonSetUpdateStrategy{Type: DaemonSetOnDelete}}}
	Default(od)
	if od.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Errorf("OnDelete got rollingUpdate %+v", od.Spec.UpdateStrategy.RollingUpdate)
	}
}

func TestValidateDaemonSet(t *testing.T) {
	pct := func(s string) *IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int32) *IntOrString { v := intstr.FromInt32(n); return &v }
	tests := []struct {
		name   string
		change func(*DaemonSet)
		field  string // "" means valid
		msg    string
	}{
		{"valid", func(*DaemonSet) {}, "", ""},
		{"on delete", func(ds *DaemonSet) {
			ds.Spec.UpdateStrategy = DaemonSetUpdateStrategy{Type: DaemonSetOnDelete}
		}, "", ""},
		{"surge instead", func(ds *DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{MaxUnavailable: num(0), MaxSurge: pct("20%")}
		}, "", ""},
		{"both zero", func(ds *DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{MaxUnavailable: num(0), MaxSurge: pct("0%")}
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"},
		{"both set", func(ds *DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{MaxUnavailable: num(1), MaxSurge: num(1)}
		}, "spec.updateStrategy.rollingUpdate.maxSurge", "may not be set when maxUnavailable is non-zero"},
		{"over 100%", func(ds *DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = pct("150%")
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"},
		{"negative", func(ds *DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = num(-1)
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable", "must be greater than or equal to 0"},
		{"rolling update missing", func(ds *DaemonSet) { ds.Spec.UpdateStrategy.RollingUpdate = nil },
			"spec.updateStrategy.rollingUpdate", "Required value"},
		{"on delete with rolling update", func(ds *DaemonSet) { ds.Spec.UpdateStrategy.Type = DaemonSetOnDelete },
			"spec.updateStrategy.rollingUpdate", "may not be specified when strategy `type` is 'OnDelete'"},
		{"unknown strategy", func(ds *DaemonSet) { ds.Spec.UpdateStrategy.Type = "Recreate" },
			"spec.updateStrategy", "Unsupported value"},
		{"no selector", func(ds *DaemonSet) { ds.Spec.Selector = nil }, "spec.selector", "Required value"},
		{"empty selector", func(ds *DaemonSet) { ds.Spec.Selector = &metav1.LabelSelector{} },
			"spec.selector", "empty selector is invalid for daemonset"},
		{"selector misses template", func(ds *DaemonSet) { ds.Spec.Template.Labels = map[string]string{"name": "other"} },
			"spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restart on failure", func(ds *DaemonSet) { ds.Spec.Template.Spec.RestartPolicy = RestartOnFailure },
			"spec.template.spec.restartPolicy", "Unsupported value"},
		{"active deadline", func(ds *DaemonSet) { ds.Spec.Template.Spec.ActiveDeadlineSeconds = new(int64(5)) },
			"spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in DaemonSet is not Supported"},
		{"negative minReadySeconds", func(ds *DaemonSet) { ds.Spec.MinReadySeconds = -1 },
			"spec.minReadySeconds", "must be greater than or equal to 0"},
		{"negative history", func(ds *DaemonSet) { ds.Spec.RevisionHistoryLimit = new(int32(-1)) },
			"spec.revisionHistoryLimit", "must be greater than or equal to 0"},
		{"negative status", func(ds *DaemonSet) { ds.Status.NumberUnavailable = -1 },
			"status.numberUnavailable", "must be greater than or equal to 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := validDS()
			tt.change(ds)
			err := Validate(ds)
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

func TestValidateDaemonSetUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(*DaemonSet)
		change func(*DaemonSet)
		field  string
		msg    string
	}{
		{"template may change", nil, func(ds *DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "nginx" }, "", ""},
		{"selector is immutable", nil, func(ds *DaemonSet) {
			ds.Spec.Selector.MatchLabels["name"] = "x"
			ds.Spec.Template.Labels["name"] = "x"
		}, "spec.selector", "field is immutable"},
		{"collision count grows", func(ds *DaemonSet) { ds.Status.CollisionCount = new(int32(1)) },
			func(ds *DaemonSet) { ds.Status.CollisionCount = new(int32(2)) }, "", ""},
		{"collision count shrinks", func(ds *DaemonSet) { ds.Status.CollisionCount = new(int32(2)) },
			func(ds *DaemonSet) { ds.Status.CollisionCount = new(int32(1)) }, "status.collisionCount", "cannot be decremented"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validDS()
			if tt.old != nil {
				tt.old(old)
			}
			ds := DeepCopy(old)
			tt.change(ds)
			err := ValidateUpdate(ds, old)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateUpdate: %v", err)
				}
				return
			}
			c, ok := causeOf(err, tt.field)
			if !ok || !strings.Contains(c.Message, tt.msg) {
				t.Fatalf("ValidateUpdate = %v, want %s: %s", err, tt.field, tt.msg)
			}
		})
	}
}
