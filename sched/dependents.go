package sched

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// controllerKind is a kind of controller as the incremental passes find it
// from a dependent's change (a pod, a ReplicaSet, a ControllerRevision), as
// Kubernetes' controllers resolve a dependent's controllerRef or, for an
// orphan, the controllers whose selector matches it.
type controllerKind[T v1.Object] struct {
	// kind is the controllerRef kind (DaemonSet); resource its table (daemonsets).
	kind, resource string
	// selector is a controller's selector.
	selector func(T) labels.Selector
}

// dirtyByDependent adds to dirty the keys (namespace/name) of the
// controllers of this kind that m concerns: its controller, found by uid,
// when it has one of this kind; when it has none and adopt is set, the
// controllers of its namespace whose selector matches it (O(controllers in
// the namespace), listed once per namespace and pass through inNS).
func (k controllerKind[T]) dirtyByDependent(s *fsm.Store, m *v1.ObjectMeta, adopt bool, dirty map[string]bool, inNS map[string][]T) error {
	if ref := m.ControllerRef(); ref != nil {
		if ref.Kind != k.kind {
			return nil
		}
		r, err := s.GetByUID(k.resource, ref.UID)
		if v1.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("controller of %s/%s: %w", m.Namespace, m.Name, err)
		}
		cm := &r.Summary().Meta
		dirty[v1.Key(cm.Namespace, cm.Name)] = true
		return nil
	}
	if !adopt {
		return nil
	}
	cs, ok := inNS[m.Namespace]
	if !ok {
		l, err := listByNamespaceIn[T](s, k.resource, m.Namespace)
		if err != nil {
			return err
		}
		cs = l
		inNS[m.Namespace] = cs
	}
	for _, c := range cs {
		if k.selector(c).Matches(labels.Set(m.Labels)) {
			cm := c.GetObjectMeta()
			dirty[v1.Key(cm.Namespace, cm.Name)] = true
		}
	}
	return nil
}

// listByNamespaceIn lists the objects of resource in namespace ns.
func listByNamespaceIn[T v1.Object](s *fsm.Store, resource, ns string) ([]T, error) {
	l, err := s.List(resource, fsm.ListOptions{Namespace: ns})
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", resource, ns, err)
	}
	out := make([]T, 0, len(l.Items))
	for _, r := range l.Items {
		o, ok := r.Object().(T)
		if !ok {
			return nil, fmt.Errorf("list %s of %s: a stored %T", resource, ns, r.Object())
		}
		out = append(out, o)
	}
	return out, nil
}

// podsInKeyOrder returns a controller's pods as ownedPods gives them,
// sorted by namespace and name: the order of the store's list of pods.
// A controller's full pass reads its pods so (O(its pods + the orphans its
// selector matches)) instead of listing every pod of the store: its
// planner skips, without a trace, every pod that neither has the
// controller's uid as controllerRef nor is an orphan its selector matches,
// so the pods it considers, and their order, are the list's
// (TestFullPassPodsEquivalent).
func podsInKeyOrder(pods []*v1.Pod, err error) ([]*v1.Pod, error) {
	if err != nil {
		return nil, err
	}
	return inKeyOrder(pods), nil
}

// inKeyOrder sorts objs by namespace and name, the order of the store's
// lists, and returns them.
func inKeyOrder[T v1.Object](objs []T) []T {
	slices.SortFunc(objs, func(a, b T) int {
		am, bm := a.GetObjectMeta(), b.GetObjectMeta()
		return cmp.Or(strings.Compare(am.Namespace, bm.Namespace), strings.Compare(am.Name, bm.Name))
	})
	return objs
}

// ownedPods returns the pods a controller is planned against: those it
// controls (the owner index) and, when adopt is set, the orphans of its
// namespace its selector matches (orphansMatching).
func ownedPods(s *fsm.Store, pods *Informer, uid, ns string, sel labels.Selector, adopt bool) ([]*v1.Pod, error) {
	owned, err := pods.ByIndex(s, IndexOwner, uid)
	if err != nil {
		return nil, err
	}
	out := make([]*v1.Pod, 0, len(owned))
	for _, r := range owned {
		out = append(out, r.Object().(*v1.Pod))
	}
	if !adopt {
		return out, nil
	}
	orphans, err := orphansMatching(s, pods, ns, sel, len(owned))
	if err != nil {
		return nil, err
	}
	for _, r := range orphans {
		out = append(out, r.Object().(*v1.Pod))
	}
	return out, nil
}
