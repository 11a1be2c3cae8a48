package v1

import (
	"math"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func rl(kv ...string) ResourceList {
	out := ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestPodRequests(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		Containers: []Container{
			{Name: "a", Resources: ResourceRequirements{Requests: rl("cpu", "250m", "memory", "64Mi")}},
			{Name: "b", Resources: ResourceRequirements{Limits: rl("cpu", "1", "memory", "1Gi")}}, // limits stand in
			{Name: "c"},
		},
		InitContainers: []Container{{Name: "i", Resources: ResourceRequirements{Requests: rl("cpu", "2")}}},
	}}
	got := PodRequests(p)
	want := Requests{MilliCPU: 2000, Memory: 64<<20 + 1<<30, Pods: 1}
	if !got.Equal(want) {
		t.Fatalf("PodRequests = %+v, want %+v", got, want)
	}
}

func TestNodeAllocatableAndInsufficient(t *testing.T) {
	n := &Node{Status: NodeStatus{Capacity: rl("cpu", "4", "memory", "8Gi", "pods", "110"), Allocatable: rl("cpu", "3500m")}}
	offer := NodeAllocatable(n)
	if !offer.Equal(Requests{MilliCPU: 3500, Memory: 8 << 30, Pods: 110}) {
		t.Fatalf("allocatable = %+v", offer)
	}
	if bare := NodeAllocatable(&Node{}); !bare.Equal(Requests{MilliCPU: Unlimited, Memory: Unlimited, Pods: Unlimited}) {
		t.Fatalf("bare node = %+v", bare)
	}
	tests := []struct {
		used, want Requests
		short      []string
	}{
		{Requests{MilliCPU: 3000, Memory: 1 << 30, Pods: 10}, Requests{MilliCPU: 500, Memory: 1 << 30, Pods: 1}, nil},
		{Requests{MilliCPU: 3000, Memory: 1 << 30, Pods: 10}, Requests{MilliCPU: 501, Memory: 1 << 30, Pods: 1}, []string{"cpu"}},
		{Requests{Memory: 8 << 30, Pods: 109}, Requests{Memory: 1, Pods: 2}, []string{"memory", "pods"}},
	}
	for _, tt := range tests {
		if got := Insufficient(offer, tt.used, tt.want); !slices.Equal(got, tt.short) {
			t.Errorf("Insufficient(%+v + %+v) = %v, want %v", tt.used, tt.want, got, tt.short)
		}
	}
}

// Sums saturate instead of wrapping: no number of large pods makes a node
// look empty, and no request reads as negative.
func TestRequestsSaturate(t *testing.T) {
	huge := Requests{MilliCPU: math.MaxInt64 - 1, Memory: math.MaxInt64, Pods: 1, Extended: map[ResourceName]int64{"example.com/gpu": math.MaxInt64}}
	sum := huge.Add(huge)
	if sum.MilliCPU != math.MaxInt64 || sum.Memory != math.MaxInt64 || sum.Pods != 2 || sum.Extended["example.com/gpu"] != math.MaxInt64 {
		t.Fatalf("sum = %+v", sum)
	}
	offer := Requests{MilliCPU: 2000, Memory: 1 << 30, Pods: 110, Extended: map[ResourceName]int64{"example.com/gpu": 2}}
	if got := Insufficient(offer, huge, Requests{MilliCPU: 1, Memory: 1, Pods: 1}); !slices.Equal(got, []string{"cpu", "memory"}) {
		t.Errorf("Insufficient = %v", got)
	}
	// A quantity above the bounds reads as saturated, never as negative.
	p := &Pod{Spec: PodSpec{Containers: []Container{{Name: "a", Resources: ResourceRequirements{Requests: rl("cpu", "9223372036854776", "memory", "1e30")}}}}}
	if r := PodRequests(p); r.MilliCPU != math.MaxInt64 || r.Memory != math.MaxInt64 {
		t.Errorf("PodRequests of huge quantities = %+v", r)
	}
}

// Extended resources are counted against what the node offers; a node that
// does not report one offers none of it.
func TestExtendedResources(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		Containers: []Container{
			{Name: "a", Resources: ResourceRequirements{Limits: rl("example.com/gpu", "2")}},
			{Name: "b", Resources: ResourceRequirements{Requests: rl("example.com/gpu", "1"), Limits: rl("example.com/gpu", "1")}},
		},
		InitContainers: []Container{{Name: "i", Resources: ResourceRequirements{Limits: rl("example.com/gpu", "4")}}},
	}}
	want := PodRequests(p)
	if want.Extended["example.com/gpu"] != 4 {
		t.Fatalf("PodRequests = %+v, want 4 GPUs (the init container's)", want)
	}
	withGPUs := NodeAllocatable(&Node{Status: NodeStatus{Capacity: rl("example.com/gpu", "4")}})
	if got := Insufficient(withGPUs, Requests{}, want); len(got) != 0 {
		t.Errorf("node with 4 GPUs: insufficient %v", got)
	}
	if got := Insufficient(withGPUs, Requests{Extended: map[ResourceName]int64{"example.com/gpu": 1}}, want); !slices.Equal(got, []string{"example.com/gpu"}) {
		t.Errorf("node with 3 GPUs free: insufficient %v", got)
	}
	if got := Insufficient(NodeAllocatable(&Node{}), Requests{}, want); !slices.Equal(got, []string{"example.com/gpu"}) {
		t.Errorf("node without GPUs: insufficient %v", got)
	}
}

func TestIsExtendedResourceName(t *testing.T) {
	for name, want := range map[ResourceName]bool{
		"example.com/gpu": true, "nvidia.com/gpu": true, "cpu": false, "foo": false,
		"kubernetes.io/foo": false, "node.kubernetes.io/x": false, "requests.example.com/gpu": false, "example.com/": false,
	} {
		if got := IsExtendedResourceName(name); got != want {
			t.Errorf("IsExtendedResourceName(%q) = %v, want %v", name, got, want)
		}
	}
}
