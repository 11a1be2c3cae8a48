package proxy

import (
	"slices"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func refs(cs []ChainRef) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	slices.Sort(out)
	return out
}

func TestRenderChanged(t *testing.T) {
	services, endpoints := manyServices(200)
	in := RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}
	prev := BuildRules(in)

	// Copy the endpoints list, replacing one object (inputs are immutable).
	withEndpoints := func(i int, e *v1.Endpoints) []*v1.Endpoints {
		out := slices.Clone(endpoints)
		out[i] = e
		return out
	}
	svc42 := SVCChainName("default", "svc-00042", "http", "tcp")
	oldIP := endpoints[42].Subsets[0].Addresses[1].IP
	cases := []struct {
		name        string
		in          RulesInput
		wantWritten []string
		wantDeleted []string
	}{
		{name: "no change", in: in},
		{
			name: "one endpoint replaced",
			in: RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: withEndpoints(42,
				eps("default", "svc-00042", []string{endpoints[42].Subsets[0].Addresses[0].IP, "10.250.0.9", endpoints[42].Subsets[0].Addresses[2].IP},
					svcPort{"http", "TCP", 8080, 0}))},
			wantWritten: []string{"nat/" + svc42, "nat/" + SEPChainName("default", "svc-00042", "http", "tcp", "10.250.0.9", 8080)},
			wantDeleted: []string{"nat/" + SEPChainName("default", "svc-00042", "http", "tcp", oldIP, 8080)},
		},
		{
			name: "all endpoints gone: SVC chain emptied, SEPs deleted, reject added",
			in: RulesInput{ClusterCIDR: clusterCIDR, Services: services,
				Endpoints: withEndpoints(42, eps("default", "svc-00042", nil, svcPort{"http", "TCP", 8080, 0}))},
			wantWritten: []string{"filter/" + ChainFirewall, "nat/" + svc42},
			wantDeleted: func() []string {
				var out []string
				for _, a := range endpoints[42].Subsets[0].Addresses {
					out = append(out, "nat/"+SEPChainName("default", "svc-00042", "http", "tcp", a.IP, 8080))
				}
				return out
			}(),
		},
		{
			name: "service removed: its chains deleted, ORCH-SERVICES rewritten",
			in: RulesInput{ClusterCIDR: clusterCIDR, Services: slices.Delete(slices.Clone(services), 42, 43),
				Endpoints: endpoints},
			wantWritten: []string{"nat/" + ChainServices},
			wantDeleted: func() []string {
				out := []string{"nat/" + svc42}
				for _, a := range endpoints[42].Subsets[0].Addresses {
					out = append(out, "nat/"+SEPChainName("default", "svc-00042", "http", "tcp", a.IP, 8080))
				}
				return out
			}(),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text, ch := BuildRules(c.in).RenderChanged(prev)
			slices.Sort(c.wantWritten)
			slices.Sort(c.wantDeleted)
			if got := refs(ch.Written); !slices.Equal(got, c.wantWritten) {
				t.Fatalf("written %v, want %v", got, c.wantWritten)
			}
			if got := refs(ch.Deleted); !slices.Equal(got, c.wantDeleted) {
				t.Fatalf("deleted %v, want %v", got, c.wantDeleted)
			}
			if ch.Empty() != (len(text) == 0) {
				t.Fatalf("empty changes but %d bytes of text", len(text))
			}
			checkRestoreText(t, string(text), ch)
		})
	}
}

