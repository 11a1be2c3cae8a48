package v1

import (
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
	if got != want {
		t.Fatalf("PodRequests = %+v, want %+v", got, want)
	}
}

func TestNodeAllocatableAndInsufficient(t *testing.T) {
	n := &Node{Status: NodeStatus{Capacity: rl("cpu", "4", "memory", "8Gi", "pods", "110"), Allocatable: rl("cpu", "3500m")}}
	offer := NodeAllocatable(n)
	if offer != (Requests{MilliCPU: 3500, Memory: 8 << 30, Pods: 110}) {
		t.Fatalf("allocatable = %+v", offer)
	}
	if bare := NodeAllocatable(&Node{}); bare != (Requests{Unlimited, Unlimited, Unlimited}) {
		t.Fatalf("bare node = %+v", bare)
	}
	tests := []struct {
		used, want Requests
		short      []string
	}{
		{Requests{3000, 1 << 30, 10}, Requests{500, 1 << 30, 1}, nil},
		{Requests{3000, 1 << 30, 10}, Requests{501, 1 << 30, 1}, []string{"cpu"}},
		{Requests{0, 8 << 30, 109}, Requests{0, 1, 2}, []string{"memory", "pods"}},
	}
	for _, tt := range tests {
		if got := Insufficient(offer, tt.used, tt.want); !slices.Equal(got, tt.short) {
			t.Errorf("Insufficient(%+v + %+v) = %v, want %v", tt.used, tt.want, got, tt.short)
		}
	}
}
