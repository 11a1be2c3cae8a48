package podsecurity

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	v1 "orch.io/orch/api/v1"
)

// TestToNamespaceMatchesConvert: the direct conversion of a namespace
// gives the library the same name, labels and annotations as the JSON
// round trip, and does not share the label map with the stored object.
func TestToNamespaceMatchesConvert(t *testing.T) {
	for _, tc := range []struct {
		name string
		ns   *v1.Namespace
	}{
		{"no labels", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "a"}}},
		{"levels", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "b", UID: "u-1", ResourceVersion: "7",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted",
				"pod-security.kubernetes.io/warn-version": "v1.30"},
			Annotations: map[string]string{"note": "x"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := toNamespace(tc.ns)
			want, err := convert(tc.ns)
			if err != nil {
				t.Fatal(err)
			}
			w := want.(*corev1.Namespace)
			if got.Name != w.Name || got.UID != w.UID || got.ResourceVersion != w.ResourceVersion ||
				!reflect.DeepEqual(got.Labels, w.Labels) || !reflect.DeepEqual(got.Annotations, w.Annotations) {
				t.Fatalf("toNamespace = %+v, the JSON conversion = %+v", got.ObjectMeta, w.ObjectMeta)
			}
			if got.Labels != nil {
				got.Labels["changed"] = "yes"
				if _, ok := tc.ns.Labels["changed"]; ok {
					t.Fatal("the converted namespace shares its labels with the stored one")
				}
			}
		})
	}
}

// fullMeta sets every field of orch's ObjectMeta, with the annotations the
// checks read (AppArmor and seccomp).
func fullMeta(name string) v1.ObjectMeta {
	now := v1.NewTime(time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC))
	return v1.ObjectMeta{Name: name, GenerateName: "web-", Namespace: "ns", UID: "u-1", ResourceVersion: "9",
		Generation: 2, CreationTimestamp: now, DeletionTimestamp: &now, DeletionGracePeriodSeconds: ptr(int64(30)),
		Labels: map[string]string{"app": "web"},
		Annotations: map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "unconfined",
			"seccomp.security.alpha.kubernetes.io/pod": "unconfined"},
		OwnerReferences: []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "u-0",
			Controller: ptr(true), BlockOwnerDeletion: ptr(true)}},
		Finalizers: []string{"example.com/f"},
		ManagedFields: []v1.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Update", APIVersion: "v1", Time: &now,
			FieldsType: "FieldsV1", FieldsV1: &v1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}, Subresource: "status"}},
	}
}

// TestFullMetaSetsEveryField keeps fullMeta complete: a field added to
// ObjectMeta must be converted by toObjectMeta and set here.
func TestFullMetaSetsEveryField(t *testing.T) {
	v := reflect.ValueOf(fullMeta("p"))
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Errorf("fullMeta leaves ObjectMeta.%s unset", v.Type().Field(i).Name)
		}
	}
}

// metaAndSpec is what the library reads of a pod, as JSON.
func metaAndSpec(t *testing.T, p *corev1.Pod) string {
	t.Helper()
	b, err := json.Marshal(corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: p.ObjectMeta, Spec: p.Spec})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPodConversionMatchesConvert: a pod converted with its spec
