package agentserver

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLogs(t *testing.T) {
	a := newTestAgent(t)
	a.addPod("default", "one", "u1")
	a.writeLog(t, "u1", "c", 0, "", "a0\n")
	a.writeLog(t, "u1", "c", 1, ".1", "p1\np2\n")
	a.writeLog(t, "u1", "c", 1, "", "l1\nl2\nl3\n")
	a.addPod("default", "multi", "u2")
	a.writeLog(t, "u2", "web", 0, "", "web0\n")
	a.writeLog(t, "u2", "side", 0, "", "side0\n")
	a.addPod("default", "fresh", "u3")
	a.addPod("prod", "single", "u4")
	a.writeLog(t, "u4", "c", 0, "", "no newline at the end")

	for _, tc := range []struct {
		name  string
		path  string
		code  int
		want  string // the body, or a substring of the Status message
		exact bool
	}{
		{"whole log with its rotated piece", "/pods/default/one/log", 200, "p1\np2\nl1\nl2\nl3\n", true},
		{"container named", "/pods/default/one/log?container=c", 200, "p1\np2\nl1\nl2\nl3\n", true},
		{"tail within the file", "/pods/default/one/log?tailLines=2", 200, "l2\nl3\n", true},
		{"tail across the piece", "/pods/default/one/log?tailLines=4", 200, "p2\nl1\nl2\nl3\n", true},
		{"tail longer than the log", "/pods/default/one/log?tailLines=100", 200, "p1\np2\nl1\nl2\nl3\n", true},
		{"tail zero", "/pods/default/one/log?tailLines=0", 200, "", true},
		{"tail of a last line without newline", "/pods/prod/single/log?tailLines=1", 200, "no newline at the end", true},
		{"previous attempt", "/pods/default/one/log?previous=true", 200, "a0\n", true},
		{"previous without one", "/pods/prod/single/log?previous=true", 400, `previous terminated container "c" in pod prod/single not found`, false},
		{"several containers, none named", "/pods/default/multi/log", 400, "a container name must be specified for pod default/multi, choose one of: [side web]", false},
		{"one of several", "/pods/default/multi/log?container=web", 200, "web0\n", true},
		{"unknown container", "/pods/default/multi/log?container=db", 400, `container "db" in pod default/multi has no logs: choose one of: [side web]`, false},
		{"no logs yet", "/pods/default/fresh/log", 400, "pod default/fresh has no container logs yet", false},
		{"pod not on this node", "/pods/default/other/log", 404, `pods "other" not found`, false},
		{"bad tailLines", "/pods/default/one/log?tailLines=-1", 400, "tailLines", false},
		{"bad follow", "/pods/default/one/log?follow=maybe", 400, "follow", false},
		{"unknown parameter ignored", "/pods/default/one/log?x=1", 200, "l3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.get(t, tc.path)
			if code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", code, tc.code, body)
			}
			switch {
			case code != 200:
				if st := decodeStatus(t, body); !strings.Contains(st.Message, tc.want) {
					t.Fatalf("message %q, want it to contain %q", st.Message, tc.want)
				}
			case tc.exact && body != tc.want:
				t.Fatalf("body %q, want %q", body, tc.want)
			case !strings.Contains(body, tc.want):
				t.Fatalf("body %q, want it to contain %q", body, tc.want)
			}
		})
	}
}

func TestLogsTimestamps(t *testing.T) {
	a := newTestAgent(t)
	a.addPod("default", "p", "u1")
	a.writeLog(t, "u1", "c", 0, "", "one\ntwo\n")
	code, body := a.get(t, "/pods/default/p/log?timestamps=true")
	if code != 200 {
		t.Fatalf("HTTP %d: %s", code, body)
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	for i, want := range []string{"one", "two"} {
		ts, text, ok := strings.Cut(lines[i], " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); !ok || err != nil || text != want {
			t.Errorf("line %d = %q, want an RFC 3339 timestamp and %q", i, lines[i], want)
		}
	}
}

// logStream reads a followed log line by line.
type logStream struct {
	lines chan string
	done  chan struct{}
	err   error
}

func (a *testAgent) follow(t *testing.T, path string) *logStream {
	t.Helper()
	resp := a.request(t, http.MethodGet, path, asMaster, nil, "")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	ls := &logStream{lines: make(chan string, 100), done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				ls.lines <- line
			}
			if err != nil {
				ls.err = err
				return
			}
		}
	}()
	t.Cleanup(func() {
		resp.Body.Close()
		<-ls.done
	})
	return ls
}

