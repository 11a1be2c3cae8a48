package sched

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

func TestDirtyByDependent(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, loopRC("web", 1))
	p.create(t, loopRC("db", 1))
	rcKind := controllerKind[*v1.ReplicationController]{kind: "ReplicationController", resource: "replicationcontrollers",
		selector: func(rc *v1.ReplicationController) labels.Selector { return replicaSelector(rc) }}
	ref := func(kind, uid string) []v1.OwnerReference {
		return []v1.OwnerReference{{Kind: kind, Name: "x", UID: uid, Controller: ptrTo(true)}}
	}
	for _, tc := range []struct {
		name  string
		meta  v1.ObjectMeta
		adopt bool
		want  []string
	}{
		{"its controller, by uid", v1.ObjectMeta{Namespace: "default", OwnerReferences: ref("ReplicationController", "uid-rc-db")}, true, []string{"default/db"}},
		{"a controller that is gone", v1.ObjectMeta{Namespace: "default", OwnerReferences: ref("ReplicationController", "uid-gone")}, true, nil},
		{"a controller of another kind", v1.ObjectMeta{Namespace: "default", OwnerReferences: ref("Job", "uid-rc-db")}, true, nil},
		{"an orphan: the selectors that match it", v1.ObjectMeta{Namespace: "default", Labels: map[string]string{"app": "web"}}, true, []string{"default/web"}},
		{"an orphan that none selects", v1.ObjectMeta{Namespace: "default", Labels: map[string]string{"app": "cache"}}, true, nil},
		{"an orphan when nothing adopts", v1.ObjectMeta{Namespace: "default", Labels: map[string]string{"app": "web"}}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirty := map[string]bool{}
			if err := rcKind.dirtyByDependent(p.store(), &tc.meta, tc.adopt, dirty, map[string][]*v1.ReplicationController{}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for k := range dirty {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
