package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/test/harness"
	"orch.io/orch/thp"
)

// hugeMappings sums, over the mappings of process pid that carry the
// kernel's hugepage advice (VmFlags hg), their size and the huge pages in
// them.
func hugeMappings(t *testing.T, pid int) (size, anonHuge int64) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var curSize, curHuge int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb := func() int64 { n, _ := strconv.ParseInt(fields[1], 10, 64); return n << 10 }
		switch fields[0] {
		case "Size:":
			curSize = kb()
		case "AnonHugePages:":
			curHuge = kb()
		case "VmFlags:":
			for _, fl := range fields[1:] {
				if fl == "hg" {
					size += curSize
					anonHuge += curHuge
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return size, anonHuge
}

// Each master advises its heap's address space for transparent huge pages
// at start (--heap-huge-pages, 4 GiB by default) where the system leaves
// them to madvise, as the machines orch's suite runs on do, and its store
// grows into huge pages; elsewhere it says in its log why it did not.
func TestMastersGrowIntoHugePages(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	for i := range 200 {
		if err := cl.Create(ctxT(t, 30*time.Second), testPod(fmt.Sprintf("thp-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	setting, err := thp.System{}.Setting()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Masters {
		logs, err := os.ReadFile(m.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		size, huge := hugeMappings(t, m.PID())
		if setting != "madvise" {
			if !strings.Contains(string(logs), "heap not advised for transparent huge pages") {
				t.Errorf("%s: THP setting %q and no log of why the heap was not advised", m.Name, setting)
			}
			continue
		}
		if !strings.Contains(string(logs), "heap advised for transparent huge pages") {
			t.Errorf("%s: no log of the heap's advice", m.Name)
		}
		// The advised stretch is 4 GiB less the trimming to 2 MiB bounds.
		if size < 4<<30-32<<20 || huge == 0 {
			t.Errorf("%s: %d MiB of mappings advised for huge pages holding %d MiB of them, want ~4 GiB holding some", m.Name, size>>20, huge>>20)
		}
		t.Logf("%s: %d MiB advised, %d MiB in huge pages", m.Name, size>>20, huge>>20)
	}
}
