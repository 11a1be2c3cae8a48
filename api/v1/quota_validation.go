package v1

import (
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateResourceQuota checks a quota's spec as Kubernetes'
// ValidateResourceQuotaSpec does, and refuses what orch would accept and
// then ignore: resource names it does not count, unsupported scopes and
// scopeSelector.
func validateResourceQuota(q *ResourceQuota) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	hp := sp.Child("hard")
	for _, k := range SortedResourceNames(q.Spec.Hard) {
		v := q.Spec.Hard[k]
		p := hp.Key(string(k))
		if !QuotaResourceSupported(k) {
			errs = append(errs, field.Invalid(p, string(k), "must be a standard resource for quota"))
			continue
		}
		errs = append(errs, validateQuotaQuantity(k, v, p)...)
	}
	errs = append(errs, validateQuotaScopes(&q.Spec, sp)...)
	if q.Spec.ScopeSelector != nil {
		errs = append(errs, field.Forbidden(sp.Child("scopeSelector"), "is not supported; use spec.scopes"))
	}
	return errs
}

func validateQuotaQuantity(k ResourceName, v Quantity, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v.Sign() < 0 {
		errs = append(errs, field.Invalid(p, v.String(), "must be greater than or equal to 0"))
	}
	if quotaIntegerResource(k) && v.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(p, v.String(), "must be an integer"))
	}
	return errs
}

// validateQuotaScopes follows Kubernetes' validateResourceQuotaScopes: known
// scopes only, only pod resources under a scope (only pods under
// BestEffort), and no conflicting pair.
func validateQuotaScopes(s *ResourceQuotaSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Scopes) == 0 {
		return nil
	}
	p := sp.Child("scopes")
	seen := map[ResourceQuotaScope]bool{}
	for _, scope := range s.Scopes {
		switch scope {
		case QuotaScopeTerminating, QuotaScopeNotTerminating, QuotaScopeBestEffort, QuotaScopeNotBestEffort:
		default:
			errs = append(errs, field.NotSupported(p, scope, []string{string(QuotaScopeBestEffort),
				string(QuotaScopeNotBestEffort), string(QuotaScopeNotTerminating), string(QuotaScopeTerminating)}))
			continue
		}
		for _, k := range SortedResourceNames(s.Hard) {
			ok := quotaPodResource(k)
			if scope == QuotaScopeBestEffort {
				ok = k == ResourcePods || k == ObjectCountPrefix+"pods"
			}
			if !ok {
				errs = append(errs, field.Invalid(p, s.Scopes, "unsupported scope applied to resource"))
				break
			}
		}
		seen[scope] = true
	}
	for _, pair := range [][2]ResourceQuotaScope{{QuotaScopeBestEffort, QuotaScopeNotBestEffort},
		{QuotaScopeTerminating, QuotaScopeNotTerminating}} {
		if seen[pair[0]] && seen[pair[1]] {
			errs = append(errs, field.Invalid(p, s.Scopes, "conflicting scopes"))
		}
	}
	return errs
}

// limitRangeResources are the resources a LimitRange may bound in orch.
var limitRangeResources = []string{string(ResourceCPU), string(ResourceMemory)}

