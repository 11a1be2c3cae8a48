package cluster

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// countingStore is an in-memory log store that counts reads, so a test can
// tell the cache's answers from the store's.
type countingStore struct {
	*raft.InmemStore
	reads    int
	failNext error
}

func (s *countingStore) GetLog(index uint64, out *raft.Log) error {
	s.reads++
	return s.InmemStore.GetLog(index, out)
}

func (s *countingStore) StoreLogs(logs []*raft.Log) error {
	if err := s.failNext; err != nil {
		s.failNext = nil
		return err
	}
	return s.InmemStore.StoreLogs(logs)
}

func entries(from, to uint64, size int) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: make([]byte, size)})
	}
	return out
}

func TestLogCacheBounds(t *testing.T) {
	const kib = 1 << 10
	entry := int64(kib + logEntryOverhead)
	tests := []struct {
		name       string
		maxEntries int
		maxBytes   int64
		writes     [][2]uint64 // batches of consecutive indexes
		wantFirst  uint64      // oldest cached index (0: empty)
		wantLast   uint64
	}{
		{"within both bounds", 10, 100 * entry, [][2]uint64{{1, 5}}, 1, 5},
		{"count binds", 4, 100 * entry, [][2]uint64{{1, 3}, {4, 9}}, 6, 9},
		{"bytes bind", 100, 3 * entry, [][2]uint64{{1, 10}}, 8, 10},
		{"bytes bind across batches", 100, 5 * entry, [][2]uint64{{1, 3}, {4, 4}, {5, 8}}, 4, 8},
		{"the newest entry stays even when too big", 100, entry / 2, [][2]uint64{{1, 3}}, 3, 3},
		{"a rewritten tail starts over", 100, 100 * entry, [][2]uint64{{1, 6}, {4, 5}}, 4, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &countingStore{InmemStore: raft.NewInmemStore()}
			c, err := newLogCache(store, tt.maxEntries, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.writes {
				if err := c.StoreLogs(entries(w[0], w[1], kib)); err != nil {
					t.Fatal(err)
				}
			}
			n, b := c.stats()
			if want := int(tt.wantLast - tt.wantFirst + 1); n != want {
				t.Fatalf("%d entries cached, want %d", n, want)
			}
			if int64(n)*entry != b || b > max(tt.maxBytes, entry) || n > tt.maxEntries {
				t.Fatalf("%d entries, %d bytes cached: bounds %d entries, %d bytes", n, b, tt.maxEntries, tt.maxBytes)
			}
			last := tt.writes[len(tt.writes)-1][1]
			for i := uint64(1); i <= last; i++ {
				before := store.reads
				var l raft.Log
				if err := c.GetLog(i, &l); err != nil {
					t.Fatalf("GetLog(%d): %v", i, err)
				}
				if l.Index != i || len(l.Data) != kib {
					t.Fatalf("GetLog(%d) = index %d, %d bytes", i, l.Index, len(l.Data))
				}
				cached := i >= tt.wantFirst && i <= tt.wantLast
				if fromStore := store.reads > before; fromStore == cached {
					t.Errorf("GetLog(%d): read the store %v, want cached %v", i, fromStore, cached)
				}
			}
		})
	}
}

func TestLogCacheDeleteAndFailure(t *testing.T) {
	store := &countingStore{InmemStore: raft.NewInmemStore()}
	c, err := newLogCache(store, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StoreLogs(entries(1, 5, 10)); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.stats(); n != 0 {
		t.Fatalf("%d entries cached after DeleteRange", n)
	}
	var l raft.Log
	if err := c.GetLog(2, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(2) after deleting it: %v", err)
	}
	boom := fmt.Errorf("disk full")
	store.failNext = boom
	if err := c.StoreLogs(entries(6, 7, 10)); !errors.Is(err, boom) {
		t.Fatalf("StoreLogs = %v, want the store's error", err)
	}
	if n, _ := c.stats(); n != 0 {
		t.Fatalf("%d entries cached after a failed write", n)
	}
	if err := c.GetLog(6, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(6) after its write failed: %v", err)
	}
	if _, err := newLogCache(store, 0, 1); err == nil {
		t.Error("a cache of 0 entries was accepted")
	}
}

// Readers (raft's replication goroutines) and the writer run at once; every
// read answers the entry asked for, from the cache or the store.
func TestLogCacheConcurrentReadsAndWrites(t *testing.T) {
	c, err := newLogCache(raft.NewInmemStore(), 16, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	const last = 2000
	done := make(chan error, 4)
	for r := 0; r < 3; r++ {
		go func() {
			var l raft.Log
			for i := uint64(1); i <= last; i++ {
				lo, _ := c.LogStore.LastIndex()
				if lo == 0 {
					continue
				}
				idx := 1 + i%lo
				if err := c.GetLog(idx, &l); err != nil {
					done <- fmt.Errorf("GetLog(%d): %w", idx, err)
					return
				}
				if l.Index != idx {
					done <- fmt.Errorf("GetLog(%d) answered entry %d", idx, l.Index)
					return
				}
			}
			done <- nil
		}()
	}
	go func() {
		for i := uint64(1); i <= last; i += 10 {
			if err := c.StoreLogs(entries(i, i+9, 1<<10)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
