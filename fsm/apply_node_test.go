package fsm

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func createNode(t *testing.T, f *FSM, index uint64, name, podCIDR, clusterCIDR string, mask int) (*v1.Node, error) {
	t.Helper()
	n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name}, Spec: v1.NodeSpec{PodCIDR: podCIDR}}
	cmd, err := NewCreateNode(n, clusterCIDR, mask)
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, index, cmd).(Result)
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Record.Object().(*v1.Node), nil
}

func TestCreateNodeAllocatesPodCIDR(t *testing.T) {
	f := NewTestFSM(t)
	idx := uint64(0)
	next := func() uint64 { idx++; return idx }
	want := map[string]string{"a": "10.244.0.0/24", "b": "10.244.1.0/24", "c": "10.244.2.0/24"}
	for _, name := range []string{"a", "b", "c"} {
		n, err := createNode(t, f, next(), name, "", "10.244.0.0/16", 24)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if n.Spec.PodCIDR != want[name] || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != want[name] {
			t.Errorf("node %s podCIDR = %q %v, want %s", name, n.Spec.PodCIDR, n.Spec.PodCIDRs, want[name])
		}
		if n.ResourceVersion == "" {
			t.Errorf("node %s has no resourceVersion", name)
		}
	}
	// A node that names its own CIDR keeps it, and nobody else gets it.
	n, err := createNode(t, f, next(), "fixed", "10.244.3.0/24", "10.244.0.0/16", 24)
	if err != nil || n.Spec.PodCIDR != "10.244.3.0/24" {
		t.Fatalf("fixed node: %v %v", n, err)
	}
	// Freed subnets are reused, lowest first.
	del, _ := Encode(DeleteCommand, DeleteRequest{Resource: "nodes", Name: "b", Now: v1.NewTime(time.Unix(1, 0))})
	if res := ApplyCommand(t, f, next(), del).(Result); res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, tc := range []struct{ name, want string }{{"d", "10.244.1.0/24"}, {"e", "10.244.4.0/24"}} {
		n, err := createNode(t, f, next(), tc.name, "", "10.244.0.0/16", 24)
		if err != nil || n.Spec.PodCIDR != tc.want {
			t.Errorf("node %s: podCIDR %v err %v, want %s", tc.name, n, err, tc.want)
		}
	}
	// A name taken is refused before anything is allocated.
	if _, err := createNode(t, f, next(), "a", "", "10.244.0.0/16", 24); !v1.IsAlreadyExists(err) {
		t.Errorf("duplicate node: %v, want AlreadyExists", err)
	}
}

func TestCreateNodeAllocationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cluster string
		mask, ok      int
	}{
		{"a /16 cannot hold a /8", "10.9.0.0/16", 8, 0},
		{"not a CIDR", "10.9.0.0", 24, 0},
		{"IPv6 is not supported", "fd00::/64", 120, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewTestFSM(t)
			i := 0
			for ; i < 5; i++ {
				if _, err := createNode(t, f, uint64(i+1), string(rune('a'+i)), "", tc.cluster, tc.mask); err != nil {
					if code := v1.CodeOf(err); code != 400 && code != 422 {
						t.Errorf("error code %d (%v), want 400 or 422", code, err)
					}
					break
				}
			}
			if i != tc.ok {
				t.Errorf("%d nodes created, want %d", i, tc.ok)
			}
			if got, err := f.Store().List("nodes", ListOptions{}); err != nil || len(got.Items) != tc.ok {
				t.Errorf("store holds %d nodes (%v), want %d", len(got.Items), err, tc.ok)
			}
		})
	}
}

// A cluster CIDR with every subnet taken still registers nodes, as
// Kubernetes does: without a pod CIDR, until the leader's node IPAM gives
// them one; the update that does is checked against the other nodes.
func TestCreateNodePastTheClusterCIDR(t *testing.T) {
	f := NewTestFSM(t)
	var cidrs []string
	for i := 0; i < 4; i++ {
		n, err := createNode(t, f, uint64(i+1), string(rune('a'+i)), "", "10.9.0.0/23", 24)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		cidrs = append(cidrs, n.Spec.PodCIDR)
	}
	if want := []string{"10.9.0.0/24", "10.9.1.0/24", "", ""}; !slices.Equal(cidrs, want) {
		t.Fatalf("pod CIDRs %q, want %q", cidrs, want)
	}
	rec, err := f.Store().Get("nodes", "", "c")
	if err != nil {
		t.Fatal(err)
	}
	c := v1.DeepCopy(rec.Object().(*v1.Node))
	c.Spec.PodCIDR, c.Spec.PodCIDRs = "10.9.1.0/24", []string{"10.9.1.0/24"}
	cmd, err := NewUpdate(c, false)
	if err != nil {
		t.Fatal(err)
	}
	if res := ApplyCommand(t, f, 5, cmd).(Result); res.Err == nil || !strings.Contains(res.Err.Error(), "overlaps the pod CIDR 10.9.1.0/24 of node b") {
		t.Fatalf("taking node b's subnet: %v, want an overlap error", res.Err)
	}
	// Entries of the older command keep their meaning on replay: refused.
	raw, _ := json.Marshal(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: "e", UID: "uid-e"}})
	old, err := Encode(CreateNodeCommand, CreateNodeRequest{ClusterCIDR: "10.9.0.0/23", MaskSize: 24, Object: raw})
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, 6, old).(Result)
	if v1.CodeOf(res.Err) != 422 || !strings.Contains(res.Err.Error(), "no free /24 left in cluster CIDR 10.9.0.0/23") {
		t.Fatalf("CreateNodeCommand past the cluster CIDR: %v, want 422 no free /24", res.Err)
	}
	if _, err := f.Store().Get("nodes", "", "e"); !v1.IsNotFound(err) {
		t.Fatalf("the refused node is stored: %v", err)
	}
}

