package v1

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validDeployment() *Deployment {
	d := &Deployment{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       PodSpec{Containers: []Container{{Name: "web", Image: "busybox"}}},
			},
		},
	}
	Default(d)
	return d
}

func TestDeploymentDefaults(t *testing.T) {
	d := validDeployment()
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Errorf("type meta = %s %s", d.APIVersion, d.Kind)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxSurge != intstr.FromString("25%") || *ru.MaxUnavailable != intstr.FromString("25%") {
		t.Errorf("strategy = %+v", d.Spec.Strategy)
	}
	if *d.Spec.Replicas != 1 || *d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 {
		t.Errorf("replicas %d, revisionHistoryLimit %d, progressDeadlineSeconds %d",
			*d.Spec.Replicas, *d.Spec.RevisionHistoryLimit, *d.Spec.ProgressDeadlineSeconds)
	}
	re := &Deployment{Spec: DeploymentSpec{Strategy: DeploymentStrategy{Type: RecreateDeploymentStrategyType}}}
	Default(re)
	if re.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got rollingUpdate %+v", re.Spec.Strategy.RollingUpdate)
	}
}

func TestValidateDeployment(t *testing.T) {
	pct := func(s string) *IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int) *IntOrString { v := intstr.FromInt(n); return &v }
	tests := []struct {
		name   string
		change func(*Deployment)
		field  string
		msg    string
	}{
		{"valid", func(*Deployment) {}, "", ""},
		{"negative replicas", func(d *Deployment) { d.Spec.Replicas = new(int32(-1)) }, "spec.replicas", "must be greater than or equal to 0"},
		{"no selector", func(d *Deployment) { d.Spec.Selector = nil }, "spec.selector", "Required value"},
		{"empty selector", func(d *Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector", "empty selector is invalid for deployment"},
		{"selector misses template", func(d *Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} },
			"spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"restart never", func(d *Deployment) { d.Spec.Template.Spec.RestartPolicy = RestartNever }, "spec.template.spec.restartPolicy", "Unsupported value"},
		{"active deadline", func(d *Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = new(int64(5)) },
			"spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in Deployment is not Supported"},
		{"both zero", func(d *Deployment) {
			d.Spec.Strategy.RollingUpdate = &RollingUpdateDeployment{MaxSurge: num(0), MaxUnavailable: pct("0%")}
		},
			"spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"},
		{"surge over 100% is fine", func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = pct("200%") }, "", ""},
		{"unavailable over 100%", func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxUnavailable = pct("101%") },
			"spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"},
		{"bad percent", func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = pct("ten") },
			"spec.strategy.rollingUpdate.maxSurge", "a valid percent string"},
		{"negative surge", func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = num(-1) },
			"spec.strategy.rollingUpdate.maxSurge", "must be greater than or equal to 0"},
		{"recreate with rollingUpdate", func(d *Deployment) { d.Spec.Strategy.Type = RecreateDeploymentStrategyType },
			"spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"},
		{"unknown strategy", func(d *Deployment) { d.Spec.Strategy.Type = "Blue" }, "spec.strategy.type", "Unsupported value"},
		{"negative history", func(d *Deployment) { d.Spec.RevisionHistoryLimit = new(int32(-1)) },
			"spec.revisionHistoryLimit", "must be greater than or equal to 0"},
		{"deadline not over minReady", func(d *Deployment) { d.Spec.MinReadySeconds = 600 },
			"spec.progressDeadlineSeconds", "must be greater than minReadySeconds"},
		{"status over replicas", func(d *Deployment) { d.Status = DeploymentStatus{Replicas: 1, UpdatedReplicas: 2} },
			"status.updatedReplicas", "cannot be greater than status.replicas"},
		{"negative collision count", func(d *Deployment) { d.Status.CollisionCount = new(int32(-1)) },
			"status.collisionCount", "must be greater than or equal to 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.change(d)
			err := Validate(d)
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

func TestValidateDeploymentUpdate(t *testing.T) {
	old := validDeployment()
	d := DeepCopy(old)
	d.Spec.Template.Spec.Containers[0].Image = "nginx"
	if err := ValidateUpdate(d, old); err != nil {
		t.Fatalf("template change: %v", err)
	}
	d.Spec.Selector.MatchLabels["tier"] = "front"
	d.Spec.Template.Labels["tier"] = "front"
	if c, ok := causeOf(ValidateUpdate(d, old), "spec.selector"); !ok || !strings.Contains(c.Message, "field is immutable") {
		t.Fatalf("selector change: want spec.selector immutable")
	}
}

func TestDeploymentCapabilities(t *testing.T) {
	r, err := ResourceOf(&Deployment{})
	if err != nil || !r.HasScale() || !r.HasPodTemplate() || r.GroupResource() != "deployments.apps" {
		t.Fatalf("resource %+v err %v: want scale, pod template, deployments.apps", r, err)
	}
	if !QuotaResourceSupported("count/deployments.apps") {
		t.Error("count/deployments.apps is not supported")
	}
	d := validDeployment()
	d.Status.Replicas = 3
	if st := d.ScaleStatus(); st.Replicas != 3 || st.Selector != "app=web" {
		t.Errorf("ScaleStatus = %+v", st)
	}
}
