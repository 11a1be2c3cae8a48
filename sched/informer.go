package sched

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Index names an informer keeps for every resource it follows.
const (
	// IndexOwner files an object under its controller's uid
	// (metadata.ownerReferences with controller=true).
	IndexOwner = "owner"
	// IndexOrphan files an object without a controller under its namespace.
	IndexOrphan = "orphan"
	// IndexNamespace files every object under its namespace.
	IndexNamespace = "namespace"
	// IndexLabel files an object under "<ns>\x00<key>=<value>" for each of
	// its labels and "<ns>\x00<key>" for each label key, so a selector's
	// equality, set and existence requirements find their candidates.
	IndexLabel = "label"
)

// IndexFunc returns the values a record is filed under in one index.
type IndexFunc func(r *fsm.Record) []string

// Informer is the leader's cache of one resource's index keys, fed by the
// store's change feed, as a client-go informer's indexer: a controller finds
// the objects an event concerns (an owner's pods, the pods a selector picks)
// without reading every object of the resource. It keeps object keys only:
// the objects are read from the store the caller holds, and each is checked
// against the index again, so a cache a little ahead of or behind that store
// never returns an object that does not belong. One informer may serve many
// loops; Sync catches it up to a store under a lock.
//
// Memory: an object costs its key's number (4 bytes) in each sparse set it
// is filed in and a bit in each dense one (indexSet), its key once (shared
// with the store's record), and a pointer to the record it filed, whose
// index values name the sets to unfile it from; each index value is held
// once, in its set, however many objects share it: ~100 B per pod with an
// owner and two labels, ~170 B while every set was a map, ~245 B with a
// slice of its sets per object, and ~1 KB with a map of value strings per
// object and its key in every set (TestLeaderCachesMemoryPerPod).
type Informer struct {
	resource string
	// funcs are every index's functions (the standard ones check a read
	// against the index); extras the indexes beyond the standard ones,
	// which are filed through their functions.
	funcs, extras map[string]IndexFunc

	mu    sync.Mutex
	store *fsm.Store
	seen  uint64
	// ids numbers the keys filed; filed[id] is the record filed under a
	// number (nil for one free to reuse, listed in free): its key, and its
	// index values, which are the sets to unfile it from on change (the
	// index functions give the same values for the same record).
	ids   map[string]uint32
	filed []*fsm.Record
	free  []uint32
	// idx is index → value → the set of keys filed under it.
	idx map[string]map[string]*indexSet
	// std is idx's maps of the standard indexes, in stdIndexes' order.
	std [len(stdIndexes)]map[string]*indexSet
	// buf holds the value being filed or unfiled (values are looked up by
	// their bytes, and made strings only for a set not there yet).
	buf []byte
}

// stdIndexes are the indexes every informer keeps, filed by
// Informer.eachStandard from an object's summary.
var stdIndexes = [...]string{IndexOwner, IndexOrphan, IndexNamespace, IndexLabel}

// NewInformer returns an informer over resource with the standard indexes
// (owner, orphan, namespace, label) and any extra ones.
func NewInformer(resource string, extra map[string]IndexFunc) *Informer {
	funcs := map[string]IndexFunc{
		IndexOwner:     ownerIndex,
		IndexOrphan:    orphanIndex,
		IndexNamespace: namespaceIndex,
		IndexLabel:     labelIndex,
	}
	extras := map[string]IndexFunc{}
	for k, f := range extra {
		funcs[k] = f
		if !slices.Contains(stdIndexes[:], k) {
			extras[k] = f
		}
	}
	return &Informer{resource: resource, funcs: funcs, extras: extras}
}

// informerOr returns inf, or a new informer over resource when inf is nil
// (a controller made without a shared one, as in its unit tests).
func informerOr(inf *Informer, resource string) *Informer {
	if inf != nil {
		return inf
	}
	return NewInformer(resource, nil)
}

func ownerIndex(r *fsm.Record) []string {
	if ref := r.Summary().Meta.ControllerRef(); ref != nil {
		return []string{ref.UID}
	}
	return nil
}

