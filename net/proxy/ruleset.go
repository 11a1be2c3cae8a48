package proxy

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// Ruleset is a set of chains we own, per table, each with its rules in the
// canonical form iptables-save prints. A chain is kept as its rendered
// block ("-A <chain> <spec>\n" per rule), so comparing a chain with its
// previous version is one string comparison and rendering is copying.
// A Ruleset is immutable once built or parsed, but for the one the
// proxier holds as applied, which partial syncs update in place (delta).
type Ruleset struct {
	tables map[string]*table
}

// table holds the chains of one iptables table.
type table struct {
	chains map[string]string // chain -> block
}

func newRuleset() *Ruleset {
	return &Ruleset{tables: map[string]*table{}}
}

// table returns (creating) the named table.
func (rs *Ruleset) table(name string) *table {
	t := rs.tables[name]
	if t == nil {
		t = &table{chains: map[string]string{}}
		rs.tables[name] = t
	}
	return t
}

// ensure declares a chain (empty if new).
func (t *table) ensure(chain string) {
	if _, ok := t.chains[chain]; !ok {
		checkChainName(chain)
		t.chains[chain] = ""
	}
}

// setBlock declares a chain with its rendered rules.
func (t *table) setBlock(chain, block string) {
	if _, ok := t.chains[chain]; !ok {
		checkChainName(chain)
	}
	t.chains[chain] = block
}

// remove deletes the named chains (those it has).
func (t *table) remove(names ...string) {
	for _, c := range names {
		delete(t.chains, c)
	}
}

func (t *table) has(c string) bool {
	_, ok := t.chains[c]
	return ok
}

