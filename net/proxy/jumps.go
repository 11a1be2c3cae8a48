package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// The jump rules from the built-in chains to ours are installed, checked
// and removed with go-iptables, one iptables exec per rule; everything
// else goes through iptables-restore.

// withIPTables runs fn with a go-iptables handle for the backend's flavour
// (b.iptables: iptables-nft or iptables-legacy as detected) on a thread in
// the network namespace at netnsPath. go-iptables execs the iptables binary,
// and a child process inherits the namespace of the OS thread that forks it,
// so every call on ipt must be made inside fn.
func (b *backend) withIPTables(netnsPath string, fn func(ipt *iptables.IPTables) error) error {
	return InNetNS(netnsPath, func() error {
		ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(5), iptables.Path(b.iptables))
		if err != nil {
			return fmt.Errorf("go-iptables (%s): %w", b.iptables, err)
		}
		return fn(ipt)
	})
}

// ensureJumps inserts at position 1 each rule of builtinJumps that its
// built-in chain lacks, and returns how many it inserted. The chains they
// jump to must exist already.
//
// A jump rule that exists but not at position 1 (something inserted rules
// above it after us) is left where it is, as kube-proxy does: moving it
// takes a delete and an insert, a window in which service traffic bypasses
// our chains, and the rules above it are someone else's choice.
func (b *backend) ensureJumps(ctx context.Context, netnsPath string) (int, error) {
	inserted := 0
	err := b.withIPTables(netnsPath, func(ipt *iptables.IPTables) error {
		for _, j := range builtinJumps {
			if err := ctx.Err(); err != nil {
				return err
			}
			args, err := splitSpec(j.spec)
			if err != nil {
				return err
			}
			ok, err := ipt.Exists(j.table, j.chain, args...)
			if err != nil {
				return fmt.Errorf("check jump rule in %s/%s: %w", j.table, j.chain, err)
			}
			if ok {
				continue
			}
			if err := ipt.Insert(j.table, j.chain, 1, args...); err != nil {
				return fmt.Errorf("insert jump rule in %s/%s: %w", j.table, j.chain, err)
			}
			inserted++
		}
		return nil
	})
	return inserted, err
}

// deleteJumps deletes the jump rules to our chains: those of builtinJumps
// whose target chain exists in state, and every rule in have (the jumps
// iptables-save showed, including stray ones with another spec or in
// another chain, which would keep our chains from being deleted, and
// duplicates, listed once per copy).
func (b *backend) deleteJumps(ctx context.Context, netnsPath string, state *Ruleset, have []jumpRule) error {
	var del []jumpRule
	for _, j := range builtinJumps {
		// Checking a rule that jumps to a missing chain is an error, not
		// "absent" (iptables-nft exits 2: Chain ... does not exist).
		if state.HasChain(j.table, jumpTarget(j.spec)) {
			del = append(del, j)
		}
	}
	del = append(del, have...)
	if len(del) == 0 {
		return nil
	}
	return b.withIPTables(netnsPath, func(ipt *iptables.IPTables) error {
		for _, j := range del {
			if err := ctx.Err(); err != nil {
				return err
			}
			args, err := splitSpec(j.spec)
			if err != nil {
				return err
			}
			if err := ipt.DeleteIfExists(j.table, j.chain, args...); err != nil {
				var ie *iptables.Error
				if errors.As(err, &ie) && ie.IsNotExist() {
					continue // gone since we read the state
				}
				return fmt.Errorf("delete jump rule %s/%s %s: %w", j.table, j.chain, j.spec, err)
			}
		}
		return nil
	})
}

// splitSpec splits a rule spec, as iptables-save prints it, into iptables
// arguments: words are separated by spaces, and a double-quoted word (a
// comment) is one argument without its quotes, in which a backslash escapes
// the next character (iptables-save escapes ", ' and \ that way).
func splitSpec(spec string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(spec); i++ {
		switch c := spec[i]; {
		case inQuote && c == '\\' && i+1 < len(spec):
			i++
			cur.WriteByte(spec[i])
		case c == '"':
			inQuote, inWord = !inQuote, true
		case c == ' ' && !inQuote:
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("rule spec %q: unterminated quote", spec)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
