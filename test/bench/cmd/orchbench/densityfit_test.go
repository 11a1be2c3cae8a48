package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

func TestPlanDensity(t *testing.T) {
	const gb = 1 << 30
	for _, tt := range []struct {
		name               string
		nodes, pods        int
		perProc            int
		routes             bool
		fileLimit          uint64
		memAvail           uint64
		wantProcs, wantPer int
		wantErr            string
	}{
		{name: "one process", nodes: 500, pods: 15000, perProc: 1000, routes: true, fileLimit: 20000, memAvail: 20 * gb, wantProcs: 0, wantPer: 1000},
		{name: "split by the flag", nodes: 5000, pods: 5000, perProc: 1000, fileLimit: 20000, memAvail: 20 * gb, wantProcs: 5, wantPer: 1000},
		{name: "split by the file limit", nodes: 3000, pods: 3000, perProc: 5000, fileLimit: 4256, memAvail: 20 * gb, wantProcs: 3, wantPer: 1333},
		{name: "a master's files", nodes: 5000, pods: 5000, perProc: 1000, fileLimit: 5000, memAvail: 20 * gb,
			wantErr: "a master would need about 6024 open files (one connection per hollow node after a failover), the open file limit is 5000"},
		{name: "too few files for a node", nodes: 1, pods: 1, perProc: 1000, fileLimit: 100, memAvail: 20 * gb,
			wantErr: "the open file limit is 100: too low for one hollow node"},
		{name: "memory, with routes", nodes: 5000, pods: 150000, perProc: 1000, routes: true, fileLimit: 20000, memAvail: 22 * gb,
			wantErr: "5000 hollow nodes and 150000 pods would need about 23.3 GiB (hollow nodes 9.6 GiB, their routes to each other 5.8 GiB, 3 masters 7.6 GiB, the pod watch 0.3 GiB), more than 85 % of the 22.0 GiB available (-density-hollow-routes=false"},
		{name: "memory, without routes", nodes: 5000, pods: 150000, perProc: 1000, fileLimit: 20000, memAvail: 18 * gb,
			wantErr: "would need about 17.5 GiB"},
		{name: "fits without routes", nodes: 5000, pods: 150000, perProc: 1000, fileLimit: 20000, memAvail: 22 * gb, wantProcs: 5, wantPer: 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planDensity(tt.nodes, tt.pods, tt.perProc, tt.routes, tt.fileLimit, tt.memAvail)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.procs != tt.wantProcs || p.perProc != tt.wantPer {
				t.Errorf("%d processes of %d, want %d of %d", p.procs, p.perProc, tt.wantProcs, tt.wantPer)
			}
		})
	}
}

func TestWatchMemory(t *testing.T) {
	for _, tt := range []struct {
		name     string
		avail    []uint64 // successive readings; the last repeats
		wantStop bool
	}{
		{"plenty", []uint64{4 << 30}, false},
		{"falls below the floor", []uint64{4 << 30, 2 << 30, 900 << 20}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			reads := 0
			done := make(chan struct{})
			go func() {
				defer close(done)
				watchMemory(ctx, cancel, 1<<30, time.Millisecond, func() (uint64, error) {
					a := tt.avail[min(reads, len(tt.avail)-1)]
					reads++
					if reads == 50 && !tt.wantStop {
						cancel(nil)
					}
					return a, nil
				})
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("watchMemory did not return")
			}
			cause := context.Cause(ctx)
			if got := errors.Is(cause, errMemoryLow); got != tt.wantStop {
				t.Fatalf("stopped for low memory: %v (cause %v), want %v", got, cause, tt.wantStop)
			}
			if tt.wantStop && !strings.Contains(cause.Error(), "fell to 0.9 GiB (the floor is 1.0 GiB): stopping before the OOM killer") {
				t.Errorf("cause %q", cause)
			}
		})
	}
}