// Tables lists the tables that have chains, sorted.
func (rs *Ruleset) Tables() []string {
	var out []string
	for name, t := range rs.tables {
		if len(t.chains) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Chains lists the chains of a table, sorted by name.
func (rs *Ruleset) Chains(tableName string) []string {
	t := rs.tables[tableName]
	if t == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(t.chains))
}

// HasChain reports whether the ruleset declares the chain.
func (rs *Ruleset) HasChain(tableName, chain string) bool {
	t := rs.tables[tableName]
	return t != nil && t.has(chain)
}

// Rules returns the rule specs of a chain, without the "-A <chain> "
// prefix (nil if absent or empty).
func (rs *Ruleset) Rules(tableName, chain string) []string {
	t := rs.tables[tableName]
	if t == nil {
		return nil
	}
	var out []string
	prefix := "-A " + chain + " "
	for line := range strings.Lines(t.chains[chain]) {
		out = append(out, strings.TrimPrefix(strings.TrimSuffix(line, "\n"), prefix))
	}
	return out
}

// NumRules counts the rules in all chains.
func (rs *Ruleset) NumRules() int {
	n := 0
	for _, t := range rs.tables {
		for _, b := range t.chains {
			n += strings.Count(b, "\n")
		}
	}
	return n
}

// NumChains counts the chains in all tables.
func (rs *Ruleset) NumChains() int {
	n := 0
	for _, t := range rs.tables {
		n += len(t.chains)
	}
	return n
}

// ChainRef names one chain of one table.
type ChainRef struct {
	Table, Chain string
}

// String is "table/chain".
func (c ChainRef) String() string { return c.Table + "/" + c.Chain }

// Changes says what a rendered restore does.
type Changes struct {
	// Written are the chains declared (flushed) and given their rules.
	Written []ChainRef
	// Deleted are stale chains of ours that are flushed and removed.
	Deleted []ChainRef
}

// Empty reports whether there is nothing to apply.
func (c Changes) Empty() bool { return len(c.Written) == 0 && len(c.Deleted) == 0 }

// Render returns iptables-restore --noflush text that writes every chain of
// the ruleset and deletes nothing.
func (rs *Ruleset) Render() []byte {
	text, _ := rs.render(nil, true)
	return text
}

// RenderChanged returns iptables-restore --noflush text that rewrites only
// the chains whose rules differ from prev (or that prev lacks), and deletes
// chains of ours that prev has and rs does not. A nil prev writes
// everything. The text is empty when nothing changed.
func (rs *Ruleset) RenderChanged(prev *Ruleset) ([]byte, Changes) {
	return rs.render(prev, false)
}

// RenderFull returns text that rewrites every chain of the ruleset and
// deletes the chains of ours that current (the kernel's state, as read
// back) has and rs does not: the fallback after a failed restore.
func (rs *Ruleset) RenderFull(current *Ruleset) ([]byte, Changes) {
	return rs.render(current, true)
}

func (rs *Ruleset) render(prev *Ruleset, all bool) ([]byte, Changes) {
	var ch Changes
	var b strings.Builder
	if all {
		b.Grow(rs.size())
	}
	for _, tname := range []string{TableFilter, TableNAT} {
		t := rs.tables[tname]
		var pt *table
		if prev != nil {
			pt = prev.tables[tname]
		}
		var write, del []string
		if t != nil {
			for c, b := range t.chains {
				if all || pt == nil {
					write = append(write, c)
				} else if pb, ok := pt.chains[c]; !ok || pb != b {
					write = append(write, c)
				}
			}
		}
		if pt != nil {
			for c := range pt.chains {
				if (t == nil || !t.has(c)) && owned(c) {
					del = append(del, c)
				}
			}
		}
		if len(write) == 0 && len(del) == 0 {
			continue
		}
		// Sorted by name, as iptables-save prints them: iptables-nft-restore
		// (1.8.9) builds 20,000 chains in 9 s this way, 16 s in build order.
		slices.Sort(write)
		slices.Sort(del)
		b.WriteString("*" + tname + "\n")
		for _, c := range write {
			b.WriteString(":" + c + " - [0:0]\n")
			ch.Written = append(ch.Written, ChainRef{tname, c})
		}
		for _, c := range del {
			b.WriteString(":" + c + " - [0:0]\n")
			ch.Deleted = append(ch.Deleted, ChainRef{tname, c})
		}
		for _, c := range walkOrder(t, write) {
			b.WriteString(t.chains[c])
		}
		for _, c := range del {
			b.WriteString("-X " + c + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	return []byte(b.String()), ch
}

// walkOrder orders the chains to write (sorted by name) for their rules:
// ORCH-SERVICES first, then each service chain followed by its endpoint
// chains, in the order ORCH-SERVICES jumps to them, then the rest. The
// kernel allocates rules in the order they come and, with the nf_tables
// backend, walks every chain reachable from the base chains in that order
// at each commit that adds a rule with a jump or a DNAT (nft_chain_validate):
// rules laid out in walk order make that walk ~18 % cheaper at 10,000
// services (73 against 89 ms of CPU for one endpoint change here). The
// chains are still declared sorted by name, which iptables-nft-restore
// needs to build 40,000 chains in seconds rather than minutes.
func walkOrder(t *table, write []string) []string {
	if len(write) < 2 {
		return write
	}
	in := make(map[string]bool, len(write))
	for _, c := range write {
		in[c] = true
	}
	out := make([]string, 0, len(write))
	emit := func(c string) {
		if in[c] {
			out = append(out, c)
			delete(in, c)
		}
	}
	service := func(svc string) {
		if !in[svc] {
			return // its endpoint chains, if written, come with the rest
		}
		emit(svc)
		for line := range strings.Lines(t.chains[svc]) {
			if sep := jumpTarget(strings.TrimSuffix(line, "\n")); strings.HasPrefix(sep, PrefixSEP) {
				emit(sep)
			}
		}
	}
	if in[ChainServices] {
		emit(ChainServices)
		for line := range strings.Lines(t.chains[ChainServices]) {
			if svc := jumpTarget(strings.TrimSuffix(line, "\n")); strings.HasPrefix(svc, PrefixSVC) {
				service(svc)
			}
		}
	}
	for _, c := range write {
		if strings.HasPrefix(c, PrefixSVC) {
			service(c)
		}
	}
	for _, c := range write {
		emit(c)
	}
	return out
}

// size estimates the length of a full render.
func (rs *Ruleset) size() int {
	n := 64
	for _, t := range rs.tables {
		for c, b := range t.chains {
			n += len(b) + 2*len(c) + 16
		}
	}
	return n
}

// jumpRule is a rule in a built-in chain that jumps to one of our chains.
type jumpRule struct {
	table, chain, spec string
}

// ParseSave reads iptables-save output and keeps the chains we own, with
// their rules as printed: the kernel's state to diff a Ruleset against.
func ParseSave(text []byte) *Ruleset {
	rs, _ := parseSave(text)
	return rs
}

// parseSave is ParseSave that also returns the rules of built-in or
// foreign chains that jump to one of our chains.
func parseSave(text []byte) (*Ruleset, []jumpRule) {
	rs := newRuleset()
	var jumps []jumpRule
	var cur *table
	tname := ""
	blocks := map[string]*strings.Builder{}
	flush := func() {
		for c, b := range blocks {
			cur.setBlock(c, b.String())
		}
		clear(blocks)
	}
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "*"):
			if cur != nil {
				flush()
			}
			tname = strings.TrimSpace(line[1:])
			cur = rs.table(tname)
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			if owned(name) {
				cur.ensure(name)
			}
		case strings.HasPrefix(line, "-A "):
			chain, spec, _ := strings.Cut(line[3:], " ")
			if owned(chain) {
				b := blocks[chain]
				if b == nil {
					b = &strings.Builder{}
					blocks[chain] = b
				}
				b.WriteString(line)
				b.WriteByte('\n')
			} else if target := jumpTarget(spec); target != "" && owned(target) {
				jumps = append(jumps, jumpRule{tname, chain, spec})
			}
		}
	}
	if cur != nil {
		flush()
	}
	return rs, jumps
}

// jumpTarget returns the -j target of a rule spec.
func jumpTarget(spec string) string {
	i := strings.LastIndex(spec, "-j ")
	if i < 0 || (i > 0 && spec[i-1] != ' ') {
		return ""
	}
	target, _, _ := strings.Cut(spec[i+3:], " ")
	return target
}
