package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"orch.io/orch/api/client"
	"orch.io/orch/test/harness"
)

// densityProfileWindow is how long the density run profiles the masters
// and this process while the hollow nodes register (-profile).
const densityProfileWindow = 30 * time.Second

// profileRegistration records CPU profiles of every master and of this
// process (the hollow nodes) for densityProfileWindow from now, into dir
// (<master>.register.cpu.pprof, hollow.register.cpu.pprof), and a heap
// profile of this process at the end of the window. The returned func
// waits for the profiles and reports what failed on stderr.
func profileRegistration(ctx context.Context, c *harness.Cluster, masters []*client.Client, dir string) func() {
	var wg sync.WaitGroup
	errs := make([]error, len(masters)+1)
	for i, m := range c.Masters {
		wg.Go(func() {
			if err := profile(ctx, masters[i], 0, densityProfileWindow, filepath.Join(dir, m.Name+".register.cpu.pprof")); err != nil {
				errs[i] = fmt.Errorf("profile %s: %w", m.Name, err)
			}
		})
	}
	wg.Go(func() { errs[len(masters)] = profileSelf(ctx, dir) })
	return func() {
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				fmt.Fprintf(os.Stderr, "density: %v\n", err)
			}
		}
	}
}

// densityRestWindow is how long the density run profiles the masters
// once every hollow node is Ready, before it creates pods (-profile).
const densityRestWindow = 20 * time.Second

// profileRest records CPU profiles of every master for densityRestWindow
// into dir (<master>.rest.cpu.pprof): what registered nodes cost at rest
// (Lease renewals, node status, their watches). It reports what failed on
// stderr.
func profileRest(ctx context.Context, c *harness.Cluster, masters []*client.Client, dir string) {
	var wg sync.WaitGroup
	errs := make([]error, len(masters))
	for i, m := range c.Masters {
		wg.Go(func() {
			if err := profile(ctx, masters[i], 0, densityRestWindow, filepath.Join(dir, m.Name+".rest.cpu.pprof")); err != nil {
				errs[i] = fmt.Errorf("profile %s at rest: %w", m.Name, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "density: %v\n", err)
		}
	}
}

// profileSelf records this process's CPU for densityProfileWindow, then
// its heap.
func profileSelf(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "hollow.register.cpu.pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("profile this process: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(densityProfileWindow):
	}
	pprof.StopCPUProfile()
	h, err := os.Create(filepath.Join(dir, "hollow.register.heap.pprof"))
	if err != nil {
		return err
	}
	defer h.Close()
	return pprof.Lookup("heap").WriteTo(h, 0)
}
