package fsm

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	memdb "github.com/hashicorp/go-memdb"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// The node index used to hold unbound pods under "" (oldNodeIndexSchema);
// it now holds bound pods only, and a list of the unbound ones steps over
// the pods by key. These tests hold the new answers to the old index's, on
// random stores.

// oldNodeIndexSchema is the pods table as it was before unbound pods left
// the node index: every pod indexed under its spec.nodeName, "" included.
func oldNodeIndexSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{"pods": {
		Name: "pods",
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {Name: indexID, Unique: true, Indexer: keyIndexer{key: func(r *Record) (string, bool) {
				return r.Key(), true
			}}},
			indexNode: {Name: indexNode, Indexer: keyIndexer{withID: true, key: func(r *Record) (string, bool) {
				return r.NodeName(), true
			}}},
		},
	}}}
}

// oldList is Store.List as it was on the old index, without the count of
// records read.
func oldList(txn *memdb.Txn, resource string, opts ListOptions) (ListResult, error) {
	var res ListResult
	prefix := ""
	if opts.Namespace != "" {
		prefix = opts.Namespace + "/"
	}
	var it memdb.ResultIterator
	var err error
	byNode := opts.Fields != nil && opts.Fields.HasNodeName && resource == "pods"
	switch {
	case byNode:
		it, err = txn.Get(resource, indexNode, opts.Fields.NodeName)
	case opts.After > prefix:
		it, err = txn.LowerBound(resource, indexID, opts.After)
	default:
		it, err = txn.Get(resource, indexID+"_prefix", prefix)
	}
	if err != nil {
		return res, fmt.Errorf("list %s: %w", resource, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*Record)
		key := r.Key()
		if !strings.HasPrefix(key, prefix) {
			if byNode {
				continue
			}
			break
		}
		if opts.After != "" && key <= opts.After {
			continue
		}
		if opts.Labels != nil && !opts.Labels.Matches(labels.Set(r.Meta().Labels)) {
			continue
		}
		if opts.Fields != nil && !opts.Fields.Matches(r.Object()) {
			continue
		}
		if opts.Limit > 0 && len(res.Items) == opts.Limit {
			res.Next = res.Items[len(res.Items)-1].Key()
			break
		}
		res.Items = append(res.Items, r)
	}
	return res, nil
}

// oldPodsOnNode is Store.PodsOnNode on the old index, as keys.
func oldPodsOnNode(txn *memdb.Txn, node string) ([]string, error) {
	it, err := txn.Get("pods", indexNode, node)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Record).Key())
	}
	return out, nil
}

// unboundWorld is a store and the old-schema database holding the same
// pod records, changed together.
type unboundWorld struct {
	t     *testing.T
	s     *Store
	old   *memdb.MemDB
	index uint64
	// keys are every pod key ever written (deleted ones included), for
	// the continue keys of random lists.
	keys []string
}

// randomUnboundWorld fills a world with random pods: bound and unbound,
// bound later, deleted, in namespaces whose keys sort around each other,
// as records made from objects, from bytes with their header (as a create
// or a snapshot makes them) and from bytes alone.
func randomUnboundWorld(t *testing.T, rng *rand.Rand) *unboundWorld {
	t.Helper()
	s, err := NewStore(100)
	if err != nil {
		t.Fatal(err)
	}
	old, err := memdb.NewMemDB(oldNodeIndexSchema())
	if err != nil {
		t.Fatal(err)
	}
	w := &unboundWorld{t: t, s: s, old: old}
	namespaces := []string{"a", "a-b", "ab", "b", "b0"}
	nodes := []string{"n1", "n10", "n2"}
	names := []string{"p", "p1", "p10", "p-1", "p.1", "q", "x", "y"}
	live := map[string]*Record{}
	ops := rng.IntN(60)
	for range ops {
		ns, name := namespaces[rng.IntN(len(namespaces))], names[rng.IntN(len(names))]
		key := v1.Key(ns, name)
		switch prev := live[key]; {
		case prev != nil && rng.IntN(3) == 0:
			w.write(nil, prev)
			delete(live, key)
		default:
			node := ""
			if rng.IntN(2) == 0 {
				node = nodes[rng.IntN(len(nodes))]
			}
			p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name, UID: fmt.Sprintf("uid-%d", w.index),
				Labels: map[string]string{"app": []string{"web", "db"}[rng.IntN(2)]}},
				Spec: v1.PodSpec{NodeName: node}}
			p.Status.Phase = []string{v1.PodPending, v1.PodRunning}[rng.IntN(2)]
			v1.SetTypeMeta(p)
			rec := w.record(rng, p)
			w.write(rec, prev)
			live[key] = rec
		}
	}
	return w
}

// record makes a record of p one of the three ways the store gets them.
func (w *unboundWorld) record(rng *rand.Rand, p *v1.Pod) *Record {
	raw, err := json.Marshal(p)
	if err != nil {
		w.t.Fatal(err)
	}
	res, _ := v1.ResourceByName("pods")
	switch rng.IntN(3) {
	case 0:
		return NewRecord(p, nil)
	case 1:
		return newKeyedRecord(res, raw, v1.Key(p.Namespace, p.Name), p.UID, p.Spec.NodeName)
	default:
		return NewLazyRecord(res, raw)
	}
}

