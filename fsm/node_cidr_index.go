package fsm

import (
	"bytes"
	"fmt"
	"net/netip"

	memdb "github.com/hashicorp/go-memdb"
	jsoniter "github.com/json-iterator/go"

	v1 "orch.io/orch/api/v1"
)

// The nodes table is indexed by each node's pod CIDRs (indexPodCIDR), so
// that checking a CIDR against the other nodes' and choosing the lowest
// free subnet look up the index instead of decoding every Node. A key is
// the CIDR's family (4 or 6), its network address (16 bytes) and its prefix
// length: keys sort by address, so the CIDRs inside a range are a range of
// the index, and the at most 129 CIDRs that can hold a given one are exact
// keys. Indexes are rebuilt from the records on every insert (a snapshot
// restore, a log replay), so every master holds the same index.
//
// A record keeps its node's parsed pod CIDRs (Record.podCIDRs): the index
// reads them on every insert and delete of the node, and the lowest-free walk
// reads them for each entry it steps over.
//
// The lowest free subnet is found by walking the index from a hint (table
// podCIDRHints, one row per cluster CIDR and mask): every subnet below it is
// known taken. The hint is a cache, never state: a snapshot does not hold it
// (a restored store walks from the cluster's start once), and it is lowered
// whenever a node's pod CIDR goes, so a master that has it and one that has
// not choose the same subnet.

// Index and table names.
const (
	indexPodCIDR      = "podCIDR"   // nodes: each pod CIDR, by address
	indexNoPodCIDR    = "noPodCIDR" // nodes without a pod CIDR ("")
	tablePodCIDRHints = "podCIDRHints"
)

// podCIDRKeyLen is the length of an indexPodCIDR key.
const podCIDRKeyLen = 18

// podCIDR is one pod CIDR of a node: as its spec spells it, parsed, and as
// indexPodCIDR keys it.
type podCIDR struct {
	text   string
	prefix netip.Prefix
	key    [podCIDRKeyLen]byte
}

// nodePodCIDRs is what a record keeps of its node's pod CIDRs: those that
// parse (others hold no address, as before the index).
type nodePodCIDRs struct {
	list []podCIDR
	// none is set when the node's spec names no pod CIDR at all.
	none bool
}

// podCIDRKey returns the index key of a masked prefix.
func podCIDRKey(p netip.Prefix) [podCIDRKeyLen]byte {
	var k [podCIDRKeyLen]byte
	k[0] = 6
	if p.Addr().Is4() {
		k[0] = 4
	}
	a := p.Addr().As16()
	copy(k[1:17], a[:])
	k[17] = byte(p.Bits())
	return k
}

// parsePodCIDR parses a pod CIDR as the stored nodes' were always read
// (an IPv4-mapped IPv6 CIDR counts as IPv4), masked.
func parsePodCIDR(s string) (podCIDR, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return podCIDR{}, false
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	return podCIDR{text: s, prefix: p, key: podCIDRKey(p)}, true
}

// newNodePodCIDRs parses the distinct pod CIDRs a node's spec names.
func newNodePodCIDRs(cidrs []string) *nodePodCIDRs {
	out := &nodePodCIDRs{none: len(cidrs) == 0}
	for _, c := range cidrs {
		if p, ok := parsePodCIDR(c); ok {
			out.list = append(out.list, p)
		}
	}
	return out
}

// nodePodCIDRs returns the pod CIDRs of the node a record holds (none for
// other kinds), read once: from the decoded object if the record holds it,
// else from the bytes without decoding the rest, else by decoding.
func (r *Record) nodePodCIDRs() *nodePodCIDRs {
	if c := r.podCIDRs.Load(); c != nil {
		return c
	}
	var c *nodePodCIDRs
	var obj v1.Object
	if ref := r.obj.Load(); ref != nil {
		obj = ref.load()
	}
	if obj != nil {
		c = podCIDRsOf(obj)
	} else if cidrs, ok := readNodePodCIDRs(r.raw); ok {
		c = newNodePodCIDRs(cidrs)
	} else {
		c = podCIDRsOf(r.Object())
	}
	r.podCIDRs.Store(c)
	return c
}

