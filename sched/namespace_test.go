package sched

import (
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func TestNamespacesIn(t *testing.T) {
	inNS := func(ns string) fsm.Event {
		p := nlPod("x", "")
		p.Namespace = ns
		return fsm.Event{Resource: "pods", Type: v1.Added, Record: fsm.NewRecord(p, nil)}
	}
	namespace := func(name string) fsm.Event {
		return fsm.Event{Resource: "namespaces", Type: v1.Modified, Record: fsm.NewRecord(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name}}, nil)}
	}
	node := fsm.Event{Resource: "nodes", Type: v1.Added, Record: fsm.NewRecord(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1"}}, nil)}
	cases := []struct {
		name string
		evs  []fsm.Event
		want []string
	}{
		{"objects of two namespaces, one twice", []fsm.Event{inNS("b"), inNS("a"), inNS("b")}, []string{"a", "b"}},
		{"a namespace and an object in it", []fsm.Event{namespace("a"), inNS("a")}, []string{"a"}},
		{"cluster-scoped objects concern none", []fsm.Event{node}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := namespacesIn(tc.evs); !slices.Equal(got, tc.want) {
				t.Fatalf("namespaces %v, want %v", got, tc.want)
			}
		})
	}
}