// write inserts rec (over prev) or, rec nil, deletes prev, in both
// databases, and publishes the store's new view.
func (w *unboundWorld) write(rec, prev *Record) {
	w.t.Helper()
	w.index++
	for _, db := range []*memdb.MemDB{w.s.db, w.old} {
		txn := db.Txn(true)
		var err error
		if rec != nil {
			err = txn.Insert("pods", rec)
		} else {
			err = txn.Delete("pods", prev)
		}
		if err != nil {
			w.t.Fatal(err)
		}
		txn.Commit()
	}
	w.s.publish(w.index)
	if rec != nil {
		w.keys = append(w.keys, rec.Key())
	}
}

// randomListOptions returns a list of the unbound pods (a field selector
// on spec.nodeName="", maybe with more) with random other options.
func (w *unboundWorld) randomListOptions(rng *rand.Rand) ListOptions {
	w.t.Helper()
	sels := []string{"spec.nodeName=", "spec.nodeName==", "spec.nodeName=,status.phase=Pending",
		"status.phase=Running,spec.nodeName=", "spec.nodeName=,metadata.namespace=ab", "spec.nodeName=,metadata.name!=p1"}
	fs, err := v1.ParseFieldSelector("Pod", sels[rng.IntN(len(sels))])
	if err != nil {
		w.t.Fatal(err)
	}
	opts := ListOptions{Fields: fs, Limit: rng.IntN(4)}
	if rng.IntN(2) == 0 {
		opts.Namespace = []string{"a", "a-b", "ab", "b", "b0", "c", "a/"}[rng.IntN(7)]
	}
	if rng.IntN(3) == 0 {
		sel, err := labels.Parse([]string{"app=web", "app!=web", "app in (db)", "tier"}[rng.IntN(4)])
		if err != nil {
			w.t.Fatal(err)
		}
		opts.Labels = sel
	}
	if rng.IntN(3) == 0 && len(w.keys) > 0 {
		opts.After = w.keys[rng.IntN(len(w.keys))]
		if rng.IntN(4) == 0 {
			opts.After += []string{"0", "\x00", "/", "~"}[rng.IntN(4)]
		}
	}
	return opts
}

// listKeys returns the keys of a page's items.
func listKeys(res ListResult) []string {
	out := []string{}
	for _, r := range res.Items {
		out = append(out, r.Key())
	}
	return out
}

// checkUnboundEquivalent checks, on one random world, that the store lists
// the unbound pods (every page of a continued list) and returns them from
// PodsOnNode("") exactly as the old index did, and the pods of each node.
func checkUnboundEquivalent(t *testing.T, rng *rand.Rand) {
	w := randomUnboundWorld(t, rng)
	for range 20 {
		opts := w.randomListOptions(rng)
		for page := 0; ; page++ {
			got, gotErr := w.s.List("pods", opts)
			want, wantErr := oldList(w.old.Txn(false), "pods", opts)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !slices.Equal(listKeys(got), listKeys(want)) || got.Next != want.Next {
				t.Fatalf("List(%+v) page %d = %q next %q err %v, want %q next %q err %v",
					opts, page, listKeys(got), got.Next, gotErr, listKeys(want), want.Next, wantErr)
			}
			if got.Next == "" || page > 50 {
				break
			}
			opts.After = got.Next
		}
	}
	for _, node := range []string{"", "n1", "n10", "n2", "n"} {
		pods, err := w.s.PodsOnNode(node)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, p := range pods {
			got = append(got, v1.Key(p.Namespace, p.Name))
		}
		want, err := oldPodsOnNode(w.old.Txn(false), node)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("PodsOnNode(%q) = %q, want %q", node, got, want)
		}
	}
}

func TestUnboundPodsListEquivalent(t *testing.T) {
	for seed := range uint64(500) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			checkUnboundEquivalent(t, rand.New(rand.NewPCG(seed, 17)))
		})
	}
}

func FuzzUnboundPodsListEquivalent(f *testing.F) {
	for _, seed := range []uint64{0, 1, 2, 42} {
		f.Add(seed, uint64(17))
	}
	f.Fuzz(func(t *testing.T, a, b uint64) {
		checkUnboundEquivalent(t, rand.New(rand.NewPCG(a, b)))
	})
}

// TestUnboundPodsListReadsNoObject checks that listing the unbound pods
// decodes none of the bound ones: their nodeName comes from the record's
// header.
func TestUnboundPodsListReadsNoObject(t *testing.T) {
	w := &unboundWorld{t: t}
	var err error
	if w.s, err = NewStore(100); err != nil {
		t.Fatal(err)
	}
	if w.old, err = memdb.NewMemDB(oldNodeIndexSchema()); err != nil {
		t.Fatal(err)
	}
	res, _ := v1.ResourceByName("pods")
	var bound []*Record
	for i, node := range []string{"n1", "", "n2", "", "n1"} {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Namespace: "a", Name: fmt.Sprintf("p%d", i), UID: fmt.Sprint(i)}, Spec: v1.PodSpec{NodeName: node}}
		v1.SetTypeMeta(p)
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		rec := newKeyedRecord(res, raw, v1.Key(p.Namespace, p.Name), p.UID, node)
		w.write(rec, nil)
		if node != "" {
			bound = append(bound, rec)
		}
	}
	fs, err := v1.ParseFieldSelector("Pod", "spec.nodeName=")
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.s.List("pods", ListOptions{Fields: fs})
	if err != nil {
		t.Fatal(err)
	}
	if keys := listKeys(got); !slices.Equal(keys, []string{"a/p1", "a/p3"}) {
		t.Fatalf("unbound pods = %q", keys)
	}
	if _, err := w.s.PodsOnNode(""); err != nil {
		t.Fatal(err)
	}
	for _, r := range bound {
		if r.decoded() {
			t.Errorf("bound pod %s was decoded", r.Key())
		}
	}
}