// expect waits for the next line and checks it.
func (ls *logStream) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-ls.lines:
		if got != want {
			t.Fatalf("got line %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no line within 10s, want %q", want)
	}
}

// expectEnd waits for the stream to end cleanly with no further line.
func (ls *logStream) expectEnd(t *testing.T) {
	t.Helper()
	select {
	case <-ls.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end within 10s")
	}
	select {
	case l := <-ls.lines:
		t.Fatalf("unexpected line %q", l)
	default:
	}
	if ls.err != io.EOF {
		t.Fatalf("the stream ended with %v, want EOF", ls.err)
	}
}

func TestLogsFollow(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change acts on the followed log file and says which lines must
		// come before the stream ends.
		change func(t *testing.T, a *testAgent, path string) []string
	}{
		{"ends when the attempt stops", func(t *testing.T, a *testAgent, path string) []string {
			appendFile(t, path, "last\n")
			a.setRunning("u1", "c", 0, false)
			return []string{"last\n"}
		}},
		{"ends when a newer attempt starts", func(t *testing.T, a *testAgent, path string) []string {
			appendFile(t, path, "last\n")
			a.writeLog(t, "u1", "c", 1, "", "next attempt\n")
			return []string{"last\n"}
		}},
		{"survives a rotation", func(t *testing.T, a *testAgent, path string) []string {
			appendFile(t, path, "before rotation\n")
			if err := RotateLogs(a.podsDir, 1); err != nil {
				t.Fatalf("RotateLogs: %v", err)
			}
			appendFile(t, path, "after rotation\n")
			a.setRunning("u1", "c", 0, false)
			return []string{"before rotation\n", "after rotation\n"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAgent(t)
			a.addPod("default", "p", "u1")
			path := a.writeLog(t, "u1", "c", 0, "", "old1\nold2\n")
			a.setRunning("u1", "c", 0, true)
			ls := a.follow(t, "/pods/default/p/log?follow=true&tailLines=1")
			ls.expect(t, "old2\n")
			appendFile(t, path, "new\n")
			ls.expect(t, "new\n")
			for _, l := range tc.change(t, a, path) {
				ls.expect(t, l)
			}
			ls.expectEnd(t)
		})
	}
}

func TestLogsFollowClientGoesAway(t *testing.T) {
	a := newTestAgent(t)
	a.addPod("default", "p", "u1")
	a.writeLog(t, "u1", "c", 0, "", "one\n")
	a.setRunning("u1", "c", 0, true)
	resp := a.request(t, http.MethodGet, "/pods/default/p/log?follow=1", asMaster, nil, "")
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "one\n" {
		t.Fatalf("line %q, %v", line, err)
	}
	resp.Body.Close()
	// The handler notices and returns; the cleanup's graceful shutdown
	// would otherwise wait for it. Nothing more to observe here than that
	// shutdown (in Cleanup) returns.
}

func TestRotateLogs(t *testing.T) {
	a := newTestAgent(t)
	big := a.writeLog(t, "u1", "c", 1, "", "0123456789\n")
	a.writeLog(t, "u1", "c", 1, ".1", "older piece\n")
	old := a.writeLog(t, "u1", "c", 0, "", "an old attempt that is big\n")
	small := a.writeLog(t, "u2", "c", 0, "", "tiny\n")
	if err := RotateLogs(a.podsDir, 5); err != nil {
		t.Fatalf("RotateLogs: %v", err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{big, ""},
		{big + ".1", "0123456789\n"},
		{old, "an old attempt that is big\n"},
		{small, "tiny\n"},
	} {
		b, err := os.ReadFile(tc.path)
		if err != nil || string(b) != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.path, b, err, tc.want)
		}
	}
	if _, err := os.Stat(small + ".1"); !os.IsNotExist(err) {
		t.Errorf("a small log was rotated: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(big), ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// The writer keeps appending with O_APPEND: its bytes land at the start.
	appendFile(t, big, "after\n")
	if b, _ := os.ReadFile(big); string(b) != "after\n" {
		t.Errorf("after rotation the log holds %q", b)
	}
	if err := RotateLogs(filepath.Join(a.podsDir, "missing"), 5); err != nil {
		t.Errorf("RotateLogs of a missing directory: %v", err)
	}
}
