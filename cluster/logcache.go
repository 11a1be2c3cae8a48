package cluster

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// Defaults of the log cache: raft.NewLogCache's usual 1024 entries, and at
// most 64 MiB. Entries are up to ~1.5 MiB (the API's object limit, or a
// batch of pod creates), so the count alone would let the cache hold 1.5 GiB;
// 64 MiB still holds the last 1024 entries of an ordinary cluster (a few
// KiB each) and about 40 of the largest.
const (
	DefaultLogCacheEntries       = 1024
	DefaultLogCacheBytes   int64 = 64 << 20
)

// logEntryOverhead is what a cached entry costs besides its data and
// extensions: the raft.Log struct and the slot.
const logEntryOverhead = 128

// logCache is a raft.LogStore that keeps the most recent entries in memory
// in front of the store, like raft.LogCache, but bounded by bytes as well
// as by count: raft reads recent entries (to replicate them, to apply them)
// far more often than old ones, and a count bound alone lets a few large
// entries pin an unbounded amount of memory.
//
// The cached entries are consecutive indexes; a write that does not follow
// the last cached entry (raft rewrites a conflicting tail) starts the cache
// over. Writes go to the store first and are cached only when it succeeded.
type logCache struct {
	raft.LogStore
	maxEntries int
	maxBytes   int64

	mu    sync.RWMutex
	logs  []*raft.Log // consecutive indexes, oldest first
	sizes []int64
	bytes int64
}

// newLogCache returns a cache of at most maxEntries entries and maxBytes
// bytes (each at least one entry) in front of store.
func newLogCache(store raft.LogStore, maxEntries int, maxBytes int64) (*logCache, error) {
	if store == nil {
		return nil, fmt.Errorf("log cache: no store")
	}
	if maxEntries < 1 || maxBytes < 1 {
		return nil, fmt.Errorf("log cache: bounds must be positive (entries %d, bytes %d)", maxEntries, maxBytes)
	}
	return &logCache{LogStore: store, maxEntries: maxEntries, maxBytes: maxBytes}, nil
}

func logSize(l *raft.Log) int64 {
	return int64(len(l.Data) + len(l.Extensions) + logEntryOverhead)
}

// GetLog answers from the cache when it holds index, else from the store.
func (c *logCache) GetLog(index uint64, out *raft.Log) error {
	c.mu.RLock()
	if n := len(c.logs); n > 0 {
		first := c.logs[0].Index
		if index >= first && index-first < uint64(n) {
			*out = *c.logs[index-first]
			c.mu.RUnlock()
			return nil
		}
	}
	c.mu.RUnlock()
	return c.LogStore.GetLog(index, out)
}

// StoreLog stores one entry.
func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs writes through to the store and then caches the entries.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		c.mu.Lock()
		c.reset() // the store may hold part of the batch: trust only it
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range logs {
		if n := len(c.logs); n > 0 && l.Index != c.logs[n-1].Index+1 {
			c.reset()
		}
		sz := logSize(l)
		c.logs = append(c.logs, l)
		c.sizes = append(c.sizes, sz)
		c.bytes += sz
	}
	c.evict()
	return nil
}

// DeleteRange deletes from the store and empties the cache, as
// raft.LogCache does (raft deletes old entries after a snapshot and a
// conflicting tail before rewriting it).
func (c *logCache) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
	return c.LogStore.DeleteRange(lo, hi)
}

// evict drops the oldest entries until both bounds hold, keeping at least
// the newest entry. Dropped slots are cleared so their data can be collected.
func (c *logCache) evict() {
	drop := 0
	for n := len(c.logs); n-drop > 1 && (n-drop > c.maxEntries || c.bytes > c.maxBytes); drop++ {
		c.bytes -= c.sizes[drop]
		c.logs[drop] = nil
	}
	if drop == 0 {
		return
	}
	c.logs, c.sizes = c.logs[drop:], c.sizes[drop:]
	if len(c.logs) == 0 {
		c.logs, c.sizes = nil, nil
	}
}

// reset empties the cache; the caller holds mu.
func (c *logCache) reset() {
	clear(c.logs)
	c.logs, c.sizes, c.bytes = nil, nil, 0
}

// stats returns the number of entries and bytes cached.
func (c *logCache) stats() (entries int, bytes int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.logs), c.bytes
}