// podCIDRsOf returns a decoded object's pod CIDRs (none unless a Node).
func podCIDRsOf(obj v1.Object) *nodePodCIDRs {
	n, ok := obj.(*v1.Node)
	if !ok {
		return &nodePodCIDRs{none: true}
	}
	return newNodePodCIDRs(nodeCIDRs(n))
}

// readNodePodCIDRs reads spec.podCIDR and spec.podCIDRs from a Node's JSON
// as encoding/json writes it, skipping everything else unread, and returns
// them as nodeCIDRs would. ok is false when raw does not read so.
func readNodePodCIDRs(raw []byte) (_ []string, ok bool) {
	if len(raw) == 0 {
		return nil, false
	}
	it := jsoniter.ConfigDefault.BorrowIterator(raw)
	defer jsoniter.ConfigDefault.ReturnIterator(it)
	var first string
	var list []string
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		if field != "spec" {
			it.Skip()
			return it.Error == nil
		}
		if readNull(it) {
			return it.Error == nil
		}
		it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
			switch field {
			case "podCIDR":
				first = it.ReadString()
			case "podCIDRs":
				list = nil
				if !readNull(it) {
					it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
						list = append(list, it.ReadString())
						return it.Error == nil
					})
				}
			default:
				it.Skip()
			}
			return it.Error == nil
		})
		return it.Error == nil
	})
	if it.Error != nil {
		return nil, false
	}
	return nodeCIDRs(&v1.Node{Spec: v1.NodeSpec{PodCIDR: first, PodCIDRs: list}}), true
}

// podCIDRIndexer indexes a node by the keys of its pod CIDRs.
type podCIDRIndexer struct{}

func (podCIDRIndexer) FromObject(raw any) (bool, [][]byte, error) {
	r, ok := raw.(*Record)
	if !ok {
		return false, nil, fmt.Errorf("index: %T is not a *Record", raw)
	}
	c := r.nodePodCIDRs()
	if len(c.list) == 0 {
		return false, nil, nil
	}
	out := make([][]byte, len(c.list))
	for i := range c.list {
		out[i] = c.list[i].key[:]
	}
	return true, out, nil
}

// FromArgs takes one key ([]byte of podCIDRKeyLen, as podCIDRKey makes).
func (podCIDRIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("index: want 1 argument, got %d", len(args))
	}
	k, ok := args[0].([]byte)
	if !ok || len(k) != podCIDRKeyLen {
		return nil, fmt.Errorf("index: argument is %T, not a pod CIDR key", args[0])
	}
	return k, nil
}

// podCIDRIndexes returns the nodes table's pod CIDR indexes.
func podCIDRIndexes() map[string]*memdb.IndexSchema {
	return map[string]*memdb.IndexSchema{
		indexPodCIDR: {Name: indexPodCIDR, AllowMissing: true, Indexer: podCIDRIndexer{}},
		indexNoPodCIDR: {Name: indexNoPodCIDR, AllowMissing: true, Indexer: keyIndexer{key: func(r *Record) (string, bool) {
			return "", r.nodePodCIDRs().none
		}}},
	}
}

// podCIDRHint is a row of tablePodCIDRHints: no /Mask subnet of the range
// [Base, End) below Next is free.
type podCIDRHint struct {
	ID                    string // clusterCIDR + " " + mask
	Base, End, Size, Next uint64
}

// podCIDRHintsTable is the schema of tablePodCIDRHints.
func podCIDRHintsTable() *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: tablePodCIDRHints,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {Name: indexID, Unique: true, Indexer: &memdb.StringFieldIndex{Field: "ID"}},
		},
	}
}

// podCIDRRange is the /mask subnets of an IPv4 cluster CIDR.
type podCIDRRange struct {
	id              string
	mask            int
	base, end, size uint64 // end is exclusive
}

