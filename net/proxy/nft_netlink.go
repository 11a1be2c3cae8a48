package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Partial syncs through netlink (github.com/google/nftables). nft 1.0.6
// reads the kernel's whole ruleset into its cache before any transaction
// that adds a rule or an element, which at 10,000 services costs more than
// the change itself; a netlink batch needs no cache. The batch does what
// RenderChanged's text does, in the same order, and the kernel applies it
// whole or not at all. Only the rules a service contributes are translated
// (the forms nftGenerator writes); a change to anything else (the fixed
// chains, when the cluster CIDR or node addresses change) goes through
// nft -f as before.

// errNoNetlink says a change has a rule the netlink path does not translate.
var errNoNetlink = fmt.Errorf("rule not translated for netlink")

// nftBatch is a partial sync as netlink messages, not yet sent.
type nftBatch struct {
	changes NFTChanges
	table   *nftables.Table
	ops     []func(c *nftables.Conn) error
}

// netlinkChanges prepares the batch that turns prev into rs, or returns
// errNoNetlink when a changed chain has a rule it cannot translate.
func (rs *NFTRuleset) netlinkChanges(prev *NFTRuleset) (*nftBatch, error) {
	b := &nftBatch{table: &nftables.Table{Name: NFTTable, Family: nftables.TableFamilyIPv4}}
	chain := func(name string) *nftables.Chain { return &nftables.Chain{Name: name, Table: b.table} }
	for _, name := range slices.Sorted(maps.Keys(rs.sets)) {
		if _, ok := prev.sets[name]; ok {
			continue
		}
		set := &nftables.Set{Table: b.table, Name: name, KeyType: nftables.TypeIPAddr, Dynamic: true, HasTimeout: true,
			Timeout: time.Duration(rs.sets[name]) * time.Second}
		b.ops = append(b.ops, func(c *nftables.Conn) error { return c.AddSet(set, nil) })
	}
	// The endpoints before the rules that look them up: the kernel checks
	// each element against every rule bound to its map.
	if err := b.endpointsElements(rs, prev); err != nil {
		return nil, err
	}
	var write []string
	for c, rules := range rs.chains {
		if old, ok := prev.chains[c]; !ok || old != rules {
			write = append(write, c)
		}
	}
	slices.Sort(write)
	for _, c := range write {
		if _, ok := prev.chains[c]; !ok {
			ch := chain(c)
			b.ops = append(b.ops, func(cc *nftables.Conn) error { cc.AddChain(ch); return nil })
		}
	}
	for _, c := range write {
		ch := chain(c)
		if _, ok := prev.chains[c]; ok {
			b.ops = append(b.ops, func(cc *nftables.Conn) error { cc.FlushChain(ch); return nil })
		}
		for line := range strings.Lines(rs.chains[c]) {
			exprs, err := nftExprs(strings.TrimSuffix(line, "\n"))
			if err != nil {
				return nil, fmt.Errorf("chain %s: %q: %w", c, line, err)
			}
			r := &nftables.Rule{Table: b.table, Chain: ch, Exprs: exprs}
			b.ops = append(b.ops, func(cc *nftables.Conn) error { cc.AddRule(r); return nil })
		}
	}
	b.changes.Written = write
	for _, m := range nftMaps {
		set := &nftables.Set{Table: b.table, Name: m.name, IsMap: true, DataType: nftables.TypeVerdict}
		cur, old := rs.maps[m.name], prev.maps[m.name]
		var del, add []nftables.SetElement
		for k, v := range old {
			if nv, ok := cur[k]; !ok || nv != v {
				key, err := nftKey(k)
				if err != nil {
					return nil, err
				}
				del = append(del, nftables.SetElement{Key: key})
			}
		}
		for k, v := range cur {
			if ov, ok := old[k]; !ok || ov != v {
				key, err := nftKey(k)
				if err != nil {
					return nil, err
				}
				target, ok := strings.CutPrefix(v, "goto ")
				if !ok {
					return nil, errNoNetlink
				}
				add = append(add, nftables.SetElement{Key: key, VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: target}})
			}
		}
		b.elements(set, del, add)
	}
	var del []string
	for c := range prev.chains {
		if _, ok := rs.chains[c]; !ok {
			del = append(del, c)
		}
	}
	slices.Sort(del)
	for _, c := range del {
		ch := chain(c)
		b.ops = append(b.ops, func(cc *nftables.Conn) error { cc.FlushChain(ch); return nil })
	}
	for _, c := range del {
		ch := chain(c)
		b.ops = append(b.ops, func(cc *nftables.Conn) error { cc.DelChain(ch); return nil })
	}
	b.changes.Deleted = del
	for name := range prev.sets {
		if _, ok := rs.sets[name]; !ok {
			set := &nftables.Set{Table: b.table, Name: name}
			b.ops = append(b.ops, func(c *nftables.Conn) error { c.DelSet(set); return nil })
		}
	}
	return b, nil
}

