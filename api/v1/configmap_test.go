package v1

import (
	"strings"
	"testing"
)

func TestConfigMapValidate(t *testing.T) {
	big := strings.Repeat("x", MaxConfigMapSize)
	tests := []struct {
		name   string
		cm     ConfigMap
		field  string // "" for valid
		detail string
	}{
		{"valid", ConfigMap{Data: map[string]string{"game.properties": "a=1", "UI_COLOR": "red", "a-b_c": ""},
			BinaryData: map[string][]byte{"bin": {0, 1}}}, "", ""},
		{"empty", ConfigMap{}, "", ""},
		{"exactly 1 MiB", ConfigMap{Data: map[string]string{"k": big[:MaxConfigMapSize-1]}}, "", ""},
		{"over 1 MiB", ConfigMap{Data: map[string]string{"k": big}}, "<nil>", "may not be more than 1048576 bytes"},
		{"over 1 MiB across maps", ConfigMap{Data: map[string]string{"k": big[:MaxConfigMapSize/2]},
			BinaryData: map[string][]byte{"b": []byte(big[:MaxConfigMapSize/2])}}, "<nil>", "may not be more than 1048576 bytes"},
		{"bad key", ConfigMap{Data: map[string]string{"a/b": "x"}}, "data[a/b]", "a valid config key must consist of alphanumeric characters"},
		{"bad binary key", ConfigMap{BinaryData: map[string][]byte{"..": {1}}}, "binaryData[..]", "must not be '..'"},
		{"key in both", ConfigMap{Data: map[string]string{"k": "x"}, BinaryData: map[string][]byte{"k": {1}}},
			"data[k]", "duplicate of key present in binaryData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := tt.cm
			cm.ObjectMeta = ObjectMeta{Name: "cfg", Namespace: "default"}
			err := Validate(&cm)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("Validate = %v, want %q", err, tt.detail)
			}
			if tt.field != "<nil>" {
				if c, ok := causeOf(err, tt.field); !ok || !strings.Contains(c.Message, tt.detail) {
					t.Fatalf("Validate = %v, want %s: %s", err, tt.field, tt.detail)
				}
			}
		})
	}
}

func TestConfigMapImmutable(t *testing.T) {
	yes, no := true, false
	base := func(imm *bool) *ConfigMap {
		return &ConfigMap{ObjectMeta: ObjectMeta{Name: "cfg", Namespace: "default"}, Immutable: imm,
			Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": {1}}}
	}
	tests := []struct {
		name   string
		old    *bool
		mutate func(*ConfigMap)
		fields []string
	}{
		{"mutable data changes", nil, func(c *ConfigMap) { c.Data["a"] = "2" }, nil},
		{"made immutable with a change", &no, func(c *ConfigMap) { c.Immutable = &yes; c.Data["a"] = "2" }, nil},
		{"immutable, labels change", &yes, func(c *ConfigMap) { c.Labels = map[string]string{"x": "y"} }, nil},
		{"immutable, data changes", &yes, func(c *ConfigMap) { c.Data["a"] = "2" }, []string{"data"}},
		{"immutable, binary data changes", &yes, func(c *ConfigMap) { c.BinaryData = nil }, []string{"binaryData"}},
		{"immutable unset", &yes, func(c *ConfigMap) { c.Immutable = nil }, []string{"immutable"}},
		{"immutable set false and data", &yes, func(c *ConfigMap) { c.Immutable = &no; c.Data = nil }, []string{"immutable", "data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := base(tt.old), base(tt.old)
			tt.mutate(next)
			err := ValidateUpdate(next, old)
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("ValidateUpdate: %v", err)
				}
				return
			}
			for _, f := range tt.fields {
				if c, ok := causeOf(err, f); !ok || !strings.Contains(c.Message, "field is immutable when `immutable` is set") {
					t.Errorf("ValidateUpdate = %v, want %s forbidden", err, f)
				}
			}
		})
	}
}