// checkRestoreText parses restore text back and checks its invariants: every
// table block is committed, every chain written or deleted is declared
// before use, deleted chains get -X and no rules, rules are only appended to
// declared chains, and every jump target is one of ours.
func checkRestoreText(t *testing.T, text string, ch Changes) {
	t.Helper()
	declared := map[string]bool{}
	deleted := map[string]bool{}
	written := map[string]bool{}
	for _, c := range ch.Written {
		written[c.String()] = true
	}
	tbl := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		switch {
		case strings.HasPrefix(line, "*"):
			if tbl != "" {
				t.Fatalf("line %d: table %s opened before %s was committed", i+1, line, tbl)
			}
			tbl = line[1:]
		case line == "COMMIT":
			tbl = ""
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			declared[tbl+"/"+name] = true
		case strings.HasPrefix(line, "-A "):
			chain, spec, _ := strings.Cut(line[3:], " ")
			if !declared[tbl+"/"+chain] || !written[tbl+"/"+chain] {
				t.Fatalf("line %d appends to %s/%s, not declared as written", i+1, tbl, chain)
			}
			if target := jumpTarget(spec); strings.HasPrefix(target, "ORCH-") && !owned(target) {
				t.Fatalf("line %d jumps to unknown chain %s", i+1, target)
			}
		case strings.HasPrefix(line, "-X "):
			if !declared[tbl+"/"+line[3:]] {
				t.Fatalf("line %d deletes undeclared %s", i+1, line[3:])
			}
			deleted[tbl+"/"+line[3:]] = true
		default:
			t.Fatalf("line %d: unexpected %q", i+1, line)
		}
	}
	if tbl != "" {
		t.Fatalf("table %s not committed", tbl)
	}
	for _, c := range ch.Deleted {
		if !deleted[c.String()] {
			t.Fatalf("%s listed as deleted but has no -X", c)
		}
	}
}

func TestRenderFullAndParseRoundTrip(t *testing.T) {
	services, endpoints := manyServices(20)
	services = append(services, withAffinity(svc("kube", "dns", "10.96.0.10", svcPort{"dns", "UDP", 53, 30053}), 0))
	endpoints = append(endpoints, eps("kube", "dns", []string{"10.244.9.9"}, svcPort{"dns", "UDP", 5353, 0}))
	rs := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})

	full := rs.Render()
	parsed, jumps := parseSave(full)
	if len(jumps) != 0 {
		t.Fatalf("jumps from our own chains reported as foreign: %v", jumps)
	}
	requireSameRules(t, parsed, rs)

	// A kernel state with a stale chain and a foreign one: the full render
	// writes every chain, deletes the stale one and leaves the foreign one.
	current, _ := parseSave([]byte("*nat\n:ORCH-SEP-STALESTALESTALE - [0:0]\n:OTHER-CHAIN - [0:0]\n" +
		"-A ORCH-SEP-STALESTALESTALE -j DNAT --to-destination 1.2.3.4:5\nCOMMIT\n"))
	text, ch := rs.RenderFull(current)
	if len(ch.Written) != rs.NumChains() {
		t.Fatalf("full render wrote %d chains, want all %d", len(ch.Written), rs.NumChains())
	}
	if got := refs(ch.Deleted); !slices.Equal(got, []string{"nat/ORCH-SEP-STALESTALESTALE"}) {
		t.Fatalf("deleted %v", got)
	}
	if strings.Contains(string(text), "OTHER-CHAIN") {
		t.Fatal("full render touches a chain that is not ours")
	}
	checkRestoreText(t, string(text), ch)
}

func TestFailingLines(t *testing.T) {
	text := []byte("*nat\n:A - [0:0]\n-A A -p bogus -j X\n-A A -j RETURN\nCOMMIT\n")
	for _, stderr := range []string{
		"iptables-restore v1.8.9 (nf_tables): unknown protocol \"bogus\" specified\nError occurred at line: 3\n",
		"iptables-restore: line 3 failed\n",
	} {
		got := failingLines(text, stderr)
		want := "  2: :A - [0:0]\n> 3: -A A -p bogus -j X\n  4: -A A -j RETURN\n"
		if got != want {
			t.Fatalf("failingLines(%q) =\n%s\nwant\n%s", stderr, got, want)
		}
	}
	if failingLines(text, "permission denied") != "" {
		t.Fatal("context for an error naming no line")
	}
}

