// Command etcdbench measures etcd's write rate on this machine: it starts a
// throwaway etcd cluster on loopback (package bench), drives closed-loop
// 1 KiB puts through etcd's JSON gateway over plain HTTP and over HTTPS,
// runs each configuration -runs times, interleaved, prints one line per run
// and the medians, and stops etcd.
//
//	go run ./test/bench/cmd/etcdbench -runs 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"orch.io/orch/test/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "etcdbench:", err)
		os.Exit(1)
	}
}

type config struct {
	transport string // http or https
	target    string // spread or leader
}

func (c config) String() string { return fmt.Sprintf("%-5s %-6s", c.transport, c.target) }

func run() error {
	clients := flag.Int("clients", 64, "concurrent closed-loop clients")
	duration := flag.Duration("duration", 10*time.Second, "measured window per run")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up before each run's window")
	runs := flag.Int("runs", 3, "runs per configuration (the median is reported)")
	valueSize := flag.Int("value-size", 1024, "value size in bytes")
	members := flag.Int("members", 3, "etcd members")
	transports := flag.String("transport", "http,https", "comma-separated: http, https")
	targets := flag.String("target", "spread", "comma-separated: spread (worker w -> member w%n), leader (all to the leader)")
	dir := flag.String("dir", "", "parent of the cluster's data directory (default: the system temp dir)")
	flag.Parse()

	var configs []config
	for _, tr := range strings.Split(*transports, ",") {
		for _, tg := range strings.Split(*targets, ",") {
			if (tr != "http" && tr != "https") || (tg != "spread" && tg != "leader") {
				return fmt.Errorf("bad -transport %q or -target %q", tr, tg)
			}
			configs = append(configs, config{tr, tg})
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := bench.EnsureEtcd(); err != nil {
		return err
	}
	version, _ := exec.Command(bench.EtcdBinary, "--version").Output()
	tmp, err := os.MkdirTemp(*dir, "etcdbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	t0 := time.Now()
	cluster, err := bench.StartEtcd(ctx, tmp, *members)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	pids := make([]int, len(cluster.Members))
	for i, m := range cluster.Members {
		pids[i] = m.PID
	}
	fmt.Printf("%s, %d members (pids %v) healthy in %v; %d CPUs, GOMAXPROCS %d\n",
		firstLine(version), *members, pids, time.Since(t0).Round(time.Millisecond), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("put %d B values via %s/kv/put, HTTP/1.1 keep-alive, %d clients, warm-up %v, window %v, %d runs\n",
		*valueSize, bench.EtcdGatewayPrefix, *clients, *warmup, *duration, *runs)

	// Our processes, for telling our CPU use from other load: the machine
	// is shared, and a concurrent benchmark shows up as "other".
	ours := append([]int{os.Getpid()}, pids...)
	if idle, err := cpuUse(ctx, time.Second, ours); err == nil {
		fmt.Printf("before the runs, 1 s idle: %v\n", idle)
	}

	results := make(map[config][]bench.Result)
	quiet := make(map[config][]bench.Result) // runs without NOISY
	for r := range *runs {
		// Rotate the order each run so no configuration always goes first
		// (the store grows and the machine drifts during the benchmark).
		for k := range configs {
			c := configs[(k+r)%len(configs)]
			before, err := bench.ReadCPUTimes(ours...)
			if err != nil {
				return err
			}
			res, err := runOne(ctx, cluster, c, *clients, *valueSize, *duration, *warmup)
			if err != nil {
				return err
			}
			after, err := bench.ReadCPUTimes(ours...)
			if err != nil {
				return err
			}
			use := after.Sub(before)
			fmt.Printf("run %d/%d  %v  %v  %v\n", r+1, *runs, c, res, use)
			results[c] = append(results[c], res)
			if !use.Noisy() {
				quiet[c] = append(quiet[c], res)
			}
		}
	}
	errs := 0
	for _, c := range configs {
		s := bench.Summarize(results[c])
		errs += s.Errors
		fmt.Printf("median    %v  %v\n", c, s)
		if q := quiet[c]; len(q) > 0 && len(q) < len(results[c]) {
			fmt.Printf("  quiet   %v  %v  (runs without other load above %.1f cores)\n", c, bench.Summarize(q), bench.NoisyOther)
		}
	}
	if err := cluster.Stop(); err != nil {
		return err
	}
	if errs > 0 {
		return errors.New("some puts failed (see the first error on the run lines)")
	}
	return nil
}

func runOne(ctx context.Context, cluster *bench.EtcdCluster, c config, clients, valueSize int, duration, warmup time.Duration) (bench.Result, error) {
	urls := cluster.ClientURLs()
	cfg := bench.EtcdPutConfig{ValueSize: valueSize, Clients: clients}
	if c.transport == "https" {
		urls = cluster.TLSClientURLs()
		cfg.TLS = cluster.ClientTLSConfig()
	}
	if c.target == "leader" {
		i, err := cluster.Leader(ctx)
		if err != nil {
			return bench.Result{}, err
		}
		urls = urls[i : i+1]
	}
	cfg.URLs = urls
	put, err := bench.NewEtcdPut(cfg)
	if err != nil {
		return bench.Result{}, err
	}
	defer put.Close()
	res := bench.Run(ctx, clients, duration, warmup, put.Op)
	return res, ctx.Err()
}

// cpuUse measures CPU use over d.
func cpuUse(ctx context.Context, d time.Duration, pids []int) (bench.CPUUse, error) {
	a, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return bench.CPUUse{}, err
	}
	select {
	case <-ctx.Done():
		return bench.CPUUse{}, ctx.Err()
	case <-time.After(d):
	}
	b, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return bench.CPUUse{}, err
	}
	return b.Sub(a), nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
