package thp

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseSetting(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"always [madvise] never\n", "madvise", false},
		{"[always] madvise never\n", "always", false},
		{"always madvise [never]\n", "never", false},
		{"always inherit [madvise] never\n", "madvise", false},
		{"always madvise never\n", "", true},
		{"", "", true},
		{"[] madvise", "", true},
	} {
		got, err := parseSetting(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSetting(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestGodebugDisablesTHP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"disablethp=1", true},
		{"madvdontneed=1,disablethp=1", true},
		{"disablethp=1,disablethp=0", false},
		{"disablethp=0", false},
		{"xdisablethp=1", false},
		{" disablethp=1 ", true},
	} {
		if got := godebugDisablesTHP(tc.in); got != tc.want {
			t.Errorf("godebugDisablesTHP(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestHugeRanges(t *testing.T) {
	const M = 1 << 20
	for _, tc := range []struct {
		name string
		in   []Range
		want []Range
	}{
		{"aligned chunk kept whole", []Range{{4 * M, 36 * M}}, []Range{{4 * M, 36 * M}}},
		{"unaligned chunk trimmed to huge pages", []Range{{3 * M, 36*M + 8192}}, []Range{{4 * M, 36 * M}}},
		{"touching chunks merged before trimming", []Range{{35 * M, 67 * M}, {3 * M, 35 * M}}, []Range{{4 * M, 66 * M}}},
		{"apart chunks stay apart", []Range{{0, 32 * M}, {64 * M, 96 * M}}, []Range{{0, 32 * M}, {64 * M, 96 * M}}},
		{"a chunk holding no whole huge page dropped", []Range{{M, 2*M + 4096}}, nil},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hugeRanges(tc.in); !slices.Equal(got, tc.want) {
				t.Fatalf("hugeRanges(%x) = %x, want %x", tc.in, got, tc.want)
			}
		})
	}
}

// fakeSystem is a root holding the kernel setting files AdviseHeap reads.
func fakeSystem(t *testing.T, enabled, overcommit string) System {
	root := t.TempDir()
	write := func(path, s string) {
		if s == "" {
			return
		}
		if err := os.MkdirAll(filepath.Dir(root+path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(enabledPath, enabled)
	write(overcommitPath, overcommit)
	return System{Root: root}
}

func TestAdviseHeapSaysWhyItDoesNothing(t *testing.T) {
	for _, tc := range []struct {
		name, enabled, overcommit, godebug string
		size                               int64
		setting, reason                    string
	}{
		{"no THP in the kernel", "", "0", "", 64 << 20, "", "the kernel has no transparent huge pages"},
		{"always", "[always] madvise never", "0", "", 64 << 20, "always", `the system's THP setting is "always", not "madvise"`},
		{"never", "always madvise [never]", "0", "", 64 << 20, "never", `the system's THP setting is "never", not "madvise"`},
		{"GODEBUG disablethp", "always [madvise] never", "0", "disablethp=1", 64 << 20, "madvise", "GODEBUG disablethp=1 keeps huge pages off the heap"},
		{"strict overcommit", "always [madvise] never", "2\n", "", 64 << 20, "madvise", "the kernel commits memory strictly (vm.overcommit_memory=2)"},
		{"no size", "always [madvise] never", "0", "", 0, "madvise", "no size asked for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GODEBUG", tc.godebug)
			rep, err := fakeSystem(t, tc.enabled, tc.overcommit).AdviseHeap(tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Setting != tc.setting || rep.Reason != tc.reason || rep.Advised != 0 || rep.Ranges != nil {
				t.Fatalf("report %+v, want setting %q, reason %q and nothing advised", rep, tc.setting, tc.reason)
			}
		})
	}
	if _, err := fakeSystem(t, "always madvise never", "0").AdviseHeap(64 << 20); err == nil {
		t.Fatal("a setting without a choice in brackets was taken")
	}
}

// mapping is one mapping of /proc/self/smaps: its range, its huge pages and
// its flags.
type mapping struct {
	Range
	anonHuge int64
	flags    []string
}

func smaps(t *testing.T) []mapping {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				ms = append(ms, mapping{Range: Range{uintptr(a), uintptr(b)}})
				continue
			}
		}
		if len(ms) == 0 {
			continue
		}
		m := &ms[len(ms)-1]
		switch fields[0] {
		case "AnonHugePages:":
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			m.anonHuge = kb << 10
		case "VmFlags:":
			m.flags = fields[1:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ms
}

// within says whether a mapping lies inside one of rs.
func within(m mapping, rs []Range) bool {
	for _, r := range rs {
		if m.Start >= r.Start && m.End <= r.End {
			return true
		}
	}
	return false
}

var sink [][]byte

// TestAdviseHeapBacksTheHeapWithHugePages advises this test process's heap
// on the real system. Where its setting is "madvise" (the machines orch's
// suite runs on), the advised stretch must carry the kernel's hugepage flag
// and, once the heap grows into it, hold huge pages; elsewhere AdviseHeap
// must say why it did nothing.
func TestAdviseHeapBacksTheHeapWithHugePages(t *testing.T) {
	sys := System{}
	setting, err := sys.Setting()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GODEBUG", "")
	const size = 256 << 20
	rep, err := sys.AdviseHeap(size)
	if err != nil {
		t.Fatal(err)
	}
	if setting != "madvise" {
		if rep.Advised != 0 || rep.Reason == "" {
			t.Fatalf("setting %q: report %+v, want nothing advised and a reason", setting, rep)
		}
		return
	}
	if rep.Reason != "" || rep.Advised < size-2*chunk || len(rep.Ranges) == 0 {
		t.Fatalf("report %+v, want about %d bytes advised", rep, size)
	}
	var advisedMaps int
	for _, m := range smaps(t) {
		if within(m, rep.Ranges) {
			advisedMaps++
			if !slices.Contains(m.flags, "hg") {
				t.Fatalf("mapping %x-%x inside the advised ranges lacks the hugepage flag: %v", m.Start, m.End, m.flags)
			}
		}
	}
	if advisedMaps == 0 {
		t.Fatalf("no mapping lies inside the advised ranges %x", rep.Ranges)
	}
	// Grow the heap by 96 MiB of small objects, as a store grows.
	for range 96 << 10 {
		b := make([]byte, 1024)
		b[0] = 1
		sink = append(sink, b)
	}
	var huge int64
	for _, m := range smaps(t) {
		if within(m, rep.Ranges) {
			huge += m.anonHuge
		}
	}
	sink = nil
	if huge == 0 {
		t.Fatalf("the heap grew 96 MiB into the advised ranges %x and no huge page backs them", rep.Ranges)
	}
	t.Logf("advised %d MiB in %d ranges (%d faults mapping it); %d MiB of huge pages after the heap grew", rep.Advised>>20, len(rep.Ranges), rep.Faults, huge>>20)
}
