// Command proxybench runs only the service proxy section of `make bench`
// (orchbench -proxy): net/proxy's first sync against a raw iptables-restore
// of the same text, one endpoint change among many services, and, once,
// go-iptables adding the rules one exec at a time. Everything runs inside
// throwaway network namespaces (orchpx-bench-*), deleted afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"orch.io/orch/test/bench"
)

// Namespace switching happens on locked threads of their own; the main
// thread stays in the host namespace.
func init() { runtime.LockOSThread() }

func main() {
	sizes := flag.String("sizes", "1000,5000", "comma-separated service counts (3 endpoints each)")
	runs := flag.Int("runs", 3, "runs per size; medians are reported")
	goipt := flag.Int("go-iptables-services", 1000, "services for the one-rule-per-exec go-iptables run (0 skips it; ~25 s at 1000 on nft here)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := bench.ProxyBenchOptions{Runs: *runs, GoIPTablesServices: *goipt, Out: os.Stdout}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "proxybench: bad -sizes:", s)
			os.Exit(2)
		}
		o.Sizes = append(o.Sizes, n)
	}
	if _, err := bench.ProxyBench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}