func TestSetupAndCleanupText(t *testing.T) {
	empty := newRuleset()
	text := string(setupText(empty))
	for _, b := range baseChains {
		if !strings.Contains(text, ":"+b.chain+" - [0:0]") {
			t.Fatalf("setup text does not create %s:\n%s", b.chain, text)
		}
	}
	// The jump rules are go-iptables' (ensureJumps), not the restore's.
	if strings.Contains(text, "-I ") || strings.Contains(text, "-A ") {
		t.Fatalf("setup text writes rules:\n%s", text)
	}
	// With everything present, Setup writes nothing (declaring an existing
	// chain would flush it).
	state := BuildRules(RulesInput{})
	if text := setupText(state); len(text) != 0 {
		t.Fatalf("setup text with everything present:\n%s", text)
	}
	clean := string(cleanupText(state))
	if strings.Contains(clean, "-D ") {
		t.Fatalf("cleanup text deletes rules (deleteJumps does):\n%s", clean)
	}
	for _, b := range baseChains {
		if !strings.Contains(clean, ":"+b.chain+" - [0:0]\n") || !strings.Contains(clean, "-X "+b.chain+"\n") {
			t.Fatalf("cleanup does not flush and delete %s:\n%s", b.chain, clean)
		}
	}
	if text := cleanupText(newRuleset()); len(text) != 0 {
		t.Fatalf("cleanup text with nothing of ours:\n%s", text)
	}
}

func TestSplitSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{builtinJumps[0].spec, []string{"-m", "comment", "--comment", "orch service portals", "-j", ChainServices}},
		{builtinJumps[3].spec, []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "orch service firewall", "-j", ChainFirewall}},
		{`-s 10.0.0.0/8  -j RETURN`, []string{"-s", "10.0.0.0/8", "-j", "RETURN"}},
		{`-m comment --comment "say \"hi\" \\ it's" -j X`, []string{"-m", "comment", "--comment", `say "hi" \ it's`, "-j", "X"}},
		{`-m comment --comment "" -j X`, []string{"-m", "comment", "--comment", "", "-j", "X"}},
		{``, nil},
	} {
		got, err := splitSpec(tc.spec)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("splitSpec(%q) = %q, %v; want %q", tc.spec, got, err, tc.want)
		}
	}
	if _, err := splitSpec(`-m comment --comment "open -j X`); err == nil {
		t.Error("unterminated quote accepted")
	}
}

// The rules of a full render come in the order the kernel walks them:
// ORCH-SERVICES, then each service chain and its endpoint chains in the
// order ORCH-SERVICES jumps to them, then the rest; every chain's rules
// come together, once.
func TestRenderWalkOrder(t *testing.T) {
	services, endpoints := manyServices(30)
	rs := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})
	var got []string // chains in the order their rules come, nat table
	tbl := ""
	for line := range strings.Lines(string(rs.Render())) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "*"):
			tbl = line[1:]
		case tbl == TableNAT && strings.HasPrefix(line, "-A "):
			chain, _, _ := strings.Cut(line[3:], " ")
			if len(got) == 0 || got[len(got)-1] != chain {
				if slices.Contains(got, chain) {
					t.Fatalf("the rules of %s come in two runs", chain)
				}
				got = append(got, chain)
			}
		}
	}
	want := []string{ChainServices}
	for _, r := range rs.Rules(TableNAT, ChainServices) {
		svc := jumpTarget(r)
		if !strings.HasPrefix(svc, PrefixSVC) {
			continue
		}
		want = append(want, svc)
		for _, sr := range rs.Rules(TableNAT, svc) {
			if sep := jumpTarget(sr); strings.HasPrefix(sep, PrefixSEP) {
				want = append(want, sep)
			}
		}
	}
	if len(want) != 1+30*4 {
		t.Fatalf("%d chains on the walk, want %d", len(want), 1+30*4)
	}
	if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("rules in the order of chains\n%v\nwant first\n%v", got, want)
	}
	// The rest (chains with rules off the walk) follow, sorted by name.
	rest := got[len(want):]
	if !slices.IsSorted(rest) || !slices.Contains(rest, ChainPostrouting) || !slices.Contains(rest, ChainMarkMasq) {
		t.Fatalf("after the walk: %v", rest)
	}
}
