package fsm

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// limitRangesByList is LimitRanges as it was before its "none in the
// view" answer: a list of the namespace.
func limitRangesByList(s *Store, namespace string) ([]*v1.LimitRange, error) {
	res, err := s.List("limitranges", ListOptions{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("limit ranges of %s: %w", namespace, err)
	}
	out := make([]*v1.LimitRange, 0, len(res.Items))
	for _, r := range res.Items {
		out = append(out, r.Object().(*v1.LimitRange))
	}
	return out, nil
}

func testLimitRange(ns, name string) *v1.LimitRange {
	return &v1.LimitRange{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{
		{Type: "Container", Max: v1.ResourceList{"cpu": resource.MustParse("2")}}}}}
}

// TestLimitRangesMatchesList creates and deletes LimitRanges step by step
// (none, in another namespace, in one whose name is a prefix of another's,
// the last deleted) and after each step compares LimitRanges of every
// namespace with the list it answered by before: the same stored objects
// in the same order, a non-nil slice, and the view's answer remembered.
func TestLimitRangesMatchesList(t *testing.T) {
	f := NewTestFSM(t)
	s := f.Store()
	namespaces := []string{"default", "default2", "kube-system", "empty"}
	index := uint64(1)
	for _, ns := range namespaces {
		MustCreate(t, f, index, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}})
		index++
	}
	del := func(ns, name string) func() {
		return func() {
			cmd, err := Encode(DeleteCommand, DeleteRequest{Resource: "limitranges", Namespace: ns, Name: name, Now: v1.NewTime(time.Unix(1, 0))})
			if err != nil {
				t.Fatal(err)
			}
			if res, ok := ApplyCommand(t, f, index, cmd).(Result); !ok || res.Err != nil {
				t.Fatalf("delete %s/%s: %v", ns, name, res.Err)
			}
		}
	}
	create := func(ns, name string) func() { return func() { MustCreate(t, f, index, testLimitRange(ns, name)) } }
	steps := []struct {
		name string
		do   func()
		some bool // whether the view holds a LimitRange after the step
	}{
		{"none", func() {}, false},
		{"one in default2", create("default2", "a"), true},
		{"two in default2", create("default2", "b"), true},
		{"one in default", create("default", "z"), true},
		{"default2's deleted", func() { del("default2", "a")(); index++; del("default2", "b")() }, true},
		{"the last deleted", del("default", "z"), false},
		{"one in kube-system", create("kube-system", "k"), true},
	}
	for _, st := range steps {
		st.do()
		index++
		v := s.view.Load()
		for _, ns := range append(namespaces, "", "missing") {
			for range 2 { // the first finds the view's answer, the second remembers it
				got, gotErr := s.LimitRanges(ns)
				want, wantErr := limitRangesByList(s, ns)
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || got == nil || len(got) != len(want) {
					t.Fatalf("%s: LimitRanges(%q) = %v, %v; the list %v, %v", st.name, ns, got, gotErr, want, wantErr)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s: LimitRanges(%q)[%d] = %s, the list %s", st.name, ns, i, got[i].Name, want[i].Name)
					}
				}
			}
		}
		if want := map[bool]int32{false: limitRangesNone, true: limitRangesSome}[st.some]; v.limitRanges.Load() != want {
			t.Errorf("%s: the view's limitRanges = %d, want %d", st.name, v.limitRanges.Load(), want)
		}
	}
}

// BenchmarkLimitRanges measures the read of a pod create's admission:
// a namespace without LimitRanges, in a store with none (the view's answer
// remembered, or found again as after every commit) and in one with some
// in another namespace; cpu-ns/op is the process's CPU per read.
func BenchmarkLimitRanges(b *testing.B) {
	for _, c := range []struct {
		name   string
		other  bool
		forget bool
	}{{"none", false, false}, {"none-new-view", false, true}, {"other-namespace", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			f := NewTestFSM(b)
			for i, ns := range []string{"default", "other"} {
				MustCreate(b, f, uint64(i+1), &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}})
			}
			if c.other {
				MustCreate(b, f, 3, testLimitRange("other", "limits"))
			}
			s := f.Store()
			v := s.view.Load()
			loopCPU(b, func() {
				if c.forget {
					v.limitRanges.Store(limitRangesUnknown)
				}
				if lrs, err := s.LimitRanges("default"); err != nil || len(lrs) != 0 {
					b.Fatal(lrs, err)
				}
			})
		})
	}
}
