package proxy

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
)

// The endpoints maps and the hairpin set of the nftables mode (see
// nft_rules.go): how they are declared, diffed and encoded for netlink.

// nftEndpointsMaps are the maps the service ports without affinity pick
// their endpoints from: the key is what numgen computes, the value a DNAT
// target (address . port). There are nftEndpointShards per protocol, a
// port's map chosen by its slot. The kernel checks every element of a map
// against every rule that looks it up, when either is added: with one
// map, the first sync at 10,000 services costs it 10,000 × 30,000 checks
// (15 s here); with 64, a 64th of that. (One map typed "th dport" for both
// protocols would do, but nft 1.0.6 then refuses to add a rule naming it:
// "conflicting protocols specified: tcp vs. th".)
var nftEndpointsMaps = endpointsMaps()

// nftEndpointShards is the number of endpoints maps per protocol.
const nftEndpointShards = 64

func endpointsMaps() []struct{ name, typ string } {
	var out []struct{ name, typ string }
	for _, proto := range []string{"tcp", "udp"} {
		for shard := range nftEndpointShards {
			out = append(out, struct{ name, typ string }{nftEndpointsMap(proto, uint32(shard)<<nftSlotBits),
				"typeof numgen random mod 1 : ip daddr . " + proto + " dport"})
		}
	}
	return out
}

// nftEndpointsMap names the endpoints map of a protocol ("tcp" or "udp")
// for the port whose keys start at offset.
func nftEndpointsMap(proto string, offset uint32) string {
	return "endpoints-" + proto + "-" + strconv.Itoa(int(offset>>nftSlotBits)%nftEndpointShards)
}

// nftHairpinDecl declares the hairpin set.
const nftHairpinDecl = "type ipv4_addr . ipv4_addr"

// The endpoints map's keys are 32 bits, numgen's values: a service port
// holds the block of nftSlotSize keys from slot*nftSlotSize and balances
// over at most nftSlotSize endpoints (a Kubernetes Endpoints object holds
// at most 1,000), and there are 2^20 slots.
const (
	nftSlotBits = 12
	nftSlotSize = 1 << nftSlotBits
	nftMaxSlots = 1 << (32 - nftSlotBits)
)

// nftSlots gives each service port without affinity its block of keys in
// the endpoints map. A port keeps its slot while it exists, so its rule
// (which names the offset) does not change when its endpoints do.
type nftSlots struct {
	byPort map[string]uint32
	free   []uint32 // released slots, reused first
	next   uint32   // the lowest slot never given out
}

// offset returns the first key of port's block, giving it a slot if it has
// none; false when every slot is taken.
func (s *nftSlots) offset(port string) (uint32, bool) {
	if slot, ok := s.byPort[port]; ok {
		return slot << nftSlotBits, true
	}
	var slot uint32
	switch {
	case len(s.free) > 0:
		slot, s.free = s.free[len(s.free)-1], s.free[:len(s.free)-1]
	case s.next < nftMaxSlots:
		slot = s.next
		s.next++
	default:
		return 0, false
	}
	if s.byPort == nil {
		s.byPort = map[string]uint32{}
	}
	s.byPort[port] = slot
	return slot << nftSlotBits, true
}

// release frees the slots of the ports not in held.
func (s *nftSlots) release(held map[string]bool) {
	for port, slot := range s.byPort {
		if !held[port] {
			delete(s.byPort, port)
			s.free = append(s.free, slot)
		}
	}
}

// releasePort frees port's slot.
func (s *nftSlots) releasePort(port string) {
	if slot, ok := s.byPort[port]; ok {
		delete(s.byPort, port)
		s.free = append(s.free, slot)
	}
}

// hairpinKey is the hairpin set's element for an endpoint IP.
func hairpinKey(ip string) string { return ip + " . " + ip }

// elemDiff lists what turns old into cur: the keys to delete (gone or
// changed) and the keys to add (new or changed), each sorted.
func elemDiff(cur, old map[string]string) (del, add []string) {
	for k, v := range old {
		if nv, ok := cur[k]; !ok || nv != v {
			del = append(del, k)
		}
	}
	for k, v := range cur {
		if ov, ok := old[k]; !ok || ov != v {
			add = append(add, k)
		}
	}
	slices.Sort(del)
	slices.Sort(add)
	return del, add
}

// hairpinDiff lists the endpoint IPs whose hairpin elements go and come.
func hairpinDiff(cur, old map[string]int) (del, add []string) {
	for ip := range old {
		if _, ok := cur[ip]; !ok {
			del = append(del, ip)
		}
	}
	for ip := range cur {
		if _, ok := old[ip]; !ok {
			add = append(add, ip)
		}
	}
	slices.Sort(del)
	slices.Sort(add)
	return del, add
}

// numericKeys returns the endpoints map's keys in numeric order.
func numericKeys(m map[string]string) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		x, _ := strconv.ParseUint(a, 10, 32)
		y, _ := strconv.ParseUint(b, 10, 32)
		return cmp.Compare(x, y)
	})
	return keys
}

// writeEndpointsDecl declares the hairpin set and the endpoints maps,
// inside a table block.
func (rs *NFTRuleset) writeEndpointsDecl(b *strings.Builder) {
	b.WriteString("\tset " + nftHairpin + " {\n\t\t" + nftHairpinDecl + "\n\t}\n")
	for _, m := range nftEndpointsMaps {
		b.WriteString("\tmap " + m.name + " {\n\t\t" + m.typ + "\n\t}\n")
	}
}

