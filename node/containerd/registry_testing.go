package containerd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// RegistryBinary is the Debian docker-registry package's binary
// (distribution 2.8), which StartTestRegistry runs.
const RegistryBinary = "docker-registry"

// HtpasswdBinary makes the registry's bcrypt password file (Debian's
// apache2-utils package).
const HtpasswdBinary = "htpasswd"

// TestRegistry is a private OCI distribution registry on loopback, speaking
// plain HTTP, started by StartTestRegistry.
type TestRegistry struct {
	// Host is "127.0.0.1:<port>", the registry part of image references.
	Host string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been reaped
	logs   *testWriter
}

// StartTestRegistry starts docker-registry for a test: filesystem storage
// in a t.TempDir, no authentication, listening on a free port of
// 127.0.0.1. It returns once GET /v2/ answers 200. t.Cleanup stops it by
// PID. The registry's log (level warn) goes to t.Log.
//
// A missing binary fails the test: the docker-registry package is one of
// the packages `make deps` (scripts/ensure-packages.sh) installs.
func StartTestRegistry(t testing.TB) *TestRegistry {
	t.Helper()
	return StartTestRegistryWithUsers(t, nil)
}

// StartTestRegistryWithUsers is StartTestRegistry with htpasswd
// authentication when users (name → password) is not empty: every request
// then needs HTTP Basic credentials of one of them. The password file is
// made with htpasswd -B (the apache2-utils package, which `make deps`
// installs) in the registry's t.TempDir.
func StartTestRegistryWithUsers(t testing.TB, users map[string]string) *TestRegistry {
	t.Helper()
	bin, err := exec.LookPath(RegistryBinary)
	if err != nil {
		t.Fatalf("needs %s from the docker-registry package (run `make deps`): %v", RegistryBinary, err)
	}
	dir := t.TempDir()
	auth := ""
	if len(users) > 0 {
		path := filepath.Join(dir, "htpasswd")
		if err := WriteHtpasswd(path, users); err != nil {
			t.Fatal(err)
		}
		auth = HtpasswdConfig(path)
	}
	// The port is free when chosen but may be taken before the registry
	// binds it; such a registry exits at once, and another port is tried.
	var lastErr error
	for range 3 {
		reg, err := startRegistry(t, bin, dir, auth)
		if err == nil {
			return reg
		}
		lastErr = err
	}
	t.Fatalf("start test registry: %v", lastErr)
	return nil
}

// WriteHtpasswd writes users (name → password) to path as bcrypt lines
// made by htpasswd -B, the only hash docker-registry accepts.
func WriteHtpasswd(path string, users map[string]string) error {
	bin, err := exec.LookPath(HtpasswdBinary)
	if err != nil {
		return fmt.Errorf("needs %s from the apache2-utils package (run `make deps`): %w", HtpasswdBinary, err)
	}
	var lines []byte
	for user, pass := range users {
		out, err := exec.Command(bin, "-Bbn", user, pass).Output()
		if err != nil {
			return fmt.Errorf("htpasswd for user %q: %w", user, err)
		}
		lines = append(lines, bytes.TrimSpace(out)...)
		lines = append(lines, '\n')
	}
	if err := os.WriteFile(path, lines, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// HtpasswdConfig is the auth section of a docker-registry configuration
// checking HTTP Basic credentials against the htpasswd file at path.
func HtpasswdConfig(path string) string {
	return fmt.Sprintf("auth:\n  htpasswd:\n    realm: orch-test-registry\n    path: %s\n", path)
}

func startRegistry(t testing.TB, bin, dir, auth string) (*TestRegistry, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	host := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "data"), host, auth)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return nil, err
	}

	reg := &TestRegistry{Host: host, exited: make(chan struct{}), logs: &testWriter{t: t}}
	reg.cmd = exec.Command(bin, "serve", configPath)
	reg.cmd.Stdout = reg.logs
	reg.cmd.Stderr = reg.logs
	// Its own process group: a signal to the test's group does not reach it
	// before the cleanup does.
	reg.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := reg.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	var waitErr error
	go func() {
		waitErr = reg.cmd.Wait()
		close(reg.exited)
	}()
	t.Cleanup(func() {
		if err := reg.Stop(); err != nil {
			t.Errorf("stop test registry: %v", err)
		}
		reg.logs.stop()
	})

	url := "http://" + host + "/v2/"
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			// With authentication, 401 is the registry's answer.
			if resp.StatusCode == http.StatusOK || (auth != "" && resp.StatusCode == http.StatusUnauthorized) {
				return reg, nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("registry on %s not ready after %v: %w", host, testTimeout, err)
		}
		select {
		case <-reg.exited:
			return nil, fmt.Errorf("registry on %s exited before it was ready: %v", host, waitErr)
		case <-tick.C:
		}
	}
}

// Stop ends the registry by PID: SIGTERM, then SIGKILL after 10 s. It is
// idempotent.
func (r *TestRegistry) Stop() error {
	select {
	case <-r.exited:
		return nil
	default:
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal registry pid %d: %w", r.cmd.Process.Pid, err)
	}
	select {
	case <-r.exited:
		return nil
	case <-time.After(10 * time.Second):
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill registry pid %d: %w", r.cmd.Process.Pid, err)
	}
	select {
	case <-r.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("registry pid %d still running after SIGKILL", r.cmd.Process.Pid)
	}
}

// freeLoopbackPort returns a TCP port of 127.0.0.1 that was free a moment
// ago.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return port, nil
}
