package v1

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds how pods consume Secrets, with Kubernetes' field names
// and validation: one key as an environment variable (SecretKeySelector),
// every key as variables (EnvFromSource.SecretRef), and keys as files
// (SecretVolumeSource, and secret sources of projected volumes). The node
// reads only the Secrets of the pods bound to it (the Node authorizer) and
// writes their files on a tmpfs, never on its disk. Validation and the
// node's code are shared with ConfigMaps where the two do the same thing.

// SecretKeySelector selects one key of a Secret.
type SecretKeySelector struct {
	LocalObjectRef `json:",inline"`
	// Key is the key whose value the variable takes.
	Key string `json:"key"`
	// Optional lets the container start without the Secret or the key
	// (the variable is then not set).
	Optional *bool `json:"optional,omitempty"`
}

// SecretEnvSource names the Secret of an EnvFromSource: every key becomes
// an environment variable.
type SecretEnvSource struct {
	LocalObjectRef `json:",inline"`
	// Optional lets the container start without the Secret.
	Optional *bool `json:"optional,omitempty"`
}

// SecretVolumeSource makes files of a Secret's keys: every key (a file
// named after it) or the listed items, on a tmpfs. The node updates the
// files when the Secret changes, all at once (a subPath mount never
// changes).
type SecretVolumeSource struct {
	// SecretName names the Secret, in the pod's namespace.
	SecretName string `json:"secretName,omitempty"`
	// Items maps keys to paths; unset, every key is a file of its name.
	Items []KeyToPath `json:"items,omitempty"`
	// DefaultMode is the mode of the files (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
	// Optional lets the pod start without the Secret (an empty directory)
	// or a listed key.
	Optional *bool `json:"optional,omitempty"`
}

// SecretProjection projects keys of a Secret into a projected volume.
type SecretProjection struct {
	LocalObjectRef `json:",inline"`
	// Items maps keys to paths; unset, every key is a file of its name.
	Items []KeyToPath `json:"items,omitempty"`
	// Optional lets the pod start without the Secret or a listed key.
	Optional *bool `json:"optional,omitempty"`
}

// SecretVolumeDefaultMode is the default mode of a Secret volume's files
// (Kubernetes' SecretVolumeSourceDefaultMode).
const SecretVolumeDefaultMode int32 = 0o644

// validateSecretVolumeSource is Kubernetes' validateSecretVolumeSource.
func validateSecretVolumeSource(s *SecretVolumeSource, p *field.Path) field.ErrorList {
	errs := validateConfigMapName(s.SecretName, p.Child("secretName"))
	return append(errs, validateKeyFiles(s.DefaultMode, s.Items, p)...)
}

// PodSecretNames returns the names of the Secrets a pod spec names, each
// once, as Kubernetes' VisitPodSecretNames: imagePullSecrets, then env
// (secretKeyRef) and envFrom (secretRef) of every container, then secret
// volumes and secret sources of projected volumes.
func PodSecretNames(s *PodSpec) []string {
	pull := make([]string, 0, len(s.ImagePullSecrets))
	for _, r := range s.ImagePullSecrets {
		pull = append(pull, r.Name)
	}
	return podRefNames(s, pull, func(c *Container, add func(string)) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				add(e.SecretRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				add(e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}, func(v *Volume, add func(string)) {
		if v.Secret != nil {
			add(v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					add(src.Secret.Name)
				}
			}
		}
	})
}