// writeEndpointsFullElements adds every element of the hairpin set and the
// endpoints maps.
func (rs *NFTRuleset) writeEndpointsFullElements(b *strings.Builder) {
	t := "add element ip " + NFTTable + " "
	if len(rs.hairpin) > 0 {
		b.WriteString(t + nftHairpin + " {\n")
		for _, ip := range slices.Sorted(maps.Keys(rs.hairpin)) {
			b.WriteString("\t" + hairpinKey(ip) + ",\n")
		}
		b.WriteString("}\n")
	}
	for _, m := range nftEndpointsMaps {
		els := rs.eps[m.name]
		if len(els) == 0 {
			continue
		}
		b.WriteString(t + m.name + " {\n")
		for _, k := range numericKeys(els) {
			b.WriteString("\t" + k + " : " + els[k] + ",\n")
		}
		b.WriteString("}\n")
	}
}

// writeEndpointsElements writes the element changes of the endpoints map
// and the hairpin set, and returns how many there are.
func (rs *NFTRuleset) writeEndpointsElements(b *strings.Builder, prev *NFTRuleset) int {
	t := " ip " + NFTTable + " "
	n := 0
	for _, m := range nftEndpointsMaps {
		cur := rs.eps[m.name]
		del, add := elemDiff(cur, prev.eps[m.name])
		for _, k := range del {
			b.WriteString("delete element" + t + m.name + " { " + k + " }\n")
		}
		for _, k := range add {
			b.WriteString("add element" + t + m.name + " { " + k + " : " + cur[k] + " }\n")
		}
		n += len(del) + len(add)
	}
	del, add := hairpinDiff(rs.hairpin, prev.hairpin)
	for _, ip := range del {
		b.WriteString("delete element" + t + nftHairpin + " { " + hairpinKey(ip) + " }\n")
	}
	for _, ip := range add {
		b.WriteString("add element" + t + nftHairpin + " { " + hairpinKey(ip) + " }\n")
	}
	return n + len(del) + len(add)
}

// endpointsDataType is the endpoints map's value: address . port.
var endpointsDataType = must(nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService))

// hairpinKeyType is the hairpin set's key: address . address.
var hairpinKeyType = must(nftables.ConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr))

// must returns v; the types above are constant and always concatenate.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// endpointsElement encodes key : "ip . port" as the kernel holds it: the
// key as numgen writes it (host order), the address and the port in
// network order, the port padded to 4 bytes.
func endpointsElement(k, v string) (nftables.SetElement, error) {
	i, err := strconv.ParseUint(k, 10, 32)
	if err != nil {
		return nftables.SetElement{}, fmt.Errorf("endpoints key %q: %w", k, errNoNetlink)
	}
	ip, port, ok := strings.Cut(v, " . ")
	a, err := netip.ParseAddr(ip)
	if !ok || err != nil || !a.Is4() {
		return nftables.SetElement{}, fmt.Errorf("endpoint %q: %w", v, errNoNetlink)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nftables.SetElement{}, fmt.Errorf("endpoint %q: %w", v, errNoNetlink)
	}
	a4 := a.As4()
	val := binary.BigEndian.AppendUint16(a4[:], uint16(p))
	return nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: append(val, 0, 0)}, nil
}

// hairpinElement encodes ip . ip.
func hairpinElement(ip string) (nftables.SetElement, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return nftables.SetElement{}, fmt.Errorf("hairpin %q: %w", ip, errNoNetlink)
	}
	a4 := a.As4()
	return nftables.SetElement{Key: append(a4[:], a4[:]...)}, nil
}

// endpointsElements appends the element changes of the endpoints map and
// the hairpin set to the batch.
func (b *nftBatch) endpointsElements(rs, prev *NFTRuleset) error {
	for _, m := range nftEndpointsMaps {
		cur, old := rs.eps[m.name], prev.eps[m.name]
		delKeys, addKeys := elemDiff(cur, old)
		var del, add []nftables.SetElement
		for _, k := range delKeys {
			e, err := endpointsElement(k, old[k])
			if err != nil {
				return err
			}
			del = append(del, nftables.SetElement{Key: e.Key})
		}
		for _, k := range addKeys {
			e, err := endpointsElement(k, cur[k])
			if err != nil {
				return err
			}
			add = append(add, e)
		}
		b.elements(&nftables.Set{Table: b.table, Name: m.name, IsMap: true, KeyType: nftables.TypeInteger,
			DataType: endpointsDataType}, del, add)
	}
	delIPs, addIPs := hairpinDiff(rs.hairpin, prev.hairpin)
	var del, add []nftables.SetElement
	for _, ip := range delIPs {
		e, err := hairpinElement(ip)
		if err != nil {
			return err
		}
		del = append(del, e)
	}
	for _, ip := range addIPs {
		e, err := hairpinElement(ip)
		if err != nil {
			return err
		}
		add = append(add, e)
	}
	b.elements(&nftables.Set{Table: b.table, Name: nftHairpin, KeyType: hairpinKeyType}, del, add)
	return nil
}

// nftElementsPerMessage bounds the elements of one netlink message: their
// list is one attribute, whose length has 16 bits.
const nftElementsPerMessage = 512

// elements appends the deletion, then the addition, of elements of set,
// nftElementsPerMessage to a message.
func (b *nftBatch) elements(set *nftables.Set, del, add []nftables.SetElement) {
	b.changes.Elements += len(del) + len(add)
	for part := range slices.Chunk(del, nftElementsPerMessage) {
		b.ops = append(b.ops, func(c *nftables.Conn) error { return c.SetDeleteElements(set, part) })
	}
	for part := range slices.Chunk(add, nftElementsPerMessage) {
		b.ops = append(b.ops, func(c *nftables.Conn) error { return c.SetAddElements(set, part) })
	}
}
