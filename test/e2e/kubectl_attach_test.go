package e2e

import (
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// Issue 14, attach, run -i and logs: kubectl attach reaches the main
// process of a container created with stdin (and tty), kubectl run -i
// --rm works end to end, and kubectl logs honours --since, --since-time,
// --limit-bytes and stamps each line with its own time.
func TestKubectlAttachAndLogs(t *testing.T) {
	t.Parallel()
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	kc := newRBACUser(t, c, "attach-admin", "system:masters").kubeconfig
	running := func(name string) {
		waitFor(t, 60*time.Second, name+" running", func() (bool, string) {
			p := getPod(t, cl, name)
			cs := containerStatus(p, "c")
			return cs != nil && cs.State.Running != nil, p.Status.Phase
		})
	}
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "lines"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			Command: []string{"sh", "-c", "echo early; sleep 3; echo late >&2; exec sleep 100000"}}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "once"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartNever,
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Stdin: true, StdinOnce: true,
			Command: []string{"sh", "-c", "while read l; do echo got:$l; done; echo bye"}}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "once2"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartNever,
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Stdin: true, StdinOnce: true,
			Command: []string{"sh", "-c", "read l; echo got:$l; echo oops >&2; exit 2"}}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "term"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartNever,
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Stdin: true, TTY: true, Command: []string{"sh"}}}}})
	running("once")
	running("term")
	running("once2")

	// attach -i to a stdinOnce container: its stdin ends with ours.
	out, errOut, code := kubectlRun(t, kc, "hello\nworld\n", "attach", "-i", "once")
	if code != 0 || !strings.Contains(out, "got:hello\ngot:world\nbye") {
		t.Fatalf("kubectl attach -i: code %d out %q err %q", code, out, errOut)
	}
	// orchctl attach -i. A container with stdin and no tty is logged raw
	// (see README), so its stderr comes back with its stdout.
	out, errOut, err := c.Orchctl("orchctl\n", "attach", "-i", "once2")
	if err != nil || !strings.Contains(out+errOut, "got:orchctl") || !strings.Contains(out+errOut, "oops") {
		t.Fatalf("orchctl attach -i: %q %q %v", out, errOut, err)
	}
	// attach -it to a shell on a terminal.
	ttyOut, ttyCode := kubectlTTY(t, kc, "echo $((6*7)); exit 3\n", "attach", "-it", "term")
	if !strings.Contains(ttyOut, "42") {
		t.Fatalf("kubectl attach -it: exit %d, output %q", ttyCode, ttyOut)
	}

	// run -i --rm: the pod gets stdin, output comes back, the pod goes.
	out, errOut, code = kubectlRun(t, kc, "ping\n", "run", "runner", "-i", "--rm", "--restart=Never", "--image=busybox:1.35",
		"--", "sh", "-c", "read x; echo got:$x")
	if code != 0 || !strings.Contains(out, "got:ping") {
		t.Fatalf("kubectl run -i --rm: code %d out %q err %q", code, out, errOut)
	}
	waitFor(t, 30*time.Second, "runner deleted", func() (bool, string) {
		var p v1.Pod
		err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "runner", &p)
		return v1.IsNotFound(err), "still there"
	})

	// logs: each line has its own time.
	var stamps []time.Time
	waitFor(t, 30*time.Second, "both lines logged", func() (bool, string) {
		out, errOut, _ := kubectlRun(t, kc, "", "logs", "lines", "--timestamps")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			return false, out + errOut
		}
		stamps = stamps[:0]
		for i, want := range []string{"early", "late"} {
			ts, text, _ := strings.Cut(lines[i], " ")
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || text != want {
				t.Fatalf("line %d of logs --timestamps: %q (%v)", i, lines[i], err)
			}
			stamps = append(stamps, tm)
		}
		return true, ""
	})
	if gap := stamps[1].Sub(stamps[0]); gap < 2*time.Second {
		t.Fatalf("the lines' timestamps are %v apart, want the ~3s between the writes", gap)
	}
	if out, _, code := kubectlRun(t, kc, "", "logs", "lines", "--since-time="+stamps[1].Truncate(time.Second).Format(time.RFC3339)); code != 0 || out != "late\n" {
		t.Fatalf("logs --since-time: %q (code %d), want only the late line", out, code)
	}
	if out, _, code := kubectlRun(t, kc, "", "logs", "lines", "--since=1h"); code != 0 || out != "early\nlate\n" {
		t.Fatalf("logs --since=1h: %q (code %d)", out, code)
	}
	if out, _, code := kubectlRun(t, kc, "", "logs", "lines", "--limit-bytes=3"); code != 0 || out != "ear" {
		t.Fatalf("logs --limit-bytes=3: %q (code %d)", out, code)
	}
	if out, errOut, code := kubectlRun(t, kc, "", "logs", "lines", "--since=1s", "--since-time=2020-01-01T00:00:00Z"); code == 0 {
		t.Fatalf("logs with both --since and --since-time: %q %q", out, errOut)
	}
}