func orphanIndex(r *fsm.Record) []string {
	m := &r.Summary().Meta
	if m.ControllerRef() != nil {
		return nil
	}
	return []string{m.Namespace}
}

func namespaceIndex(r *fsm.Record) []string { return []string{r.Summary().Meta.Namespace} }

func labelIndex(r *fsm.Record) []string {
	m := &r.Summary().Meta
	out := make([]string, 0, 2*len(m.Labels))
	for k, v := range m.Labels {
		out = append(out, labelValueKey(m.Namespace, k, v), labelKey(m.Namespace, k))
	}
	return out
}

func labelKey(ns, k string) string         { return ns + "\x00" + k }
func labelValueKey(ns, k, v string) string { return ns + "\x00" + k + "=" + v }

// Sync catches the informer up with s: the feed's events since the last
// sync, or a rebuild from a list when s is another store than last time
// (a restore replaced it) or the feed no longer holds the events since.
func (inf *Informer) Sync(s *fsm.Store) error {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	if inf.store == s {
		evs, last, _, closed, err := s.Feed().Since(inf.seen)
		if err == nil && !closed {
			for _, ev := range evs {
				if ev.Resource != inf.resource {
					continue
				}
				inf.unfile(ev.Record.Key())
				if ev.Type != v1.Deleted {
					inf.file(ev.Record)
				}
			}
			inf.seen = last
			return nil
		}
	}
	return inf.rebuild(s)
}

func (inf *Informer) rebuild(s *fsm.Store) error {
	l, err := s.List(inf.resource, fsm.ListOptions{})
	if err != nil {
		return fmt.Errorf("informer %s: %w", inf.resource, err)
	}
	inf.store, inf.seen = s, l.Index
	inf.ids = make(map[string]uint32, len(l.Items))
	inf.filed, inf.free = make([]*fsm.Record, 0, len(l.Items)), nil
	inf.idx = make(map[string]map[string]*indexSet, len(inf.funcs))
	for i, name := range stdIndexes {
		inf.std[i] = map[string]*indexSet{}
		inf.idx[name] = inf.std[i]
	}
	for _, r := range l.Items {
		inf.file(r)
	}
	return nil
}

// file files r, which is not filed, under the values its index functions
// give. The values are kept by their sets only: a value's string is made
// once, for the set that holds it.
func (inf *Informer) file(r *fsm.Record) {
	id := inf.number(r)
	inf.eachStandard(r, func(index int, v []byte) {
		byVal := inf.std[index]
		set := byVal[string(v)]
		if set == nil {
			set = newIndexSet()
			byVal[string(v)] = set
		}
		set.add(id, len(inf.ids))
	})
	for name, f := range inf.extras {
		vs := f(r)
		if len(vs) == 0 {
			continue
		}
		byVal := inf.idx[name]
		if byVal == nil {
			byVal = map[string]*indexSet{}
			inf.idx[name] = byVal
		}
		for _, v := range vs {
			set := byVal[v]
			if set == nil {
				set = newIndexSet()
				byVal[v] = set
			}
			set.add(id, len(inf.ids))
		}
	}
}

// eachStandard calls fn with each value of r in each standard index (by
// its position in stdIndexes), as ownerIndex, orphanIndex, namespaceIndex
// and labelIndex give them, from one read of r's summary and without
// making the values' strings; v is valid during the call only.
func (inf *Informer) eachStandard(r *fsm.Record, fn func(index int, v []byte)) {
	m := &r.Summary().Meta
	b := inf.buf[:0]
	if ref := m.ControllerRef(); ref != nil {
		b = append(b[:0], ref.UID...)
		fn(0, b)
	} else {
		b = append(b[:0], m.Namespace...)
		fn(1, b)
	}
	b = append(b[:0], m.Namespace...)
	fn(2, b)
	for k, v := range m.Labels {
		b = append(append(append(b[:0], m.Namespace...), 0), k...)
		fn(3, b)
		b = append(append(b, '='), v...)
		fn(3, b)
	}
	inf.buf = b
}