// remembered gives the library the same metadata and spec as the JSON
// round trip, for pods with every field the checks read, on the first
// conversion (a miss) and the second (a hit); pods that share a spec keep
// their own metadata, and a changed spec is not answered from the cache.
func TestPodConversionMatchesConvert(t *testing.T) {
	privileged := podWith(func(p *v1.Pod) {
		p.Spec.HostNetwork, p.Spec.HostPID, p.Spec.HostIPC = true, true, true
		p.Spec.SecurityContext = &v1.PodSecurityContext{SELinuxOptions: &v1.SELinuxOptions{User: "u", Role: "r", Type: "t", Level: "l"},
			RunAsUser: ptr(int64(0)), RunAsGroup: ptr(int64(0)), RunAsNonRoot: ptr(false), SupplementalGroups: []int64{1},
			FSGroup: ptr(int64(2)), Sysctls: []v1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}},
			SeccompProfile:  &v1.SeccompProfile{Type: "Unconfined"},
			AppArmorProfile: &v1.AppArmorProfile{Type: "Unconfined"}}
		sc := container(p)
		sc.Privileged, sc.AllowPrivilegeEscalation, sc.ProcMount = ptr(true), ptr(true), ptr("Unmasked")
		sc.Capabilities = &v1.Capabilities{Add: []v1.Capability{"SYS_ADMIN"}}
		sc.RunAsUser, sc.RunAsNonRoot, sc.ReadOnlyRootFilesystem = ptr(int64(0)), ptr(false), ptr(false)
		sc.SeccompProfile = &v1.SeccompProfile{Type: "Unconfined"}
		sc.AppArmorProfile = &v1.AppArmorProfile{Type: "Unconfined"}
		sc.SELinuxOptions = &v1.SELinuxOptions{Type: "spc_t"}
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 80, HostPort: 80}}
		p.Spec.InitContainers = []v1.Container{{Name: "init", Image: "busybox", SecurityContext: &v1.SecurityContext{Privileged: ptr(true)}}}
		p.Spec.EphemeralContainers = []v1.EphemeralContainer{{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "debug",
			Image: "busybox", SecurityContext: &v1.SecurityContext{Capabilities: &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}}}}}}
		p.Spec.Volumes = []v1.Volume{{Name: "h", HostPath: &v1.HostPathVolumeSource{Path: "/"}},
			{Name: "e", EmptyDir: &v1.EmptyDirVolumeSource{}}}
	})
	withMeta := func(p *v1.Pod, name string) *v1.Pod {
		c := v1.DeepCopy(p)
		c.ObjectMeta = fullMeta(name)
		c.TypeMeta = v1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
		c.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.0.0.1"}
		return c
	}
	pods := []*v1.Pod{plainPod("plain"), restrictedPod("restricted"), privileged, withMeta(plainPod("x"), "meta-plain"),
		withMeta(privileged, "meta-privileged"), withMeta(privileged, "meta-privileged-2")}
	c := newPodSpecs()
	for _, p := range pods {
		t.Run(p.Name, func(t *testing.T) {
			want, err := convert(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, round := range []string{"first", "second"} {
				got, err := c.convert(p, nil)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := metaAndSpec(t, got.(*corev1.Pod)), metaAndSpec(t, want.(*corev1.Pod)); g != w {
					t.Fatalf("%s conversion:\n got %s\nwant %s", round, g, w)
				}
			}
		})
	}
	if c.cache.Len() != 3 {
		t.Errorf("the cache holds %d specs, want 3 (plain, restricted, privileged)", c.cache.Len())
	}
	changed := v1.DeepCopy(privileged)
	changed.Spec.HostNetwork = false
	got, err := c.toPod(changed)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.HostNetwork || !got.Spec.HostPID {
		t.Fatalf("a changed spec converted as %+v", got.Spec)
	}
}

// TestLargeSpecNotCached: a spec above maxCachedSpecBytes is converted
// the same and not kept.
func TestLargeSpecNotCached(t *testing.T) {
	p := plainPod("big")
	p.Spec.Containers[0].Command = []string{strings.Repeat("x", maxCachedSpecBytes)}
	c := newPodSpecs()
	got, err := c.toPod(p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := convert(p)
	if err != nil {
		t.Fatal(err)
	}
	if metaAndSpec(t, got) != metaAndSpec(t, want.(*corev1.Pod)) {
		t.Fatal("a large spec converts differently")
	}
	if c.cache.Len() != 0 {
		t.Fatalf("the cache holds %d specs, want 0", c.cache.Len())
	}
}
