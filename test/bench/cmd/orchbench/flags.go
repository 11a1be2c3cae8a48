package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
)

// summaryOptions are the flags of the density finder and the proxy's
// mode comparison.
type summaryOptions struct {
	densityFind      bool
	densityFindStart int
	densityFindMax   int
	proxyServices    int
	proxyRuns        int
	proxyTable       bool
}

// registerSummaryFlags adds summaryOptions' flags.
func registerSummaryFlags(o *summaryOptions) {
	flag.BoolVar(&o.densityFind, "density-find", false, "with -only density: step the hollow node count up, doubling from -density-find-start, until an SLO is missed, and report the largest count that held")
	flag.IntVar(&o.densityFindStart, "density-find-start", 10, "first size of -density-find")
	flag.IntVar(&o.densityFindMax, "density-find-max", 640, "largest size -density-find tries")
	flag.IntVar(&o.proxyServices, "proxy-services", 10000, "services (3 endpoints each) of the proxy's iptables/nftables comparison")
	flag.BoolVar(&o.proxyTable, "proxy-table", true, "in the proxy section, also the iptables mode at 1,000 and 5,000 services beside a raw iptables-restore of the same text")
	flag.IntVar(&o.proxyRuns, "proxy-runs", 3, "runs per mode of the proxy's iptables/nftables comparison; medians are reported")
}

// validate checks the flags' values.
func (o summaryOptions) validate() error {
	if o.proxyServices < 1 || o.proxyServices > 20000 || o.proxyRuns < 1 {
		return fmt.Errorf("-proxy-services %d, -proxy-runs %d: want 1 to 20,000 services and at least 1 run", o.proxyServices, o.proxyRuns)
	}
	if o.densityFind && (o.densityFindStart < 1 || o.densityFindMax < o.densityFindStart) {
		return fmt.Errorf("-density-find-start %d, -density-find-max %d: want 1 <= start <= max", o.densityFindStart, o.densityFindMax)
	}
	return nil
}

// onlyWithSummary runs one section that reports into a results collector
// (density, density-find, proxy) and prints the summary after it.
func onlyWithSummary(ctx context.Context, t *runT, name string, section func(context.Context, *results) error) error {
	rep := &results{}
	t.onFatal = func() {
		rep.fail("harness", errors.New(t.msg))
		_ = printSummary(rep)
	}
	_ = rep.run(name, func() error { return section(ctx, rep) })
	return printSummary(rep)
}
