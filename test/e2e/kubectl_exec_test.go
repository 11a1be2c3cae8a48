package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
)

// kubectlRun runs kubectl with a kubeconfig and stdin, and returns its
// output, its error output and its exit code.
func kubectlRun(t *testing.T, kubeconfig, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return kubectlRunEnv(t, kubeconfig, nil, stdin, args...)
}

// kubectlRunEnv is kubectlRun with more environment variables.
func kubectlRunEnv(t *testing.T, kubeconfig string, env []string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.Kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(append(os.Environ(), "HOME="+t.TempDir()), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// Issue 14, exec and port-forward: kubectl exec runs commands in a pod's
// container through master → agent → containerd, over WebSocket v5 (kubectl
// 1.32's first choice) and SPDY (its fallback), with stdin and exit codes;
// kubectl port-forward carries HTTP to a busybox httpd in the pod.
func TestKubectlExec(t *testing.T) {
	t.Parallel()
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	admin := newRBACUser(t, c, "exec-admin", "system:masters")
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "shell"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			Command: []string{"sh", "-c", "echo hello-from-pod > /tmp/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp"}}}}})
	waitFor(t, 60*time.Second, "shell running", func() (bool, string) {
		p := getPod(t, cl, "shell")
		cs := containerStatus(p, "c")
		return cs != nil && cs.State.Running != nil, p.Status.Phase
	})
	kc := admin.kubeconfig

	for _, tc := range []struct {
		name     string
		env      []string
		stdin    string
		args     []string
		wantOut  string
		wantErr  string
		wantCode int
	}{
		{name: "echo", args: []string{"exec", "shell", "--", "echo", "hi"}, wantOut: "hi\n"},
		{name: "exit code", args: []string{"exec", "shell", "--", "sh", "-c", "exit 3"}, wantCode: 3},
		{name: "stderr", args: []string{"exec", "shell", "--", "sh", "-c", "echo oops >&2; exit 1"}, wantErr: "oops\n", wantCode: 1},
		{name: "stdin", stdin: "one\ntwo\n", args: []string{"exec", "-i", "shell", "--", "wc", "-l"}, wantOut: "2\n"},
		{name: "container flag", args: []string{"exec", "shell", "-c", "c", "--", "cat", "/tmp/index.html"}, wantOut: "hello-from-pod\n"},
		{name: "no such container", args: []string{"exec", "shell", "-c", "nope", "--", "true"}, wantErr: "container nope is not valid for pod shell", wantCode: 1},
	} {
		// WebSocket v5 is kubectl's default; SPDY is its fallback, forced here.
		for _, proto := range []struct {
			name string
			env  []string
		}{{"websocket", nil}, {"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}}} {
			t.Run(tc.name+"/"+proto.name, func(t *testing.T) {
				out, errOut, code := kubectlRunEnv(t, kc, proto.env, tc.stdin, tc.args...)
				if code != tc.wantCode || (tc.wantOut != "" && strings.TrimSpace(out) != strings.TrimSpace(tc.wantOut)) ||
					!strings.Contains(errOut, strings.TrimSpace(tc.wantErr)) {
					t.Fatalf("kubectl %v: code %d out %q err %q; want code %d out %q err containing %q",
						tc.args, code, out, errOut, tc.wantCode, tc.wantOut, tc.wantErr)
				}
			})
		}
	}

	// orchctl exec: output, stderr and the exit code.
	out, errOut, err := c.Orchctl("", "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 4")
	var ee *exec.ExitError
	// As kubectl, orchctl (kubectl's exec) adds "command terminated with exit code 4".
	if !errors.As(err, &ee) || ee.ExitCode() != 4 || out != "out\n" || errOut != "err\ncommand terminated with exit code 4\n" {
		t.Fatalf("orchctl exec: %q %q %v, want out, err and exit code 4", out, errOut, err)
	}
	if out, errOut, err := c.Orchctl("two\nlines\n", "exec", "-i", "shell", "--", "wc", "-l"); err != nil || strings.TrimSpace(out) != "2" {
		t.Fatalf("orchctl exec -i: %q %q %v", out, errOut, err)
	}

	// A terminal: kubectl exec -it from a pty the test made, with its size.
	ttyOut, ttyCode := kubectlTTY(t, kc, "stty size; tty; exit 7\n", "exec", "-it", "shell", "--", "sh")
	if ttyCode != 7 || !strings.Contains(ttyOut, "40 120") || !strings.Contains(ttyOut, "/dev/pts/") {
		t.Fatalf("kubectl exec -it: exit %d, output %q; want exit 7, size 40 120 and a /dev/pts terminal", ttyCode, ttyOut)
	}

	// pods/exec is authorized as create on it: a viewer, who may read the
	// pod, is refused with Kubernetes' wording, over both protocols.
	nobody := newRBACUser(t, c, "viewer")
	if err := cl.Create(ctxT(t, 5*time.Second), &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "viewer-view"},
		RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: rbac.View}, Subjects: []v1.Subject{{Kind: "User", Name: "viewer"}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "viewer reads the pod", func() (bool, string) {
		_, errOut, code := kubectlRun(t, nobody.kubeconfig, "", "get", "pod", "shell")
		return code == 0, errOut
	})
	for _, env := range [][]string{nil, {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}} {
		out, errOut, code := kubectlRunEnv(t, nobody.kubeconfig, env, "", "exec", "shell", "--", "true")
		if code == 0 || !strings.Contains(errOut, `cannot create resource "pods/exec" in API group "" in the namespace "default"`) {
			t.Fatalf("kubectl exec without rights (%v): code %d out %q err %q", env, code, out, errOut)
		}
	}

	// kubectl cp both ways (tar through exec with stdin).
	local := t.TempDir()
	if err := os.WriteFile(local+"/up.txt", []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := kubectlRun(t, kc, "", "cp", local+"/up.txt", "default/shell:/tmp/up.txt"); code != 0 {
		t.Fatalf("kubectl cp up: %d %q %q", code, out, errOut)
	}
	if out, _, code := kubectlRun(t, kc, "", "exec", "shell", "--", "cat", "/tmp/up.txt"); code != 0 || out != "uploaded\n" {
		t.Fatalf("after cp the pod holds %q (code %d)", out, code)
	}
	if out, errOut, code := kubectlRun(t, kc, "", "cp", "default/shell:/tmp/index.html", local+"/down.txt"); code != 0 {
		t.Fatalf("kubectl cp down: %d %q %q", code, out, errOut)
	}
	if b, err := os.ReadFile(local + "/down.txt"); err != nil || string(b) != "hello-from-pod\n" {
		t.Fatalf("cp from the pod: %q %v", b, err)
	}

	// port-forward to the httpd that listens on the pod's loopback only.
	port := freeLocalPort(t)
	pf := exec.Command(bins.Kubectl, "--kubeconfig", kc, "port-forward", "pod/shell", strconv.Itoa(port)+":8080")
	pf.Env = append(os.Environ(), "HOME="+t.TempDir())
	var pfOut, pfErr bytes.Buffer
	pf.Stdout, pf.Stderr = &pfOut, &pfErr
	if err := pf.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(pf.Process.Pid, syscall.SIGKILL)
		pf.Wait()
	})
	var body string
	waitFor(t, 30*time.Second, "HTTP through port-forward", func() (bool, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err != nil {
			return false, err.Error() + " " + pfErr.String()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	if body != "hello-from-pod\n" {
		t.Fatalf("through port-forward: %q", body)
	}
	// The same through SPDY (kubectl's fallback) and through orchctl.
	for _, pfCase := range []struct {
		name string
		cmd  func(port int) *exec.Cmd
	}{
		{"kubectl spdy", func(port int) *exec.Cmd {
			cmd := exec.Command(bins.Kubectl, "--kubeconfig", kc, "port-forward", "shell", strconv.Itoa(port)+":8080")
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECTL_PORT_FORWARD_WEBSOCKETS=false")
			return cmd
		}},
		{"orchctl", func(port int) *exec.Cmd {
			return exec.Command(bins.Orchctl, "--config", c.ConfigPath(), "port-forward", "shell", strconv.Itoa(port)+":8080")
		}},
	} {
		port := freeLocalPort(t)
		if got := httpThrough(t, pfCase.cmd(port), port); got != "hello-from-pod\n" {
			t.Fatalf("%s port-forward: %q", pfCase.name, got)
		}
	}
}

// httpThrough starts a port-forward command, GETs /index.html through its
// local port, stops it (by PID) and returns the body.
func httpThrough(t *testing.T, cmd *exec.Cmd, port int) string {
	t.Helper()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	var body string
	waitFor(t, 30*time.Second, "HTTP through port-forward", func() (bool, string) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err != nil {
			return false, err.Error() + " " + errb.String()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return body
}

// kubectlTTY runs kubectl with a pty of 40 rows and 120 columns as its
// stdin, stdout and stderr, types input, and returns what it printed and
// its exit code.
func kubectlTTY(t *testing.T, kubeconfig, input string, args ...string) (string, int) {
	t.Helper()
	ptmx, pts := openPTY(t, 40, 120)
	cmd := exec.Command(bins.Kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&out, ptmx); close(copied) }()
	if _, err := ptmx.Write([]byte(input)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("kubectl %v did not end; output %q", args, out.String())
	}
	ptmx.Close()
	<-copied
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// openPTY opens a pseudo-terminal pair of the given size.
func openPTY(t *testing.T, rows, cols uint16) (*os.File, *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd := int(ptmx.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); pts.Close() })
	return ptmx, pts
}

// freeLocalPort returns a loopback TCP port nothing listens on now.
func freeLocalPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
