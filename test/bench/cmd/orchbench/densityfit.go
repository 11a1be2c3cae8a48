package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// What a density run costs the machine, to refuse up front a size that
// cannot fit instead of finding out from the OOM killer or a refused
// socket. Measured on orch's own runs (README, performance), with margin:
// a Ready hollow node holds about 1.2 MiB of RSS and 2 open files (one
// HTTP/2 connection, its agent endpoint; TestHollowNodeCost holds a
// node's live heap under 1 MiB and its files under 2.5); following every
// other node's route adds about 250 bytes per pair of nodes; a master
// holds about 16 KiB per pod beside a base of 256 MiB.
const (
	fitHollowNodeBytes  = 3 << 19 // 1.5 MiB
	fitHollowPodBytes   = 16 << 10
	fitRouteBytes       = 250
	fitHollowNodeFiles  = 3
	fitMasterBaseBytes  = 256 << 20
	fitMasterPodBytes   = 16 << 10
	fitWatcherPodBytes  = 2 << 10 // the bench's own watch of every pod
	fitProcessBaseFiles = 256
	fitMasterBaseFiles  = 1024
	// fitMemShare is the share of MemAvailable a run may plan to use.
	fitMemShare = 0.85
)

// densityPlan is how a density run lays its hollow nodes out, and what it
// expects them and the masters to cost.
type densityPlan struct {
	nodes, pods int
	// perProc is how many hollow nodes one process holds; procs is how many
	// child processes hold them (0: this process).
	perProc, procs int
	needBytes      uint64
	breakdown      string
}

// planDensity lays out nodes hollow nodes with pods pods in all, at most
// maxPerProc a process, and refuses a run that the open file limit
// (fileLimit, of this process, its children and the masters) or the
// memory available (memAvail bytes) cannot hold, saying why.
func planDensity(nodes, pods, maxPerProc int, routes bool, fileLimit, memAvail uint64) (densityPlan, error) {
	p := densityPlan{nodes: nodes, pods: pods}
	byFiles := int((int64(fileLimit) - fitProcessBaseFiles) / fitHollowNodeFiles)
	if byFiles < 1 {
		return p, fmt.Errorf("the open file limit is %d: too low for one hollow node", fileLimit)
	}
	p.perProc = max(1, min(maxPerProc, byFiles))
	if nodes > p.perProc {
		p.procs = (nodes + p.perProc - 1) / p.perProc
	}
	// After a failover a master may hold every node's connection.
	if need := uint64(nodes + fitMasterBaseFiles); need > fileLimit {
		return p, fmt.Errorf("a master would need about %d open files (one connection per hollow node after a failover), the open file limit is %d", need, fileLimit)
	}
	hollowBytes := uint64(nodes)*fitHollowNodeBytes + uint64(pods)*fitHollowPodBytes
	routeBytes := uint64(0)
	if routes {
		routeBytes = uint64(nodes) * uint64(nodes) * fitRouteBytes
	}
	masterBytes := 3 * (fitMasterBaseBytes + uint64(pods)*fitMasterPodBytes)
	watchBytes := uint64(pods) * fitWatcherPodBytes
	p.needBytes = hollowBytes + routeBytes + masterBytes + watchBytes
	p.breakdown = fmt.Sprintf("hollow nodes %s, their routes to each other %s, 3 masters %s, the pod watch %s",
		gib(hollowBytes), gib(routeBytes), gib(masterBytes), gib(watchBytes))
	if float64(p.needBytes) > fitMemShare*float64(memAvail) {
		hint := ""
		if routes {
			hint = " (-density-hollow-routes=false leaves out the routes, as kubemark's hollow nodes)"
		}
		return p, fmt.Errorf("%d hollow nodes and %d pods would need about %s (%s), more than %.0f %% of the %s available%s",
			nodes, pods, gib(p.needBytes), p.breakdown, 100*fitMemShare, gib(memAvail), hint)
	}
	return p, nil
}

func gib(b uint64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// meminfo reads a field of /proc/meminfo in bytes.
func meminfo(field string) (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo %s %q: %w", field, f[1], err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s", field)
}

// errMemoryLow is the cause a density run stops with when the machine's
// available memory fell below the floor.
var errMemoryLow = errors.New("memory low")

// memoryFloor is the least MemAvailable a density run lets the machine
// have before it stops: 5 % of the memory, at least 512 MiB.
func memoryFloor(total uint64) uint64 { return max(total/20, 512<<20) }

// watchMemory cancels ctx (through cancel) with a cause wrapping
// errMemoryLow once MemAvailable stays below floor, checking every
// interval, so a run that outgrows the machine stops with its reason
// before the OOM killer picks a process. It returns when ctx ends.
func watchMemory(ctx context.Context, cancel context.CancelCauseFunc, floor uint64, interval time.Duration, avail func() (uint64, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a, err := avail()
		if err != nil {
			continue
		}
		if a < floor {
			cancel(fmt.Errorf("%w: the machine's available memory fell to %s (the floor is %s): stopping before the OOM killer",
				errMemoryLow, gib(a), gib(floor)))
			return
		}
	}
}
