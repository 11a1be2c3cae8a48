package agentserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"k8s.io/client-go/tools/remotecommand"
	clientspdy "k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
	criremote "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// execCall is what the fake Exec was asked to run.
type execCall struct {
	uid, container string
	cmd            []string
	tty            bool
}

// exec sessions reach the Exec callback over SPDY with the master's
// certificate, with the streams and the exit code carried through.
func TestExecOverSPDY(t *testing.T) {
	calls := make(chan execCall, 1)
	a := newTestAgent(t, func(c *Config) {
		c.Exec = func(_ context.Context, uid, container string, cmd []string, stdin io.Reader, stdout, stderr io.WriteCloser,
			tty bool, _ <-chan criremote.TerminalSize) (int, error) {
			calls <- execCall{uid, container, cmd, tty}
			in := []byte{}
			if stdin != nil {
				in, _ = io.ReadAll(stdin)
			}
			io.WriteString(stdout, "out:"+string(in))
			if stderr != nil {
				io.WriteString(stderr, "err:"+strings.Join(cmd, " "))
			}
			if cmd[0] == "fail" {
				return 3, nil
			}
			if cmd[0] == "broken" {
				return -1, errors.New("runtime is gone")
			}
			return 0, nil
		}
	})
	a.addPod("default", "web", "u1")
	for _, tc := range []struct {
		name       string
		path       string
		who        string
		cmd        []string
		stdin      string
		wantOut    string
		wantErrOut string
		wantCode   int // -1: any other error
		wantErr    string
	}{
		{name: "stdin, stdout, stderr", path: "/exec/default/web/c", who: asMaster, cmd: []string{"cat"}, stdin: "hello",
			wantOut: "out:hello", wantErrOut: "err:cat"},
		{name: "exit code", path: "/exec/default/web/c", who: asMaster, cmd: []string{"fail"}, wantOut: "out:", wantErrOut: "err:fail", wantCode: 3},
		{name: "runtime error", path: "/exec/default/web/c", who: asMaster, cmd: []string{"broken"}, wantCode: -1, wantErr: "runtime is gone"},
		{name: "unknown pod", path: "/exec/default/nope/c", who: asMaster, cmd: []string{"cat"}, wantCode: -1, wantErr: ""},
		{name: "a node may not exec", path: "/exec/default/web/c", who: asNode, cmd: []string{"cat"}, wantCode: -1, wantErr: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsConfig := pinnedTLS(a.s.CertSHA256())
			if c, ok := a.certs[tc.who]; ok {
				tlsConfig.Certificates = []tls.Certificate{c}
			}
			rt, err := spdy.NewRoundTripperWithConfig(spdy.RoundTripperConfig{TLS: tlsConfig})
			if err != nil {
				t.Fatal(err)
			}
			q := url.Values{"command": tc.cmd, "output": {"1"}, "error": {"1"}}
			if tc.stdin != "" {
				q.Set("input", "1")
			}
			u, _ := url.Parse(a.base + tc.path + "?" + q.Encode())
			ex, err := remotecommand.NewSPDYExecutorRejectRedirects(rt, clientspdy.NewUpgraderForStreaming(rt), "POST", u)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			opts := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
			if tc.stdin != "" {
				opts.Stdin = strings.NewReader(tc.stdin)
			}
			err = ex.StreamWithContext(testCtx(t), opts)
			var ce utilexec.CodeExitError
			switch {
			case tc.wantCode == 0 && err != nil:
				t.Fatalf("stream: %v", err)
			case tc.wantCode > 0 && (!errors.As(err, &ce) || ce.Code != tc.wantCode):
				t.Fatalf("stream: %v, want exit code %d", err, tc.wantCode)
			case tc.wantCode < 0 && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("stream: %v, want an error containing %q", err, tc.wantErr)
			}
			if tc.wantCode >= 0 {
				if stdout.String() != tc.wantOut || stderr.String() != tc.wantErrOut {
					t.Fatalf("stdout %q stderr %q, want %q %q", stdout.String(), stderr.String(), tc.wantOut, tc.wantErrOut)
				}
				if c := <-calls; c.uid != "u1" || c.container != "c" || strings.Join(c.cmd, " ") != strings.Join(tc.cmd, " ") || c.tty {
					t.Fatalf("Exec called with %+v", c)
				}
			} else if tc.wantErr != "" {
				<-calls
			}
		})
	}
}