// validateLimitRange checks a LimitRange as Kubernetes' ValidateLimitRange
// does: one item per type, Container or Pod (no defaults for Pod), and
// min <= defaultRequest <= default <= max, maxLimitRequestRatio >= 1.
func validateLimitRange(lr *LimitRange) field.ErrorList {
	var errs field.ErrorList
	lp := field.NewPath("spec", "limits")
	types := map[LimitType]bool{}
	for i := range lr.Spec.Limits {
		it := &lr.Spec.Limits[i]
		ip := lp.Index(i)
		switch it.Type {
		case LimitTypeContainer, LimitTypePod:
		default:
			errs = append(errs, field.NotSupported(ip.Child("type"), it.Type, []string{string(LimitTypeContainer), string(LimitTypePod)}))
		}
		if types[it.Type] {
			errs = append(errs, field.Duplicate(ip.Child("type"), it.Type))
		}
		types[it.Type] = true
		if it.Type == LimitTypePod {
			if len(it.Default) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(it.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		keys := map[ResourceName]bool{}
		for _, l := range []struct {
			name string
			list ResourceList
		}{{"max", it.Max}, {"min", it.Min}, {"default", it.Default}, {"defaultRequest", it.DefaultRequest},
			{"maxLimitRequestRatio", it.MaxLimitRequestRatio}} {
			for _, k := range SortedResourceNames(l.list) {
				kp := ip.Child(l.name).Key(string(k))
				if k != ResourceCPU && k != ResourceMemory {
					errs = append(errs, field.NotSupported(kp, k, limitRangeResources))
					continue
				}
				if q := l.list[k]; l.name == "maxLimitRequestRatio" {
					if q.Sign() < 0 {
						errs = append(errs, field.Invalid(kp, q.String(), "must be greater than or equal to 0"))
					}
				} else {
					// Bounded as a container's own requests and limits are:
					// a max becomes the default limit of containers that set
					// none, which would otherwise be refused as out of range.
					errs = append(errs, validateQuantity(k, q, kp)...)
				}
				keys[k] = true
			}
		}
		names := make([]string, 0, len(keys))
		for k := range keys {
			names = append(names, string(k))
		}
		sort.Strings(names)
		for _, n := range names {
			errs = append(errs, validateLimitRangeOrder(it, ResourceName(n), ip)...)
		}
	}
	return errs
}

// validateLimitRangeOrder checks the order of one resource's bounds, in
// Kubernetes' words.
func validateLimitRangeOrder(it *LimitRangeItem, k ResourceName, ip *field.Path) field.ErrorList {
	var errs field.ErrorList
	min, hasMin := it.Min[k]
	max, hasMax := it.Max[k]
	def, hasDef := it.Default[k]
	defReq, hasDefReq := it.DefaultRequest[k]
	ratio, hasRatio := it.MaxLimitRequestRatio[k]
	key := string(k)
	bad := func(p *field.Path, v Quantity, format string, args ...any) {
		errs = append(errs, field.Invalid(p.Key(key), v.String(), fmt.Sprintf(format, args...)))
	}
	if hasMin && hasMax && min.Cmp(max) > 0 {
		bad(ip.Child("min"), min, "min value %s is greater than max value %s", min.String(), max.String())
	}
	if hasDefReq && hasMin && min.Cmp(defReq) > 0 {
		bad(ip.Child("defaultRequest"), defReq, "min value %s is greater than default request value %s", min.String(), defReq.String())
	}
	if hasDefReq && hasMax && defReq.Cmp(max) > 0 {
		bad(ip.Child("defaultRequest"), defReq, "default request value %s is greater than max value %s", defReq.String(), max.String())
	}
	if hasDefReq && hasDef && defReq.Cmp(def) > 0 {
		bad(ip.Child("defaultRequest"), defReq, "default request value %s is greater than default limit value %s", defReq.String(), def.String())
	}
	if hasDef && hasMin && min.Cmp(def) > 0 {
		bad(ip.Child("default"), min, "min value %s is greater than default value %s", min.String(), def.String())
	}
	if hasDef && hasMax && def.Cmp(max) > 0 {
		bad(ip.Child("default"), max, "default value %s is greater than max value %s", def.String(), max.String())
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		bad(ip.Child("maxLimitRequestRatio"), ratio, "ratio %s is less than 1", ratio.String())
	}
	if hasRatio && hasMin && hasMax && min.Sign() > 0 {
		limit := float64(max.MilliValue()) / float64(min.MilliValue())
		if float64(ratio.MilliValue())/1000 > limit {
			bad(ip.Child("maxLimitRequestRatio"), ratio, "ratio %s is greater than max/min = %f", ratio.String(), limit)
		}
	}
	return errs
}
