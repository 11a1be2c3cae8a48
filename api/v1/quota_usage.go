package v1

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// This file is quota arithmetic, as Kubernetes' quota evaluators do it
// (pkg/quota/v1/evaluator/core and the apiserver's resourcequota admission):
// what an object is charged, which quotas cover it, and the words of a
// refusal. It is pure: the FSM calls it inside its transaction.

// podComputeResources are what a pod is charged for while it runs.
var podComputeResources = []ResourceName{ResourcePods, ResourceCPU, ResourceMemory,
	ResourceRequestsCPU, ResourceRequestsMemory, ResourceLimitsCPU, ResourceLimitsMemory}

// constrainedResources are the quota resources every container must state
// (Kubernetes' validationSet: "it was a mistake, but ...").
var constrainedResources = []ResourceName{ResourceCPU, ResourceMemory,
	ResourceRequestsCPU, ResourceRequestsMemory, ResourceLimitsCPU, ResourceLimitsMemory}

// quotaObjectResources are the legacy object counts, by the resource they count.
var quotaObjectResources = map[string]ResourceName{
	"pods":                   ResourcePods,
	"services":               ResourceServices,
	"replicationcontrollers": ResourceReplicationControllers,
	"resourcequotas":         ResourceQuotas,
}

// QuotaResourceSupported reports whether orch can enforce a quota on name:
// the compute and object-count names of core/v1 that orch has objects for,
// and count/<resource> for every namespaced resource (count/<resource>.<group>
// for the other groups, as Kubernetes names them; the bare plural is
// accepted too).
func QuotaResourceSupported(name ResourceName) bool {
	for _, n := range podComputeResources {
		if n == name {
			return true
		}
	}
	switch name {
	case ResourceServices, ResourceServicesNodePorts, ResourceServicesLoadBalancer,
		ResourceReplicationControllers, ResourceQuotas:
		return true
	}
	if res, ok := strings.CutPrefix(string(name), ObjectCountPrefix); ok {
		r, found := ResourceByGroupResource(res)
		return found && r.Namespaced
	}
	return false
}

// ObjectCountResource returns the plural name of the resource an object
// count (count/<resource>[.<group>]) counts.
func ObjectCountResource(name ResourceName) (string, bool) {
	res, ok := strings.CutPrefix(string(name), ObjectCountPrefix)
	if !ok {
		return "", false
	}
	if r, found := ResourceByGroupResource(res); found {
		return r.Name, true
	}
	return res, true
}

// quotaIntegerResource reports whether name counts objects or ports, which
// come in whole numbers.
func quotaIntegerResource(name ResourceName) bool {
	switch name {
	case ResourcePods, ResourceServices, ResourceServicesNodePorts, ResourceServicesLoadBalancer,
		ResourceReplicationControllers, ResourceQuotas:
		return true
	}
	return strings.HasPrefix(string(name), ObjectCountPrefix)
}

// quotaPodResource reports whether name is charged to pods (and so may be
// used by a quota with scopes).
func quotaPodResource(name ResourceName) bool {
	if name == ObjectCountPrefix+"pods" {
		return true
	}
	for _, n := range podComputeResources {
		if n == name {
			return true
		}
	}
	return false
}

// QuotaTracksPods reports whether a quota's hard limits name any resource
// charged to pods (then its constraints apply to every new pod it covers).
func QuotaTracksPods(hard ResourceList) bool {
	for k := range hard {
		if quotaPodResource(k) {
			return true
		}
	}
	return false
}

func one() Quantity { return *resource.NewQuantity(1, resource.DecimalSI) }

