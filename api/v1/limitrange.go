package v1

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// This file is Kubernetes' LimitRanger admission (plugin/pkg/admission/
// limitranger) over orch's types: the defaults a LimitRange gives the
// containers of a new pod, and the min/max/ratio checks. It is pure; the API
// server and the replication manager call it with the namespace's
// LimitRanges when they create a pod.

// LimitRangerAnnotation records on a pod which defaults a LimitRange set.
const LimitRangerAnnotation = "kubernetes.io/limit-ranger"

// defaultLimitRange fills a Container item as Kubernetes'
// SetDefaults_LimitRangeItem: a missing default limit is the max, a missing
// default request is the default limit, else the min.
func defaultLimitRange(lr *LimitRange) {
	for i := range lr.Spec.Limits {
		it := &lr.Spec.Limits[i]
		if it.Type != LimitTypeContainer {
			continue
		}
		fill := func(dst *ResourceList, src ResourceList) {
			for k, v := range src {
				if _, ok := (*dst)[k]; ok {
					continue
				}
				if *dst == nil {
					*dst = ResourceList{}
				}
				(*dst)[k] = v.DeepCopy()
			}
		}
		fill(&it.Default, it.Max)
		fill(&it.DefaultRequest, it.Default)
		fill(&it.DefaultRequest, it.Min)
	}
}

// ApplyLimitRangeDefaults sets, on every container of p that lacks them,
// the default limits and requests of the Container items of lrs, and
// records what it set in the kubernetes.io/limit-ranger annotation.
func ApplyLimitRangeDefaults(p *Pod, lrs []*LimitRange) {
	for _, lr := range lrs {
		var def ResourceRequirements
		for _, it := range lr.Spec.Limits {
			if it.Type == LimitTypeContainer {
				def.Limits = AddResources(def.Limits, it.Default)
				def.Requests = AddResources(def.Requests, it.DefaultRequest)
			}
		}
		if len(def.Limits) == 0 && len(def.Requests) == 0 {
			continue
		}
		var notes []string
		for i := range p.Spec.Containers {
			notes = mergeDefaults(&p.Spec.Containers[i], def, "container", notes)
		}
		for i := range p.Spec.InitContainers {
			notes = mergeDefaults(&p.Spec.InitContainers[i], def, "init container", notes)
		}
		if len(notes) > 0 {
			a := make(map[string]string, len(p.Annotations)+1)
			for k, v := range p.Annotations {
				a[k] = v
			}
			a[LimitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
			p.Annotations = a
		}
	}
}

func mergeDefaults(c *Container, def ResourceRequirements, what string, notes []string) []string {
	set := func(dst *ResourceList, src ResourceList) []string {
		var names []string
		for _, k := range SortedResourceNames(src) {
			if _, ok := (*dst)[k]; ok {
				continue
			}
			if *dst == nil {
				*dst = ResourceList{}
			}
			(*dst)[k] = src[k].DeepCopy()
			names = append(names, string(k))
		}
		return names
	}
	// Replace the maps rather than change them: the pod may share them.
	c.Resources.Limits = AddResources(c.Resources.Limits, nil)
	c.Resources.Requests = AddResources(c.Resources.Requests, nil)
	if len(c.Resources.Limits) == 0 {
		c.Resources.Limits = nil
	}
	if len(c.Resources.Requests) == 0 {
		c.Resources.Requests = nil
	}
	// A request missing with its limit set is the limit (Kubernetes'
	// defaulting), not the LimitRange's default request.
	req := ResourceList{}
	for k, v := range def.Requests {
		if _, ok := c.Resources.Limits[k]; !ok {
			req[k] = v
		}
	}
	if rs := set(&c.Resources.Requests, req); len(rs) > 0 {
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(rs, ", "), what, c.Name))
	}
	if ls := set(&c.Resources.Limits, def.Limits); len(ls) > 0 {
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(ls, ", "), what, c.Name))
	}
	return notes
}

// ValidateLimitRanges checks p against the min, max and
// maxLimitRequestRatio of lrs and returns every violation in Kubernetes'
// words (one error, or "[a, b]" for several), or nil.
func ValidateLimitRanges(p *Pod, lrs []*LimitRange) error {
	var errs []string
	for _, lr := range lrs {
		for _, it := range lr.Spec.Limits {
			switch it.Type {
			case LimitTypeContainer:
				for _, cs := range [][]Container{p.Spec.Containers, p.Spec.InitContainers} {
					for i := range cs {
						errs = append(errs, checkLimitItem(it, ContainerRequestList(&cs[i]), cs[i].Resources.Limits)...)
					}
				}
			case LimitTypePod:
				errs = append(errs, checkLimitItem(it, PodRequestList(p), PodLimitList(p))...)
			}
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errors.New(errs[0])
	}
	return errors.New("[" + strings.Join(errs, ", ") + "]")
}

func checkLimitItem(it LimitRangeItem, req, lim ResourceList) []string {
	t := string(it.Type)
	var out []string
	for _, k := range SortedResourceNames(it.Min) {
		min := it.Min[k]
		r, hasReq := req[k]
		l, hasLim := lim[k]
		switch {
		case !hasReq:
			out = append(out, fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", k, t, min.String()))
		case min.Cmp(r) > 0:
			out = append(out, fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", k, t, min.String(), r.String()))
		case hasLim && min.Cmp(l) > 0:
			out = append(out, fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", k, t, min.String(), l.String()))
		}
	}
	for _, k := range SortedResourceNames(it.Max) {
		max := it.Max[k]
		r, hasReq := req[k]
		l, hasLim := lim[k]
		switch {
		case !hasLim:
			out = append(out, fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", k, t, max.String()))
		case l.Cmp(max) > 0:
			out = append(out, fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", k, t, max.String(), l.String()))
		case hasReq && r.Cmp(max) > 0:
			out = append(out, fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", k, t, max.String(), r.String()))
		}
	}
	for _, k := range SortedResourceNames(it.MaxLimitRequestRatio) {
		ratio := it.MaxLimitRequestRatio[k]
		r, hasReq := req[k]
		l, hasLim := lim[k]
		switch {
		case !hasReq || r.Sign() == 0:
			out = append(out, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", k, t, ratio.String()))
		case !hasLim || l.Sign() == 0:
			out = append(out, fmt.Sprintf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", k, t, ratio.String()))
		default:
			observed := float64(l.MilliValue()) / float64(r.MilliValue())
			if observed*1000 > float64(ratio.MilliValue()) {
				out = append(out, fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", k, t, ratio.String(), observed))
			}
		}
	}
	return out
}

// SortLimitRanges orders LimitRanges by name, so their defaults and
// messages do not depend on the order they were read in.
func SortLimitRanges(lrs []*LimitRange) {
	sort.Slice(lrs, func(i, j int) bool { return lrs[i].Name < lrs[j].Name })
}
