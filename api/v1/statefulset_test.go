package v1

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validSTS() *StatefulSet {
	ss := &StatefulSet{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: StatefulSetSpec{
			ServiceName: "nginx",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       PodSpec{Containers: []Container{{Name: "web", Image: "busybox"}}},
			},
		},
	}
	Default(ss)
	return ss
}

func TestStatefulSetDefaults(t *testing.T) {
	ss := validSTS()
	s := ss.Spec
	if *s.Replicas != 1 || s.PodManagementPolicy != OrderedReadyPodManagement || s.UpdateStrategy.Type != RollingUpdateStatefulSetStrategyType ||
		s.UpdateStrategy.RollingUpdate == nil || *s.UpdateStrategy.RollingUpdate.Partition != 0 || *s.RevisionHistoryLimit != 10 ||
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted != "Retain" || s.PersistentVolumeClaimRetentionPolicy.WhenScaled != "Retain" ||
		s.Template.Spec.RestartPolicy != RestartAlways {
		t.Fatalf("defaults: %+v", s)
	}
	od := &StatefulSet{Spec: StatefulSetSpec{UpdateStrategy: StatefulSetUpdateStrategy{Type: OnDeleteStatefulSetStrategyType}}}
	Default(od)
	if od.Spec.UpdateStrategy.RollingUpdate != nil {
		t.Fatalf("OnDelete got rollingUpdate defaults: %+v", od.Spec.UpdateStrategy)
	}
}

func TestValidateStatefulSet(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	tests := []struct {
		name   string
		change func(*StatefulSet)
		field  string // "" means valid
		detail string
	}{
		{"valid", func(*StatefulSet) {}, "", ""},
		{"parallel", func(s *StatefulSet) { s.Spec.PodManagementPolicy = ParallelPodManagement }, "", ""},
		{"on delete", func(s *StatefulSet) {
			s.Spec.UpdateStrategy = StatefulSetUpdateStrategy{Type: OnDeleteStatefulSetStrategyType}
		}, "", ""},
		{"ordinals", func(s *StatefulSet) { s.Spec.Ordinals = &StatefulSetOrdinals{Start: 5} }, "", ""},
		{"bad policy", func(s *StatefulSet) { s.Spec.PodManagementPolicy = "Random" }, "spec.podManagementPolicy", "must be 'OrderedReady' or 'Parallel'"},
		{"bad strategy", func(s *StatefulSet) { s.Spec.UpdateStrategy.Type = "Recreate" }, "spec.updateStrategy", "must be 'RollingUpdate' or 'OnDelete'"},
		{"on delete with rolling update", func(s *StatefulSet) { s.Spec.UpdateStrategy.Type = OnDeleteStatefulSetStrategyType },
			"spec.updateStrategy.rollingUpdate", "only allowed for updateStrategy 'RollingUpdate'"},
		{"negative partition", func(s *StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = i32(-1) },
			"spec.updateStrategy.rollingUpdate.partition", "must be greater than or equal to 0"},
		{"max unavailable", func(s *StatefulSet) {
			v := intstr.FromInt32(2)
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &v
		}, "spec.updateStrategy.rollingUpdate.maxUnavailable", "not supported by orch: a rolling update replaces one pod at a time"},
		{"negative replicas", func(s *StatefulSet) { s.Spec.Replicas = i32(-1) }, "spec.replicas", "must be greater than or equal to 0"},
		{"negative ordinal start", func(s *StatefulSet) { s.Spec.Ordinals = &StatefulSetOrdinals{Start: -1} },
			"spec.ordinals.start", "must be greater than or equal to 0"},
		{"no selector", func(s *StatefulSet) { s.Spec.Selector = nil }, "spec.selector", ""},
		{"empty selector", func(s *StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector", "empty selector is invalid for statefulset"},
		{"selector mismatch", func(s *StatefulSet) { s.Spec.Template.Labels = map[string]string{"app": "db"} },
			"spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restart never", func(s *StatefulSet) { s.Spec.Template.Spec.RestartPolicy = RestartNever }, "spec.template.spec.restartPolicy", ""},
		{"volume claim templates", func(s *StatefulSet) {
			s.Spec.VolumeClaimTemplates = []PersistentVolumeClaim{{ObjectMeta: ObjectMeta{Name: "www"}}}
		}, "spec.volumeClaimTemplates", "orch has no persistent volumes yet: a stateful set may not have volume claim templates"},
		{"delete claims", func(s *StatefulSet) { s.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled = "Delete" },
			"spec.persistentVolumeClaimRetentionPolicy.whenScaled", ""},
		{"template hostname", func(s *StatefulSet) { s.Spec.Template.Spec.Hostname = "x" }, "spec.template.spec.hostname", ""},
		{"template subdomain", func(s *StatefulSet) { s.Spec.Template.Spec.Subdomain = "x" }, "spec.template.spec.subdomain", ""},
		{"bad service name", func(s *StatefulSet) { s.Spec.ServiceName = "Not_A_Label" }, "spec.serviceName", ""},
		{"status over replicas", func(s *StatefulSet) { s.Status.ReadyReplicas = 2 }, "status.readyReplicas", "cannot be greater than status.replicas"},
		{"negative collision count", func(s *StatefulSet) { s.Status.CollisionCount = i32(-1) }, "status.collisionCount", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := validSTS()
			tc.change(ss)
			err := Validate(ss)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid set refused: %v", err)
				}
				return
			}
			c, ok := causeOf(err, tc.field)
			if CodeOf(err) != 422 || !ok {
				t.Fatalf("got %v, want a 422 naming %s", err, tc.field)
			}
			if tc.detail != "" && !strings.Contains(c.Message, tc.detail) {
				t.Errorf("message %q, want it to say %q", c.Message, tc.detail)
			}
		})
	}
}

func TestValidateStatefulSetUpdate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*StatefulSet)
		ok     bool
	}{
		{"replicas", func(s *StatefulSet) { n := int32(5); s.Spec.Replicas = &n }, true},
		{"template", func(s *StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "nginx" }, true},
		{"strategy", func(s *StatefulSet) {
			s.Spec.UpdateStrategy = StatefulSetUpdateStrategy{Type: OnDeleteStatefulSetStrategyType}
		}, true},
		{"min ready", func(s *StatefulSet) { s.Spec.MinReadySeconds = 3 }, true},
		{"ordinals", func(s *StatefulSet) { s.Spec.Ordinals = &StatefulSetOrdinals{Start: 2} }, true},
		{"policy", func(s *StatefulSet) { s.Spec.PodManagementPolicy = ParallelPodManagement }, false},
		{"service name", func(s *StatefulSet) { s.Spec.ServiceName = "other" }, false},
		{"selector", func(s *StatefulSet) {
			s.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
			s.Spec.Template.Labels["x"] = "y"
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := validSTS()
			old.ResourceVersion = "5"
			ss := DeepCopy(old)
			tc.change(ss)
			err := ValidateUpdate(ss, old)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			c, ok := causeOf(err, "spec")
			if CodeOf(err) != 422 || !ok || !strings.Contains(c.Message, "updates to statefulset spec for fields other than") {
				t.Fatalf("got %v, want a 422 forbidding the spec change", err)
			}
		})
	}
}