// parsePodCIDRRange checks a cluster CIDR and mask as FreePodCIDR does.
func parsePodCIDRRange(clusterCIDR string, maskSize int) (podCIDRRange, error) {
	p, err := netip.ParsePrefix(clusterCIDR)
	if err != nil || !p.Addr().Is4() {
		return podCIDRRange{}, v1.NewBadRequest(fmt.Sprintf("cluster CIDR %q is not an IPv4 CIDR", clusterCIDR))
	}
	p = p.Masked()
	if maskSize < p.Bits() || maskSize > 30 {
		return podCIDRRange{}, v1.NewBadRequest(fmt.Sprintf("node CIDR mask /%d does not fit cluster CIDR %s", maskSize, clusterCIDR))
	}
	base := addr4(p.Addr())
	return podCIDRRange{id: fmt.Sprintf("%s %d", clusterCIDR, maskSize), mask: maskSize,
		base: base, end: base + uint64(1)<<(32-p.Bits()), size: uint64(1) << (32 - maskSize)}, nil
}

// subnet returns the /mask subnet at a.
func (c podCIDRRange) subnet(a uint64) string {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), c.mask).String()
}

// alignUp returns the first subnet start at or after a.
func (c podCIDRRange) alignUp(a uint64) uint64 {
	if a <= c.base {
		return c.base
	}
	return c.base + (a-c.base+c.size-1)/c.size*c.size
}

// alignDown returns the start of the subnet holding a (a >= base).
func (c podCIDRRange) alignDown(a uint64) uint64 { return c.base + (a-c.base)/c.size*c.size }

func addr4(a netip.Addr) uint64 {
	b := a.As4()
	return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
}

// span4 returns the first and last address of an IPv4 prefix.
func span4(p netip.Prefix) (first, last uint64) {
	first = addr4(p.Addr())
	return first, first + uint64(1)<<(32-p.Bits()) - 1
}

// indexHolds reports whether some node other than skip (a key, "" for none)
// holds exactly the pod CIDR p, and names the first.
func indexHolds(txn *memdb.Txn, p netip.Prefix, skip string) (*Record, error) {
	k := podCIDRKey(p)
	it, err := txn.Get("nodes", indexPodCIDR, k[:])
	if err != nil {
		return nil, fmt.Errorf("look up pod CIDR %s: %w", p, err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if r := raw.(*Record); r.Key() != skip {
			return r, nil
		}
	}
	return nil, nil
}

// indexCursor walks indexPodCIDR upward from a key, yielding each entry's
// pod CIDR (a node with several yields each at its place).
type indexCursor struct {
	it      memdb.ResultIterator
	prevKey []byte
	prevRec *Record
	// steps counts the entries yielded.
	steps int
}

func newIndexCursor(txn *memdb.Txn, from [podCIDRKeyLen]byte) (*indexCursor, error) {
	it, err := txn.LowerBound("nodes", indexPodCIDR, from[:])
	if err != nil {
		return nil, fmt.Errorf("walk pod CIDRs: %w", err)
	}
	return &indexCursor{it: it, prevKey: from[:]}, nil
}

// next returns the next entry: its node and pod CIDR; nil at the end. The
// iterator yields records in key order; the entry's key is the record's
// lowest key not yet passed.
func (c *indexCursor) next() (*Record, *podCIDR) {
	raw := c.it.Next()
	if raw == nil {
		return nil, nil
	}
	r := raw.(*Record)
	var best *podCIDR
	list := r.nodePodCIDRs().list
	for i := range list {
		k := list[i].key[:]
		// Records of equal keys come in the order of their own keys.
		cmp := bytes.Compare(k, c.prevKey)
		if cmp < 0 || (cmp == 0 && c.prevRec != nil && r.Key() <= c.prevRec.Key()) {
			continue
		}
		if best == nil || bytes.Compare(k, best.key[:]) < 0 {
			best = &list[i]
		}
	}
	if best == nil { // cannot be: the index holds the record's keys
		return c.next()
	}
	c.prevKey, c.prevRec = best.key[:], r
	c.steps++
	return r, best
}

// freePodCIDRs returns up to n of the lowest /mask subnets of c that no
// node's pod CIDR overlaps, walking indexPodCIDR from start (a subnet start
// below which none is free), and the lowest free subnet's start (c.end when
// none is free) and the entries stepped over.
func freePodCIDRs(txn *memdb.Txn, c podCIDRRange, start uint64, n int) (free []uint64, lowest uint64, steps int, err error) {
	cand := max(start, c.base)
	lowest = c.end
	if cand < c.end {
		// A CIDR that holds the first candidate starts before it: only
		// the largest such matters (it holds any smaller one).
		a := netip.AddrFrom4([4]byte{byte(cand >> 24), byte(cand >> 16), byte(cand >> 8), byte(cand)})
		for bits := 0; bits <= c.mask; bits++ {
			p := netip.PrefixFrom(a, bits).Masked()
			r, err := indexHolds(txn, p, "")
			if err != nil {
				return nil, 0, 0, err
			}
			if r != nil {
				_, last := span4(p)
				cand = c.alignUp(last + 1)
				break
			}
		}
	}
	if cand >= c.end {
		return nil, c.end, 0, nil
	}
	cur, err := newIndexCursor(txn, podCIDRKey(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(cand >> 24), byte(cand >> 16), byte(cand >> 8), byte(cand)}), 0)))
	if err != nil {
		return nil, 0, 0, err
	}
	take := func(limit uint64) {
		for ; cand+c.size <= limit && cand < c.end && len(free) < n; cand += c.size {
			if len(free) == 0 {
				lowest = cand
			}
			free = append(free, cand)
		}
	}
	for cand < c.end && len(free) < n {
		_, e := cur.next()
		if e == nil || e.key[0] != 4 || addr4(e.prefix.Addr()) >= c.end {
			take(c.end)
			break
		}
		first, last := span4(e.prefix)
		// Every entry before e is accounted for: the subnets wholly
		// below e are free.
		take(first)
		if last >= cand {
			cand = c.alignUp(last + 1)
		}
	}
	if len(free) == 0 {
		lowest = c.end
	}
	return free, lowest, cur.steps, nil
}

