package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"orch.io/orch/test/bench"
)

// A section's verdict is NOISY when the machine was busy with other work
// while it ran: the CPU time of the whole machine against that of this
// process and every process it started (masters, etcd members, node
// agents), including children already reaped.

// treeSnapshot is the machine's busy CPU time and this process tree's.
type treeSnapshot struct {
	machine bench.CPUTimes // Procs unused
	tree    time.Duration
}

// takeTree reads the machine's and this process tree's CPU time.
func takeTree() (treeSnapshot, error) {
	m, err := bench.ReadCPUTimes()
	if err != nil {
		return treeSnapshot{}, fmt.Errorf("read CPU times: %w", err)
	}
	tree, err := treeCPU(os.Getpid())
	if err != nil {
		return treeSnapshot{}, err
	}
	return treeSnapshot{machine: m, tree: tree}, nil
}

// use is the machine's CPU use between two snapshots, this tree's as Ours.
func (s treeSnapshot) use(earlier treeSnapshot) bench.CPUUse {
	wall := s.machine.At.Sub(earlier.machine.At).Seconds()
	if wall <= 0 {
		return bench.CPUUse{}
	}
	u := bench.CPUUse{Machine: (s.machine.Machine - earlier.machine.Machine).Seconds() / wall,
		Ours: (s.tree - earlier.tree).Seconds() / wall}
	u.Other = u.Machine - u.Ours
	return u
}

// treeCPU sums utime, stime, cutime and cstime of root and of every
// process descending from it (a reaped child's time is in its parent's
// cutime and cstime).
func treeCPU(root int) (time.Duration, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	type proc struct {
		ppid int
		cpu  time.Duration
	}
	procs := map[int]proc{}
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			continue
		}
		b, err := os.ReadFile(d)
		if err != nil {
			continue // exited meanwhile
		}
		ppid, cpu, err := parseStat(b)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", d, err)
		}
		procs[pid] = proc{ppid, cpu}
	}
	var total time.Duration
	for pid, p := range procs {
		for q, seen := pid, 0; seen < 64; seen++ { // 64: no loop even if pids are reused
			if q == root {
				total += p.cpu
				break
			}
			parent, ok := procs[q]
			if !ok || q <= 1 {
				break
			}
			q = parent.ppid
		}
	}
	return total, nil
}

// parseStat reads the parent pid and utime+stime+cutime+cstime of one
// /proc/<pid>/stat.
func parseStat(b []byte) (int, time.Duration, error) {
	i := bytes.LastIndex(b, []byte(") "))
	if i < 0 {
		return 0, 0, fmt.Errorf("unexpected stat %q", b)
	}
	f := strings.Fields(string(b[i+2:]))
	// After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return 0, 0, fmt.Errorf("unexpected stat %q", b)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, fmt.Errorf("ppid: %w", err)
	}
	var ticks int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu field %q: %w", s, err)
		}
		ticks += n
	}
	return ppid, time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100
