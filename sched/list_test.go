package sched

import (
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestListByNamespace(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other", UID: "ns-other"}})
	for _, pod := range []struct{ ns, name string }{{"default", "a"}, {"other", "b"}, {"default", "c"}} {
		p.create(t, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: pod.name, Namespace: pod.ns, UID: "uid-" + pod.name},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}})
	}
	got, err := listByNamespace[*v1.Pod](p.store(), "pods")
	if err != nil {
		t.Fatal(err)
	}
	names := func(ps []*v1.Pod) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	for ns, want := range map[string][]string{"default": {"a", "c"}, "other": {"b"}, "none": nil} {
		if g := names(got[ns]); !slices.Equal(g, want) {
			t.Errorf("%s: %v, want %v", ns, g, want)
		}
	}
	// A resource of another type is an error, not a panic.
	if _, err := listByNamespace[*v1.Job](p.store(), "pods"); err == nil {
		t.Error("pods listed as Jobs")
	}
}

func TestGetKeys(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, loopRC("b", 1))
	p.create(t, loopRC("a", 1))
	for _, tc := range []struct {
		name string
		keys map[string]bool
		want []string
	}{
		{"key order, missing left out", map[string]bool{"default/b": true, "default/gone": true, "default/a": true}, []string{"a", "b"}},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := getKeys[*v1.ReplicationController](p.store(), "replicationcontrollers", tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, rc := range got {
				names = append(names, rc.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("got %v, want %v", names, tc.want)
			}
		})
	}
	if _, err := getKeys[*v1.Pod](p.store(), "replicationcontrollers", map[string]bool{"default/a": true}); err == nil {
		t.Fatal("a replication controller read as a pod")
	}
}
