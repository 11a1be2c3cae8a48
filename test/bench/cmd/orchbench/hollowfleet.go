package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"orch.io/orch/pki"
	"orch.io/orch/test/hollow"
)

// The density run's hollow nodes live in this process, or, past
// -density-nodes-per-process, in child processes of orchbench of that many
// nodes each: one process's open file limit, heap and garbage collector
// bound how many nodes it holds, not the machine. A child is this binary
// with hollowChildEnv set; it reads its hollowChildConfig as the first line
// of its stdin, starts its nodes, and then answers each line "stats" or
// "gc" (a full GC first) with a hollowStats line on stdout. It stops its
// nodes and exits when its stdin ends, so a child never outlives the run.

// hollowChildEnv marks a child process of hollow nodes.
const hollowChildEnv = "ORCHBENCH_HOLLOW_CHILD"

// hollowChildConfig is what a child runs.
type hollowChildConfig struct {
	Servers     []string      `json:"servers"`
	PKIDir      string        `json:"pkiDir"`
	StateDir    string        `json:"stateDir"`
	ClusterCIDR string        `json:"clusterCIDR"`
	Names       []string      `json:"names"`
	FirstIndex  int           `json:"firstIndex"`
	StartSpread time.Duration `json:"startSpread"`
	NoRoutes    bool          `json:"noRoutes"`
}

// hollowStats is what a set of hollow nodes and the processes that hold
// them cost and did.
type hollowStats struct {
	// Running counts the hollow containers running.
	Running int `json:"running"`
	// Syncs and Bytes are the proxies' ruleset renders and their size.
	Syncs int `json:"syncs"`
	Bytes int `json:"bytes"`
	// RSSKiB, Files and Goroutines are the processes', summed; MaxFiles
	// the most one process holds.
	RSSKiB     int `json:"rssKiB"`
	Files      int `json:"files"`
	MaxFiles   int `json:"maxFiles"`
	Goroutines int `json:"goroutines"`
	Processes  int `json:"processes"`
	// Err is why nodes stopped by themselves or the agents' first logged
	// error; Warnings the agents' warnings ("no warnings" for none).
	Err      string `json:"err,omitempty"`
	Warnings string `json:"warnings"`
}

func (s *hollowStats) add(o hollowStats) {
	s.Running += o.Running
	s.Syncs += o.Syncs
	s.Bytes += o.Bytes
	s.RSSKiB += o.RSSKiB
	s.Files += o.Files
	s.MaxFiles = max(s.MaxFiles, o.MaxFiles)
	s.Goroutines += o.Goroutines
	s.Processes += o.Processes
	if s.Err == "" {
		s.Err = o.Err
	}
	if s.Warnings == "" || s.Warnings == "no warnings" {
		s.Warnings = o.Warnings
	}
}

// localStats is the stats of pool, run by this process, whose agents log
// to log; gc runs a full GC first.
func localStats(pool *hollow.Pool, log *errorLog, gc bool) hollowStats {
	if gc {
		runtime.GC()
	}
	var st hollowStats
	for _, nd := range pool.Nodes {
		st.Running += nd.Runtime.Running()
		ps := nd.Proxy.Stats()
		st.Syncs, st.Bytes = st.Syncs+ps.Syncs, st.Bytes+ps.Bytes
	}
	st.RSSKiB, _ = rssKiB(os.Getpid())
	fds, _ := os.ReadDir("/proc/self/fd")
	st.Files, st.MaxFiles = len(fds), len(fds)
	st.Goroutines, st.Processes = runtime.NumGoroutine(), 1
	if err := errors.Join(pool.Err(), log.err()); err != nil {
		st.Err = err.Error()
	}
	st.Warnings = log.warnings()
	return st
}

// hollowChild runs a child process of hollow nodes (see hollowChildEnv).
func hollowChild(in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("hollow child: read its config: %w", err)
	}
	var cfg hollowChildConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return fmt.Errorf("hollow child: config: %w", err)
	}
	ca, err := pki.LoadClusterCA(cfg.PKIDir)
	if err != nil {
		return fmt.Errorf("hollow child: %w", err)
	}
	_, cidr, err := net.ParseCIDR(cfg.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("hollow child: cluster CIDR: %w", err)
	}
	if _, err := raiseFileLimit(); err != nil {
		return fmt.Errorf("hollow child: %w", err)
	}
	log := &errorLog{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(len(cfg.Names))*50*time.Millisecond)
	pool, err := hollow.Start(ctx, hollow.Config{Servers: cfg.Servers, CA: ca, StateDir: cfg.StateDir, ClusterCIDR: cidr,
		Logger: slog.New(log), StartSpread: cfg.StartSpread, FirstIndex: cfg.FirstIndex, NoRoutes: cfg.NoRoutes}, cfg.Names)
	cancel()
	if err != nil {
		return fmt.Errorf("hollow child: %w", err)
	}
	defer pool.Stop()
	enc := json.NewEncoder(out)
	for {
		cmd, err := r.ReadString('\n')
		if err != nil {
			return nil // the parent is gone or done
		}
		if err := enc.Encode(localStats(pool, log, cmd == "gc\n")); err != nil {
			return nil
		}
	}
}

