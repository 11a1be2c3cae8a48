package v1

import (
	"strings"
	"testing"
)

func TestPodSecretFieldsValidate(t *testing.T) {
	yes := true
	ref := func(name string) LocalObjectRef { return LocalObjectRef{Name: name} }
	tests := []struct {
		name   string
		mutate func(*Pod)
		field  string // "" for valid
		detail string
	}{
		{"env from a key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "PASS", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{
				LocalObjectRef: ref("db"), Key: "password", Optional: &yes}}}}
		}, "", ""},
		{"envFrom a secret with a prefix", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "DB_", SecretRef: &SecretEnvSource{LocalObjectRef: ref("db"), Optional: &yes}}}
		}, "", ""},
		{"secret volume", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db", Optional: &yes,
				DefaultMode: new(int32(0o400)), Items: []KeyToPath{{Key: "password", Path: "dir/pw", Mode: new(int32(0o440))}}}})
		}, "", ""},
		{"projected secret and configMap", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "all", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{Secret: &SecretProjection{LocalObjectRef: ref("db"), Items: []KeyToPath{{Key: "password", Path: "pw"}}}},
				{ConfigMap: &ConfigMapProjection{LocalObjectRef: ref("cfg"), Items: []KeyToPath{{Key: "a", Path: "a"}}}}}}})
		}, "", ""},
		{"key ref without a key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("db")}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.key", "Required value"},
		{"key ref without a name", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.name", "Required value"},
		{"key ref with a bad name", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("DB"), Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.name", "RFC 1123 subdomain"},
		{"bad key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("db"), Key: "a/b"}}}}
		}, "spec.containers[0].env[0].valueFrom.secretKeyRef.key", "a valid config key"},
		{"value and secretKeyRef", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", Value: "x", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("db"), Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom", "may not be specified when `value` is not empty"},
		{"secretKeyRef and configMapKeyRef", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("db"), Key: "a"},
				ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: ref("cfg"), Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom", "may not have more than one field specified at a time"},
		{"envFrom with both sources", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{SecretRef: &SecretEnvSource{LocalObjectRef: ref("db")},
				ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: ref("cfg")}}}
		}, "spec.containers[0].envFrom[0]", "may not have more than one field specified at a time"},
		{"envFrom secret without a name", func(p *Pod) {
			p.Spec.InitContainers[0].EnvFrom = []EnvFromSource{{SecretRef: &SecretEnvSource{}}}
		}, "spec.initContainers[0].envFrom[0].secretRef.name", "Required value"},
		{"envFrom secret bad prefix", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "1=", SecretRef: &SecretEnvSource{LocalObjectRef: ref("db")}}}
		}, "spec.containers[0].envFrom[0].prefix", "environment variable name"},
		{"volume without a secretName", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{}})
		}, "spec.volumes[1].secret.secretName", "Required value"},
		{"volume bad default mode", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db", DefaultMode: new(int32(-1))}})
		}, "spec.volumes[1].secret.defaultMode", "must be a number between 0 and 0777 (octal), both inclusive"},
		{"volume item bad mode", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db",
				Items: []KeyToPath{{Key: "a", Path: "a", Mode: new(int32(0o1000))}}}})
		}, "spec.volumes[1].secret.items[0].mode", "must be a number between 0 and 0777 (octal), both inclusive"},
		{"volume item escapes", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db",
				Items: []KeyToPath{{Key: "a", Path: "../a"}}}})
		}, "spec.volumes[1].secret.items[0].path", "must not contain '..'"},
		{"volume item reserved", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db",
				Items: []KeyToPath{{Key: "a", Path: "..data"}}}})
		}, "spec.volumes[1].secret.items[0].path", "must not start with '..'"},
		{"volume item absolute", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db",
				Items: []KeyToPath{{Key: "a", Path: "/etc/a"}}}})
		}, "spec.volumes[1].secret.items[0].path", "must be a relative path"},
		{"volume item without a key", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", Secret: &SecretVolumeSource{SecretName: "db",
				Items: []KeyToPath{{Path: "a"}}}})
		}, "spec.volumes[1].secret.items[0].key", "Required value"},
		{"secret and emptyDir", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", EmptyDir: &EmptyDirVolumeSource{},
				Secret: &SecretVolumeSource{SecretName: "db"}})
		}, "spec.volumes[1].secret", "may not specify more than 1 volume type"},
		{"secret and configMap", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "s", ConfigMap: &ConfigMapVolumeSource{LocalObjectRef: ref("cfg")},
				Secret: &SecretVolumeSource{SecretName: "db"}})
		}, "spec.volumes[1].secret", "may not specify more than 1 volume type"},
		{"projected secret without a name", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "all", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{Secret: &SecretProjection{}}}}})
		}, "spec.volumes[1].projected.sources[0].secret.name", "Required value"},
		{"projected duplicate paths", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "all", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{ConfigMap: &ConfigMapProjection{LocalObjectRef: ref("cfg"), Items: []KeyToPath{{Key: "a", Path: "x"}}}},
				{Secret: &SecretProjection{LocalObjectRef: ref("db"), Items: []KeyToPath{{Key: "b", Path: "x"}}}}}}})
		}, "spec.volumes[1].projected", "conflicting duplicate paths"},
		{"projected secret item escapes", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "all", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{Secret: &SecretProjection{LocalObjectRef: ref("db"), Items: []KeyToPath{{Key: "b", Path: "a/../../x"}}}}}}})
		}, "spec.volumes[1].projected.sources[0].secret.items[0].path", "must not contain '..'"},
		{"projected source with secret and configMap", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "all", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{Secret: &SecretProjection{LocalObjectRef: ref("db")}, ConfigMap: &ConfigMapProjection{LocalObjectRef: ref("cfg")}}}}})
		}, "spec.volumes[1].projected.sources[0]", "may not specify more than 1 volume type per source (got 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.InitContainers = []Container{{Name: "init", Image: "busybox"}}
			tt.mutate(p)
			Default(p)
			err := Validate(p)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if c, ok := causeOf(err, tt.field); !ok || !strings.Contains(c.Message, tt.detail) {
				t.Fatalf("Validate = %v, want %s: %s", err, tt.field, tt.detail)
			}
		})
	}
}

