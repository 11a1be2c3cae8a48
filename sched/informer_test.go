package sched

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func keysOf(rs []*fsm.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Key())
	}
	return out
}

func TestInformerIndexesFollowTheFeed(t *testing.T) {
	p := newFakeProposer(t)
	owner := []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "rc", UID: "uid-rc", Controller: ptrTo(true)}}
	mk := func(name string, lbl map[string]string, refs []v1.OwnerReference) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Labels: lbl, OwnerReferences: refs},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
	}
	p.create(t, mk("a", map[string]string{"app": "web", "tier": "fe"}, owner))
	p.create(t, mk("b", map[string]string{"app": "web"}, nil))
	p.create(t, mk("c", map[string]string{"app": "db"}, nil))
	inf := NewInformer("pods", nil)
	if err := inf.Sync(p.store()); err != nil {
		t.Fatal(err)
	}
	// Changes after the first sync arrive through the feed: c is relabelled
	// and adopted, b deleted, d created.
	c := mk("c", map[string]string{"app": "web", "tier": "fe"}, owner)
	rec, _ := p.store().Get("pods", "default", "c")
	c.ResourceVersion = rec.Meta().ResourceVersion
	cmd, err := fsm.NewUpdate(c, false)
	p.apply(t, cmd, err)
	p.remove(t, "pods", "b", nil)
	p.create(t, mk("d", map[string]string{"app": "cache"}, nil))

	sel := func(s string) labels.Selector {
		l, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, tc := range []struct {
		name string
		get  func(s *fsm.Store) ([]*fsm.Record, error)
		want []string
	}{
		{"owner", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.ByIndex(s, IndexOwner, "uid-rc") }, []string{"default/a", "default/c"}},
		{"orphans", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.ByIndex(s, IndexOrphan, "default") }, []string{"default/d"}},
		{"equality", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.Select(s, "default", sel("app=web")) }, []string{"default/a", "default/c"}},
		{"set", func(s *fsm.Store) ([]*fsm.Record, error) {
			return inf.Select(s, "default", sel("app in (cache, db, web)"))
		}, []string{"default/a", "default/c", "default/d"}},
		{"exists and not", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.Select(s, "default", sel("tier,app!=db")) }, []string{"default/a", "default/c"}},
		{"notin only reads the namespace", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.Select(s, "default", sel("app notin (web)")) }, []string{"default/d"}},
		{"everything", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.Select(s, "default", labels.Everything()) }, []string{"default/a", "default/c", "default/d"}},
		{"nothing", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.Select(s, "default", labels.Nothing()) }, nil},
		{"other namespace", func(s *fsm.Store) ([]*fsm.Record, error) { return inf.Select(s, "kube-system", sel("app=web")) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := inf.Sync(p.store()); err != nil {
				t.Fatal(err)
			}
			got, err := tc.get(p.store())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keysOf(got), tc.want) {
				t.Fatalf("got %v, want %v", keysOf(got), tc.want)
			}
		})
	}

	// A new store (a restore) rebuilds the informer from a list.
	q := newFakeProposer(t)
	q.create(t, mk("z", map[string]string{"app": "web"}, nil))
	if err := inf.Sync(q.store()); err != nil {
		t.Fatal(err)
	}
	got, err := inf.Select(q.store(), "default", sel("app=web"))
	if err != nil || !slices.Equal(keysOf(got), []string{"default/z"}) {
		t.Fatalf("after the store changed: %v %v", keysOf(got), err)
	}
}

// TestInformerReadsAreIndependentOfOtherPods: finding a selector's pods and
// a small owner's pods reads the same records beside 1,000 and 100,000
// other pods in the same namespace.
func TestInformerReadsAreIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p := e.p
		if _, err := p.store().Get("pods", "default", "informer-mine"); err != nil {
			p.create(t, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "informer-mine", Namespace: "default", UID: "uid-informer-mine",
				Labels: map[string]string{"app": "informer-mine", "tier": "bulk"},
				OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "informer",
					UID: "uid-informer-rc", Controller: ptrTo(true)}}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}})
		}
		if err := e.pods.Sync(p.store()); err != nil {
			t.Fatal(err)
		}
		sel := labels.SelectorFromSet(labels.Set{"app": "informer-mine", "tier": "bulk"})
		var got, owned []*fsm.Record
		r := readsOf(p.store(), func() {
			var err error
			if got, err = e.pods.Select(p.store(), "default", sel); err != nil {
				t.Fatal(err)
			}
			if owned, err = e.pods.ByIndex(p.store(), IndexOwner, "uid-informer-rc"); err != nil {
				t.Fatal(err)
			}
		})
		if len(got) != 1 || len(owned) != 1 {
			t.Fatalf("selected %v, owned %v", keysOf(got), keysOf(owned))
		}
		return r
	})
}

// An informer numbers the keys it files and gives a deleted key's number
// to the next new one: pods made and deleted in turn (a job's, a
// CronJob's) leave no numbers, sets or values behind, and each value's
// set holds exactly the keys filed under it.
func TestInformerReusesTheNumbersOfDeletedKeys(t *testing.T) {
	p := newFakeProposer(t)
	mk := func(name, app string) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Labels: map[string]string{"app": app}},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
	}
	inf := NewInformer("pods", nil)
	p.create(t, mk("keep", "web"))
	for i := range 5 {
		name := fmt.Sprintf("run-%d", i)
		p.create(t, mk(name, fmt.Sprintf("run-%d", i)))
		if err := inf.Sync(p.store()); err != nil {
			t.Fatal(err)
		}
		p.remove(t, "pods", name, ptrTo(int64(0)))
		if err := inf.Sync(p.store()); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		index, value string
		want         []string
	}{
		{"the kept pod's value", IndexLabel, labelValueKey("default", "app", "web"), []string{"default/keep"}},
		{"a deleted pod's value", IndexLabel, labelValueKey("default", "app", "run-4"), []string{}},
		{"the namespace", IndexNamespace, "default", []string{"default/keep"}},
		{"the orphans", IndexOrphan, "default", []string{"default/keep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := inf.Keys(tt.index, tt.value); !slices.Equal(got, tt.want) {
				t.Fatalf("Keys(%s, %q) = %v, want %v", tt.index, tt.value, got, tt.want)
			}
		})
	}
	// keep and one pod at a time: two numbers, one of them free now.
	if len(inf.filed) != 2 || len(inf.free) != 1 || len(inf.ids) != 1 {
		t.Fatalf("numbers made %d, free %d, in use %d; want 2, 1, 1", len(inf.filed), len(inf.free), len(inf.ids))
	}
	if n := len(inf.idx[IndexLabel]); n != 2 {
		t.Fatalf("%d label values filed, want 2 (app=web and app)", n)
	}
}
