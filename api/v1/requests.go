package v1

import (
	"math"
	"sort"
)

// Requests is what a pod asks of a node, or what a node offers: CPU in
// millicores, memory in bytes, a pod count, and extended resources
// (domain-prefixed names such as example.com/gpu, in whole units). The sums
// saturate at math.MaxInt64 rather than overflow, so no count of pods can
// wrap a node's usage around to a small number.
type Requests struct {
	MilliCPU int64
	Memory   int64
	Pods     int64
	// Extended holds the extended resources asked for or offered; nil when none.
	Extended map[ResourceName]int64
}

// addSat returns a+b, saturating at the int64 range (both are >= 0 or
// Unlimited in practice; validation bounds every quantity).
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// Add returns r + o.
func (r Requests) Add(o Requests) Requests {
	out := Requests{MilliCPU: addSat(r.MilliCPU, o.MilliCPU), Memory: addSat(r.Memory, o.Memory), Pods: addSat(r.Pods, o.Pods)}
	if len(r.Extended) > 0 || len(o.Extended) > 0 {
		out.Extended = make(map[ResourceName]int64, len(r.Extended)+len(o.Extended))
		for k, v := range r.Extended {
			out.Extended[k] = v
		}
		for k, v := range o.Extended {
			out.Extended[k] = addSat(out.Extended[k], v)
		}
	}
	return out
}

// Equal reports whether r and o ask for or offer the same.
func (r Requests) Equal(o Requests) bool {
	if r.MilliCPU != o.MilliCPU || r.Memory != o.Memory || r.Pods != o.Pods || len(r.Extended) != len(o.Extended) {
		return false
	}
	for k, v := range r.Extended {
		if w, ok := o.Extended[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// PodRequests returns what a pod asks for, as Kubernetes counts it: the sum
// of its containers' requests (a limit stands in for a missing request), at
// least the largest init container's, and one pod.
func PodRequests(p *Pod) Requests {
	var sum Requests
	for i := range p.Spec.Containers {
		sum = sum.Add(containerRequests(&p.Spec.Containers[i]))
	}
	for i := range p.Spec.InitContainers {
		c := containerRequests(&p.Spec.InitContainers[i])
		sum.MilliCPU = max(sum.MilliCPU, c.MilliCPU)
		sum.Memory = max(sum.Memory, c.Memory)
		for k, v := range c.Extended {
			if v > sum.Extended[k] {
				if sum.Extended == nil {
					sum.Extended = map[ResourceName]int64{}
				}
				sum.Extended[k] = v
			}
		}
	}
	sum.Pods = 1
	return sum
}

func containerRequests(c *Container) Requests {
	get := func(name ResourceName) (Quantity, bool) {
		if q, ok := c.Resources.Requests[name]; ok {
			return q, true
		}
		q, ok := c.Resources.Limits[name]
		return q, ok
	}
	var r Requests
	if q, ok := get(ResourceCPU); ok {
		r.MilliCPU = milliValue(q)
	}
	if q, ok := get(ResourceMemory); ok {
		r.Memory = value(q)
	}
	for _, list := range []ResourceList{c.Resources.Requests, c.Resources.Limits} {
		for name := range list {
			if !IsExtendedResourceName(name) {
				continue
			}
			if r.Extended == nil {
				r.Extended = map[ResourceName]int64{}
			}
			if _, seen := r.Extended[name]; !seen {
				q, _ := get(name)
				r.Extended[name] = value(q)
			}
		}
	}
	return r
}

// Unlimited marks a resource a node does not report: it does not limit placement.
const Unlimited = int64(-1)

// NodeAllocatable returns what a node offers to pods: its allocatable (or,
// failing that, its capacity). CPU, memory or pods the node reports in
// neither are Unlimited, so a bare Node made by hand still takes pods; an
// extended resource it does not report, it does not offer.
func NodeAllocatable(n *Node) Requests {
	get := func(name ResourceName) (Quantity, bool) {
		if q, ok := n.Status.Allocatable[name]; ok {
			return q, true
		}
		q, ok := n.Status.Capacity[name]
		return q, ok
	}
	r := Requests{MilliCPU: Unlimited, Memory: Unlimited, Pods: Unlimited}
	if q, ok := get(ResourceCPU); ok {
		r.MilliCPU = milliValue(q)
	}
	if q, ok := get(ResourceMemory); ok {
		r.Memory = value(q)
	}
	if q, ok := get(ResourcePods); ok {
		r.Pods = value(q)
	}
	for _, list := range []ResourceList{n.Status.Capacity, n.Status.Allocatable} {
		for name := range list {
			if IsExtendedResourceName(name) {
				if r.Extended == nil {
					r.Extended = map[ResourceName]int64{}
				}
				q, _ := get(name)
				r.Extended[name] = value(q)
			}
		}
	}
	return r
}

// Insufficient names the resources of which used+want exceeds offer, in the
// words of the scheduler's messages ("cpu", "memory", "pods", then extended
// resources by name).
func Insufficient(offer, used, want Requests) []string {
	var out []string
	if offer.MilliCPU != Unlimited && addSat(used.MilliCPU, want.MilliCPU) > offer.MilliCPU {
		out = append(out, "cpu")
	}
	if offer.Memory != Unlimited && addSat(used.Memory, want.Memory) > offer.Memory {
		out = append(out, "memory")
	}
	if offer.Pods != Unlimited && addSat(used.Pods, want.Pods) > offer.Pods {
		out = append(out, "pods")
	}
	var ext []string
	for name, n := range want.Extended {
		if n > 0 && addSat(used.Extended[name], n) > offer.Extended[name] {
			ext = append(ext, string(name))
		}
	}
	sort.Strings(ext)
	return append(out, ext...)
}

// Terminal reports whether a pod has finished (its resources are free again).
func (p *Pod) Terminal() bool {
	return p.Status.Phase == PodSucceeded || p.Status.Phase == PodFailed
}
