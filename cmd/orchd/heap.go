package main

import (
	"log/slog"
	"time"

	"orch.io/orch/thp"
)

// defaultHeapHugePages is --heap-huge-pages' default: room for a master's
// heap at 150,000 pods with the GC's headroom (address space only; memory is
// taken as the heap grows into it).
const defaultHeapHugePages = 4 << 30

// adviseHeap advises the next size bytes of the master's heap for
// transparent huge pages and logs what was done, or why not.
func adviseHeap(log *slog.Logger, size int64) {
	start := time.Now()
	rep, err := thp.System{}.AdviseHeap(size)
	switch {
	case err != nil:
		log.Warn("heap not advised for transparent huge pages", "err", err)
	case rep.Advised == 0:
		log.Info("heap not advised for transparent huge pages", "thp", rep.Setting, "reason", rep.Reason)
	default:
		log.Info("heap advised for transparent huge pages", "thp", rep.Setting, "bytes", rep.Advised,
			"ranges", len(rep.Ranges), "faults", rep.Faults, "took", time.Since(start).Round(time.Millisecond))
	}
}