// allocatePodCIDR returns the lowest /maskSize subnet of clusterCIDR that no
// node's pod CIDR overlaps (the answer FreePodCIDR gives over every node),
// from the index and the hint, which it moves up to that subnet.
func allocatePodCIDR(w *writeTxn, clusterCIDR string, maskSize int) (string, error) {
	c, err := parsePodCIDRRange(clusterCIDR, maskSize)
	if err != nil {
		return "", err
	}
	start, hinted := c.base, false
	raw, err := w.txn.First(tablePodCIDRHints, indexID, c.id)
	if err != nil {
		return "", v1.NewInternalError(fmt.Errorf("read pod CIDR hint: %w", err))
	}
	if raw != nil {
		start, hinted = raw.(*podCIDRHint).Next, true
	}
	free, lowest, _, err := freePodCIDRs(w.txn, c, start, 1)
	if err != nil {
		return "", v1.NewInternalError(err)
	}
	// lowest is free now (or c.end): no subnet below it is, whether or not
	// this node's create goes on to take it.
	if !hinted || lowest != start {
		if err := w.txn.Insert(tablePodCIDRHints, &podCIDRHint{ID: c.id, Base: c.base, End: c.end, Size: c.size, Next: lowest}); err != nil {
			return "", v1.NewInternalError(fmt.Errorf("write pod CIDR hint: %w", err))
		}
	}
	if len(free) == 0 {
		return "", fmt.Errorf("%w: no free /%d left in cluster CIDR %s", ErrPodCIDRsExhausted, maskSize, clusterCIDR)
	}
	return c.subnet(free[0]), nil
}