// QuotaUsage returns what obj of resource res is charged: count/<res> for
// every object (and count/<res>.<group> outside the core group); for a pod that has not finished, pods and its compute
// requests and limits; services and services.nodeports for a service;
// replicationcontrollers and resourcequotas for those kinds.
func QuotaUsage(res string, obj Object) ResourceList {
	u := ResourceList{ResourceName(ObjectCountPrefix + res): one()}
	if r, ok := ResourceByGroupResource(res); ok && r.Group != "" {
		u[ResourceName(ObjectCountPrefix+r.GroupResource())] = one()
	}
	if legacy, ok := quotaObjectResources[res]; ok && res != "pods" {
		u[legacy] = one()
	}
	switch o := obj.(type) {
	case *Pod:
		if !o.Terminal() {
			for k, v := range podComputeUsage(o) {
				u[k] = v
			}
		}
	case *Service:
		if o.Spec.Type == ServiceTypeNodePort {
			u[ResourceServicesNodePorts] = *resource.NewQuantity(int64(len(o.Spec.Ports)), resource.DecimalSI)
		}
	}
	return u
}

// podComputeUsage is Kubernetes' podComputeUsageHelper over the pod's
// requests and limits.
func podComputeUsage(p *Pod) ResourceList {
	return computeUsage(PodRequestList(p), PodLimitList(p))
}

func computeUsage(requests, limits ResourceList) ResourceList {
	u := ResourceList{ResourcePods: one()}
	if q, ok := requests[ResourceCPU]; ok {
		u[ResourceCPU], u[ResourceRequestsCPU] = q, q
	}
	if q, ok := limits[ResourceCPU]; ok {
		u[ResourceLimitsCPU] = q
	}
	if q, ok := requests[ResourceMemory]; ok {
		u[ResourceMemory], u[ResourceRequestsMemory] = q, q
	}
	if q, ok := limits[ResourceMemory]; ok {
		u[ResourceLimitsMemory] = q
	}
	return u
}

// ContainerRequestList returns a container's requests, a limit standing in
// for a missing request as Kubernetes' defaulting makes it.
func ContainerRequestList(c *Container) ResourceList {
	out := ResourceList{}
	for k, v := range c.Resources.Limits {
		out[k] = v
	}
	for k, v := range c.Resources.Requests {
		out[k] = v
	}
	return out
}

// PodRequestList returns the pod's requests: the sum over its containers,
// at least the largest of any init container, per resource.
func PodRequestList(p *Pod) ResourceList {
	return podList(p, ContainerRequestList)
}

// PodLimitList returns the pod's limits, summed as PodRequestList sums requests.
func PodLimitList(p *Pod) ResourceList {
	return podList(p, func(c *Container) ResourceList { return c.Resources.Limits })
}

func podList(p *Pod, of func(*Container) ResourceList) ResourceList {
	sum := ResourceList{}
	for i := range p.Spec.Containers {
		sum = AddResources(sum, of(&p.Spec.Containers[i]))
	}
	for i := range p.Spec.InitContainers {
		for k, v := range of(&p.Spec.InitContainers[i]) {
			if cur, ok := sum[k]; !ok || v.Cmp(cur) > 0 {
				sum[k] = v.DeepCopy()
			}
		}
	}
	return sum
}

// AddResources returns a + b (a new list; neither is changed).
func AddResources(a, b ResourceList) ResourceList {
	out := make(ResourceList, len(a)+len(b))
	for k, v := range a {
		out[k] = v.DeepCopy()
	}
	for k, v := range b {
		q := out[k]
		q.Add(v)
		out[k] = q
	}
	return out
}

// SubtractResources returns a - b over the names of a and b.
func SubtractResources(a, b ResourceList) ResourceList {
	out := make(ResourceList, len(a)+len(b))
	for k, v := range a {
		out[k] = v.DeepCopy()
	}
	for k, v := range b {
		q := out[k]
		q.Sub(v)
		out[k] = q
	}
	return out
}

// MaskResources returns the entries of l whose names are in names.
func MaskResources(l ResourceList, names []ResourceName) ResourceList {
	out := ResourceList{}
	for _, n := range names {
		if v, ok := l[n]; ok {
			out[n] = v
		}
	}
	return out
}

