package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/stat and /proc/<pid>/stat: fixed
// at 100 by the Linux ABI on the architectures we run on.
const userHZ = 100

// CPUTimes is a snapshot of the machine's busy CPU time and the CPU time of
// some processes, both read from /proc. Two snapshots around a benchmark run
// tell whether something else competed for the CPUs (the machine is shared
// and has 2 cores: another benchmark running at the same time halves the
// figures).
type CPUTimes struct {
	At      time.Time
	Machine time.Duration // all CPUs: user+nice+system+irq+softirq+steal
	Procs   time.Duration // user+system of the given processes (all threads)
	// Faults is the minor page faults of the given processes: each a page
	// the kernel had to find and (for fresh anonymous memory) zero. A
	// process whose memory grows faults in every page it grows by.
	Faults int64
}

// ReadCPUTimes takes a snapshot. A process that has exited is skipped.
func ReadCPUTimes(pids ...int) (CPUTimes, error) {
	t := CPUTimes{At: time.Now()}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t, err
	}
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return t, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	// cpu user nice system idle iowait irq softirq steal ...
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return t, fmt.Errorf("/proc/stat field %d: %w", i, err)
		}
		t.Machine += ticks(n)
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return t, err
		}
		// The command name is in parentheses and may hold spaces: fields
		// are counted after the last ')'. utime and stime are fields 14
		// and 15, so the 12th and 13th after it.
		i := bytes.LastIndex(b, []byte(") "))
		if i < 0 {
			return t, fmt.Errorf("unexpected /proc/%d/stat", pid)
		}
		pf := strings.Fields(string(b[i+2:]))
		if len(pf) < 13 {
			return t, fmt.Errorf("unexpected /proc/%d/stat", pid)
		}
		// minflt is field 10, the 8th after the ')'.
		minflt, err := strconv.ParseInt(pf[7], 10, 64)
		if err != nil {
			return t, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		t.Faults += minflt
		for _, s := range pf[11:13] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return t, fmt.Errorf("/proc/%d/stat: %w", pid, err)
			}
			t.Procs += ticks(n)
		}
	}
	return t, nil
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// CPUUse is the average CPU use between two snapshots, in cores.
type CPUUse struct {
	Machine float64 // everything
	Ours    float64 // the processes given to ReadCPUTimes
	// Other is Machine - Ours: other processes, plus kernel work done for
	// ours outside their accounting (the ext4 journal and writeback
	// threads behind fsync). Measured with etcd at full load on a quiet
	// machine: 0.02-0.10 cores. Runs sharing the machine with another
	// benchmark showed 0.3-0.8 and up to half the rate.
	Other float64
}

// NoisyOther is the Other share above which a run is flagged as sharing
// the machine.
const NoisyOther = 0.2

// Noisy reports whether something else used a noticeable share of the CPUs.
func (u CPUUse) Noisy() bool { return u.Other > NoisyOther }

// Sub returns the use between earlier and t.
func (t CPUTimes) Sub(earlier CPUTimes) CPUUse {
	wall := t.At.Sub(earlier.At).Seconds()
	if wall <= 0 {
		return CPUUse{}
	}
	u := CPUUse{
		Machine: (t.Machine - earlier.Machine).Seconds() / wall,
		Ours:    (t.Procs - earlier.Procs).Seconds() / wall,
	}
	u.Other = u.Machine - u.Ours
	return u
}

func (u CPUUse) String() string {
	s := fmt.Sprintf("cpu %.2f cores (ours %.2f, other %.2f)", u.Machine, u.Ours, u.Other)
	if u.Noisy() {
		s += " NOISY"
	}
	return s
}
