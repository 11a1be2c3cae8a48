package v1

import (
	"strings"
	"testing"
)

func boolp(b bool) *bool { return &b }

func TestAdmitServiceAccount(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod, sa   *bool // automountServiceAccountToken of each
		premount  bool  // the container already mounts something at the path
		wantMount bool
	}{
		{name: "default: mounted", wantMount: true},
		{name: "account says no", sa: boolp(false)},
		{name: "pod says yes over the account's no", pod: boolp(true), sa: boolp(false), wantMount: true},
		{name: "pod says no over the account's yes", pod: boolp(false), sa: boolp(true)},
		{name: "a container's own mount at the path is kept", premount: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			p.Spec.AutomountServiceAccountToken = tc.pod
			if tc.premount {
				for i := range p.Spec.Containers {
					p.Spec.Containers[i].VolumeMounts = append(p.Spec.Containers[i].VolumeMounts,
						VolumeMount{Name: p.Spec.Volumes[0].Name, MountPath: DefaultAPITokenMountPath + "/"})
				}
			}
			nVols := len(p.Spec.Volumes)
			sa := &ServiceAccount{ObjectMeta: ObjectMeta{Name: "default", Namespace: "default"}, AutomountServiceAccountToken: tc.sa}
			if got := PodServiceAccountName(&p.Spec); got != "default" || p.Spec.DeprecatedServiceAccount != "default" {
				t.Fatalf("account %q (deprecated field %q), want default", got, p.Spec.DeprecatedServiceAccount)
			}
			AdmitServiceAccount(p, sa, "kube-api-access-abcde")
			added := len(p.Spec.Volumes) - nVols
			if !tc.wantMount {
				if added != 0 {
					t.Fatalf("a volume was added: %+v", p.Spec.Volumes)
				}
				return
			}
			if added != 1 || p.Spec.Volumes[nVols].Name != "kube-api-access-abcde" {
				t.Fatalf("volumes %+v, want kube-api-access-abcde added", p.Spec.Volumes)
			}
			v := p.Spec.Volumes[nVols].Projected
			if v == nil || len(v.Sources) != 3 || *v.DefaultMode != 0o644 ||
				v.Sources[0].ServiceAccountToken.Path != "token" || *v.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
				v.Sources[1].ConfigMap.Name != "kube-root-ca.crt" || v.Sources[1].ConfigMap.Items[0].Path != "ca.crt" ||
				v.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
				t.Fatalf("token volume %+v is not Kubernetes' shape", v)
			}
			for _, cs := range [][]Container{p.Spec.InitContainers, p.Spec.Containers} {
				for _, c := range cs {
					m := c.VolumeMounts[len(c.VolumeMounts)-1]
					if m.Name != "kube-api-access-abcde" || !m.ReadOnly || m.MountPath != DefaultAPITokenMountPath {
						t.Errorf("container %s: last mount %+v", c.Name, m)
					}
				}
			}
			if err := Validate(p); err != nil {
				t.Fatalf("the admitted pod does not validate: %v", err)
			}
			// A second admission (an RC template already holding the
			// volume) adds nothing.
			again := DeepCopy(p)
			AdmitServiceAccount(again, sa, "kube-api-access-zzzzz")
			if !JSONEqual(again.Spec, p.Spec) {
				t.Errorf("admitting twice changed the pod")
			}
		})
	}
}