// hollowProc is a child process of hollow nodes, seen from the parent.
type hollowProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	mu     sync.Mutex // one question at a time
	exited chan struct{}
	werr   error
}

// startHollowProc starts a child running cfg.
func startHollowProc(cfg hollowChildConfig) (*hollowProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start hollow child: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), hollowChildEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start hollow child: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start hollow child: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hollow child: %w", err)
	}
	p := &hollowProc{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), exited: make(chan struct{})}
	go func() { p.werr = cmd.Wait(); close(p.exited) }()
	b, _ := json.Marshal(cfg)
	if _, err := stdin.Write(append(b, '\n')); err != nil {
		p.stop()
		return nil, fmt.Errorf("start hollow child: %w", err)
	}
	return p, nil
}

// stats asks the child for its stats (after a full GC with gc).
func (p *hollowProc) stats(gc bool) (hollowStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := "stats\n"
	if gc {
		q = "gc\n"
	}
	var st hollowStats
	if _, err := io.WriteString(p.stdin, q); err != nil {
		return st, p.exitErr(err)
	}
	line, err := p.stdout.ReadBytes('\n')
	if err != nil {
		return st, p.exitErr(err)
	}
	if err := json.Unmarshal(line, &st); err != nil {
		return st, fmt.Errorf("hollow child %d: stats %q: %w", p.cmd.Process.Pid, line, err)
	}
	return st, nil
}

// exitErr says why talking to the child failed: how it exited, if it did.
func (p *hollowProc) exitErr(err error) error {
	select {
	case <-p.exited:
		return fmt.Errorf("hollow child %d exited: %v", p.cmd.Process.Pid, p.werr)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("hollow child %d: %w", p.cmd.Process.Pid, err)
	}
}

// stop closes the child's stdin (it stops its nodes and exits) and waits
// a minute before killing it.
func (p *hollowProc) stop() {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// hollowFleet is the density run's hollow nodes: in this process (pool)
// or in child processes (procs).
type hollowFleet struct {
	pool  *hollow.Pool
	log   *errorLog
	procs []*hollowProc
}

// startFleet starts the named nodes, perProc to a child process when there
// are more than perProc, else in this process.
func startFleet(ctx context.Context, cfg hollowChildConfig, perProc int) (*hollowFleet, error) {
	f := &hollowFleet{log: &errorLog{}}
	if len(cfg.Names) <= perProc {
		ca, err := pki.LoadClusterCA(cfg.PKIDir)
		if err != nil {
			return nil, err
		}
		_, cidr, err := net.ParseCIDR(cfg.ClusterCIDR)
		if err != nil {
			return nil, err
		}
		f.pool, err = hollow.Start(ctx, hollow.Config{Servers: cfg.Servers, CA: ca, StateDir: cfg.StateDir,
			ClusterCIDR: cidr, Logger: slog.New(f.log), StartSpread: cfg.StartSpread, NoRoutes: cfg.NoRoutes}, cfg.Names)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	for first := 0; first < len(cfg.Names); first += perProc {
		c := cfg
		c.Names = cfg.Names[first:min(first+perProc, len(cfg.Names))]
		c.FirstIndex = first
		// Each child spreads its share of the nodes over the whole window.
		p, err := startHollowProc(c)
		if err != nil {
			f.stop()
			return nil, err
		}
		f.procs = append(f.procs, p)
	}
	return f, nil
}

// stats sums the stats of every process holding hollow nodes.
func (f *hollowFleet) stats(gc bool) (hollowStats, error) {
	if f.pool != nil {
		return localStats(f.pool, f.log, gc), nil
	}
	var st hollowStats
	for _, p := range f.procs {
		ps, err := p.stats(gc)
		if err != nil {
			return st, err
		}
		st.add(ps)
	}
	return st, nil
}

// err is why nodes stopped by themselves or a child went away.
func (f *hollowFleet) err() error {
	if f.pool != nil {
		return f.pool.Err()
	}
	for _, p := range f.procs {
		select {
		case <-p.exited:
			return fmt.Errorf("hollow child %d exited: %v", p.cmd.Process.Pid, p.werr)
		default:
		}
	}
	return nil
}

// agentErr is the agents' first logged error or stopped node, if any.
func (f *hollowFleet) agentErr() error {
	if f.pool != nil {
		return f.log.err()
	}
	st, err := f.stats(false)
	if err != nil {
		return err
	}
	if st.Err != "" {
		return errors.New(st.Err)
	}
	return nil
}

// stop ends every node and every child.
func (f *hollowFleet) stop() {
	if f.pool != nil {
		_ = f.pool.Stop()
	}
	var wg sync.WaitGroup
	for _, p := range f.procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}
