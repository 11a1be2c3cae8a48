package main

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"orch.io/orch/pki"
)

// runAsOrchd makes the test binary run orchd's main when a test starts it
// as a subprocess with this variable set.
const runAsOrchd = "ORCHD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsOrchd) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A master whose stdout and stderr are a pipe that nobody reads any more
// still stops cleanly on SIGTERM: it logs while stopping, and those writes
// must fail quietly instead of killing it with SIGPIPE.
func TestMasterStopsCleanlyWithClosedLogPipe(t *testing.T) {
	dir := t.TempDir()
	pkiDir, dataDir := filepath.Join(dir, "pki"), filepath.Join(dir, "data")
	if err := pki.Init(pki.InitOptions{Dir: pkiDir, Hosts: []string{"127.0.0.1"}, Masters: []string{"m1"}}); err != nil {
		t.Fatal(err)
	}
	raft := freeAddr(t)
	cmd := exec.Command(os.Args[0], "master", "--name", "m1", "--data-dir", dataDir, "--pki-dir", pkiDir,
		"--api-addr", "127.0.0.1:0", "--raft-addr", raft, "--initial-cluster", "m1="+raft,
		"--heartbeat-timeout", "100ms", "--election-timeout", "100ms", "--leader-lease-timeout", "100ms")
	cmd.Env = append(os.Environ(), runAsOrchd+"=1")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// exited is closed once the process was reaped; waitErr is then its end.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill() // by PID: only the process this test started
			<-exited
		}
	})

	// Read the log until the master has started and leads, then close the
	// pipe's only reader.
	started := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(r)
		var seen []string
		for sc.Scan() {
			line := sc.Text()
			seen = append(seen, line)
			if strings.Contains(line, "master started") {
				started <- nil
				return
			}
		}
		started <- errors.New("the log ended before the master started:\n" + strings.Join(seen, "\n"))
	}()
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-timer.C:
		t.Fatal("the master did not start within 30s")
	}
	r.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("the master did not exit cleanly: %v (%v)", waitErr, cmd.ProcessState)
		}
	case <-timer.C:
		t.Fatal("the master did not exit within 30s of SIGTERM")
	}
}
