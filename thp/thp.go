// Package thp backs a process's Go heap with transparent huge pages where the
// system leaves them to madvise(2).
//
// A master's heap grows with its store: every pod it stores takes fresh pages,
// about three times the pod's bytes at a GC target of 200%. Where the kernel
// maps that memory in 4 KiB pages each page is a fault of its own, and on
// virtual machines that shadow the guest's page tables a fault costs ~10 µs,
// a tenth of what a master spends on a write. With THP set to "madvise" (a
// common default) the Go runtime does not ask for huge pages for its heap, and
// it maps each new stretch of heap afresh, so advising it after the fact does
// not reach the memory the heap grows into. AdviseHeap therefore has the
// runtime map the heap's next stretch of address space at start, advises it
// MADV_HUGEPAGE while the runtime holds it for one allocation, and hands it
// back unused: the heap grows into it later and each 2 MiB is one fault.
package thp

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Setting files of the kernel's transparent huge pages.
const (
	enabledPath    = "/sys/kernel/mm/transparent_hugepage/enabled"
	overcommitPath = "/proc/sys/vm/overcommit_memory"
)

// hugePage is the size of an x86-64 or arm64 (4 KiB granule) huge page.
const hugePage = 2 << 20

// chunk is the size of one allocation AdviseHeap makes: large enough that few
// calls map the whole stretch, small enough that one the runtime had to zero
// (it reused pages already touched) costs little.
const chunk = 32 << 20

// Range is a stretch of address space, [Start, End).
type Range struct {
	Start, End uintptr
}

// Report says what AdviseHeap did.
type Report struct {
	// Setting is the system's THP setting: "always", "madvise", "never",
	// or "" where the kernel has none.
	Setting string
	// Advised is the heap address space advised MADV_HUGEPAGE, in bytes;
	// zero when nothing was done (Reason says why).
	Advised int64
	// Ranges are the advised stretches.
	Ranges []Range
	// Faults are the page faults taken while mapping the stretch: zero
	// unless the runtime zeroed a chunk it placed in pages used before.
	Faults int64
	// Reason says why nothing was advised, when nothing was.
	Reason string
}

// System is where AdviseHeap reads the kernel's settings from: a root
// directory prefixed to /sys and /proc paths ("" for the real ones).
type System struct {
	Root string
}

// Setting returns the system's THP setting ("always", "madvise" or
// "never"), or "" when the kernel has no transparent huge pages.
func (s System) Setting() (string, error) {
	b, err := os.ReadFile(s.Root + enabledPath)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read THP setting: %w", err)
	}
	return parseSetting(string(b))
}

// parseSetting reads the bracketed choice of a sysfs selector such as
// "always [madvise] never".
func parseSetting(s string) (string, error) {
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			return f[1 : len(f)-1], nil
		}
	}
	return "", fmt.Errorf("THP setting %q names no choice in brackets", strings.TrimSpace(s))
}

// strictOvercommit says whether the kernel refuses to commit more private
// memory than it can back (vm.overcommit_memory=2): there, mapping address
// space ahead of use counts against the limit.
func (s System) strictOvercommit() bool {
	b, err := os.ReadFile(s.Root + overcommitPath)
	return err == nil && strings.TrimSpace(string(b)) == "2"
}

// AdviseHeap advises the next size bytes of the process's Go heap for
// transparent huge pages, when the system's setting is "madvise". Where the
// setting is "always" the heap has them already; where it is "never", or
// the GODEBUG disablethp=1 asks the runtime to keep them off the heap, or
// the kernel commits memory strictly, it does nothing and says why. Call it
// once, early, before the heap holds much: it allocates size bytes in
// chunks, advises them and returns them to the runtime (a full GC that
// returns free memory to the system, as debug.FreeOSMemory).
func (s System) AdviseHeap(size int64) (Report, error) {
	setting, err := s.Setting()
	rep := Report{Setting: setting}
	switch {
	case err != nil:
		return rep, err
	case size <= 0:
		rep.Reason = "no size asked for"
	case setting == "":
		rep.Reason = "the kernel has no transparent huge pages"
	case setting != "madvise":
		rep.Reason = fmt.Sprintf("the system's THP setting is %q, not \"madvise\"", setting)
	case godebugDisablesTHP(os.Getenv("GODEBUG")):
		rep.Reason = "GODEBUG disablethp=1 keeps huge pages off the heap"
	case s.strictOvercommit():
		rep.Reason = "the kernel commits memory strictly (vm.overcommit_memory=2)"
	}
	if rep.Reason != "" {
		return rep, nil
	}
	before := minorFaults()
	var held [][]byte
	for n := int64(0); n < size; n += chunk {
		held = append(held, make([]byte, chunk))
	}
	rep.Faults = minorFaults() - before
	rep.Ranges = hugeRanges(chunkRanges(held))
	for _, r := range rep.Ranges {
		// The chunks are held, so the stretch is the runtime's and mapped.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.Start, r.End-r.Start, unix.MADV_HUGEPAGE); errno != 0 {
			rep.Ranges, rep.Advised = nil, 0
			runtime.KeepAlive(held)
			debug.FreeOSMemory()
			return rep, fmt.Errorf("madvise(MADV_HUGEPAGE) %#x-%#x: %w", r.Start, r.End, errno)
		}
		rep.Advised += int64(r.End - r.Start)
	}
	runtime.KeepAlive(held)
	// A full GC frees the chunks, and returning free memory to the system
	// empties any the runtime zeroed, so huge pages can back them whole.
	debug.FreeOSMemory()
	return rep, nil
}

// chunkRanges are the chunks' stretches of memory.
func chunkRanges(chunks [][]byte) []Range {
	rs := make([]Range, 0, len(chunks))
	for _, c := range chunks {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
		rs = append(rs, Range{p, p + uintptr(len(c))})
	}
	return rs
}

// hugeRanges merges stretches that touch into one and trims each to whole
// huge pages (dropping any that holds none).
func hugeRanges(rs []Range) []Range {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Range) int { return cmp.Compare(a.Start, b.Start) })
	var merged []Range
	for _, r := range rs {
		if n := len(merged); n > 0 && merged[n-1].End >= r.Start {
			merged[n-1].End = max(merged[n-1].End, r.End)
			continue
		}
		merged = append(merged, r)
	}
	out := merged[:0]
	for _, r := range merged {
		start := (r.Start + hugePage - 1) &^ (hugePage - 1)
		end := r.End &^ (hugePage - 1)
		if start < end {
			out = append(out, Range{start, end})
		}
	}
	return out
}

// godebugDisablesTHP says whether a GODEBUG value sets disablethp=1 (the last
// setting of a key wins, as the runtime reads it).
func godebugDisablesTHP(godebug string) bool {
	on := false
	for _, kv := range strings.Split(godebug, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "disablethp" {
			on = v == "1"
		}
	}
	return on
}

// minorFaults is the process's count of minor page faults so far.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}
