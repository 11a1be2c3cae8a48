package v1

import (
	"fmt"
	"math"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// More resource names.
const (
	ResourceEphemeralStorage ResourceName = "ephemeral-storage"
	ResourceStorage          ResourceName = "storage"
)

// Bounds of quantities. Every quantity the API accepts fits these, so the
// scheduler's and the node's arithmetic (in millicores and bytes, as int64)
// never overflows: a "9223372036854776" CPU request is refused, not counted
// as a negative number.
var (
	// MaxCPU is the largest CPU amount: 10^6 cores.
	MaxCPU = resource.MustParse("1000000")
	// MaxBytes is the largest memory or storage amount: 2^63-1 bytes.
	MaxBytes = *resource.NewQuantity(math.MaxInt64, resource.BinarySI)
	// MaxPods is the largest pod count a node may offer: 10^6.
	MaxPods = resource.MustParse("1000000")
	// MaxExtended is the largest amount of an extended resource: 2^63-1 units.
	MaxExtended = *resource.NewQuantity(math.MaxInt64, resource.DecimalSI)
)

// IsExtendedResourceName reports whether name is an extended resource as
// Kubernetes defines one: a domain-prefixed name outside the kubernetes.io
// domain, such as example.com/gpu, counted in whole units.
func IsExtendedResourceName(name ResourceName) bool {
	s := string(name)
	if !strings.Contains(s, "/") || strings.HasPrefix(s, "requests.") {
		return false
	}
	domain := s[:strings.Index(s, "/")]
	if domain == "kubernetes.io" || strings.HasSuffix(domain, ".kubernetes.io") {
		return false
	}
	return len(validation.IsQualifiedName(s)) == 0
}

// maxQuantity returns the bound of a resource's quantities.
func maxQuantity(name ResourceName) Quantity {
	switch name {
	case ResourceCPU:
		return MaxCPU
	case ResourcePods:
		return MaxPods
	case ResourceMemory, ResourceEphemeralStorage, ResourceStorage:
		return MaxBytes
	}
	return MaxExtended
}

// milliValue and value read a quantity that validation has bounded; out of
// range they saturate rather than wrap.
func milliValue(q Quantity) int64 {
	if q.Cmp(MaxCPU) > 0 {
		return math.MaxInt64
	}
	return q.MilliValue()
}

func value(q Quantity) int64 {
	if q.Cmp(MaxBytes) > 0 {
		return math.MaxInt64
	}
	return q.Value()
}

// validateQuantity checks that q is >= 0 and within its resource's bound,
// and a whole number for an extended resource.
func validateQuantity(name ResourceName, q Quantity, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Sign() < 0 {
		return append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
	}
	if lim := maxQuantity(name); q.Cmp(lim) > 0 {
		errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s", lim.String())))
	}
	if IsExtendedResourceName(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(p, q.String(), "must be an integer"))
	}
	return errs
}

// validateContainerResources checks a container's requests and limits as
// Kubernetes does: standard names (cpu, memory) or extended resources,
// bounded quantities, requests not above limits, and for extended
// resources (which cannot be overcommitted) a limit equal to any request.
func validateContainerResources(r *ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, l := range []struct {
		name string
		list ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for k, q := range l.list {
			kp := p.Child(l.name).Key(string(k))
			switch {
			case k == ResourceCPU || k == ResourceMemory:
			case IsExtendedResourceName(k):
			case k == ResourceEphemeralStorage || strings.HasPrefix(string(k), "hugepages-"):
				errs = append(errs, field.NotSupported(kp, string(k), []string{string(ResourceCPU), string(ResourceMemory), "<domain>/<name> (extended resources)"}))
				continue
			default:
				errs = append(errs, field.Invalid(kp, string(k), "must be a standard resource for containers"))
				continue
			}
			errs = append(errs, validateQuantity(k, q, kp)...)
		}
	}
	for k, req := range r.Requests {
		lim, ok := r.Limits[k]
		switch {
		case IsExtendedResourceName(k) && !ok:
			errs = append(errs, field.Required(p.Child("limits").Key(string(k)), "Limit must be set for non overcommitable resources"))
		case IsExtendedResourceName(k) && req.Cmp(lim) != 0:
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(k)), req.String(),
				fmt.Sprintf("must be equal to %s limit of %s", k, lim.String())))
		case ok && req.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(p.Child("requests").Key(string(k)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", k, lim.String())))
		}
	}
	return errs
}

// validateNodeResources checks a node's capacity or allocatable: standard
// node resources or extended ones, with bounded quantities.
func validateNodeResources(list ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for k, q := range list {
		kp := p.Key(string(k))
		switch {
		case k == ResourceCPU || k == ResourceMemory || k == ResourcePods || k == ResourceEphemeralStorage || IsExtendedResourceName(k):
		case strings.HasPrefix(string(k), "hugepages-"):
		default:
			errs = append(errs, field.Invalid(kp, string(k), "must be a standard resource for nodes or an extended resource"))
			continue
		}
		errs = append(errs, validateQuantity(k, q, kp)...)
	}
	return errs
}
