package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// cidrEnv is an FSM whose nodes are registered, created with a pod CIDR of
// their own (unchecked, as an older orch stored them) and deleted.
type cidrEnv struct {
	t       testing.TB
	f       *FSM
	cluster string
	mask    int
	index   uint64
}

func newCIDREnv(t testing.TB, cluster string, mask int) *cidrEnv {
	return &cidrEnv{t: t, f: NewTestFSM(t), cluster: cluster, mask: mask}
}

func (e *cidrEnv) next() uint64 { e.index++; return e.index }

// register registers a node without a pod CIDR and returns the one it got
// ("" when none was free).
func (e *cidrEnv) register(name string) string {
	e.t.Helper()
	cmd, err := NewCreateNode(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name}}, e.cluster, e.mask)
	if err != nil {
		e.t.Fatal(err)
	}
	res := ApplyCommand(e.t, e.f, e.next(), cmd).(Result)
	if res.Err != nil {
		e.t.Fatalf("register %s: %v", name, res.Err)
	}
	return res.Record.Object().(*v1.Node).Spec.PodCIDR
}

// store creates a node with the given pod CIDRs through the plain create,
// which does not check them (what an older orch stored).
func (e *cidrEnv) store(name string, cidrs ...string) {
	e.t.Helper()
	n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name}}
	if len(cidrs) > 0 {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidrs[0], cidrs
	}
	MustCreate(e.t, e.f, e.next(), n)
}

func (e *cidrEnv) remove(name string) {
	e.t.Helper()
	del, err := Encode(DeleteCommand, DeleteRequest{Resource: "nodes", Name: name, Now: v1.NewTime(time.Unix(1, 0))})
	if err != nil {
		e.t.Fatal(err)
	}
	if res := ApplyCommand(e.t, e.f, e.next(), del).(Result); res.Err != nil {
		e.t.Fatalf("delete %s: %v", name, res.Err)
	}
}