// number gives r's key a number (a free one, or the next) and files r
// under it.
func (inf *Informer) number(r *fsm.Record) uint32 {
	var id uint32
	if n := len(inf.free); n > 0 {
		id, inf.free = inf.free[n-1], inf.free[:n-1]
		inf.filed[id] = r
	} else {
		id = uint32(len(inf.filed))
		inf.filed = append(inf.filed, r)
	}
	inf.ids[r.Key()] = id
	return id
}

// unfile removes the key from the sets of the values its filed record
// gives.
func (inf *Informer) unfile(key string) {
	id, ok := inf.ids[key]
	if !ok {
		return
	}
	r := inf.filed[id]
	inf.eachStandard(r, func(index int, v []byte) {
		byVal := inf.std[index]
		if set := byVal[string(v)]; set != nil {
			set.remove(id, len(inf.ids))
			if set.len() == 0 {
				delete(byVal, string(v))
			}
		}
	})
	for name, f := range inf.extras {
		byVal := inf.idx[name]
		for _, v := range f(r) {
			if set := byVal[v]; set != nil {
				set.remove(id, len(inf.ids))
				if set.len() == 0 {
					delete(byVal, v)
				}
			}
		}
	}
	delete(inf.ids, key)
	inf.filed[id] = nil
	inf.free = append(inf.free, id)
}

// Keys returns the keys filed under value in index, sorted.
func (inf *Informer) Keys(index, value string) []string {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	set := inf.idx[index][value]
	if set == nil {
		return []string{}
	}
	keys := make([]string, 0, set.len())
	set.each(func(id uint32) { keys = append(keys, inf.filed[id].Key()) })
	slices.Sort(keys)
	return keys
}

// count returns how many keys are filed under value in index.
func (inf *Informer) count(index, value string) int {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	if set := inf.idx[index][value]; set != nil {
		return set.len()
	}
	return 0
}

// ByIndex returns the objects of s filed under value in index, in key
// order: each read from s and kept only if s's version is filed there too.
func (inf *Informer) ByIndex(s *fsm.Store, index, value string) ([]*fsm.Record, error) {
	f := inf.funcs[index]
	if f == nil {
		return nil, fmt.Errorf("informer %s: no index %q", inf.resource, index)
	}
	var out []*fsm.Record
	for _, key := range inf.Keys(index, value) {
		ns, name, ok := strings.Cut(key, "/")
		if !ok {
			ns, name = "", key
		}
		r, err := s.Get(inf.resource, ns, name)
		if v1.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if slices.Contains(f(r), value) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Select returns the objects of namespace ns that sel matches, in key
// order. It reads the candidates of sel's most selective equality, set or
// existence requirement; a selector without one (everything, or only
// NotIn/DoesNotExist) reads the namespace.
func (inf *Informer) Select(s *fsm.Store, ns string, sel labels.Selector) ([]*fsm.Record, error) {
	index, values := IndexNamespace, []string{ns}
	best := inf.count(IndexNamespace, ns)
	if reqs, ok := sel.Requirements(); ok {
		for _, r := range reqs {
			var vals []string
			switch r.Operator() {
			case selection.Equals, selection.DoubleEquals, selection.In:
				for v := range r.Values() {
					vals = append(vals, labelValueKey(ns, r.Key(), v))
				}
			case selection.Exists:
				vals = []string{labelKey(ns, r.Key())}
			default:
				continue
			}
			n := 0
			for _, v := range vals {
				n += inf.count(IndexLabel, v)
			}
			if n < best || index == IndexNamespace {
				index, values, best = IndexLabel, vals, n
			}
		}
	}
	seen := map[string]bool{}
	var out []*fsm.Record
	for _, v := range values {
		rs, err := inf.ByIndex(s, index, v)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if !seen[r.Key()] && sel.Matches(labels.Set(r.Summary().Meta.Labels)) {
				seen[r.Key()] = true
				out = append(out, r)
			}
		}
	}
	if len(values) > 1 {
		slices.SortFunc(out, func(a, b *fsm.Record) int { return strings.Compare(a.Key(), b.Key()) })
	}
	return out, nil
}