func TestPodConfigMapFieldsValidate(t *testing.T) {
	yes := true
	tests := []struct {
		name   string
		mutate func(*Pod)
		field  string // "" for valid
		detail string
	}{
		{"env from a key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{
				LocalObjectRef: LocalObjectRef{Name: "cfg"}, Key: "a.b", Optional: &yes}}}}
		}, "", ""},
		{"envFrom with a prefix", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: LocalObjectRef{Name: "cfg"}}}}
		}, "", ""},
		{"configMap volume", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "cfg", ConfigMap: &ConfigMapVolumeSource{
				LocalObjectRef: LocalObjectRef{Name: "cfg"}, Items: []KeyToPath{{Key: "a", Path: "dir/a", Mode: new(int32(0o400))}}}})
		}, "", ""},
		{"key ref without a key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: LocalObjectRef{Name: "cfg"}}}}}
		}, "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", "Required value"},
		{"key ref without a name", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom.configMapKeyRef.name", "Required value"},
		{"bad key", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: LocalObjectRef{Name: "cfg"}, Key: "a/b"}}}}
		}, "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", "a valid config key"},
		{"value and valueFrom", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", Value: "x", ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: LocalObjectRef{Name: "cfg"}, Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom", "may not be specified when `value` is not empty"},
		{"two sources", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{FieldPath: "metadata.name"},
				ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: LocalObjectRef{Name: "cfg"}, Key: "a"}}}}
		}, "spec.containers[0].env[0].valueFrom", "may not have more than one field specified at a time"},
		{"no source", func(p *Pod) {
			p.Spec.Containers[0].Env = []EnvVar{{Name: "A", ValueFrom: &EnvVarSource{}}}
		}, "spec.containers[0].env[0].valueFrom", "must specify one of"},
		{"envFrom without a source", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "X_"}}
		}, "spec.containers[0].envFrom[0]", "must specify one of: `configMapRef` or `secretRef`"},
		{"envFrom bad prefix", func(p *Pod) {
			p.Spec.Containers[0].EnvFrom = []EnvFromSource{{Prefix: "1=", ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: LocalObjectRef{Name: "cfg"}}}}
		}, "spec.containers[0].envFrom[0].prefix", "environment variable name"},
		{"envFrom bad name", func(p *Pod) {
			p.Spec.InitContainers[0].EnvFrom = []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: LocalObjectRef{Name: "Bad_Name"}}}}
		}, "spec.initContainers[0].envFrom[0].configMapRef.name", "RFC 1123 subdomain"},
		{"volume without a name", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "cfg", ConfigMap: &ConfigMapVolumeSource{}})
		}, "spec.volumes[1].configMap.name", "Required value"},
		{"volume bad default mode", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "cfg", ConfigMap: &ConfigMapVolumeSource{
				LocalObjectRef: LocalObjectRef{Name: "cfg"}, DefaultMode: new(int32(0o1000))}})
		}, "spec.volumes[1].configMap.defaultMode", "must be a number between 0 and 0777 (octal), both inclusive"},
		{"volume item escapes", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "cfg", ConfigMap: &ConfigMapVolumeSource{
				LocalObjectRef: LocalObjectRef{Name: "cfg"}, Items: []KeyToPath{{Key: "a", Path: "../a"}}}})
		}, "spec.volumes[1].configMap.items[0].path", "'..'"},
		{"configMap and emptyDir", func(p *Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: "cfg", EmptyDir: &EmptyDirVolumeSource{},
				ConfigMap: &ConfigMapVolumeSource{LocalObjectRef: LocalObjectRef{Name: "cfg"}}})
		}, "spec.volumes[1].configMap", "may not specify more than 1 volume type"},
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

func TestPodConfigMapNames(t *testing.T) {
	s := PodSpec{
		InitContainers: []Container{{EnvFrom: []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: LocalObjectRef{Name: "init-env"}}}}}},
		Containers: []Container{{Env: []EnvVar{{ValueFrom: &EnvVarSource{ConfigMapKeyRef: &ConfigMapKeySelector{LocalObjectRef: LocalObjectRef{Name: "key"}}}},
			{ValueFrom: &EnvVarSource{FieldRef: &ObjectFieldSelector{}}}}}},
		EphemeralContainers: []EphemeralContainer{{EphemeralContainerCommon: EphemeralContainerCommon{
			EnvFrom: []EnvFromSource{{ConfigMapRef: &ConfigMapEnvSource{LocalObjectRef: LocalObjectRef{Name: "debug"}}}}}}},
		Volumes: []Volume{{ConfigMap: &ConfigMapVolumeSource{LocalObjectRef: LocalObjectRef{Name: "vol"}}},
			{Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{
				{ConfigMap: &ConfigMapProjection{LocalObjectRef: LocalObjectRef{Name: "key"}}},
				{ConfigMap: &ConfigMapProjection{LocalObjectRef: LocalObjectRef{Name: RootCAConfigMap}}}}}}},
	}
	got := strings.Join(PodConfigMapNames(&s), ",")
	if want := "init-env,key,debug,vol," + RootCAConfigMap; got != want {
		t.Fatalf("PodConfigMapNames = %s, want %s", got, want)
	}
}
