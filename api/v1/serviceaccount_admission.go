package v1

import (
	"fmt"
	"path"
	"strings"
)

// This file is Kubernetes' ServiceAccount admission (plugin/pkg/admission/
// serviceaccount) over orch's types. It is pure: the API server and the
// replication manager look the account up and call it on a new pod.

// Names of the token volume, as Kubernetes'.
const (
	// ServiceAccountVolumeName prefixes the token volume's name
	// (kube-api-access-<5 random characters>).
	ServiceAccountVolumeName = "kube-api-access"
	// DefaultAPITokenMountPath is where every container finds the token,
	// ca.crt and namespace.
	DefaultAPITokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// BoundTokenExpirationSeconds is the lifetime the token volume asks for
	// (Kubernetes' WarnOnlyBoundTokenExpirationSeconds, 1 h + 7 s).
	BoundTokenExpirationSeconds = int64(3607)
)

// PodServiceAccountName defaults a pod's serviceAccountName, from the
// deprecated serviceAccount field, else "default", and returns it; both
// fields then hold it, as Kubernetes' conversion keeps them.
func PodServiceAccountName(s *PodSpec) string {
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = s.DeprecatedServiceAccount
	}
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = DefaultServiceAccountName
	}
	s.DeprecatedServiceAccount = s.ServiceAccountName
	return s.ServiceAccountName
}

// ServiceAccountLookupError is the admission's refusal of a pod whose
// service account cannot be read, in Kubernetes' wording.
func ServiceAccountLookupError(p *Pod, err error) error {
	return NewForbidden(fmt.Sprintf("pods %q is forbidden: error looking up service account %s/%s: %v",
		p.Name, p.Namespace, p.Spec.ServiceAccountName, err))
}

// ServiceAccountNotFound is the lookup error of a missing account.
func ServiceAccountNotFound(name string) error {
	return fmt.Errorf("serviceaccount %q not found", name)
}

// AdmitServiceAccount mounts the token volume into every container of a
// new pod whose account is sa (PodServiceAccountName chose it), unless the
// pod's automountServiceAccountToken, else the account's, is false. A
// container that already mounts something at DefaultAPITokenMountPath is
// left alone; volumeName names a new volume (ServiceAccountVolumeName-xxxxx).
// A pod that names no imagePullSecrets gets the account's.
func AdmitServiceAccount(p *Pod, sa *ServiceAccount, volumeName string) {
	if sa != nil && len(p.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		p.Spec.ImagePullSecrets = make([]LocalObjectRef, len(sa.ImagePullSecrets))
		for i, s := range sa.ImagePullSecrets {
			p.Spec.ImagePullSecrets[i] = LocalObjectRef{Name: s.Name}
		}
	}
	if !shouldAutomount(sa, p) {
		return
	}
	name := ""
	for _, v := range p.Spec.Volumes {
		if strings.HasPrefix(v.Name, ServiceAccountVolumeName+"-") {
			name = v.Name
			break
		}
	}
	hasVolume := name != ""
	if !hasVolume {
		name = volumeName
	}
	mount := VolumeMount{Name: name, ReadOnly: true, MountPath: DefaultAPITokenMountPath}
	needs := false
	for _, cs := range [][]Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			if mountsPath(&cs[i], DefaultAPITokenMountPath) {
				continue
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			needs = true
		}
	}
	if needs && !hasVolume {
		p.Spec.Volumes = append(p.Spec.Volumes, Volume{Name: name, Projected: TokenVolumeSource()})
	}
}

func mountsPath(c *Container, dir string) bool {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == dir {
			return true
		}
	}
	return false
}

// shouldAutomount: the pod's preference wins, then the account's, then true.
func shouldAutomount(sa *ServiceAccount, p *Pod) bool {
	if a := p.Spec.AutomountServiceAccountToken; a != nil {
		return *a
	}
	if sa != nil && sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// TokenVolumeSource is the projected volume of the token, as Kubernetes':
// token (3607 s), ca.crt of kube-root-ca.crt and the namespace.
func TokenVolumeSource() *ProjectedVolumeSource {
	mode, exp := ProjectedDefaultMode, BoundTokenExpirationSeconds
	return &ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []VolumeProjection{
			{ServiceAccountToken: &ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &ConfigMapProjection{LocalObjectRef: LocalObjectRef{Name: RootCAConfigMap},
				Items: []KeyToPath{{Key: RootCAKey, Path: RootCAKey}}}},
			{DownwardAPI: &DownwardAPIProjection{Items: []DownwardAPIVolumeFile{{Path: "namespace",
				FieldRef: &ObjectFieldSelector{APIVersion: APIVersion, FieldPath: "metadata.namespace"}}}}},
		},
	}
}
