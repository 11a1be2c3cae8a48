package v1

import (
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds how pods consume ConfigMaps, with Kubernetes' field
// names and validation: one key as an environment variable
// (ConfigMapKeySelector), every key as variables (EnvFromSource), and
// keys as files (ConfigMapVolumeSource, and configMap sources of projected
// volumes). The node reads the ConfigMaps of the pods bound to it.

// ConfigMapKeySelector selects one key of a ConfigMap.
type ConfigMapKeySelector struct {
	LocalObjectRef `json:",inline"`
	// Key is the key whose value the variable takes.
	Key string `json:"key"`
	// Optional lets the container start without the ConfigMap or the key
	// (the variable is then not set).
	Optional *bool `json:"optional,omitempty"`
}

// EnvFromSource makes every key of a ConfigMap or a Secret an environment
// variable; exactly one source is set.
type EnvFromSource struct {
	// Prefix is prepended to every key.
	Prefix string `json:"prefix,omitempty"`
	// ConfigMapRef names the ConfigMap.
	ConfigMapRef *ConfigMapEnvSource `json:"configMapRef,omitempty"`
	// SecretRef names the Secret (see secret_pod.go).
	SecretRef *SecretEnvSource `json:"secretRef,omitempty"`
}

// ConfigMapEnvSource names the ConfigMap of an EnvFromSource.
type ConfigMapEnvSource struct {
	LocalObjectRef `json:",inline"`
	// Optional lets the container start without the ConfigMap.
	Optional *bool `json:"optional,omitempty"`
}

// ConfigMapVolumeSource makes files of a ConfigMap's keys: every key (a
// file named after it) or the listed items. The node updates the files
// when the ConfigMap changes, all at once (a subPath mount never changes).
type ConfigMapVolumeSource struct {
	LocalObjectRef `json:",inline"`
	// Items maps keys to paths; unset, every key is a file of its name.
	Items []KeyToPath `json:"items,omitempty"`
	// DefaultMode is the mode of the files (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
	// Optional lets the pod start without the ConfigMap (an empty
	// directory) or a listed key.
	Optional *bool `json:"optional,omitempty"`
}

// ConfigMapVolumeDefaultMode is the default mode of a ConfigMap volume's
// files (Kubernetes' ConfigMapVolumeSourceDefaultMode).
const ConfigMapVolumeDefaultMode int32 = 0o644

// IsOptional reports whether an optional flag is set and true.
func IsOptional(b *bool) bool { return b != nil && *b }

// validateConfigMapKeySelector is Kubernetes' validateConfigMapKeySelector.
func validateConfigMapKeySelector(s *ConfigMapKeySelector, p *field.Path) field.ErrorList {
	return validateKeySelector(s.Name, s.Key, p)
}

// validateKeySelector checks a reference to one key of a ConfigMap or a
// Secret (Kubernetes' validateConfigMapKeySelector and
// validateSecretKeySelector are the same): a name and a valid key.
func validateKeySelector(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateConfigMapName(name, p.Child("name"))...)
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(p.Child("key"), key, msg))
		}
	}
	return errs
}

// validateEnvVarValueFrom is Kubernetes' validateEnvVarValueFrom, over the
// sources orch has: exactly one, and none beside a value.
func validateEnvVarValueFrom(ev *EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if ev.ValueFrom.FieldRef != nil {
		n++
		errs = append(errs, validateObjectFieldSelector(ev.ValueFrom.FieldRef, envFieldPaths, p.Child("fieldRef"))...)
	}
	if ev.ValueFrom.ResourceFieldRef != nil {
		n++
		errs = append(errs, validateResourceFieldSelector(ev.ValueFrom.ResourceFieldRef, false, p.Child("resourceFieldRef"))...)
	}
	if ref := ev.ValueFrom.ConfigMapKeyRef; ref != nil {
		n++
		errs = append(errs, validateConfigMapKeySelector(ref, p.Child("configMapKeyRef"))...)
	}
	if ref := ev.ValueFrom.SecretKeyRef; ref != nil {
		n++
		errs = append(errs, validateKeySelector(ref.Name, ref.Key, p.Child("secretKeyRef"))...)
	}
	switch {
	case n == 0:
		errs = append(errs, field.Invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(p, "", "may not be specified when `value` is not empty"))
	case n > 1:
		errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
	}
	return errs
}

