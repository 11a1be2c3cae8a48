package harness

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// process is one started daemon (a master or a node agent) with its log
// file; it is safe for concurrent use.
type process struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs cmd with its output appended to logPath.
func (p *process) start(cmd *exec.Cmd, logPath string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

// exited is closed when the process has exited (nil when never started).
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Running reports whether the process is alive.
func (p *process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID returns the process id (0 when stopped).
func (p *process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// signal sends sig (after SIGCONT, for a paused process) and waits up to
// timeout for the exit; then it kills the process and reports false.
func (p *process) signal(sig syscall.Signal, timeout time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	syscall.Kill(cmd.Process.Pid, syscall.SIGCONT)
	syscall.Kill(cmd.Process.Pid, sig)
	ok := true
	select {
	case <-done:
	case <-time.After(timeout):
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
		ok = false
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	return ok
}