// A node keeps the pod CIDR it was given: an update that changes it is
// refused and changes nothing; one that leaves it out keeps it.
func TestUpdateNodeKeepsPodCIDR(t *testing.T) {
	f := NewTestFSM(t)
	n, err := createNode(t, f, 1, "a", "", "10.244.0.0/16", 24)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createNode(t, f, 2, "b", "", "10.244.0.0/16", 24); err != nil {
		t.Fatal(err)
	}
	update := func(index uint64, spec v1.NodeSpec) Result {
		t.Helper()
		next := v1.DeepCopy(n)
		next.Spec = spec
		next.ResourceVersion = ""
		cmd, err := NewUpdate(next, false)
		if err != nil {
			t.Fatal(err)
		}
		return ApplyCommand(t, f, index, cmd).(Result)
	}
	for i, spec := range []v1.NodeSpec{
		{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}, // node b's
		{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24", "10.99.0.0/24"}},
		{PodCIDRs: []string{"10.244.7.0/24"}},
	} {
		res := update(uint64(3+i), spec)
		wantErr(t, res.Err, v1.IsInvalid, "Invalid")
		if !strings.Contains(res.Err.Error(), `node updates may not change podCIDR except from "" to valid`) {
			t.Errorf("%+v: %v", spec, res.Err)
		}
	}
	got, err := f.Store().Get("nodes", "", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Meta().ResourceVersion != n.ResourceVersion {
		t.Fatalf("refused updates changed the node: resourceVersion %s, was %s", got.Meta().ResourceVersion, n.ResourceVersion)
	}
	res := update(10, v1.NodeSpec{Unschedulable: true})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if s := res.Record.Object().(*v1.Node).Spec; s.PodCIDR != "10.244.0.0/24" || len(s.PodCIDRs) != 1 || s.PodCIDRs[0] != "10.244.0.0/24" || !s.Unschedulable {
		t.Fatalf("an update without podCIDR: spec %+v, want the stored CIDR kept", s)
	}
}

func TestFreePodCIDR(t *testing.T) {
	nodes := func(cidrs ...string) func(func(*v1.Node) bool) {
		return func(yield func(*v1.Node) bool) {
			for _, c := range cidrs {
				if !yield(&v1.Node{Spec: v1.NodeSpec{PodCIDR: c}}) {
					return
				}
			}
		}
	}
	for _, tc := range []struct {
		name, cluster string
		mask          int
		used          []string
		want, err     string
	}{
		{"empty", "10.244.0.0/16", 24, nil, "10.244.0.0/24", ""},
		{"lowest hole", "10.244.0.0/16", 24, []string{"10.244.0.0/24", "10.244.2.0/24"}, "10.244.1.0/24", ""},
		{"a wider subnet covers several", "10.244.0.0/16", 24, []string{"10.244.0.0/23"}, "10.244.2.0/24", ""},
		{"outside the cluster CIDR is ignored", "10.244.0.0/23", 24, []string{"10.1.0.0/24"}, "10.244.0.0/24", ""},
		{"a subnet wider than the cluster takes it all", "10.244.0.0/23", 24, []string{"10.0.0.0/8"}, "", "no free /24 left in cluster CIDR 10.244.0.0/23"},
		{"full", "10.244.0.0/23", 24, []string{"10.244.0.0/24", "10.244.1.0/24"}, "", "no free /24 left in cluster CIDR 10.244.0.0/23"},
		{"at the top of the address space", "255.255.254.0/23", 24, []string{"255.255.254.0/24"}, "255.255.255.0/24", ""},
		{"bad mask", "10.244.0.0/16", 8, nil, "", "does not fit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FreePodCIDR(tc.cluster, tc.mask, nodes(tc.used...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("FreePodCIDR = %q, %v; want error %q", got, err, tc.err)
				}
				if strings.Contains(tc.err, "no free") && !errors.Is(err, ErrPodCIDRsExhausted) {
					t.Fatalf("error %v does not wrap ErrPodCIDRsExhausted", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FreePodCIDR = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
