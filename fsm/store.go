package fsm

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	memdb "github.com/hashicorp/go-memdb"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// DefaultFeedSize is how many change events the feed keeps by default.
const DefaultFeedSize = 50000

// storeView is a committed state of the store's tables and the index of
// the last command applied to them: a reader that answers with an index
// (a list, a snapshot) reads both from one view. The index is kept here
// rather than in a table of its own because a table written by every
// batch cost every batch another tree to copy a path of and commit (about
// 35 allocations and 2.5 us of a master's CPU per batch).
type storeView struct {
	db    *memdb.MemDB // a go-memdb snapshot: reads only
	index uint64
	// limitRanges is whether the view holds a LimitRange, found at the
	// first LimitRanges read of the view (store_limits.go).
	limitRanges atomic.Int32
}

// MasterInfo is how a master is reached; the leader writes its own, and each
// follower registers its own through the leader.
type MasterInfo struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raftAddr"`
	APIAddr  string `json:"apiAddr"`
}

// Store is the in-memory state of the cluster: go-memdb tables, one per
// resource, plus the change feed. Reads are lock-free snapshots (but
// GetByUID, which reads a map under a read lock); writes come only from
// FSM.Apply.
type Store struct {
	db *memdb.MemDB
	// view is the state the last commit left, with its index; it is
	// replaced after each commit, under applyMu.
	view atomic.Pointer[storeView]
	// applyMu is held by a batch's apply from its write transaction to
	// the view of its commit, and by a dry run: one never reads the
	// tables a commit left with the index of the commit before.
	applyMu sync.Mutex
	// cache is what the FSM's batches read that the next batch may read
	// again without a lookup; under applyMu.
	cache applyCache
	// uids finds the objects by uid (see uidIndex).
	uids    *uidIndex
	feed    *Feed
	abandon chan struct{}
	// reads counts the records Get, List and PodsOnNode visited.
	reads atomic.Uint64
}

// RecordsRead returns how many stored records Get, List and PodsOnNode have
// visited since the store was made (a List counts every record it steps
// over, filtered out or not): the work a reader did, which the controllers'
// tests compare at different store sizes.
func (s *Store) RecordsRead() uint64 { return s.reads.Load() }

// NewStore returns an empty store whose feed keeps feedSize events.
func NewStore(feedSize int) (*Store, error) {
	return newStore(FeedLimits{Events: feedSize})
}

// newStore returns an empty store whose feed is bounded by lim.
func newStore(lim FeedLimits) (*Store, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("create memdb: %w", err)
	}
	s := &Store{db: db, uids: newUIDIndex(), feed: NewBoundedFeed(lim, 0), abandon: make(chan struct{})}
	s.publish(0)
	return s, nil
}

// publish makes the tables as now committed, at index, the store's view.
func (s *Store) publish(index uint64) {
	s.view.Store(&storeView{db: s.db.Snapshot(), index: index})
}

// read returns a read transaction of the store's view and its index.
func (s *Store) read() (*memdb.Txn, uint64) {
	v := s.view.Load()
	return v.db.Txn(false), v.index
}

// Feed returns the store's change feed.
func (s *Store) Feed() *Feed { return s.feed }

// Abandoned is closed when a snapshot restore replaced this store.
func (s *Store) Abandoned() <-chan struct{} { return s.abandon }

func (s *Store) abandonStore() {
	close(s.abandon)
	s.feed.close()
}

// Index returns the Raft index of the last applied command.
func (s *Store) Index() uint64 { return s.view.Load().index }

// Get returns the named object, or a NotFound error.
func (s *Store) Get(resource, namespace, name string) (*Record, error) {
	s.reads.Add(1)
	return get(s.db.Txn(false), resource, namespace, name)
}

func get(txn *memdb.Txn, resource, namespace, name string) (*Record, error) {
	return getKey(txn, resource, v1.Key(namespace, name), name)
}

// getKey returns the object of resource with key (whose name is name), or
// a NotFound error.
func getKey(txn *memdb.Txn, resource, key, name string) (*Record, error) {
	raw, err := txn.First(resource, indexID, key)
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", resource, key, err)
	}
	if raw == nil {
		return nil, v1.NewNotFound(resource, name)
	}
	return raw.(*Record), nil
}

// GetByUID returns the object of resource with uid, or a NotFound error
// naming the uid: how a controller finds the owner a dependent's
// ownerReference names.
func (s *Store) GetByUID(resource, uid string) (*Record, error) {
	s.reads.Add(1)
	if _, ok := v1.ResourceByName(resource); !ok {
		return nil, fmt.Errorf("get %s with uid %s: no such resource", resource, uid)
	}
	if rec := s.uids.get(resource, uid); rec != nil {
		return rec, nil
	}
	return nil, v1.NewNotFound(resource, uid)
}