// reference returns the n subnets FreePodCIDR gives n nodes in turn over
// every stored node, decoded.
func (e *cidrEnv) reference(n int) []string {
	e.t.Helper()
	list, err := e.f.Store().List("nodes", ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var nodes []*v1.Node
	for _, r := range list.Items {
		nodes = append(nodes, r.Object().(*v1.Node))
	}
	var out []string
	for range n {
		c, err := FreePodCIDR(e.cluster, e.mask, slices.Values(nodes))
		if err != nil {
			break
		}
		out = append(out, c)
		nodes = append(nodes, &v1.Node{Spec: v1.NodeSpec{PodCIDR: c}})
	}
	return out
}

// restored returns an FSM restored from a snapshot of e's.
func (e *cidrEnv) restored() *cidrEnv {
	e.t.Helper()
	r := &cidrEnv{t: e.t, f: NewTestFSM(e.t), cluster: e.cluster, mask: e.mask, index: e.index}
	if err := r.f.Restore(io.NopCloser(bytes.NewReader(persist(e.t, e.f).Bytes()))); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// The index's choice is FreePodCIDR's over every node, on layouts with
// gaps, CIDRs of other sizes, CIDRs that overlap (stored by an older orch),
// CIDRs outside the cluster CIDR, IPv6 and a full cluster CIDR; with the
// hint a registration leaves and without (a restored store).
func TestPodCIDRIndexChoosesAsFreePodCIDR(t *testing.T) {
	cases := []struct {
		name, cluster string
		mask          int
		nodes         [][]string // one node's pod CIDRs each
		gone          []int      // nodes deleted after they were stored
	}{
		{name: "empty", cluster: "10.244.0.0/16", mask: 24},
		{name: "dense", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/24"}, {"10.244.1.0/24"}, {"10.244.2.0/24"}}},
		{name: "gaps", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/24"}, {"10.244.2.0/24"}, {"10.244.5.0/24"}}},
		{name: "a deleted node's subnet", cluster: "10.244.0.0/16", mask: 24,
			nodes: [][]string{{"10.244.0.0/24"}, {"10.244.1.0/24"}, {"10.244.2.0/24"}}, gone: []int{1}},
		{name: "a wider CIDR", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/24"}, {"10.244.2.0/23"}, {"10.244.1.0/24"}}},
		{name: "smaller CIDRs", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/26"}, {"10.244.0.192/26"}, {"10.244.1.128/25"}}},
		{name: "nested, as an older orch stored them", cluster: "10.244.0.0/16", mask: 24,
			nodes: [][]string{{"10.244.0.0/22"}, {"10.244.1.0/24"}, {"10.244.1.0/24"}, {"10.244.4.64/26"}}},
		{name: "a CIDR holding the cluster CIDR", cluster: "10.244.0.0/23", mask: 24, nodes: [][]string{{"10.0.0.0/8"}}},
		{name: "a CIDR holding a later subnet", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/24"}, {"10.244.0.0/16"}}, gone: []int{1}},
		{name: "outside the cluster CIDR", cluster: "10.244.0.0/23", mask: 24, nodes: [][]string{{"10.1.0.0/24"}, {"10.244.2.0/24"}, {"10.243.255.0/24"}}},
		{name: "IPv6 beside", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/24", "fd00::/64"}, {"fd00:1::/64"}}},
		{name: "two IPv4 CIDRs of one node", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0/24", "10.244.3.0/24"}, {"10.244.1.0/24"}}},
		{name: "not CIDRs", cluster: "10.244.0.0/16", mask: 24, nodes: [][]string{{"10.244.0.0"}, {"garbage"}}},
		{name: "full", cluster: "10.9.0.0/23", mask: 24, nodes: [][]string{{"10.9.0.0/24"}, {"10.9.1.0/24"}}},
		{name: "full but a smaller hole", cluster: "10.9.0.0/23", mask: 24, nodes: [][]string{{"10.9.0.0/24"}, {"10.9.1.0/25"}}},
		{name: "at the top of the address space", cluster: "255.255.254.0/23", mask: 24, nodes: [][]string{{"255.255.254.0/24"}}},
		{name: "/26 subnets", cluster: "10.244.0.0/24", mask: 26, nodes: [][]string{{"10.244.0.0/26"}, {"10.244.0.128/25"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCIDREnv(t, tc.cluster, tc.mask)
			for i, cidrs := range tc.nodes {
				e.store(fmt.Sprintf("n%d", i), cidrs...)
			}
			for _, i := range tc.gone {
				e.remove(fmt.Sprintf("n%d", i))
			}
			want := e.reference(3)
			got, err := e.f.Store().FreePodCIDRs(tc.cluster, tc.mask, 3)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("FreePodCIDRs = %q, %v; want %q", got, err, want)
			}
			r := e.restored()
			// Registrations in turn, with the hint each leaves, on the
			// store and on its restored copy (no hint at first).
			for i := range 3 {
				wantOne := ""
				if i < len(want) {
					wantOne = want[i]
				}
				name := fmt.Sprintf("new%d", i)
				if got := e.register(name); got != wantOne {
					t.Fatalf("registration %d got %q, want %q", i, got, wantOne)
				}
				if got := r.register(name); got != wantOne {
					t.Fatalf("registration %d on the restored store got %q, want %q", i, got, wantOne)
				}
			}
		})
	}
}

// A long run of registrations, nodes with CIDRs of their own and deletions
// (a fixed pseudo-random sequence) chooses FreePodCIDR's subnet every time,
// also on a store restored midway; the own CIDRs that overlap another node's
// are refused as before the index, and the others accepted.
func TestPodCIDRIndexFollowsChanges(t *testing.T) {
	const cluster, mask = "10.8.0.0/20", 24 // 16 subnets
	e := newCIDREnv(t, cluster, mask)
	rng := rand.New(rand.NewPCG(1, 17))
	var names []string
	var restored *cidrEnv
	for step := range 400 {
		name := fmt.Sprintf("n%03d", step)
		envs := []*cidrEnv{e}
		if restored != nil {
			envs = append(envs, restored)
		}
		switch op := rng.IntN(10); {
		case op < 5:
			want := e.reference(1)
			for _, env := range envs {
				got := env.register(name)
				if (len(want) == 0 && got != "") || (len(want) == 1 && got != want[0]) {
					t.Fatalf("step %d: registered with %q, want %q", step, got, want)
				}
			}
			names = append(names, name)
		case op < 7:
			bits := 22 + rng.IntN(5)
			third, fourth := rng.IntN(16), 0
			if bits <= 24 {
				third &^= 1<<(24-bits) - 1
			} else {
				fourth = rng.IntN(4) * 64 &^ (1<<(32-bits) - 1)
			}
			cidr := fmt.Sprintf("10.8.%d.%d/%d", third, fourth, bits)
			overlap := overlapsStored(t, e.f.Store(), cidr)
			for _, env := range envs {
				n, err := createNode(t, env.f, env.next(), name, cidr, cluster, mask)
				switch {
				case overlap && (err == nil || !strings.Contains(err.Error(), "overlaps the pod CIDR")):
					t.Fatalf("step %d: %s overlaps a node's, created: %v %v", step, cidr, n, err)
				case !overlap && err != nil:
					t.Fatalf("step %d: %s overlaps no node's, refused: %v", step, cidr, err)
				}
			}
			if !overlap {
				names = append(names, name)
			}
		default:
			if len(names) == 0 {
				continue
			}
			i := rng.IntN(len(names))
			for _, env := range envs {
				env.remove(names[i])
			}
			names = slices.Delete(names, i, i+1)
		}
		if step == 150 {
			restored = e.restored()
		}
	}
}

// overlapsStored reports whether a stored node's pod CIDR overlaps cidr,
// read as before the index (every node decoded, net.ParseCIDR, cidrsOverlap).
func overlapsStored(t *testing.T, s *Store, cidr string) bool {
	t.Helper()
	_, sub, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List("nodes", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Items {
		for _, c := range nodeCIDRs(r.Object().(*v1.Node)) {
			if _, o, err := net.ParseCIDR(c); err == nil && cidrsOverlap(sub, o) {
				return true
			}
		}
	}
	return false
}

// The check of a node's own pod CIDR names the node whose CIDR it overlaps,
// holding it or inside it, and ignores the node's own stored one.
func TestOverlappingPodCIDR(t *testing.T) {
	e := newCIDREnv(t, "10.244.0.0/16", 24)
	e.store("a", "10.244.0.0/24")
	e.store("b", "10.244.2.0/23")
	e.store("c", "10.244.8.64/26", "fd00::/64")
	for _, tc := range []struct{ cidr, skip, node, other string }{
		{"10.244.0.0/24", "", "a", "10.244.0.0/24"},
		{"10.244.0.0/24", "a", "", ""},
		{"10.244.0.128/25", "", "a", "10.244.0.0/24"},
		{"10.244.0.0/22", "", "a", "10.244.0.0/24"},
		{"10.244.3.0/24", "", "b", "10.244.2.0/23"},
		{"10.244.8.0/24", "", "c", "10.244.8.64/26"},
		{"10.244.8.0/26", "", "", ""},
		{"10.244.1.0/24", "", "", ""},
		{"fd00::/48", "", "c", "fd00::/64"},
		{"fd00:1::/64", "", "", ""},
		{"0.0.0.0/0", "", "a", "10.244.0.0/24"},
	} {
		p, ok := parsePodCIDR(tc.cidr)
		if !ok {
			t.Fatalf("%s does not parse", tc.cidr)
		}
		r, other, err := overlappingPodCIDR(e.f.Store().db.Txn(false), p.prefix, tc.skip)
		name := ""
		if r != nil {
			name = r.Key()
		}
		if err != nil || name != tc.node || other != tc.other {
			t.Errorf("%s (skip %q): node %q CIDR %q err %v; want %q %q", tc.cidr, tc.skip, name, other, err, tc.node, tc.other)
		}
	}
}

// A node's pod CIDRs read from its bytes are the ones its decoded object
// names.
func TestReadNodePodCIDRs(t *testing.T) {
	for _, raw := range []string{
		`{"kind":"Node","metadata":{"name":"a"},"spec":{"podCIDR":"10.0.0.0/24","podCIDRs":["10.0.0.0/24","fd00::/64"]},"status":{}}`,
		`{"kind":"Node","metadata":{"name":"a","annotations":{"spec":"{\"podCIDR\":\"1.2.3.0/24\"}"}},"spec":{}}`,
		`{"kind":"Node","spec":null}`,
		`{"kind":"Node","spec":{"podCIDRs":null,"podCIDR":"10.0.1.0/24"}}`,
		`{"kind":"Node","spec":{"podCIDRs":["10.0.2.0/24"]},"status":{"addresses":[{"type":"InternalIP","address":"1.1.1.1"}]}}`,
		`{"kind":"Node"}`,
	} {
		var n v1.Node
		if err := json.Unmarshal([]byte(raw), &n); err != nil {
			t.Fatal(err)
		}
		got, ok := readNodePodCIDRs([]byte(raw))
		if want := nodeCIDRs(&n); !ok || !slices.Equal(got, want) {
			t.Errorf("%s: read %q %v, want %q", raw, got, ok, want)
		}
	}
	if _, ok := readNodePodCIDRs([]byte(`{"spec":{"podCIDR":7}}`)); ok {
		t.Error("a podCIDR that is not a string read")
	}
}

// A registration costs the same beside 1,000 and 10,000 registered nodes:
// no node is decoded (the allocations of one registration do not grow) and
// the walk from the hint steps over the same entries.
func TestRegisterNodeCostIndependentOfNodes(t *testing.T) {
	var allocs []float64
	var reads []uint64
	for _, n := range []int{1000, 10000} {
		e := newCIDREnv(t, "10.0.0.0/8", 24)
		for i := range n {
			e.register(fmt.Sprintf("old-%05d", i))
		}
		// A restored store holds every node as bytes, undecoded.
		e = e.restored()
		e.register("first") // walks once from the cluster's start
		i := 0
		allocs = append(allocs, testing.AllocsPerRun(50, func() {
			i++
			e.register(fmt.Sprintf("new-%05d", i))
		}))
		s := e.f.Store()
		before := s.RecordsRead()
		if _, err := s.FreePodCIDRs(e.cluster, e.mask, 1); err != nil {
			t.Fatal(err)
		}
		reads = append(reads, s.RecordsRead()-before)
	}
	t.Logf("allocations per registration beside 1,000 and 10,000 nodes: %v; entries walked: %v", allocs, reads)
	if allocs[1] > allocs[0]*1.1+5 {
		t.Fatalf("allocations per registration grow with the nodes: %v", allocs)
	}
	if reads[0] != reads[1] || reads[0] > 2 {
		t.Fatalf("entries walked beside 1,000 and 10,000 nodes: %v, want the same and at most 2", reads)
	}
}

// The pod CIDR indexes are rebuilt on restore: the restored store refuses
// a stored node's CIDR, lists the nodes without one, and its registrations
// choose as the original's.
func TestPodCIDRIndexSurvivesRestore(t *testing.T) {
	e := newCIDREnv(t, "10.9.0.0/23", 24)
	e.register("a")
	e.register("b")
	e.register("c") // none left
	r := e.restored()
	if _, err := createNode(t, r.f, r.next(), "d", "10.9.1.0/24", r.cluster, r.mask); err == nil || !strings.Contains(err.Error(), "overlaps the pod CIDR 10.9.1.0/24 of node b") {
		t.Fatalf("node b's CIDR on the restored store: %v", err)
	}
	waiting, err := r.f.Store().NodesWithoutPodCIDR()
	if err != nil || len(waiting) != 1 || waiting[0].Key() != "c" {
		t.Fatalf("nodes without a pod CIDR after restore: %v %v", waiting, err)
	}
	r.remove("a")
	if got, err := r.f.Store().FreePodCIDRs(r.cluster, r.mask, 2); err != nil || !slices.Equal(got, []string{"10.9.0.0/24"}) {
		t.Fatalf("free after a's removal: %q %v", got, err)
	}
	if got := r.register("e"); got != "10.9.0.0/24" {
		t.Fatalf("registration after a's removal got %q", got)
	}
}
