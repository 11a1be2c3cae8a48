package apiserver

import (
	"encoding/json"
	"net/http"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
)

// MemoryStats is the answer of POST /debug/memory/free: the Go runtime's
// figures after a full garbage collection that returned every free page to
// the operating system.
type MemoryStats struct {
	// HeapLiveBytes is the heap the last collection found reachable.
	HeapLiveBytes uint64 `json:"heapLiveBytes"`
	// HeapObjectsBytes is the heap held by objects, live or not yet swept.
	HeapObjectsBytes uint64 `json:"heapObjectsBytes"`
	// TotalBytes is all memory the runtime has mapped.
	TotalBytes uint64 `json:"totalBytes"`
	// ReleasedBytes is the part of TotalBytes returned to the system.
	ReleasedBytes uint64 `json:"releasedBytes"`
	// HeapUnusedBytes is heap in spans that hold objects but not used by
	// them (MemStats' HeapInuse − HeapAlloc): spans a few live objects
	// keep among freed ones, which no collection returns.
	HeapUnusedBytes uint64 `json:"heapUnusedBytes"`
	// HeapFreeBytes is free heap the runtime has not returned yet.
	HeapFreeBytes uint64 `json:"heapFreeBytes"`
}

// memoryStatsMetrics are the runtime/metrics names MemoryStats reads, in
// field order.
var memoryStatsMetrics = [...]string{
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

// serveFreeMemory runs a full garbage collection, returns the freed memory
// to the operating system (debug.FreeOSMemory) and answers MemoryStats: how
// a benchmark reads what a master needs to hold its state, apart from what
// the collector keeps spare between collections (--gc-percent). Served to
// those allowed the non-resource URL, as /debug/pprof is.
func serveFreeMemory(w http.ResponseWriter, r *http.Request) {
	debug.FreeOSMemory()
	samples := make([]runtimemetrics.Sample, len(memoryStatsMetrics))
	for i, name := range memoryStatsMetrics {
		samples[i].Name = name
	}
	runtimemetrics.Read(samples)
	var v [len(memoryStatsMetrics)]uint64
	for i, s := range samples {
		if s.Value.Kind() == runtimemetrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	st := MemoryStats{HeapLiveBytes: v[0], HeapObjectsBytes: v[1], TotalBytes: v[2], ReleasedBytes: v[3],
		HeapUnusedBytes: v[4], HeapFreeBytes: v[5]}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}