// validateConfigMapName checks a reference to a ConfigMap or a Secret:
// required, and a name such an object can have.
func validateConfigMapName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// validateEnvFrom is Kubernetes' validateEnvFrom: a prefix that keeps
// names valid and exactly one source.
func validateEnvFrom(vars []EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		ip := p.Index(i)
		if ev.Prefix != "" {
			for _, msg := range validation.IsEnvVarName(ev.Prefix) {
				errs = append(errs, field.Invalid(ip.Child("prefix"), ev.Prefix, msg))
			}
		}
		switch {
		case ev.ConfigMapRef == nil && ev.SecretRef == nil:
			errs = append(errs, field.Invalid(ip, "", "must specify one of: `configMapRef` or `secretRef`"))
		case ev.ConfigMapRef != nil && ev.SecretRef != nil:
			errs = append(errs, field.Invalid(ip, "", "may not have more than one field specified at a time"))
		case ev.ConfigMapRef != nil:
			errs = append(errs, validateConfigMapName(ev.ConfigMapRef.Name, ip.Child("configMapRef", "name"))...)
		default:
			errs = append(errs, validateConfigMapName(ev.SecretRef.Name, ip.Child("secretRef", "name"))...)
		}
	}
	return errs
}

// validateConfigMapVolumeSource is Kubernetes' validateConfigMapVolumeSource.
func validateConfigMapVolumeSource(s *ConfigMapVolumeSource, p *field.Path) field.ErrorList {
	errs := validateConfigMapName(s.Name, p.Child("name"))
	return append(errs, validateKeyFiles(s.DefaultMode, s.Items, p)...)
}

// validateKeyFiles checks what configMap and secret volumes share: the
// default mode and the items.
func validateKeyFiles(defaultMode *int32, items []KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m := defaultMode; m != nil && (*m < 0 || *m > 0o777) {
		errs = append(errs, field.Invalid(p.Child("defaultMode"), *m, fileModeErrorMsg))
	}
	for i, it := range items {
		errs = append(errs, validateKeyToPath(&it, p.Child("items").Index(i))...)
	}
	return errs
}

// fileModeErrorMsg is Kubernetes' message for a file mode out of range.
const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateKeyToPath is Kubernetes' validateKeyToPath: a key, a relative
// path without '..' and a mode in range.
func validateKeyToPath(kp *KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if kp.Key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	}
	if kp.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
	if kp.Mode != nil && (*kp.Mode > 0o777 || *kp.Mode < 0) {
		errs = append(errs, field.Invalid(p.Child("mode"), *kp.Mode, fileModeErrorMsg))
	}
	return errs
}

// validateLocalNonReservedPath is Kubernetes': a local descending path
// that does not start with "..", which the atomic writer reserves.
func validateLocalNonReservedPath(target string, p *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, p)
	if len(target) >= 2 && target[:2] == ".." {
		errs = append(errs, field.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}

// PodConfigMapNames returns the names of the ConfigMaps a pod spec reads
// (env, envFrom, configMap volumes and projected sources), each once.
func PodConfigMapNames(s *PodSpec) []string {
	return podRefNames(s, nil, func(c *Container, add func(string)) {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add(e.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				add(e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	}, func(v *Volume, add func(string)) {
		if v.ConfigMap != nil {
			add(v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					add(src.ConfigMap.Name)
				}
			}
		}
	})
}

// podRefNames collects the names of the objects of one kind a pod spec
// refers to, each once, in Kubernetes' order of visit: first names,
// then every container's (init, regular, ephemeral), then every volume's.
func podRefNames(s *PodSpec, first []string, container func(*Container, func(string)), volume func(*Volume, func(string))) []string {
	seen := map[string]bool{}
	var out []string
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	for _, name := range first {
		add(name)
	}
	for i := range s.InitContainers {
		container(&s.InitContainers[i], add)
	}
	for i := range s.Containers {
		container(&s.Containers[i], add)
	}
	for i := range s.EphemeralContainers {
		container((*Container)(&s.EphemeralContainers[i].EphemeralContainerCommon), add)
	}
	for i := range s.Volumes {
		volume(&s.Volumes[i], add)
	}
	return out
}