// SortedResourceNames returns the names of l, sorted.
func SortedResourceNames(l ResourceList) []ResourceName {
	out := make([]ResourceName, 0, len(l))
	for k := range l {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ZeroResources reports whether every amount in l is zero.
func ZeroResources(l ResourceList) bool {
	for _, v := range l {
		if !v.IsZero() {
			return false
		}
	}
	return true
}

// QuotaMatches reports whether q covers obj: a quota without scopes covers
// every object it names a resource of; a scoped quota covers only the pods
// that match all its scopes.
func QuotaMatches(q *ResourceQuota, obj Object) bool {
	if len(q.Spec.Scopes) == 0 {
		return true
	}
	p, ok := obj.(*Pod)
	if !ok {
		return false
	}
	for _, s := range q.Spec.Scopes {
		if !podMatchesScope(s, p) {
			return false
		}
	}
	return true
}

func podMatchesScope(s ResourceQuotaScope, p *Pod) bool {
	switch s {
	case QuotaScopeTerminating:
		return podTerminating(p)
	case QuotaScopeNotTerminating:
		return !podTerminating(p)
	case QuotaScopeBestEffort:
		return PodBestEffort(p)
	case QuotaScopeNotBestEffort:
		return !PodBestEffort(p)
	}
	return false
}

func podTerminating(p *Pod) bool {
	return p.Spec.ActiveDeadlineSeconds != nil && *p.Spec.ActiveDeadlineSeconds >= 0
}

// PodBestEffort reports whether the pod is of the BestEffort QoS class: no
// container (init containers included) requests or limits cpu or memory.
func PodBestEffort(p *Pod) bool {
	for _, cs := range [][]Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			for _, l := range []ResourceList{cs[i].Resources.Requests, cs[i].Resources.Limits} {
				for _, n := range []ResourceName{ResourceCPU, ResourceMemory} {
					if q, ok := l[n]; ok && q.Sign() > 0 {
						return false
					}
				}
			}
		}
	}
	return true
}

// QuotaConstraints checks what Kubernetes requires of a pod under a quota
// that tracks cpu or memory: every container states the request or limit
// the quota tracks. hard is the quota's status.hard.
func QuotaConstraints(hard ResourceList, p *Pod) error {
	var required []ResourceName
	for _, n := range constrainedResources {
		if _, ok := hard[n]; ok {
			required = append(required, n)
		}
	}
	if len(required) == 0 {
		return nil
	}
	missing := map[ResourceName][]string{}
	for _, cs := range [][]Container{p.Spec.Containers, p.Spec.InitContainers} {
		for i := range cs {
			u := computeUsage(ContainerRequestList(&cs[i]), cs[i].Resources.Limits)
			for _, n := range required {
				if _, ok := u[n]; !ok {
					missing[n] = append(missing[n], cs[i].Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var msgs []string
	for _, n := range required {
		if names := missing[n]; len(names) > 0 {
			sort.Strings(names)
			msgs = append(msgs, fmt.Sprintf("%s for: %s", n, strings.Join(dedupe(names), ",")))
		}
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// QuotaExceeded returns the names of requested whose used+requested goes
// over hard, sorted; empty means the request fits.
func QuotaExceeded(hard, used, requested ResourceList) []ResourceName {
	var out []ResourceName
	for _, n := range SortedResourceNames(requested) {
		h, ok := hard[n]
		if !ok {
			continue
		}
		total := used[n].DeepCopy()
		total.Add(requested[n])
		if total.Cmp(h) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// FormatResources prints a list as Kubernetes' quota messages do:
// name=value pairs sorted by name and joined by commas.
func FormatResources(l ResourceList) string {
	parts := make([]string, 0, len(l))
	for _, n := range SortedResourceNames(l) {
		q := l[n]
		parts = append(parts, string(n)+"="+q.String())
	}
	return strings.Join(parts, ",")
}

// NewForbiddenFor says that a request on the named object of resource is
// forbidden, in Kubernetes' words: `pods "x" is forbidden: <why>`.
func NewForbiddenFor(res, name string, why error) *StatusError {
	msg := fmt.Sprintf("%s %q is forbidden: %v", res, name, why)
	if name == "" {
		msg = fmt.Sprintf("%s is forbidden: %v", res, why)
	}
	e := NewForbidden(msg)
	e.Status.Details = &StatusDetails{Kind: res, Name: name}
	return e
}
