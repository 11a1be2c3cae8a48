package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/chaos/check"
	"orch.io/orch/test/chaos/record"
	"orch.io/orch/test/harness"
)

// The recording client's load: workers × rate requests per second.
const (
	workers       = 12
	ratePerWorker = 15.0
)

// result is what one run measured and found.
type result struct {
	fault    string
	seed     uint64
	target   string
	requests int
	duration time.Duration
	// faultErrors are requests called while the fault lasted that failed
	// without telling anything about the object (503, unreachable, unknown
	// outcome); lateErrors are such requests called more than
	// settleAfterHeal after the heal.
	faultErrors, lateErrors int
	// unavailable is fault → return of the first acknowledged write called
	// after the fault was in place.
	unavailable time.Duration
	lost        int
	lin         string
	watch       string
	// reopened counts the watch streams that broke and were reopened.
	reopened int
	problems []string
}

// settleAfterHeal is how long after a heal errors are still blamed on the
// fault (a restarted master catches up, a client's backoff runs out).
const settleAfterHeal = 5 * time.Second

// TestChaos runs each selected fault with each seed on a fresh cluster and
// prints the results table.
func TestChaos(t *testing.T) {
	fs, err := selectedFaults()
	if err != nil {
		t.Fatal(err)
	}
	seeds := *flagSeeds
	if seeds <= 0 {
		seeds = 1
		if *flagFull {
			seeds = 3
		}
	}
	var results []result
	for _, f := range fs {
		for s := 0; s < seeds; s++ {
			seed := *flagSeed + uint64(s)
			t.Run(fmt.Sprintf("%s/seed=%d", f.name, seed), func(t *testing.T) {
				r := runFault(t, f, seed)
				results = append(results, r)
				for _, p := range r.problems {
					t.Error(p)
				}
				t.Logf("%s seed %d (%s): %d requests in %v, %d errors during the fault, %d late, first ack after %v, lost %d, linearizable: %s, watches: %s",
					f.name, seed, r.target, r.requests, r.duration.Round(time.Millisecond), r.faultErrors, r.lateErrors,
					r.unavailable.Round(time.Millisecond), r.lost, r.lin, r.watch)
			})
		}
	}
	table := renderTable(results)
	fmt.Println(table)
	if *flagTable != "" {
		if err := os.WriteFile(*flagTable, []byte(table+"\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// runFault runs one fault with one seed and checks everything.
func runFault(t *testing.T, f fault, seed uint64) result {
	rng := rand.New(rand.NewPCG(seed, 0xc4a05))
	e := newEnv(t, harness.Options{DataDirSize: f.dataDirSize, MasterArgs: f.masterArgs})
	res := result{fault: f.name, seed: seed}
	problem := func(format string, args ...any) { res.problems = append(res.problems, fmt.Sprintf(format, args...)) }

	before, err := e.nodeStates()
	must(t, err)
	pods := e.watchPods()
	copies := e.pollCopies()

	targets := []record.Target{{Client: e.admin, Master: -1}}
	for i := range e.c.Masters {
		cfg := e.c.Config(i)
		cfg.FailoverRounds = 1
		cl, err := client.New(cfg)
		must(t, err)
		t.Cleanup(cl.CloseIdleConnections)
		targets = append(targets, record.Target{Client: cl, Master: i})
	}
	// Three loops of random watches, each through a client that starts at
	// another master: whichever master a fault hits, some streams break
	// and must resume on another.
	var watchers []*client.Client
	for i := range e.c.Masters {
		var order []int
		for j := range e.c.Masters {
			order = append(order, (i+j)%len(e.c.Masters))
		}
		watchers = append(watchers, e.c.Client(order...))
	}
	rec := record.New(record.Config{Targets: targets, Watch: e.c.Client(), Watchers: watchers, Workers: workers, Rate: ratePerWorker,
		Namespace: keysNamespace, Seed: seed, ScaleRC: "default/" + scaledRC, MaxReplicas: 3})
	start := time.Now()
	must(t, rec.Start(ctxT(t, 10*time.Second)))
	t.Cleanup(rec.StopWorkers)
	poll(t, 30*time.Second, "the recorder warming up", func() bool {
		n, _ := rec.Progress(start)
		return n >= 2*workers*int(ratePerWorker)
	})

	inject := time.Now()
	in := f.inject(e, rng)
	// The fault is in place from here on (a partition takes a few
	// iptables calls to set up).
	injected := time.Now()
	res.target = in.target
	if in.during != nil {
		for _, p := range in.during() {
			problem("while the fault lasted: %s", p)
		}
	}
	time.Sleep(time.Until(injected.Add(f.hold))) // the fault lasts this long: the workload runs meanwhile
	healed := time.Now()
	in.heal()
	// Traffic after the heal, until writes flow again for a while.
	poll(t, 60*time.Second, "acknowledged writes after the heal", func() bool {
		_, acked := rec.Progress(healed)
		return acked >= 100
	})
	poll(t, 60*time.Second, "the settle period", func() bool { return time.Since(healed) > settleAfterHeal+time.Second })
	rec.StopWorkers()
	finalRV, err := rec.FinalWrite(ctxT(t, 30*time.Second))
	if err != nil {
		problem("final write: %v", err)
	}
	h, err := rec.Finish(ctxT(t, 30*time.Second), finalRV)
	if err != nil {
		problem("%v", err)
	}
	// The client's running time: first call to last answer of the workers.
	var first, last time.Time
	for _, rq := range h.Requests {
		if rq.Kind == "final" {
			continue
		}
		if first.IsZero() || rq.Call.Before(first) {
			first = rq.Call
		}
		if rq.Return.After(last) {
			last = rq.Return
		}
	}
	res.duration = last.Sub(first)
	t.Logf("timeline: warm-up %v, fault %v, after the heal %v", inject.Sub(first).Round(time.Millisecond),
		healed.Sub(inject).Round(time.Millisecond), last.Sub(healed).Round(time.Millisecond))
	final, finalOps := e.finalRead(t)
	h.Ops = append(h.Ops, finalOps...)

	res.requests = len(h.Requests)
	allMinority := len(in.minority) == len(e.c.Masters)
	res.unavailable = -1
	for _, rq := range h.Requests {
		bad := !rq.Abandoned && (rq.Outcome == check.Unknown || (rq.Outcome == check.Failed && !informativeReason[rq.Reason]))
		switch {
		case bad && !rq.Call.Before(inject) && !rq.Call.After(healed):
			res.faultErrors++
			if in.windows != nil && !inWindow(*in.windows, rq.Call, rq.Return) {
				problem("error outside the failover windows: %s %s (worker %d, master %d) at %v: %s",
					rq.Kind, rq.Outcome, rq.Worker, rq.Master, rq.Call.Format("15:04:05.000"), rq.Err)
			}
		case bad && rq.Call.After(healed.Add(settleAfterHeal)):
			res.lateErrors++
			if res.lateErrors <= 3 {
				problem("error %v after the heal: %s %s (worker %d, master %d): %s",
					rq.Call.Sub(healed).Round(time.Millisecond), rq.Kind, rq.Outcome, rq.Worker, rq.Master, rq.Err)
			}
		}
		if rq.Write && rq.Outcome == check.OK && !rq.Call.Before(injected) {
			if d := rq.Return.Sub(injected); res.unavailable < 0 || d < res.unavailable {
				res.unavailable = d
			}
		}
		// The minority never acknowledges a write.
		if rq.Write && rq.Outcome == check.OK && (slices.Contains(in.minority, rq.Master) || (allMinority && rq.Master == -1)) &&
			!rq.Call.Before(injected) && rq.Return.Before(healed) {
			problem("master %d acknowledged a %s while cut off from the quorum (called %v after the fault was in place)",
				rq.Master, rq.Kind, rq.Call.Sub(injected).Round(time.Millisecond))
		}
	}

	t.Logf("latency of answered requests by kind (median / p99): %s", latencies(h.Requests))

	// Histories.
	var visOpt []check.Option
	if *flagVis != "" {
		visOpt = append(visOpt, check.WithVisualization(filepath.Join(*flagVis, fmt.Sprintf("%s-%d.html", f.name, seed))))
	}
	lin, err := check.Linearizable(h.Ops, time.Minute, visOpt...)
	switch {
	case err != nil:
		res.lin = "error"
		problem("linearizability: %v", err)
	case lin.OK:
		res.lin = fmt.Sprintf("ok (%d ops, %d unknown)", lin.Ops, lin.Unknown)
	case lin.TimedOut:
		res.lin = "timeout"
		problem("linearizability check timed out: %s", lin.Info)
	default:
		res.lin = "VIOLATION"
		problem("not linearizable: %s", lin.Info)
	}
	if err := check.CheckRVs(h.Ops); err != nil {
		problem("resourceVersions: %v", err)
	}
	acked, deleted, clean := lastAcked(h.Ops)
	if err := check.CheckNoLostWrites(acked, final, deleted); err != nil {
		res.lost = len(strings.Split(err.Error(), "\n"))
		problem("lost writes (%d keys checked): %v", clean, err)
	}
	res.watch, res.reopened = checkWatches(h, problem)

	// The cluster and the nodes after the fault.
	if err := e.pollConverged(90 * time.Second); err != nil {
		problem("the replication controllers did not converge: %v", err)
	}
	for _, p := range pods.result() {
		problem("%s", p)
	}
	copies.stop()
	// The check for a pod running twice means something only if the
	// nodes were seen while the fault lasted.
	if n := copies.pollsBetween(inject, healed.Add(settleAfterHeal)); n < 3 {
		problem("the nodes' tasks were polled only %d times while the fault lasted (%d in all; last error: %v)",
			n, len(copies.at), copies.lastErr)
	}
	for _, d := range copies.dup {
		problem("%s", d)
	}
	if f.nodesUnchanged {
		after, err := e.nodeStates()
		must(t, err)
		for _, d := range diffNodeStates(before, after) {
			problem("%s", d)
		}
	}
	if in.verify != nil {
		for _, p := range in.verify() {
			problem("%s", p)
		}
	}
	for _, p := range e.mastersAgree() {
		problem("%s", p)
	}
	return res
}

// inWindow reports whether a request in flight from call to ret overlaps
// one of the windows, allowing a second after each for clients to move on.
func inWindow(ws []window, call, ret time.Time) bool {
	for _, w := range ws {
		if !ret.Before(w.from) && !call.After(w.to.Add(time.Second)) {
			return true
		}
	}
	return false
}

// poll waits for cond, checking every 50 ms, and fails the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finalRead lists the keys once more (linearizably) after everything
// stopped: the values for the lost-writes check, and Get ops for the history.
func (e *env) finalRead(t *testing.T) (map[string]string, []check.Op) {
	t.Helper()
	call := time.Now()
	eps, _, err := client.ListTyped[v1.Endpoints](ctxT(t, 30*time.Second), e.admin, "endpoints", keysNamespace, client.ListOptions{})
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	ret := time.Now()
	final := map[string]string{}
	var ops []check.Op
	for _, ep := range eps {
		key := keysNamespace + "/" + ep.Name
		final[key] = ep.Annotations[record.ValueKey]
		ops = append(ops, check.Op{ClientID: workers + 1, Kind: check.Get, Key: key, Call: call, Return: ret,
			Outcome: check.OK, Found: true, GotValue: final[key], RV: ep.ResourceVersion})
	}
	return final, ops
}

// lastAcked returns, for the keys that no write of unknown outcome touched,
// the value of the last acknowledged write or whether it was a delete, and
// how many keys that is. A key whose last acknowledged write overlapped in
// time with another acknowledged write is left to the linearizability check
// (the client cannot tell their order).
func lastAcked(ops []check.Op) (acked map[string]string, deleted map[string]bool, clean int) {
	unknown := map[string]bool{}
	writes := map[string][]check.Op{}
	for _, op := range ops {
		switch {
		case op.Kind == check.Get:
		case op.Outcome == check.Unknown:
			unknown[op.Key] = true
		case op.Outcome == check.OK:
			writes[op.Key] = append(writes[op.Key], op)
		}
	}
	acked, deleted = map[string]string{}, map[string]bool{}
	for key, ws := range writes {
		if unknown[key] {
			continue
		}
		last := ws[0]
		for _, w := range ws[1:] {
			if w.Return.After(last.Return) {
				last = w
			}
		}
		overlap := false
		for _, w := range ws {
			if w != last && w.Return.After(last.Call) {
				overlap = true
			}
		}
		if overlap {
			continue
		}
		clean++
		if last.Kind == check.Delete {
			deleted[key] = true
		} else {
			acked[key] = last.Value
		}
	}
	return acked, deleted, clean
}

// checkWatches checks the reference watch and every random watch; it
// returns the table's summary and how many streams broke and were reopened.
func checkWatches(h record.History, problem func(string, ...any)) (string, int) {
	ref := h.Reference
	bad := 0
	if ref.Err != nil {
		problem("the reference watch ended: %v", ref.Err)
		bad++
	}
	if err := check.CheckWatch(ref.Events, ref.StartRV); err != nil {
		problem("the reference watch: %v", err)
		bad++
	}
	if err := check.CheckWritesSeen(h.Ops, ref.Events); err != nil {
		problem("the reference watch against the writes: %v", err)
		bad++
	}
	events, resumed, reopened := 0, 0, ref.Reconnects
	for i, w := range h.Watches {
		events += len(w.Events)
		reopened += w.Reconnects
		if w.Resumed {
			resumed++
		}
		if w.Err != nil {
			problem("watch %d from %d ended: %v", i, w.StartRV, w.Err)
			bad++
			continue
		}
		end := w.EndRV
		if n := len(w.Events); n > 0 && w.Events[n-1].RV > end {
			end = w.Events[n-1].RV
		}
		cutAt := sort.Search(len(ref.Events), func(j int) bool { return ref.Events[j].RV > end })
		if err := check.CheckWatchAgainst(w.Events, w.StartRV, ref.Events[:cutAt]); err != nil {
			problem("watch %d from %d (%v–%v): %v", i, w.StartRV, w.Start.Format("15:04:05.000"), w.End.Format("15:04:05.000"), err)
			bad++
		}
	}
	if bad > 0 {
		return fmt.Sprintf("FAIL (%d)", bad), reopened
	}
	return fmt.Sprintf("ok (%d watches, %d resumed, %d streams reopened, %d events)", len(h.Watches)+1, resumed, reopened, events+len(ref.Events)), reopened
}

// mastersAgree waits until every master has applied the same log and
// compares their objects: each master's own (stale) list of every resource
// must be identical when read at the same resourceVersion. Node heartbeats
// keep writing, so lists read at different versions are read again.
func (e *env) mastersAgree() []string {
	e.c.WaitCaughtUp(30 * time.Second)
	var out []string
	for _, res := range []string{"namespaces", "nodes", "pods", "replicationcontrollers", "services", "endpoints"} {
		for try := 0; ; try++ {
			rvs, items, err := e.listEverywhere(res)
			if err != nil {
				out = append(out, err.Error())
				break
			}
			if len(slices.Compact(slices.Clone(rvs))) != 1 {
				if try < 50 {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				out = append(out, fmt.Sprintf("%s: the masters never listed them at one resourceVersion (%v)", res, rvs))
				break
			}
			for i := 1; i < len(items); i++ {
				if items[i] != items[0] {
					out = append(out, fmt.Sprintf("%s differ between %s and %s at resourceVersion %s", res, e.c.Masters[0].Name, e.c.Masters[i].Name, rvs[0]))
				}
			}
			break
		}
	}
	return out
}

// listEverywhere lists a resource on each master from its own state and
// returns the lists' resourceVersions and canonical contents.
func (e *env) listEverywhere(res string) ([]string, []string, error) {
	var rvs, items []string
	for i, m := range e.c.Masters {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		l, err := e.c.Client(i).List(ctx, res, "", client.ListOptions{Stale: true})
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("list %s on %s: %w", res, m.Name, err)
		}
		rvs = append(rvs, l.ResourceVersion)
		items = append(items, canonical(l.Items))
	}
	return rvs, items, nil
}

// canonical renders list items sorted, so two masters' lists compare.
func canonical(items []json.RawMessage) string {
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = string(it)
	}
	sort.Strings(s)
	return strings.Join(s, "\n")
}

// renderTable aggregates the runs per fault into the Markdown table of the
// suite.
func renderTable(results []result) string {
	var b strings.Builder
	b.WriteString("| fault | runs | requests (req/s) | errors during the fault | write unavailability median / max | lost writes | linearizable | watches (streams reopened) | other problems |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	var order []string
	by := map[string][]result{}
	for _, r := range results {
		if _, ok := by[r.fault]; !ok {
			order = append(order, r.fault)
		}
		by[r.fault] = append(by[r.fault], r)
	}
	for _, name := range order {
		rs := by[name]
		var reqs, errs, lost, other, reopened int
		var secs float64
		var unavail []time.Duration
		lin, watch := "ok", "ok"
		for _, r := range rs {
			reqs += r.requests
			secs += r.duration.Seconds()
			errs += r.faultErrors
			lost += r.lost
			unavail = append(unavail, r.unavailable)
			if !strings.HasPrefix(r.lin, "ok") {
				lin = r.lin
			}
			if !strings.HasPrefix(r.watch, "ok") {
				watch = r.watch
			}
			reopened += r.reopened
			other += len(r.problems)
		}
		if watch == "ok" {
			watch = fmt.Sprintf("ok (%d)", reopened)
		}
		slices.Sort(unavail)
		med := unavail[len(unavail)/2]
		if len(unavail)%2 == 0 {
			med = (unavail[len(unavail)/2-1] + unavail[len(unavail)/2]) / 2
		}
		fmt.Fprintf(&b, "| %s | %d | %d (%.0f) | %d | %v / %v | %d | %s | %s | %d |\n", name, len(rs), reqs, float64(reqs)/secs,
			errs, fmtDur(med), fmtDur(unavail[len(unavail)-1]), lost, lin, watch, other)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// informativeReason are the failures that are answers about the object,
// not errors of the cluster.
var informativeReason = map[string]bool{check.ReasonAlreadyExists: true, check.ReasonConflict: true, check.ReasonNotFound: true}

// latencies summarizes the answered requests' latency per kind.
func latencies(rqs []record.Request) string {
	by := map[string][]time.Duration{}
	for _, rq := range rqs {
		if rq.Outcome != check.Unknown {
			by[rq.Kind] = append(by[rq.Kind], rq.Return.Sub(rq.Call))
		}
	}
	var kinds []string
	for k := range by {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []string
	for _, k := range kinds {
		d := by[k]
		slices.Sort(d)
		out = append(out, fmt.Sprintf("%s %d: %v / %v", k, len(d), d[len(d)/2].Round(100*time.Microsecond), d[len(d)*99/100].Round(time.Millisecond)))
	}
	return strings.Join(out, ", ")
}