// apply sends the batch in the namespace at netnsPath ("" = our own).
func (b *nftBatch) apply(netnsPath string) error {
	if len(b.ops) == 0 {
		return nil
	}
	var opts []nftables.ConnOption
	if netnsPath != "" {
		h, err := netns.GetFromPath(netnsPath)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", netnsPath, err)
		}
		defer h.Close()
		opts = append(opts, nftables.WithNetNSFd(int(h)))
	}
	// The kernel takes a batch in one message no larger than the socket's
	// send buffer (a first sync at 10,000 services is megabytes), and
	// answers each message of it.
	size := max(1<<20, 512*len(b.ops))
	opts = append(opts, nftables.WithSockOptions(func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = errors.Join(unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size),
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4*size))
		}); err != nil {
			return err
		}
		return serr
	}))
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables netlink: %w", err)
	}
	for _, op := range b.ops {
		if err := op(c); err != nil {
			return fmt.Errorf("nftables netlink: %w", err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables netlink batch: %w", err)
	}
	return nil
}

// nftTableExists reports whether the namespace at netnsPath ("" = our
// own) has the mode's table.
func nftTableExists(netnsPath string) (bool, error) {
	var opts []nftables.ConnOption
	if netnsPath != "" {
		h, err := netns.GetFromPath(netnsPath)
		if err != nil {
			return false, fmt.Errorf("open netns %s: %w", netnsPath, err)
		}
		defer h.Close()
		opts = append(opts, nftables.WithNetNSFd(int(h)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return false, fmt.Errorf("nftables netlink: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == NFTTable }), nil
}

// nftKey encodes a map key ("ip . proto . port" or "proto . port") as the
// kernel holds a concatenation: each field in network order, padded to 4 bytes.
func nftKey(k string) ([]byte, error) {
	var out []byte
	for _, f := range strings.Split(k, " . ") {
		var field [4]byte
		switch {
		case f == "tcp":
			field[0] = unix.IPPROTO_TCP
		case f == "udp":
			field[0] = unix.IPPROTO_UDP
		case strings.Contains(f, "."):
			a, err := netip.ParseAddr(f)
			if err != nil || !a.Is4() {
				return nil, errNoNetlink
			}
			field = a.As4()
		default:
			n, err := strconv.ParseUint(f, 10, 16)
			if err != nil {
				return nil, errNoNetlink
			}
			binary.BigEndian.PutUint16(field[:2], uint16(n))
		}
		out = append(out, field[:]...)
	}
	return out, nil
}

// Expressions of the matches our rules use, as nft compiles them.
func loadAddr(offset uint32) expr.Any {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

func cmpReg(op expr.CmpOp, data []byte) expr.Any { return &expr.Cmp{Op: op, Register: 1, Data: data} }

func l4proto(p string) ([]expr.Any, bool) {
	var n byte
	switch p {
	case "tcp":
		n = unix.IPPROTO_TCP
	case "udp":
		n = unix.IPPROTO_UDP
	default:
		return nil, false
	}
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmpReg(expr.CmpOpEq, []byte{n})}, true
}

func addr4(s string) ([]byte, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return nil, false
	}
	b := a.As4()
	return b[:], true
}

func port16(s string) ([]byte, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return nil, false
	}
	return binary.BigEndian.AppendUint16(nil, uint16(n)), true
}

// nftExprs translates one rule of the forms nftGenerator writes.
func nftExprs(rule string) ([]expr.Any, error) {
	f := strings.Fields(rule)
	var out []expr.Any
	for len(f) > 0 {
		switch {
		case (f[0] == "jump" || f[0] == "goto") && len(f) == 2:
			kind := expr.VerdictJump
			if f[0] == "goto" {
				kind = expr.VerdictGoto
			}
			return append(out, &expr.Verdict{Kind: kind, Chain: f[1]}), nil
		case f[0] == "ip" && len(f) >= 3 && (f[1] == "saddr" || f[1] == "daddr"):
			offset := uint32(12)
			if f[1] == "daddr" {
				offset = 16
			}
			out = append(out, loadAddr(offset))
			switch {
			case strings.HasPrefix(f[2], "@"):
				out = append(out, &expr.Lookup{SourceRegister: 1, SetName: f[2][1:]})
				f = f[3:]
			case f[2] == "!=" && len(f) >= 4 && strings.Contains(f[3], "/"):
				p, err := netip.ParsePrefix(f[3])
				if err != nil || !p.Addr().Is4() {
					return nil, errNoNetlink
				}
				mask := make([]byte, 4)
				binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
				if p.Bits() == 0 {
					mask = []byte{0, 0, 0, 0}
				}
				net4 := p.Masked().Addr().As4()
				out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
					cmpReg(expr.CmpOpNeq, net4[:]))
				f = f[4:]
			default:
				a, ok := addr4(f[2])
				if !ok {
					return nil, errNoNetlink
				}
				out = append(out, cmpReg(expr.CmpOpEq, a))
				f = f[3:]
			}
		case (f[0] == "tcp" || f[0] == "udp") && len(f) >= 3 && f[1] == "dport":
			pe, _ := l4proto(f[0])
			p, ok := port16(f[2])
			if !ok {
				return nil, errNoNetlink
			}
			out = append(out, pe...)
			out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, cmpReg(expr.CmpOpEq, p))
			f = f[3:]
		case f[0] == "numgen" && len(f) >= 5 && f[1] == "random" && f[2] == "mod" && f[4] == "0":
			n, err := strconv.ParseUint(f[3], 10, 32)
			if err != nil || n == 0 {
				return nil, errNoNetlink
			}
			out = append(out, &expr.Numgen{Register: 1, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM}, cmpReg(expr.CmpOpEq, []byte{0, 0, 0, 0}))
			f = f[5:]
		case f[0] == "update" && len(f) == 6 && strings.HasPrefix(f[1], "@") && strings.Join(f[2:], " ") == "{ ip saddr }":
			return append(out, loadAddr(12), &expr.Dynset{SrcRegKey: 1, SetName: f[1][1:], Operation: unix.NFT_DYNSET_OP_UPDATE}), nil
		case f[0] == "meta" && len(f) == 17 && f[1] == "l4proto" && strings.Join(f[3:12], " ") == "dnat ip addr . port to numgen random mod" &&
			f[13] == "offset" && f[15] == "map" && strings.HasPrefix(f[16], "@"):
			// meta l4proto P dnat ip addr . port to numgen random mod N offset O map @M
			pe, ok := l4proto(f[2])
			n, err := strconv.ParseUint(f[12], 10, 32)
			offset, err2 := strconv.ParseUint(f[14], 10, 32)
			if !ok || err != nil || err2 != nil || n == 0 {
				return nil, errNoNetlink
			}
			out = append(out, pe...)
			return append(out, &expr.Numgen{Register: 1, Modulus: uint32(n), Type: unix.NFT_NG_RANDOM, Offset: uint32(offset)},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: f[16][1:]},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegAddrMax: 1, RegProtoMin: 9, RegProtoMax: 9, Specified: true}), nil
		case f[0] == "meta" && len(f) == 6 && f[1] == "l4proto" && f[3] == "dnat" && f[4] == "to":
			pe, ok := l4proto(f[2])
			if !ok {
				return nil, errNoNetlink
			}
			host, port, ok := strings.Cut(f[5], ":")
			a, ok1 := addr4(host)
			p, ok2 := port16(port)
			if !ok || !ok1 || !ok2 {
				return nil, errNoNetlink
			}
			out = append(out, pe...)
			return append(out, &expr.Immediate{Register: 1, Data: a}, &expr.Immediate{Register: 2, Data: p},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true}), nil
		default:
			return nil, errNoNetlink
		}
	}
	return nil, errNoNetlink
}