// releasePodCIDRs lowers the hints below each pod CIDR that old held and
// next (nil when old goes) does not: its subnets may be free now. The FSM
// calls it for every node it replaces or removes.
func releasePodCIDRs(w *writeTxn, resource string, old, next *Record) {
	if resource != "nodes" || old == nil {
		return
	}
	var kept, gone []podCIDR
	if next != nil {
		kept = next.nodePodCIDRs().list
	}
	for _, p := range old.nodePodCIDRs().list {
		if p.prefix.Addr().Is4() && !containsKey(kept, p.key) {
			gone = append(gone, p)
		}
	}
	if len(gone) == 0 {
		return
	}
	it, err := w.txn.Get(tablePodCIDRHints, indexID)
	if err != nil {
		panic(fmt.Sprintf("fsm: read pod CIDR hints at %d: %v", w.index, err))
	}
	var lowered []*podCIDRHint
	for raw := it.Next(); raw != nil; raw = it.Next() {
		h := *raw.(*podCIDRHint)
		for _, p := range gone {
			first, last := span4(p.prefix)
			if last < h.Base || first >= h.End {
				continue
			}
			r := podCIDRRange{base: h.Base, size: h.Size}
			h.Next = min(h.Next, r.alignDown(max(first, h.Base)))
		}
		if h.Next != raw.(*podCIDRHint).Next {
			lowered = append(lowered, &h)
		}
	}
	for _, h := range lowered {
		if err := w.txn.Insert(tablePodCIDRHints, h); err != nil {
			panic(fmt.Sprintf("fsm: write pod CIDR hint at %d: %v", w.index, err))
		}
	}
}

func containsKey(list []podCIDR, k [podCIDRKeyLen]byte) bool {
	for _, p := range list {
		if p.key == k {
			return true
		}
	}
	return false
}

// overlappingPodCIDR returns a node other than the one keyed skip whose pod
// CIDR overlaps p, and that CIDR: one holding p (an exact key per prefix
// length) or one inside it (the index range from p's key).
func overlappingPodCIDR(txn *memdb.Txn, p netip.Prefix, skip string) (*Record, string, error) {
	for bits := 0; bits <= p.Bits(); bits++ {
		sup := netip.PrefixFrom(p.Addr(), bits).Masked()
		r, err := indexHolds(txn, sup, skip)
		if err != nil || r != nil {
			return r, textOf(r, sup), err
		}
	}
	cur, err := newIndexCursor(txn, podCIDRKey(p))
	if err != nil {
		return nil, "", err
	}
	family := podCIDRKey(p)[0]
	for {
		r, e := cur.next()
		if e == nil || e.key[0] != family || !p.Contains(e.prefix.Addr()) {
			return nil, "", nil
		}
		if r.Key() != skip {
			return r, e.text, nil
		}
	}
}

// textOf returns how r's spec spells its pod CIDR p.
func textOf(r *Record, p netip.Prefix) string {
	if r == nil {
		return ""
	}
	for _, c := range r.nodePodCIDRs().list {
		if c.prefix == p {
			return c.text
		}
	}
	return p.String()
}

// NodesWithoutPodCIDR returns the nodes whose spec names no pod CIDR (from
// an index: the nodes with one are not read).
func (s *Store) NodesWithoutPodCIDR() ([]*Record, error) {
	it, err := s.db.Txn(false).Get("nodes", indexNoPodCIDR, "")
	if err != nil {
		return nil, fmt.Errorf("nodes without a pod CIDR: %w", err)
	}
	var out []*Record
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Record))
	}
	s.reads.Add(uint64(len(out)))
	return out, nil
}

// FreePodCIDRs returns up to n of the lowest /maskSize subnets of
// clusterCIDR that no node's pod CIDR overlaps, lowest first: the subnets
// FreePodCIDR would give n nodes in turn. It reads the pod CIDR index from
// the FSM's hint, so its cost does not grow with the nodes below it.
func (s *Store) FreePodCIDRs(clusterCIDR string, maskSize, n int) ([]string, error) {
	c, err := parsePodCIDRRange(clusterCIDR, maskSize)
	if err != nil {
		return nil, err
	}
	txn := s.db.Txn(false)
	start := c.base
	if raw, err := txn.First(tablePodCIDRHints, indexID, c.id); err == nil && raw != nil {
		start = raw.(*podCIDRHint).Next
	}
	free, _, steps, err := freePodCIDRs(txn, c, start, n)
	s.reads.Add(uint64(steps))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(free))
	for i, a := range free {
		out[i] = c.subnet(a)
	}
	return out, nil
}
