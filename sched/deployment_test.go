package sched

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

func testDeployment(replicas int32, surge, unavailable string) *v1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	d := &v1.Deployment{
		ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "d-uid", Generation: 1, ResourceVersion: "5"},
		Spec: v1.DeploymentSpec{Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox:1"}}}},
			Strategy: v1.DeploymentStrategy{Type: v1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &v1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u}}},
	}
	v1.Default(d)
	return d
}

func TestComputeHash(t *testing.T) {
	d := testDeployment(3, "25%", "25%")
	h1, err := ComputeHash(&d.Spec.Template, nil)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := ComputeHash(v1.DeepCopy(d).PodTemplate(), nil) // another copy hashes the same
	one := int32(1)
	h3, _ := ComputeHash(&d.Spec.Template, &one)
	other := v1.DeepCopy(d)
	other.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	h4, _ := ComputeHash(&other.Spec.Template, nil)
	if h1 != h2 {
		t.Errorf("hash not stable: %s %s", h1, h2)
	}
	if h1 == h3 || h1 == h4 || h3 == h4 {
		t.Errorf("hashes collide: template %s, collision 1 %s, other image %s", h1, h3, h4)
	}
	for _, c := range h1 {
		if !slices.Contains([]rune("bcdfghjklmnpqrstvwxz2456789"), c) {
			t.Errorf("hash %q has %q, not a SafeEncodeString character", h1, c)
		}
	}
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
	}{
		{"25%", "25%", 30, 8, 7}, // surge rounds up, unavailable down
		{"25%", "25%", 4, 1, 1},
		{"25%", "25%", 1, 1, 0},
		{"0", "10%", 5, 0, 1}, // both 0 after rounding: unavailable 1
		{"0%", "0%", 5, 0, 1},
		{"3", "2", 10, 3, 2},
		{"100%", "0", 10, 10, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%d", tt.surge, tt.unavailable, tt.desired), func(t *testing.T) {
			s, u := intstr.Parse(tt.surge), intstr.Parse(tt.unavailable)
			gs, gu := ResolveFenceposts(&s, &u, tt.desired)
			if gs != tt.wantS || gu != tt.wantU {
				t.Errorf("= %d, %d; want %d, %d", gs, gu, tt.wantS, tt.wantU)
			}
		})
	}
}

func deployRS(name string, replicas, available int32, rev int, created time.Time) *v1.ReplicaSet {
	yes := true
	rs := &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: name + "-uid", Generation: 1,
		ResourceVersion: "1", CreationTimestamp: v1.NewTime(created),
		Labels:          map[string]string{"app": "web"},
		Annotations:     map[string]string{v1.RevisionAnnotation: strconv.Itoa(rev)},
		OwnerReferences: []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d-uid", Controller: &yes}}},
		Spec:   v1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: v1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available, ObservedGeneration: 1}}
	return rs
}

func TestNewRSNewReplicas(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name     string
		replicas int32
		old, cur int32
		surge    string
		want     int32
	}{
		{"first step within surge", 30, 30, 0, "25%", 8},
		{"total at the surge bound", 30, 30, 8, "25%", 8},
		{"never beyond replicas", 4, 1, 3, "100%", 4},
		{"old scaled down makes room", 30, 22, 8, "25%", 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(tt.replicas, tt.surge, "25%")
			old, nw := deployRS("old", tt.old, tt.old, 1, t0), deployRS("new", tt.cur, 0, 2, t0.Add(time.Second))
			if got := NewRSNewReplicas(d, []*v1.ReplicaSet{old, nw}, nw); got != tt.want {
				t.Errorf("= %d, want %d", got, tt.want)
			}
		})
	}
}

func TestProportionalSizes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	annotate := func(rs *v1.ReplicaSet, maxReplicas int32) *v1.ReplicaSet {
		setReplicasAnnotations(rs, 10, maxReplicas)
		return rs
	}
	tests := []struct {
		name     string
		replicas int32
		sets     []*v1.ReplicaSet
		want     []int32
	}{
		// 10 replicas, surge 3 (25% up): 13 in all, 8 old + 5 new. Scaled
		// to 20 (surge 5): 25 allowed, 12 to add, shared 8:5.
		{"scale up mid-rollout", 20, []*v1.ReplicaSet{annotate(deployRS("old", 8, 8, 1, t0), 13), annotate(deployRS("new", 5, 0, 2, t0.Add(time.Second)), 13)},
			[]int32{15, 10}},
		// Scaled down to 5 (surge 2): 7 allowed, 6 to remove.
		{"scale down mid-rollout", 5, []*v1.ReplicaSet{annotate(deployRS("old", 8, 8, 1, t0), 13), annotate(deployRS("new", 5, 0, 2, t0.Add(time.Second)), 13)},
			[]int32{4, 3}},
		{"scale to zero", 0, []*v1.ReplicaSet{annotate(deployRS("old", 8, 8, 1, t0), 13), annotate(deployRS("new", 5, 0, 2, t0.Add(time.Second)), 13)},
			[]int32{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDeployment(tt.replicas, "25%", "25%")
			var allowed int32
			if tt.replicas > 0 {
				allowed = tt.replicas + MaxSurge(d)
			}
			toAdd := allowed - specReplicaSum(tt.sets)
			if toAdd > 0 {
				slices.SortFunc(tt.sets, bySizeNewer)
			} else {
				slices.SortFunc(tt.sets, bySizeOlder)
			}
			got := ProportionalSizes(d, tt.sets, toAdd)
			if !slices.Equal(got, tt.want) {
				t.Errorf("sizes = %v, want %v", got, tt.want)
			}
			var sum int32
			for _, n := range got {
				sum += n
			}
			if sum != allowed {
				t.Errorf("sum %d, want %d", sum, allowed)
			}
		})
	}
}
