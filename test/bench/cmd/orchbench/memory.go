package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver"
	"orch.io/orch/test/harness"
)

// memoryGoals are the bounds on a master's RSS after a full GC, by
// pods held: 150 MB at 10,000 pods, 1 GB at 150,000 (decimal megabytes).
var memoryGoals = []struct {
	pods  int
	bytes int64
}{{10000, 150e6}, {150000, 1e9}}

// memoryGoal returns the RSS bound for a master holding pods pods: the
// bound of the smallest size at least pods, 0 when there is none.
func memoryGoal(pods int) int64 {
	for _, g := range memoryGoals {
		if pods <= g.pods {
			return g.bytes
		}
	}
	return 0
}

// masterMemory is one master's memory after a full GC.
type masterMemory struct {
	name   string
	leader bool
	// gcRSS is VmRSS after a plain full GC (runtime.GC), which keeps the
	// pages it freed for the heap's next growth (--gc-percent).
	gcRSS int64
	// rss, anon and file are VmRSS, RssAnon and RssFile after a full GC
	// that returned the freed pages to the system: what the master needs
	// to hold its state (file: the binary's and raft.db's pages read).
	rss, anon, file int64
	// files is the file-backed RSS by file, largest first (smaps).
	files []fileRSS
	// stats are the runtime's figures after that GC.
	stats apiserver.MemoryStats
}

// role is "leader" or "follower".
func (m masterMemory) role() string {
	if m.leader {
		return "leader"
	}
	return "follower"
}

// memorySection fills runs fresh clusters to pods pods each and reads every
// master's RSS after a full GC, leader and followers apart (-only memory).
// Memory is not timing: the figures hold on a shared machine.
func memorySection(ctx context.Context, t *runT, bins harness.Binaries, o options) (string, error) {
	var env []string
	if o.masterEnv != "" {
		env = strings.Split(o.masterEnv, ",")
	}
	runs := max(o.runs, 1)
	// by role ("leader", "follower"): each master's RSS, RSS after a
	// plain GC, live heap and heap unused in spans, for the medians.
	type figures struct{ rss, gcRSS, live, unused []int64 }
	by := map[string]*figures{"leader": {}, "follower": {}}
	var lines []string
	for run := range runs {
		c := harness.StartCluster(t, bins, harness.Options{MasterEnv: env, MasterArgs: strings.Fields(o.masterArgs)})
		mem, err := holdPods(ctx, c, o, run)
		for i := range c.Masters {
			c.Kill(i)
		}
		if err != nil {
			return "", fmt.Errorf("run %d: %w", run+1, err)
		}
		var parts []string
		for _, m := range mem {
			role := m.role()
			f := by[role]
			f.rss, f.gcRSS = append(f.rss, m.rss), append(f.gcRSS, m.gcRSS)
			f.live, f.unused = append(f.live, int64(m.stats.HeapLiveBytes)), append(f.unused, int64(m.stats.HeapUnusedBytes))
			parts = append(parts, fmt.Sprintf("%s (%s) %s RSS (anon %s, file %s [%s]; Go heap live %s, unused in spans %s, free %s, runtime total %s less %s released; %s after a plain GC)",
				m.name, role, mb(m.rss), mb(m.anon), mb(m.file), describeFiles(m.files), mb(int64(m.stats.HeapLiveBytes)), mb(int64(m.stats.HeapUnusedBytes)),
				mb(int64(m.stats.HeapFreeBytes)), mb(int64(m.stats.TotalBytes)), mb(int64(m.stats.ReleasedBytes)), mb(m.gcRSS)))
		}
		lines = append(lines, fmt.Sprintf("  run %d: %s", run+1, strings.Join(parts, "; ")))
	}
	l, f := by["leader"], by["follower"]
	verdict := "no goal for this size"
	goal := memoryGoal(o.rssPods)
	worst := max(medianInt(l.rss), medianInt(f.rss))
	if goal > 0 {
		verdict = fmt.Sprintf("goal < %d MB: ", goal/1e6)
		if worst < goal {
			verdict += "met"
		} else {
			verdict += "NOT met"
		}
	}
	head := fmt.Sprintf("master RSS holding %d pods after a full GC that returns free pages (median of %d fresh clusters): leader %s, followers %s (%s); Go heap live: leader %s, followers %s; heap unused in spans (HeapInuse − HeapAlloc): leader %s, followers %s; after a plain GC: leader %s, followers %s",
		o.rssPods, runs, mb(medianInt(l.rss)), mb(medianInt(f.rss)), verdict, mb(medianInt(l.live)), mb(medianInt(f.live)),
		mb(medianInt(l.unused)), mb(medianInt(f.unused)), mb(medianInt(l.gcRSS)), mb(medianInt(f.gcRSS)))
	return head + "\n" + strings.Join(lines, "\n"), nil
}

