package v1

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ephemeralForbidden is Kubernetes' error text for the container fields an
// ephemeral container may not have.
const ephemeralForbidden = "cannot be set for an Ephemeral Container"

// validateEphemeralContainers checks spec.ephemeralContainers as
// Kubernetes' validateEphemeralContainers does: each is a valid container
// whose name is unique among all the pod's containers; ports, probes,
// resources and subPath mounts are forbidden; targetContainerName names a
// container or init container of the pod. names holds the names of the
// other containers; specPath is the pod spec's. It also refuses shareProcessNamespace with hostPID.
func validateEphemeralContainers(s *PodSpec, specPath *field.Path, vols, names map[string]bool) field.ErrorList {
	var errs field.ErrorList
	if s.ShareProcessNamespace != nil && *s.ShareProcessNamespace && s.HostPID {
		errs = append(errs, field.Invalid(specPath.Child("shareProcessNamespace"), true,
			"ShareProcessNamespace and HostPID cannot both be enabled"))
	}
	if len(s.EphemeralContainers) == 0 {
		return errs
	}
	p := specPath.Child("ephemeralContainers")
	targets := map[string]bool{}
	for n := range names {
		targets[n] = true
	}
	cs := make([]Container, len(s.EphemeralContainers))
	for i := range s.EphemeralContainers {
		cs[i] = Container(s.EphemeralContainers[i].EphemeralContainerCommon)
	}
	errs = append(errs, validateContainers(cs, func() *field.Path { return p }, vols, names)...)
	for i := range cs {
		c, ip := &cs[i], p.Index(i)
		errs = append(errs, validateContainerSupport(c, func() *field.Path { return ip })...)
		if len(c.Ports) > 0 {
			errs = append(errs, field.Forbidden(ip.Child("ports"), ephemeralForbidden))
		}
		for _, pr := range []struct {
			name  string
			probe *Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
			if pr.probe != nil {
				errs = append(errs, field.Forbidden(ip.Child(pr.name), ephemeralForbidden))
			}
		}
		if len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 {
			errs = append(errs, field.Forbidden(ip.Child("resources"), ephemeralForbidden))
		}
		for j, m := range c.VolumeMounts {
			if m.SubPath != "" {
				errs = append(errs, field.Forbidden(ip.Child("volumeMounts").Index(j).Child("subPath"), ephemeralForbidden))
			}
		}
		if t := s.EphemeralContainers[i].TargetContainerName; t != "" && !targets[t] {
			errs = append(errs, field.NotFound(ip.Child("targetContainerName"), t))
		}
	}
	return errs
}

// ValidateEphemeralContainersUpdate checks an update through the
// pods/ephemeralcontainers subresource as Kubernetes'
// ValidatePodEphemeralContainersUpdate does: the new pod must be valid, and
// the ephemeral containers the pod had may not be removed or changed (they
// may only be added). obj is the stored pod with the new list.
func ValidateEphemeralContainersUpdate(obj, old *Pod) error {
	errs := validateObject(obj)
	errs = append(errs, EphemeralContainersChange(obj.Spec.EphemeralContainers, old.Spec.EphemeralContainers)...)
	return toStatus(obj, errs)
}

// EphemeralContainersChange returns the errors for removing or changing any
// of the ephemeral containers in old (order does not matter).
func EphemeralContainersChange(next, old []EphemeralContainer) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "ephemeralContainers")
	for _, o := range old {
		i := slices.IndexFunc(next, func(e EphemeralContainer) bool { return e.Name == o.Name })
		switch {
		case i < 0:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("existing ephemeral containers %q may not be removed", o.Name)))
		case !JSONEqual(o, next[i]):
			errs = append(errs, field.Forbidden(p.Child(o.Name), fmt.Sprintf("existing ephemeral containers %q may not be changed", o.Name)))
		}
	}
	return errs
}