// TestAdmitServiceAccountImagePullSecrets: a pod naming no imagePullSecrets
// gets its account's (a copy), one naming some keeps its own, whatever
// automounting says, as Kubernetes' ServiceAccount admission.
func TestAdmitServiceAccountImagePullSecrets(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pod, sa   []LocalObjectRef
		automount *bool
		want      []LocalObjectRef
	}{
		{name: "none anywhere"},
		{name: "the account's", sa: []LocalObjectRef{{Name: "a"}, {Name: "b"}}, want: []LocalObjectRef{{Name: "a"}, {Name: "b"}}},
		{name: "the account's without automount", sa: []LocalObjectRef{{Name: "a"}}, automount: boolp(false), want: []LocalObjectRef{{Name: "a"}}},
		{name: "the pod's own win", pod: []LocalObjectRef{{Name: "mine"}}, sa: []LocalObjectRef{{Name: "a"}}, want: []LocalObjectRef{{Name: "mine"}}},
		{name: "the pod's own without the account's", pod: []LocalObjectRef{{Name: "mine"}}, want: []LocalObjectRef{{Name: "mine"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			p.Spec.ImagePullSecrets = tc.pod
			p.Spec.AutomountServiceAccountToken = tc.automount
			sa := &ServiceAccount{ObjectMeta: ObjectMeta{Name: "default", Namespace: "default"}, ImagePullSecrets: tc.sa}
			AdmitServiceAccount(p, sa, "kube-api-access-abcde")
			if !JSONEqual(p.Spec.ImagePullSecrets, tc.want) {
				t.Fatalf("imagePullSecrets %+v, want %+v", p.Spec.ImagePullSecrets, tc.want)
			}
			if len(tc.sa) > 0 && len(p.Spec.ImagePullSecrets) > 0 && len(tc.pod) == 0 {
				p.Spec.ImagePullSecrets[0].Name = "changed"
				if sa.ImagePullSecrets[0].Name == "changed" {
					t.Fatal("the pod shares the account's slice")
				}
			}
		})
	}
	// No account (service accounts off): nothing copied.
	p := validPod()
	AdmitServiceAccount(p, nil, "kube-api-access-abcde")
	if len(p.Spec.ImagePullSecrets) != 0 {
		t.Fatalf("imagePullSecrets %+v without an account", p.Spec.ImagePullSecrets)
	}
}

func TestPodServiceAccountNameFromDeprecatedField(t *testing.T) {
	s := PodSpec{DeprecatedServiceAccount: "builder"}
	if got := PodServiceAccountName(&s); got != "builder" || s.ServiceAccountName != "builder" {
		t.Fatalf("got %q, spec %+v", got, s)
	}
}

func TestServiceAccountLookupErrorWording(t *testing.T) {
	p := validPod()
	p.Name, p.Namespace, p.Spec.ServiceAccountName = "web", "team", "builder"
	err := ServiceAccountLookupError(p, ServiceAccountNotFound("builder"))
	want := `pods "web" is forbidden: error looking up service account team/builder: serviceaccount "builder" not found`
	if CodeOf(err) != 403 || err.Error() != want {
		t.Fatalf("got %d %q, want 403 %q", CodeOf(err), err, want)
	}
}

func TestValidateServiceAccount(t *testing.T) {
	ok := &ServiceAccount{ObjectMeta: ObjectMeta{Name: "builder", Namespace: "default"}, AutomountServiceAccountToken: boolp(false),
		ImagePullSecrets: []LocalObjectRef{{Name: "regcred"}}}
	if err := Validate(ok); err != nil {
		t.Fatalf("valid account refused: %v", err)
	}
	for _, tc := range []struct {
		field  string
		mutate func(*ServiceAccount)
	}{
		{"secrets", func(sa *ServiceAccount) { sa.Secrets = []ObjectReference{{Name: "tok"}} }},
		{"metadata.name", func(sa *ServiceAccount) { sa.Name = "Bad_Name" }},
	} {
		sa := DeepCopy(ok)
		tc.mutate(sa)
		wantInvalid(t, Validate(sa), tc.field)
	}
}

