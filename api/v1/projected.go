package v1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// A projected volume maps several sources into one directory, as
// Kubernetes' projected volume: tokens of the pod's service account, keys
// of ConfigMaps (the cluster CA of kube-root-ca.crt among them) and of
// Secrets, and downward API fields and resources of the pod (see
// downward.go).
type ProjectedVolumeSource struct {
	Sources []VolumeProjection `json:"sources"`
	// DefaultMode is the mode of the files (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
}

// VolumeProjection is one source of a projected volume: exactly one field is set.
type VolumeProjection struct {
	ConfigMap           *ConfigMapProjection           `json:"configMap,omitempty"`
	Secret              *SecretProjection              `json:"secret,omitempty"`
	DownwardAPI         *DownwardAPIProjection         `json:"downwardAPI,omitempty"`
	ServiceAccountToken *ServiceAccountTokenProjection `json:"serviceAccountToken,omitempty"`
}

// ConfigMapProjection projects keys of a ConfigMap.
type ConfigMapProjection struct {
	LocalObjectRef `json:",inline"`
	Items          []KeyToPath `json:"items,omitempty"`
	Optional       *bool       `json:"optional,omitempty"`
}

// KeyToPath maps a key to a file.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	Mode *int32 `json:"mode,omitempty"`
}

// DownwardAPIProjection projects fields of the pod.
type DownwardAPIProjection struct {
	Items []DownwardAPIVolumeFile `json:"items,omitempty"`
}

// DownwardAPIVolumeFile is one field of the pod, or a resource of one of
// its containers, in a file.
type DownwardAPIVolumeFile struct {
	Path             string                 `json:"path"`
	FieldRef         *ObjectFieldSelector   `json:"fieldRef,omitempty"`
	ResourceFieldRef *ResourceFieldSelector `json:"resourceFieldRef,omitempty"`
	// Mode is the file's mode (the volume's defaultMode unset).
	Mode *int32 `json:"mode,omitempty"`
}

// ServiceAccountTokenProjection is a token of the pod's service account,
// bound to the pod, that the node requests and refreshes.
type ServiceAccountTokenProjection struct {
	Audience          string `json:"audience,omitempty"`
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	Path              string `json:"path"`
}

// Names of the service account token volume, as Kubernetes'.
const (
	// RootCAConfigMap is the ConfigMap Kubernetes publishes the cluster CA
	// in; the node writes the CA for it.
	RootCAConfigMap = "kube-root-ca.crt"
	// RootCAKey is its key.
	RootCAKey = "ca.crt"
	// ProjectedDefaultMode is the files' mode when none is given (0644).
	ProjectedDefaultMode = int32(0o644)
)

// defaultProjected fills the defaults of Kubernetes'
// SetDefaults_ProjectedVolumeSource and SetDefaults_ServiceAccountTokenProjection.
func defaultProjected(p *ProjectedVolumeSource) {
	if p.DefaultMode == nil {
		m := ProjectedDefaultMode
		p.DefaultMode = &m
	}
	for i := range p.Sources {
		if t := p.Sources[i].ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
			e := DefaultTokenExpirationSeconds
			t.ExpirationSeconds = &e
		}
	}
}

// validateProjected checks a projected volume with Kubernetes' wording,
// refusing with 422 every value orch does not honour.
func validateProjected(v *ProjectedVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m := v.DefaultMode; m != nil && (*m < 0 || *m > 0o777) {
		errs = append(errs, field.Invalid(p.Child("defaultMode"), *m, "must be a number between 0 and 0777 (octal), both inclusive"))
	}
	paths := map[string]bool{}
	addPath := func(path string, fp *field.Path) {
		if path == "" {
			errs = append(errs, field.Required(fp, ""))
			return
		}
		errs = append(errs, validateLocalDescendingPath(path, fp)...)
		if paths[path] {
			errs = append(errs, field.Invalid(fp, path, "conflicting duplicate paths"))
		}
		paths[path] = true
	}
	for i, s := range v.Sources {
		sp := p.Child("sources").Index(i)
		n := 0
		if s.ConfigMap != nil {
			n++
			errs = append(errs, validateKeyProjection(s.ConfigMap.Name, s.ConfigMap.Items, p, sp.Child("configMap"), paths)...)
		}
		if s.Secret != nil {
			n++
			errs = append(errs, validateKeyProjection(s.Secret.Name, s.Secret.Items, p, sp.Child("secret"), paths)...)
		}
		if s.DownwardAPI != nil {
			n++
			dp := sp.Child("downwardAPI")
			for j := range s.DownwardAPI.Items {
				it := &s.DownwardAPI.Items[j]
				ip := dp.Child("items").Index(j)
				errs = append(errs, validateDownwardAPIVolumeFile(it, ip)...)
				if it.Path != "" {
					if paths[it.Path] {
						errs = append(errs, field.Invalid(ip.Child("path"), it.Path, "conflicting duplicate paths"))
					}
					paths[it.Path] = true
				}
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			tp := sp.Child("serviceAccountToken")
			if e := t.ExpirationSeconds; e != nil {
				switch {
				case *e < MinTokenExpirationSeconds:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
				case *e > MaxTokenExpirationSeconds:
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			addPath(t.Path, tp.Child("path"))
		}
		if n != 1 {
			errs = append(errs, field.Forbidden(sp, fmt.Sprintf("may not specify more than 1 volume type per source (got %d)", n)))
		}
	}
	return errs
}

// validateKeyProjection checks a configMap or secret source of a
// projected volume as Kubernetes' validateProjectionSources: a name, the
// items, and no path another source already has.
func validateKeyProjection(name string, items []KeyToPath, vp, sp *field.Path, paths map[string]bool) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(sp.Child("name"), ""))
	}
	for j, it := range items {
		errs = append(errs, validateKeyToPath(&it, sp.Child("items").Index(j))...)
		if it.Path != "" {
			if paths[it.Path] {
				errs = append(errs, field.Invalid(vp, name, "conflicting duplicate paths"))
			}
			paths[it.Path] = true
		}
	}
	return errs
}
