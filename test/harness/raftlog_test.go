package harness

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// TestCatchUpRaftLogs: lagging logs get the missing entries of the longest
// one, diverged logs are refused, and AppendRaftCommand then appends at the
// same index and term everywhere.
func TestCatchUpRaftLogs(t *testing.T) {
	tests := []struct {
		name    string
		terms   [][]uint64 // per master, the term of each entry from index 1
		wantErr string
		want    RaftLogTail
	}{
		{"identical", [][]uint64{{1, 1, 2}, {1, 1, 2}, {1, 1, 2}}, "", RaftLogTail{Index: 3, Term: 2}},
		{"one lags", [][]uint64{{1, 1}, {1, 1, 2, 2}, {1, 1, 2, 2}}, "", RaftLogTail{Index: 4, Term: 2}},
		{"two lag by different amounts", [][]uint64{{1}, {1, 1, 2}, {1, 1}}, "", RaftLogTail{Index: 3, Term: 2}},
		{"diverged where they overlap", [][]uint64{{1, 3}, {1, 2, 2}, {1, 2, 2}}, "diverge at 2", RaftLogTail{}},
		{"diverged at the same length", [][]uint64{{1, 3}, {1, 2}, {1, 2}}, "diverge", RaftLogTail{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{}
			for i, terms := range tt.terms {
				m := &Master{Name: string(rune('a' + i)), DataDir: t.TempDir()}
				// A master's data dir holds the log store it was made
				// with (raft-wal for a new one); the harness opens what is
				// there, so the test makes the store's directory first.
				if err := os.Mkdir(filepath.Join(m.DataDir, "raft-wal"), 0o700); err != nil {
					t.Fatal(err)
				}
				c.Masters = append(c.Masters, m)
				var logs []*raft.Log
				for j, term := range terms {
					logs = append(logs, &raft.Log{Index: uint64(j + 1), Term: term, Type: raft.LogCommand, Data: []byte{byte(j)}})
				}
				if err := c.storeRaftLogs(i, logs); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.CatchUpRaftLogs()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CatchUpRaftLogs = %+v, %v; want %+v", got, err, tt.want)
			}
			for i, m := range c.Masters {
				tail, err := c.RaftLogLast(i)
				if err != nil || tail != tt.want {
					t.Errorf("%s ends at %+v (%v), want %+v", m.Name, tail, err, tt.want)
				}
				idx, err := c.AppendRaftCommand(i, []byte("x"))
				if err != nil || idx != tt.want.Index+1 {
					t.Errorf("%s: appended at %d (%v), want %d", m.Name, idx, err, tt.want.Index+1)
				}
				s, err := openRaftLog(m)
				if err != nil {
					t.Fatal(err)
				}
				// Every entry is the longest log's (its term).
				longest := tt.terms[0]
				for _, terms := range tt.terms {
					if len(terms) > len(longest) {
						longest = terms
					}
				}
				for j, term := range longest {
					var l raft.Log
					if err := s.GetLog(uint64(j+1), &l); err != nil || l.Term != term {
						t.Errorf("%s: entry %d has term %d (%v), want %d", m.Name, j+1, l.Term, err, term)
					}
				}
				var l raft.Log
				if err := s.GetLog(idx, &l); err != nil || l.Term != tt.want.Term || string(l.Data) != "x" || l.Type != raft.LogCommand {
					t.Errorf("%s: entry %d is %+v (%v)", m.Name, idx, l, err)
				}
				s.Close()
			}
		})
	}
}