func TestMeminfo(t *testing.T) {
	total, err := meminfo("MemTotal")
	if err != nil || total == 0 {
		t.Fatalf("MemTotal %d, %v", total, err)
	}
	if _, err := meminfo("NoSuchField"); err == nil {
		t.Error("a missing field read")
	}
	if f := memoryFloor(total); f < 512<<20 || f > total {
		t.Errorf("floor %d of %d", f, total)
	}
}

func TestHollowChildRefuses(t *testing.T) {
	var out strings.Builder
	for _, in := range []string{"", "not json\n", `{"pkiDir":"/nonexistent"}` + "\n"} {
		if err := hollowChild(strings.NewReader(in), &out); err == nil {
			t.Errorf("input %q: a child started", in)
		}
	}
}

func TestHollowStatsAdd(t *testing.T) {
	var s hollowStats
	s.add(hollowStats{Running: 2, Syncs: 3, Bytes: 4, RSSKiB: 10, Files: 7, MaxFiles: 7, Goroutines: 5, Processes: 1, Warnings: "no warnings"})
	s.add(hollowStats{Running: 1, Syncs: 1, Bytes: 1, RSSKiB: 20, Files: 9, MaxFiles: 9, Goroutines: 5, Processes: 1, Err: "boom", Warnings: "2 warnings"})
	want := hollowStats{Running: 3, Syncs: 4, Bytes: 5, RSSKiB: 30, Files: 16, MaxFiles: 9, Goroutines: 10, Processes: 2, Err: "boom", Warnings: "2 warnings"}
	if s != want {
		t.Errorf("%+v, want %+v", s, want)
	}
}

func TestOnceByName(t *testing.T) {
	unknown := &client.UnknownOutcomeError{Method: "POST", URL: "/x", Err: errors.New("leader changed")}
	exists := v1.NewAlreadyExists("ReplicationController", "density-00001")
	boom := errors.New("boom")
	for _, tt := range []struct {
		name    string
		answers []error // what each try answers
		want    error
		tries   int
	}{
		{"applied at once", []error{nil}, nil, 1},
		{"refused at once", []error{exists}, exists, 1},
		{"unknown, then it exists: applied", []error{unknown, exists}, nil, 2},
		{"unknown, then applied", []error{unknown, nil}, nil, 2},
		{"unknown twice, then it exists", []error{unknown, unknown, exists}, nil, 3},
		{"unknown, then another error", []error{unknown, boom}, boom, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tries := 0
			op := onceByName(func(context.Context) error {
				err := tt.answers[tries]
				tries++
				return err
			}, v1.IsAlreadyExists)
			if err := op(context.Background()); !errors.Is(err, tt.want) && err != tt.want {
				t.Errorf("err %v, want %v", err, tt.want)
			}
			if tries != tt.tries {
				t.Errorf("%d tries, want %d", tries, tt.tries)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := onceByName(func(context.Context) error { return unknown }, v1.IsAlreadyExists)(ctx); !client.IsUnknownOutcome(err) {
		t.Errorf("a cancelled context: %v", err)
	}
}

// TestOnceByNameAcrossCalls: a create whose try ran out of its time
// (outcome unknown) and that retryBusy sends again in a new call takes
// AlreadyExists as applied.
func TestOnceByNameAcrossCalls(t *testing.T) {
	tries := 0
	op := onceByName(func(ctx context.Context) error {
		tries++
		if tries == 1 {
			<-ctx.Done() // the first try outlives its 30 s
			return &client.UnknownOutcomeError{Method: "POST", URL: "/x", Err: ctx.Err()}
		}
		return v1.NewAlreadyExists("ReplicationController", "density-00001")
	}, v1.IsAlreadyExists)
	octx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	err := op(octx)
	cancel()
	if !client.IsUnknownOutcome(err) {
		t.Fatalf("first call: %v", err)
	}
	if err := op(context.Background()); err != nil {
		t.Fatalf("second call: %v, want the create taken as applied", err)
	}
	if tries != 2 {
		t.Errorf("%d tries", tries)
	}
}