// holdPods fills c to o.rssPods pods, waits until every master applied
// them, and reads each master's memory after a full GC. With -profile it
// also keeps each master's heap profile.
func holdPods(ctx context.Context, c *harness.Cluster, o options, run int) ([]masterMemory, error) {
	if err := fillRounds(ctx, c, o.clients, o.rssPods); err != nil {
		return nil, err
	}
	c.WaitCaughtUp(10 * time.Minute)
	leader := c.WaitLeader(30 * time.Second)
	var out []masterMemory
	for i := range c.Masters {
		mm, err := readMasterMemory(ctx, c, i)
		if err != nil {
			return nil, err
		}
		mm.leader = i == leader
		out = append(out, mm)
		if o.profileDir != "" {
			if err := saveHeapProfiles(ctx, c, i, o.profileDir, run); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// saveHeapProfiles keeps master i's heap profile after a full GC
// (heap-RUN-NAME.pb.gz, for go tool pprof) and its text form with the
// runtime's MemStats (heap-RUN-NAME.txt: HeapInuse, StackInuse, GCSys...,
// where the RSS that is not live heap goes) in dir.
func saveHeapProfiles(ctx context.Context, c *harness.Cluster, i int, dir string, run int) error {
	name := c.Masters[i].Name
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("heap profile of %s: %w", name, err)
	}
	for _, p := range []struct {
		query url.Values
		file  string
	}{
		{url.Values{"gc": {"1"}}, fmt.Sprintf("heap-%d-%s.pb.gz", run+1, name)},
		{url.Values{"debug": {"1"}}, fmt.Sprintf("heap-%d-%s.txt", run+1, name)},
	} {
		var raw []byte
		if err := c.Client(i).Do(ctx, "GET", "/debug/pprof/heap", p.query, nil, &raw); err != nil {
			return fmt.Errorf("heap profile of %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, p.file), raw, 0o644); err != nil {
			return fmt.Errorf("heap profile of %s: %w", name, err)
		}
	}
	return nil
}

// fillRounds fills c to n pods named as fill names them, in rounds: each
// round lists the pods stored and creates the missing ones, create j
// through master j%masters as clients spread over the masters do (one
// master serving every create ends with more of its heap fragmented by the
// API's garbage than the others: that would be the figure of the master
// clients favour, not of the leader); a create with an unknown outcome (a
// leader change on a starved host, likelier as the masters hold more) is
// left to the next round's list to settle, up to ten rounds.
func fillRounds(ctx context.Context, c *harness.Cluster, workers, n int) error {
	cl := c.Client()
	per := make([]*client.Client, len(c.Masters))
	for i := range c.Masters {
		per[i] = c.Client(i)
	}
	for round := range 10 {
		l, err := cl.List(ctx, "pods", "default", client.ListOptions{})
		if err != nil {
			return fmt.Errorf("list the pods filled: %w", err)
		}
		have := make(map[string]bool, len(l.Items))
		for _, raw := range l.Items {
			var m struct {
				Metadata struct{ Name string } `json:"metadata"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("decode a pod listed: %w", err)
			}
			have[m.Metadata.Name] = true
		}
		var missing []string
		for i := range n {
			if name := fmt.Sprintf("fill-%06d", i); !have[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		var unknown atomic.Int64
		err = forEach(ctx, workers, len(missing), func(ctx context.Context, j int) error {
			err := per[j%len(per)].Create(ctx, podBody(missing[j]))
			switch {
			case err == nil || v1.IsAlreadyExists(err):
				return nil
			case client.IsUnknownOutcome(err) || v1.CodeOf(err) == 503 || v1.CodeOf(err) == 504:
				unknown.Add(1)
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("fill to %d pods: %w", n, err)
		}
		if u := unknown.Load(); u > 0 {
			fmt.Fprintf(os.Stderr, "orchbench: memory: fill round %d: %d creates of %d with an unknown outcome or unavailable; the next round settles them\n", round+1, u, len(missing))
		}
	}
	return fmt.Errorf("fill to %d pods: pods still missing after ten rounds", n)
}

// readMasterMemory reads master i's RSS after a full GC (the heap
// profile's gc=1), then after a full GC that returns the freed pages to the
// system (POST /debug/memory/free), both served to the admin only.
func readMasterMemory(ctx context.Context, c *harness.Cluster, i int) (masterMemory, error) {
	m := c.Masters[i]
	cl := c.Client(i)
	if err := cl.Do(ctx, "GET", "/debug/pprof/heap", url.Values{"gc": {"1"}}, nil, nil); err != nil {
		return masterMemory{}, fmt.Errorf("GC of %s: %w", m.Name, err)
	}
	gcKB, err := rssKiB(m.PID())
	if err != nil {
		return masterMemory{}, err
	}
	mm := masterMemory{name: m.Name, gcRSS: int64(gcKB) << 10}
	if err := cl.Do(ctx, "POST", "/debug/memory/free", nil, nil, &mm.stats); err != nil {
		return masterMemory{}, fmt.Errorf("free memory of %s: %w", m.Name, err)
	}
	st, err := procStatus(m.PID())
	if err != nil {
		return masterMemory{}, err
	}
	mm.rss, mm.anon, mm.file = st["VmRSS"], st["RssAnon"], st["RssFile"]
	if mm.files, err = filesRSS(m.PID()); err != nil {
		return masterMemory{}, err
	}
	return mm, nil
}

// procStatus returns the kB figures of /proc/PID/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, fmt.Errorf("read status of %d: %w", pid, err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				out[strings.TrimSuffix(f[0], ":")] = n << 10
			}
		}
	}
	return out, nil
}

// fileRSS is the resident pages of one file's mappings.
type fileRSS struct {
	path string
	rss  int64
}

// filesRSS returns the RSS of each file mapped by process pid (the binary,
// a bolt database's mmap), largest first, from /proc/PID/smaps.
func filesRSS(pid int) ([]fileRSS, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "smaps"))
	if err != nil {
		return nil, fmt.Errorf("read smaps of %d: %w", pid, err)
	}
	by := map[string]int64{}
	path := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			// A mapping's header: range, perms, offset, dev, inode[, path].
			path = ""
			if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
				path = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:" && path != "":
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				by[path] += n << 10
			}
		}
	}
	var out []fileRSS
	for p, n := range by {
		if n > 0 {
			out = append(out, fileRSS{p, n})
		}
	}
	slices.SortFunc(out, func(a, b fileRSS) int { return cmp.Compare(b.rss, a.rss) })
	return out, nil
}

// describeFiles names the largest file-backed RSS of a master: the first
// three files, by base name.
func describeFiles(files []fileRSS) string {
	var parts []string
	for i, f := range files {
		if i == 3 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s", filepath.Base(f.path), mb(f.rss)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// medianInt returns the median of v (the upper one of an even count), 0 for none.
func medianInt(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// mb formats b in decimal megabytes, the unit of the goals.
func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/1e6) }