// A secret volume without a mode gets Kubernetes' default, 0644; one with
// a mode keeps it.
func TestSecretVolumeDefaultMode(t *testing.T) {
	p := validPod()
	p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "a", Secret: &SecretVolumeSource{SecretName: "db"}},
		Volume{Name: "b", Secret: &SecretVolumeSource{SecretName: "db", DefaultMode: new(int32(0o400))}})
	Default(p)
	if m := p.Spec.Volumes[1].Secret.DefaultMode; m == nil || *m != 0o644 {
		t.Errorf("defaultMode %v, want 0644", m)
	}
	if m := p.Spec.Volumes[2].Secret.DefaultMode; m == nil || *m != 0o400 {
		t.Errorf("defaultMode %v, want 0400 kept", m)
	}
	if p.Spec.Volumes[1].EmptyDir != nil {
		t.Error("a secret volume was given an emptyDir")
	}
}

// PodSecretNames visits what Kubernetes' VisitPodSecretNames does, in its
// order, each name once, and nothing a ConfigMap names.
func TestPodSecretNames(t *testing.T) {
	ref := func(name string) LocalObjectRef { return LocalObjectRef{Name: name} }
	s := PodSpec{
		ImagePullSecrets: []LocalObjectRef{ref("pull"), ref("")},
		InitContainers:   []Container{{EnvFrom: []EnvFromSource{{SecretRef: &SecretEnvSource{LocalObjectRef: ref("init-env")}}}}},
		Containers: []Container{{
			EnvFrom: []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: ref("a-configmap")}}},
			Env: []EnvVar{{ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("key")}}},
				{ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: ref("cm-key")}}},
				{ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{}}}}}},
		EphemeralContainers: []EphemeralContainer{{EphemeralContainerCommon: EphemeralContainerCommon{
			Env: []EnvVar{{ValueFrom: &EnvVarSource{SecretKeyRef: &SecretKeySelector{LocalObjectRef: ref("debug")}}}}}}},
		Volumes: []Volume{{Secret: &SecretVolumeSource{SecretName: "vol"}},
			{ConfigMap: &ConfigMapVolumeSource{LocalObjectRef: ref("cm-vol")}},
			{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{Secret: &SecretProjection{LocalObjectRef: ref("key")}},
				{ConfigMap: &ConfigMapProjection{LocalObjectRef: ref(RootCAConfigMap)}},
				{Secret: &SecretProjection{LocalObjectRef: ref("projected")}}}}}},
	}
	if got, want := strings.Join(PodSecretNames(&s), ","), "pull,init-env,key,debug,vol,projected"; got != want {
		t.Fatalf("PodSecretNames = %s, want %s", got, want)
	}
	if got, want := strings.Join(PodConfigMapNames(&s), ","), "a-configmap,cm-key,cm-vol,"+RootCAConfigMap; got != want {
		t.Fatalf("PodConfigMapNames = %s, want %s", got, want)
	}
	if got := PodSecretNames(&PodSpec{}); len(got) != 0 {
		t.Fatalf("PodSecretNames of an empty spec = %q", got)
	}
}
