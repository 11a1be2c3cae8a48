package v1

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The downward API, as Kubernetes': fields of the pod (fieldRef) and
// resources of a container (resourceFieldRef) as environment variables
// and as files of downwardAPI volumes (and downwardAPI sources of
// projected volumes). The node resolves them; labels and annotations in
// files follow the pod's changes.

// DownwardAPIVolumeSource is a volume of files holding fields of the pod.
type DownwardAPIVolumeSource struct {
	// Items are the files.
	Items []DownwardAPIVolumeFile `json:"items,omitempty"`
	// DefaultMode is the mode of the files (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
}

// ResourceFieldSelector selects a resource of a container: its limits or
// requests of cpu, memory or ephemeral-storage, divided by Divisor
// (default 1) and rounded up.
type ResourceFieldSelector struct {
	// ContainerName is the container; in env it defaults to the
	// container itself, in volumes it is required.
	ContainerName string `json:"containerName,omitempty"`
	// Resource is one of limits.cpu, requests.cpu and so on.
	Resource string `json:"resource"`
	// Divisor scales the value (1 unset).
	Divisor Quantity `json:"divisor,omitempty"`
}

// DownwardAPIVolumeDefaultMode is the default mode of a downwardAPI
// volume's files (Kubernetes' DownwardAPIVolumeSourceDefaultMode).
const DownwardAPIVolumeDefaultMode int32 = 0o644

// The fields of the pod Kubernetes offers in env and in volumes
// (validEnvDownwardAPIFieldPathExpressions and
// validVolumeDownwardAPIFieldPathExpressions); labels and annotations
// with a subscript (metadata.labels['k']) are offered in both.
var (
	envFieldPaths = []string{"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
		"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	volumeFieldPaths = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"}
	// downwardFieldLabels are the paths Kubernetes' ConvertDownwardAPIFieldLabel knows.
	downwardFieldLabels = []string{"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
		"metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
		"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	// resourceFieldPaths are validContainerResourceFieldPathExpressions.
	resourceFieldPaths = []string{"limits.cpu", "limits.ephemeral-storage", "limits.memory",
		"requests.cpu", "requests.ephemeral-storage", "requests.memory"}
	cpuDivisors    = []string{"1m", "1"}
	memoryDivisors = []string{"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"}
)

// SplitSubscriptedPath is Kubernetes' fieldpath.SplitMaybeSubscriptedPath:
// metadata.labels['k'] is ("metadata.labels", "k", true).
func SplitSubscriptedPath(fieldPath string) (path, subscript string, ok bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	parts := strings.SplitN(strings.TrimSuffix(fieldPath, "']"), "['", 2)
	if len(parts) < 2 || parts[0] == "" {
		return fieldPath, "", false
	}
	return parts[0], parts[1], true
}

// validateObjectFieldSelector is Kubernetes' validateObjectFieldSelector:
// apiVersion v1 (orch reads an empty one as v1, Kubernetes' default; it
// names the field where Kubernetes says "unsupported pod version"), a
// known path, and a subscript only of labels or annotations.
func validateObjectFieldSelector(fs *ObjectFieldSelector, paths []string, p *field.Path) field.ErrorList {
	if fs.APIVersion != "" && fs.APIVersion != APIVersion {
		return field.ErrorList{field.NotSupported(p.Child("apiVersion"), fs.APIVersion, []string{APIVersion})}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(p.Child("fieldPath"), "")}
	}
	// Kubernetes' ConvertDownwardAPIFieldLabel first.
	path, subscript, ok := SplitSubscriptedPath(fs.FieldPath)
	switch {
	case ok && path != "metadata.labels" && path != "metadata.annotations":
		return field.ErrorList{field.Invalid(p.Child("fieldPath"), fs.FieldPath,
			"error converting fieldPath: field label does not support subscript: "+fs.FieldPath)}
	case !ok && !slices.Contains(downwardFieldLabels, path):
		return field.ErrorList{field.Invalid(p.Child("fieldPath"), fs.FieldPath,
			"error converting fieldPath: field label not supported: "+path)}
	}
	var errs field.ErrorList
	switch {
	case ok && path == "metadata.annotations":
		for _, msg := range validation.IsQualifiedName(strings.ToLower(subscript)) {
			errs = append(errs, field.Invalid(p, subscript, msg))
		}
	case ok && path == "metadata.labels":
		for _, msg := range validation.IsQualifiedName(subscript) {
			errs = append(errs, field.Invalid(p, subscript, msg))
		}
	case !slices.Contains(paths, path):
		errs = append(errs, field.NotSupported(p.Child("fieldPath"), path, paths))
	}
	return errs
}

// validateResourceFieldSelector is Kubernetes'
// validateContainerResourceFieldSelector (a volume's must name its
// container) and validateContainerResourceDivisor.
func validateResourceFieldSelector(fs *ResourceFieldSelector, volume bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case volume && fs.ContainerName == "":
		errs = append(errs, field.Required(p.Child("containerName"), ""))
	case fs.Resource == "":
		errs = append(errs, field.Required(p.Child("resource"), ""))
	case !slices.Contains(resourceFieldPaths, fs.Resource):
		errs = append(errs, field.NotSupported(p.Child("resource"), fs.Resource, resourceFieldPaths))
	}
	if fs.Divisor.IsZero() {
		return errs
	}
	d := fs.Divisor.String()
	switch fs.Resource {
	case "limits.cpu", "requests.cpu":
		if !slices.Contains(cpuDivisors, d) {
			errs = append(errs, field.Invalid(p.Child("divisor"), fs.Resource, "only divisor's values 1m and 1 are supported with the cpu resource"))
		}
	case "limits.memory", "requests.memory":
		if !slices.Contains(memoryDivisors, d) {
			errs = append(errs, field.Invalid(p.Child("divisor"), fs.Resource,
				"only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"))
		}
	case "limits.ephemeral-storage", "requests.ephemeral-storage":
		if !slices.Contains(memoryDivisors, d) {
			errs = append(errs, field.Invalid(p.Child("divisor"), fs.Resource,
				"only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"))
		}
	}
	return errs
}

// validateDownwardAPIVolumeFile is Kubernetes' validateDownwardAPIVolumeFile.
func validateDownwardAPIVolumeFile(f *DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	if m := f.Mode; m != nil && (*m < 0 || *m > 0o777) {
		errs = append(errs, field.Invalid(p.Child("mode"), *m, fileModeErrorMsg))
	}
	return errs
}

// validateDownwardAPIVolumeSource is Kubernetes' validateDownwardAPIVolumeSource.
func validateDownwardAPIVolumeSource(s *DownwardAPIVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if m := s.DefaultMode; m != nil && (*m < 0 || *m > 0o777) {
		errs = append(errs, field.Invalid(p.Child("defaultMode"), *m, fileModeErrorMsg))
	}
	for i := range s.Items {
		errs = append(errs, validateDownwardAPIVolumeFile(&s.Items[i], p.Child("items").Index(i))...)
	}
	return errs
}
