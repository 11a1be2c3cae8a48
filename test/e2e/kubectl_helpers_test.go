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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// kubectlTimeout bounds one kubectl run.
const kubectlTimeout = 90 * time.Second

// kubectlCLI runs the suite's kubectl (bins.Kubectl) as one user: one
// kubeconfig, one HOME of its own (so its discovery and OpenAPI caches
// are shared by its runs and by no one else), and extra environment. It is
// the one way the e2e tests run kubectl; it never turns validation off.
type kubectlCLI struct {
	kubeconfig string
	home       string
	env        []string
}

// newKubectl is a kubectl for the user of kubeconfig.
func newKubectl(t *testing.T, kubeconfig string) *kubectlCLI {
	t.Helper()
	return &kubectlCLI{kubeconfig: kubeconfig, home: t.TempDir()}
}

// adminKubectl is a kubectl for c's admin (harness.Cluster.Kubeconfig).
func adminKubectl(t *testing.T, c *harness.Cluster) *kubectlCLI {
	t.Helper()
	return newKubectl(t, c.Kubeconfig())
}

// withEnv is k with more environment variables (e.g.
// KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false, EDITOR=...).
func (k *kubectlCLI) withEnv(env ...string) *kubectlCLI {
	return &kubectlCLI{kubeconfig: k.kubeconfig, home: k.home, env: append(append([]string(nil), k.env...), env...)}
}

// command is the kubectl command for args, for a caller that starts it
// itself (get -w, port-forward). The caller ends it by PID.
func (k *kubectlCLI) command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return k.commandContext(t, context.Background(), args...)
}

func (k *kubectlCLI) commandContext(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	for _, a := range args {
		if strings.HasPrefix(a, "--validate=false") || a == "--validate=ignore" {
			t.Fatalf("the tests must not turn kubectl's validation off: %v", args)
		}
	}
	cmd := exec.CommandContext(ctx, bins.Kubectl, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+k.home, "KUBECONFIG="+k.kubeconfig,
		"KUBECTL_EXTERNAL_DIFF=diff -u", "KUBECTL_INTERACTIVE_DELETE=false")
	cmd.Env = append(cmd.Env, k.env...)
	return cmd
}

// run runs kubectl with stdin and returns its output, its error output and
// its exit code; it fails the test when kubectl cannot be run or does not
// end within kubectlTimeout.
func (k *kubectlCLI) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := k.commandContext(t, ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kubectl %s did not end within %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), kubectlTimeout, out.String(), errb.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("kubectl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs kubectl and fails the test unless it exits 0; it returns stdout.
func (k *kubectlCLI) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := k.run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("kubectl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// out runs kubectl and returns stdout, or an error when it fails or
// writes to stderr (for polling with eventually).
func (k *kubectlCLI) out(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errOut, code := k.run(t, "", args...)
	if code != 0 {
		return out, fmt.Errorf("kubectl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	if errOut != "" {
		return out, fmt.Errorf("kubectl %s wrote to stderr: %s", strings.Join(args, " "), errOut)
	}
	return out, nil
}

// tty runs kubectl with a pty of 40 rows and 120 columns as its stdin,
// stdout and stderr, types input, and returns what it printed and its exit
// code.
func (k *kubectlCLI) tty(t *testing.T, input string, args ...string) (string, int) {
	t.Helper()
	ptmx, pts := openPTY(t, 40, 120)
	cmd := k.command(t, args...)
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
	case <-time.After(kubectlTimeout):
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

// manifest writes a file into a temporary directory and returns its path.
func manifest(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// kubectlTable is kubectl's human-readable output split into columns at
// the header's column starts (cells may hold spaces, as "NOMINATED NODE"
// and "1 (5s ago)" do).
type kubectlTable struct {
	header []string
	rows   [][]string
}

// parseKubectlTable splits kubectl's table output. Columns start where a
// header word follows two or more spaces (kubectl pads with at least three).
func parseKubectlTable(t *testing.T, out string) kubectlTable {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in %q", out)
	}
	head := lines[0]
	starts := []int{0}
	for i := 2; i < len(head); i++ {
		if head[i] != ' ' && head[i-1] == ' ' && head[i-2] == ' ' {
			starts = append(starts, i)
		}
	}
	cut := func(line string) []string {
		var cells []string
		for j, s := range starts {
			end := len(line)
			if j+1 < len(starts) && starts[j+1] < end {
				end = starts[j+1]
			}
			if s >= len(line) {
				cells = append(cells, "")
				continue
			}
			cells = append(cells, strings.TrimSpace(line[s:end]))
		}
		return cells
	}
	tab := kubectlTable{header: cut(head)}
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) != "" {
			tab.rows = append(tab.rows, cut(l))
		}
	}
	return tab
}

// row returns the row whose first cell is name.
func (k kubectlTable) row(t *testing.T, name string) map[string]string {
	t.Helper()
	for _, r := range k.rows {
		if r[0] == name {
			m := map[string]string{}
			for i, h := range k.header {
				m[h] = r[i]
			}
			return m
		}
	}
	t.Fatalf("no row %q in %v", name, k.rows)
	return nil
}

// readyPods lists the live Ready pods matching selector.
func readyPods(t *testing.T, cl *client.Client, selector string) []v1.Pod {
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil
	}
	var out []v1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.IsReady() {
			out = append(out, p)
		}
	}
	return out
}

func podNames(pods []v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