// ListOptions selects what List returns.
type ListOptions struct {
	// Namespace restricts the list to one namespace ("" for all).
	Namespace string
	// Labels filters by labels (nil for all).
	Labels labels.Selector
	// Fields filters by fields (nil for all).
	Fields *v1.FieldSelector
	// Limit caps the number of items (0 for no limit).
	Limit int
	// After is the key of the last item of the previous page ("" for the first).
	After string
}

// ListResult is one page of a list.
type ListResult struct {
	Items []*Record
	// Index is the store's index when the page was read.
	Index uint64
	// Next is the key to continue after, or "" when the list is complete.
	Next string
}

// List returns the objects of a resource that match opts, in key order.
func (s *Store) List(resource string, opts ListOptions) (ListResult, error) {
	txn, index := s.read()
	res := ListResult{Index: index}
	prefix := ""
	if opts.Namespace != "" {
		prefix = opts.Namespace + "/"
	}
	var it memdb.ResultIterator
	var err error
	byNode := opts.Fields != nil && opts.Fields.HasNodeName && resource == "pods"
	// Unbound pods are not in the node index (schema.go): a list of them
	// steps over the pods by key and keeps those whose nodeName, read from
	// the record's header without a decode, is "".
	unbound := byNode && opts.Fields.NodeName == ""
	if unbound {
		byNode = false
	}
	switch {
	case byNode:
		// The node index orders pods by node, then by key.
		it, err = txn.Get(resource, indexNode, opts.Fields.NodeName)
	case opts.After > prefix:
		it, err = txn.LowerBound(resource, indexID, opts.After)
	default:
		it, err = txn.Get(resource, indexID+"_prefix", prefix)
	}
	if err != nil {
		return res, fmt.Errorf("list %s: %w", resource, err)
	}
	visited := uint64(0)
	defer func() { s.reads.Add(visited) }()
	for raw := it.Next(); raw != nil; raw = it.Next() {
		visited++
		r := raw.(*Record)
		key := r.Key()
		if !strings.HasPrefix(key, prefix) {
			if byNode {
				continue
			}
			break // keys are sorted: past the namespace
		}
		if unbound && r.NodeName() != "" {
			continue
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

// PodsOnNode returns the pods bound to a node ("" for unbound pods), in
// key order.
func (s *Store) PodsOnNode(node string) ([]*v1.Pod, error) {
	visited := uint64(0)
	defer func() { s.reads.Add(visited) }()
	it, err := podsOnNode(s.db.Txn(false), node, &visited)
	if err != nil {
		return nil, fmt.Errorf("pods on node %s: %w", node, err)
	}
	var out []*v1.Pod
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if node != "" {
			visited++
		}
		out = append(out, raw.(*Record).Object().(*v1.Pod))
	}
	return out, nil
}

// podsOnNode iterates, in key order, over the pods of txn bound to node,
// or for "" over the unbound pods: those are not in the node index
// (schema.go), so it steps over every pod by key and skips the bound ones
// by the nodeName of the record's header, without decoding them; each pod
// it steps over then adds one to *visited (when visited is not nil).
func podsOnNode(txn *memdb.Txn, node string, visited *uint64) (memdb.ResultIterator, error) {
	if node != "" {
		return txn.Get("pods", indexNode, node)
	}
	it, err := txn.Get("pods", indexID+"_prefix", "") // every pod
	if err != nil {
		return nil, err
	}
	return memdb.NewFilterIterator(it, func(raw any) bool {
		if visited != nil {
			*visited++
		}
		return raw.(*Record).NodeName() != ""
	}), nil
}

// Masters returns the registered masters, by ID.
func (s *Store) Masters() ([]MasterInfo, error) {
	it, err := s.db.Txn(false).Get(tableMasters, indexID)
	if err != nil {
		return nil, fmt.Errorf("list masters: %w", err)
	}
	var out []MasterInfo
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, *raw.(*MasterInfo))
	}
	return out, nil
}

// Master returns one registered master.
func (s *Store) Master(id string) (MasterInfo, bool) {
	raw, err := s.db.Txn(false).First(tableMasters, indexID, id)
	if err != nil || raw == nil {
		return MasterInfo{}, false
	}
	return *raw.(*MasterInfo), true
}

// Count returns the number of objects of a resource.
func (s *Store) Count(resource string) int {
	it, err := s.db.Txn(false).Get(resource, indexID)
	if err != nil {
		return 0
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// writeSnapshot writes the store's view to w as WriteSnapshot does.
func (s *Store) writeSnapshot(w io.Writer) error {
	txn, index := s.read()
	return WriteSnapshot(txn, index, w)
}