func TestValidateProjected(t *testing.T) {
	base := func() *Pod {
		p := validPod()
		AdmitServiceAccount(p, nil, "kube-api-access-abcde")
		Default(p)
		return p
	}
	last := func(p *Pod) *ProjectedVolumeSource { return p.Spec.Volumes[len(p.Spec.Volumes)-1].Projected }
	for _, tc := range []struct {
		name, field, msg string
		mutate           func(*ProjectedVolumeSource)
	}{
		{"short token", "spec.volumes[1].projected.sources[0].serviceAccountToken.expirationSeconds", "less than 10 minutes",
			func(v *ProjectedVolumeSource) { v.Sources[0].ServiceAccountToken.ExpirationSeconds = new(int64(599)) }},
		{"huge token", "spec.volumes[1].projected.sources[0].serviceAccountToken.expirationSeconds", "2^32",
			func(v *ProjectedVolumeSource) {
				v.Sources[0].ServiceAccountToken.ExpirationSeconds = new(int64(1<<32 + 1))
			}},
		{"token path escapes", "spec.volumes[1].projected.sources[0].serviceAccountToken.path", "'..'",
			func(v *ProjectedVolumeSource) { v.Sources[0].ServiceAccountToken.Path = "../token" }},
		{"absolute path", "spec.volumes[1].projected.sources[0].serviceAccountToken.path", "relative",
			func(v *ProjectedVolumeSource) { v.Sources[0].ServiceAccountToken.Path = "/token" }},
		{"duplicate paths", "spec.volumes[1].projected", "conflicting duplicate paths",
			func(v *ProjectedVolumeSource) { v.Sources[1].ConfigMap.Items[0].Path = "token" }},
		{"configMap without a name", "spec.volumes[1].projected.sources[1].configMap.name", "Required value",
			func(v *ProjectedVolumeSource) { v.Sources[1].ConfigMap.Name = "" }},
		{"item without a key", "spec.volumes[1].projected.sources[1].configMap.items[0].key", "Required value",
			func(v *ProjectedVolumeSource) { v.Sources[1].ConfigMap.Items[0].Key = "" }},
		{"item path reserved", "spec.volumes[1].projected.sources[1].configMap.items[0].path", "must not start with '..'",
			func(v *ProjectedVolumeSource) { v.Sources[1].ConfigMap.Items[0].Path = "..data" }},
		{"item mode", "spec.volumes[1].projected.sources[1].configMap.items[0].mode", "0777",
			func(v *ProjectedVolumeSource) { v.Sources[1].ConfigMap.Items[0].Mode = new(int32(0o1000)) }},
		{"status.phase by downward API", "spec.volumes[1].projected.sources[2].downwardAPI.items[0].fieldRef.fieldPath", "supported values",
			func(v *ProjectedVolumeSource) {
				v.Sources[2].DownwardAPI.Items[0].FieldRef.FieldPath = "status.phase"
			}},
		{"two kinds in one source", "spec.volumes[1].projected.sources[0]", "more than 1",
			func(v *ProjectedVolumeSource) { v.Sources[0].DownwardAPI = &DownwardAPIProjection{} }},
		{"bad mode", "spec.volumes[1].projected.defaultMode", "0777",
			func(v *ProjectedVolumeSource) { v.DefaultMode = new(int32(0o1777)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.mutate(last(p))
			err := Validate(p)
			wantInvalid(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	p := base()
	last(p).Sources[0].ServiceAccountToken.ExpirationSeconds = nil
	last(p).DefaultMode = nil
	Default(p)
	if *last(p).Sources[0].ServiceAccountToken.ExpirationSeconds != 3600 || *last(p).DefaultMode != 0o644 {
		t.Errorf("defaults: %+v", last(p))
	}
	if err := Validate(p); err != nil {
		t.Errorf("defaulted volume refused: %v", err)
	}
}

func TestValidateTokenRequest(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		spec        TokenRequestSpec
	}{
		{"ok", "", TokenRequestSpec{ExpirationSeconds: new(int64(600)), BoundObjectRef: &BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web"}}},
		{"too short", "spec.expirationSeconds", TokenRequestSpec{ExpirationSeconds: new(int64(599))}},
		{"too long", "spec.expirationSeconds", TokenRequestSpec{ExpirationSeconds: new(int64(1<<32 + 1))}},
		{"secret", "spec.boundObjectRef.kind", TokenRequestSpec{BoundObjectRef: &BoundObjectReference{Kind: "Secret", Name: "x"}}},
		{"no name", "spec.boundObjectRef.name", TokenRequestSpec{BoundObjectRef: &BoundObjectReference{Kind: "Pod"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTokenRequest(&TokenRequest{ObjectMeta: ObjectMeta{Name: "default"}, Spec: tc.spec})
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, tc.field)
		})
	}
}
