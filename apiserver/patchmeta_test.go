package apiserver

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	v1 "orch.io/orch/api/v1"
)

// jsonFields returns a struct's fields by JSON name, with embedded and
// ",inline" structs flattened, as encoding/json and strategicpatch see them.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if (f.Anonymous && name == "") || (name == "" && strings.Contains(opts, "inline")) {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

// elem strips pointers, slices and maps down to the element type.
func elem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t
}

// comparePatchMeta checks that every field orch shares with Kubernetes'
// type has the same patchStrategy and patchMergeKey, recursively, and
// returns how many tagged fields it compared.
func comparePatchMeta(t *testing.T, path string, orch, kube reflect.Type, seen map[[2]reflect.Type]bool) int {
	orch, kube = elem(orch), elem(kube)
	if orch.Kind() != reflect.Struct || kube.Kind() != reflect.Struct || seen[[2]reflect.Type{orch, kube}] {
		return 0
	}
	seen[[2]reflect.Type{orch, kube}] = true
	n := 0
	kf := jsonFields(kube)
	for name, of := range jsonFields(orch) {
		k, ok := kf[name]
		if !ok {
			continue // a field Kubernetes does not have
		}
		p := path + "." + name
		for _, tag := range []string{"patchStrategy", "patchMergeKey"} {
			if got, want := of.Tag.Get(tag), k.Tag.Get(tag); got != want {
				t.Errorf("%s: %s %q, Kubernetes has %q", p, tag, got, want)
			}
		}
		if k.Tag.Get("patchStrategy") != "" {
			n++
		}
		n += comparePatchMeta(t, p, of.Type, k.Type, seen)
	}
	return n
}

// orch's types carry the strategic merge patch metadata of k8s.io/api's,
// field by field, so a strategic merge patch does to an orch object what it
// does to a Kubernetes one.
func TestPatchMetaMatchesKubernetes(t *testing.T) {
	pairs := []struct {
		orch, kube any
	}{
		{v1.Pod{}, corev1.Pod{}},
		{v1.ReplicationController{}, corev1.ReplicationController{}},
		{v1.Service{}, corev1.Service{}},
		{v1.Endpoints{}, corev1.Endpoints{}},
		{v1.Node{}, corev1.Node{}},
		{v1.Namespace{}, corev1.Namespace{}},
		{v1.ServiceAccount{}, corev1.ServiceAccount{}},
		{v1.ResourceQuota{}, corev1.ResourceQuota{}},
		{v1.LimitRange{}, corev1.LimitRange{}},
		{v1.Role{}, rbacv1.Role{}},
		{v1.ClusterRole{}, rbacv1.ClusterRole{}},
		{v1.RoleBinding{}, rbacv1.RoleBinding{}},
		{v1.ClusterRoleBinding{}, rbacv1.ClusterRoleBinding{}},
		{v1.CertificateSigningRequest{}, certificatesv1.CertificateSigningRequest{}},
		{v1.PodDisruptionBudget{}, policyv1.PodDisruptionBudget{}},
		{v1.Job{}, batchv1.Job{}},
		{v1.CronJob{}, batchv1.CronJob{}},
		{v1.ReplicaSet{}, appsv1.ReplicaSet{}},
		{v1.Deployment{}, appsv1.Deployment{}},
		{v1.DaemonSet{}, appsv1.DaemonSet{}},
		{v1.StatefulSet{}, appsv1.StatefulSet{}},
	}
	for _, p := range pairs {
		ot, kt := reflect.TypeOf(p.orch), reflect.TypeOf(p.kube)
		t.Run(ot.Name(), func(t *testing.T) {
			n := comparePatchMeta(t, ot.Name(), ot, kt, map[[2]reflect.Type]bool{})
			// Every kind has metadata.finalizers and metadata.ownerReferences.
			if n < 2 {
				t.Errorf("compared %d tagged fields: the walk did not reach the metadata", n)
			}
		})
	}
}
