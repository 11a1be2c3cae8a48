package v1

import (
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// supportedHostPathTypes are Kubernetes' hostPath types, "" (no check) first.
var supportedHostPathTypes = []string{
	string(HostPathUnset), string(HostPathBlockDev), string(HostPathCharDev), string(HostPathDirectory),
	string(HostPathDirectoryOrCreate), string(HostPathFile), string(HostPathFileOrCreate), string(HostPathSocket),
}

// defaultVolume gives a volume without a source an emptyDir, and a hostPath
// without a type the unset one, as Kubernetes' SetDefaults_Volume and
// SetDefaults_HostPathVolumeSource.
func defaultVolume(v *Volume) {
	if v.EmptyDir == nil && v.HostPath == nil && v.Projected == nil && v.ConfigMap == nil && v.Secret == nil && v.DownwardAPI == nil {
		v.EmptyDir = &EmptyDirVolumeSource{}
	}
	if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
		m := ConfigMapVolumeDefaultMode
		v.ConfigMap.DefaultMode = &m
	}
	if v.Secret != nil && v.Secret.DefaultMode == nil {
		m := SecretVolumeDefaultMode
		v.Secret.DefaultMode = &m
	}
	if v.Projected != nil {
		defaultProjected(v.Projected)
	}
	if v.DownwardAPI != nil && v.DownwardAPI.DefaultMode == nil {
		m := DownwardAPIVolumeDefaultMode
		v.DownwardAPI.DefaultMode = &m
	}
	if v.HostPath != nil && v.HostPath.Type == nil {
		unset := HostPathUnset
		v.HostPath.Type = &unset
	}
}

// validateVolumeSource checks that a volume has exactly one source (orch
// has emptyDir, hostPath, projected, configMap, secret and downwardAPI) and validates it, with Kubernetes' wording
// (validateVolumeSource).
func validateVolumeSource(v *Volume, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	if v.EmptyDir != nil {
		n++
	}
	if v.HostPath != nil {
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child("hostPath"), "may not specify more than 1 volume type"))
		} else {
			n++
			errs = append(errs, validateHostPathVolumeSource(v.HostPath, p.Child("hostPath"))...)
		}
	}
	if v.Projected != nil {
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child("projected"), "may not specify more than 1 volume type"))
		} else {
			n++
			errs = append(errs, validateProjected(v.Projected, p.Child("projected"))...)
		}
	}
	if v.ConfigMap != nil {
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child("configMap"), "may not specify more than 1 volume type"))
		} else {
			n++
			errs = append(errs, validateConfigMapVolumeSource(v.ConfigMap, p.Child("configMap"))...)
		}
	}
	if v.Secret != nil {
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child("secret"), "may not specify more than 1 volume type"))
		} else {
			n++
			errs = append(errs, validateSecretVolumeSource(v.Secret, p.Child("secret"))...)
		}
	}
	if v.DownwardAPI != nil {
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child("downwardAPI"), "may not specify more than 1 volume type"))
		} else {
			n++
			errs = append(errs, validateDownwardAPIVolumeSource(v.DownwardAPI, p.Child("downwardAPI"))...)
		}
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a volume type"))
	}
	return errs
}

// validateHostPathVolumeSource is Kubernetes': a path without '..'
// elements and a known type.
func validateHostPathVolumeSource(h *HostPathVolumeSource, p *field.Path) field.ErrorList {
	if h.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(h.Path, p.Child("path"))
	if h.Type != nil && !containsString(supportedHostPathTypes, string(*h.Type)) {
		errs = append(errs, field.NotSupported(p.Child("type"), *h.Type, supportedHostPathTypes))
	}
	return errs
}

// validatePathNoBacksteps refuses a path with a '..' element, as Kubernetes.
func validatePathNoBacksteps(target string, p *field.Path) field.ErrorList {
	for _, item := range strings.Split(target, "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalDescendingPath is Kubernetes' check of a subPath: relative,
// without '..' elements.
func validateLocalDescendingPath(target string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(p, target, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(target, p)...)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
