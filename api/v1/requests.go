package v1

// Requests is what a pod asks of a node, or what a node offers: CPU in
// millicores, memory in bytes, and a pod count.
type Requests struct {
	MilliCPU int64
	Memory   int64
	Pods     int64
}

// Add returns r + o.
func (r Requests) Add(o Requests) Requests {
	return Requests{MilliCPU: r.MilliCPU + o.MilliCPU, Memory: r.Memory + o.Memory, Pods: r.Pods + o.Pods}
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
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := get(ResourceMemory); ok {
		r.Memory = q.Value()
	}
	return r
}

// Unlimited marks a resource a node does not report: it does not limit placement.
const Unlimited = int64(-1)

// NodeAllocatable returns what a node offers to pods: its allocatable (or,
// failing that, its capacity). A resource the node reports in neither is
// Unlimited, so a bare Node made by hand still takes pods.
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
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := get(ResourceMemory); ok {
		r.Memory = q.Value()
	}
	if q, ok := get(ResourcePods); ok {
		r.Pods = q.Value()
	}
	return r
}

// Insufficient names the resources of which used+want exceeds offer, in the
// words of the scheduler's messages ("cpu", "memory", "pods").
func Insufficient(offer, used, want Requests) []string {
	var out []string
	if offer.MilliCPU != Unlimited && used.MilliCPU+want.MilliCPU > offer.MilliCPU {
		out = append(out, "cpu")
	}
	if offer.Memory != Unlimited && used.Memory+want.Memory > offer.Memory {
		out = append(out, "memory")
	}
	if offer.Pods != Unlimited && used.Pods+want.Pods > offer.Pods {
		out = append(out, "pods")
	}
	return out
}

// Terminal reports whether a pod has finished (its resources are free again).
func (p *Pod) Terminal() bool {
	return p.Status.Phase == PodSucceeded || p.Status.Phase == PodFailed
}
