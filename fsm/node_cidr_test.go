package fsm

import (
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A node that names its own pod CIDR at registration gets it only when the
// CIDR lies inside the cluster CIDR and overlaps no other node's; a refused
// create stores nothing.
func TestCreateNodeChecksNamedPodCIDR(t *testing.T) {
	const cluster = "10.244.0.0/16"
	cases := []struct {
		name, cidr string
		want       string // "" = created; else a part of the message
	}{
		{"free subnet inside", "10.244.9.0/24", ""},
		{"smaller free subnet inside", "10.244.9.128/25", ""},
		{"same as another node's", "10.244.0.0/24", "overlaps the pod CIDR 10.244.0.0/24 of node a"},
		{"inside another node's", "10.244.1.128/25", "overlaps the pod CIDR 10.244.1.0/24 of node b"},
		{"holding another node's", "10.244.0.0/23", "overlaps the pod CIDR"},
		{"outside the cluster CIDR", "10.96.0.0/24", "must be inside the cluster CIDR 10.244.0.0/16"},
		{"loopback", "127.0.0.0/24", "must be inside the cluster CIDR"},
		{"larger than the cluster CIDR", "10.0.0.0/8", "must be inside the cluster CIDR"},
		{"host bits set", "10.244.9.1/24", "must not have bits set beyond the prefix length"},
		{"not a CIDR", "10.244.9.0", "must be a valid CIDR value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := NewTestFSM(t)
			for i, name := range []string{"a", "b"} {
				if _, err := createNode(t, f, uint64(i+1), name, "", cluster, 24); err != nil {
					t.Fatal(err)
				}
			}
			n, err := createNode(t, f, 3, "c", c.cidr, cluster, 24)
			if c.want == "" {
				if err != nil || n.Spec.PodCIDR != c.cidr {
					t.Fatalf("node c: %v, %v; want podCIDR %s", n, err, c.cidr)
				}
				return
			}
			wantErr(t, err, v1.IsInvalid, "Invalid")
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			if _, err := f.Store().Get("nodes", "", "c"); !v1.IsNotFound(err) {
				t.Fatalf("refused node stored: %v", err)
			}
		})
	}
}

// A node created without a pod CIDR (as before the FSM allocated one) may
// set one by update, from "" to valid as in Kubernetes, but not one that
// overlaps another node's.
func TestUpdateNodeSetsPodCIDROnce(t *testing.T) {
	f := NewTestFSM(t)
	if _, err := createNode(t, f, 1, "a", "", "10.244.0.0/16", 24); err != nil {
		t.Fatal(err)
	}
	bare := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "old", UID: "uid-old"}}
	cmd, err := NewCreate(bare)
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, 2, cmd).(Result)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	stored := res.Record.Object().(*v1.Node)
	set := func(index uint64, cidr string) Result {
		t.Helper()
		next := v1.DeepCopy(stored)
		next.Spec.PodCIDR, next.Spec.PodCIDRs = cidr, []string{cidr}
		next.ResourceVersion = ""
		cmd, err := NewUpdate(next, false)
		if err != nil {
			t.Fatal(err)
		}
		return ApplyCommand(t, f, index, cmd).(Result)
	}
	for i, cidr := range []string{"10.244.0.0/24", "10.244.0.0/16", "10.244.0.64/26"} {
		res := set(uint64(3+i), cidr)
		wantErr(t, res.Err, v1.IsInvalid, "Invalid")
		if !strings.Contains(res.Err.Error(), "overlaps the pod CIDR 10.244.0.0/24 of node a") {
			t.Fatalf("%s: %v", cidr, res.Err)
		}
	}
	got, err := f.Store().Get("nodes", "", "old")
	if err != nil || got.Meta().ResourceVersion != stored.ResourceVersion {
		t.Fatalf("refused updates changed the node: %v %v", got, err)
	}
	res = set(10, "10.244.5.0/24")
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	stored = res.Record.Object().(*v1.Node)
	// Once set, it is immutable.
	res = set(11, "10.244.6.0/24")
	if res.Err == nil || !strings.Contains(res.Err.Error(), `node updates may not change podCIDR except from "" to valid`) {
		t.Fatalf("moving a set pod CIDR: %v", res.Err)
	}
}
