package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func testEvent(i int, pad int) *auditv1.Event {
	ev := &auditv1.Event{
		TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"},
		Level:    auditv1.LevelMetadata, AuditID: types.UID("id-" + strconv.Itoa(i)), Stage: auditv1.StageResponseComplete,
		Verb: "get", RequestURI: "/api/v1/pods",
	}
	if pad > 0 {
		ev.Annotations = map[string]string{"pad": strings.Repeat("x", pad)}
	}
	return ev
}

// runLog runs l until the returned stop is called; stop waits for Run.
func runLog(t *testing.T, l *Log) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

// readEvents decodes every line of the files; a line that is not a whole
// event fails the test.
func readEvents(t *testing.T, paths ...string) []auditv1.Event {
	t.Helper()
	var evs []auditv1.Event
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var ev auditv1.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("%s: a line is not an event: %v: %.200s", p, err, sc.Text())
			}
			evs = append(evs, ev)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

func TestLogWritesEveryEventOnShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit", "audit.log")
	reg := prometheus.NewRegistry()
	l, err := NewLog(LogConfig{Path: path, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the file is not created at start: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the log holds request bodies", fi.Mode().Perm())
	}
	stop := runLog(t, l)
	const n = 500
	for i := range n {
		l.Process(testEvent(i, 0))
	}
	stop()
	evs := readEvents(t, path)
	if len(evs) != n {
		t.Fatalf("%d events in the file, want %d", len(evs), n)
	}
	for i, ev := range evs {
		if string(ev.AuditID) != "id-"+strconv.Itoa(i) || ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" {
			t.Fatalf("line %d: %+v", i, ev)
		}
	}
	if v := testutil.ToFloat64(l.written); v != n {
		t.Errorf("orch_audit_events_total %v, want %d", v, n)
	}
	// A restarted master appends.
	l2, err := NewLog(LogConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	stop = runLog(t, l2)
	l2.Process(testEvent(n, 0))
	stop()
	if evs := readEvents(t, path); len(evs) != n+1 {
		t.Fatalf("%d events after a restart, want %d", len(evs), n+1)
	}
}

func TestLogWritesWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := NewLog(LogConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	runLog(t, l)
	l.Process(testEvent(1, 0))
	// The line reaches the file when the queue is idle, not at shutdown.
	deadline := time.Now().Add(10 * time.Second)
	for len(readEvents(t, path)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the event was not written while the log runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLogQueueIsBounded: with the writer held up, Process does not wait:
// events past the queue are dropped and counted.
func TestLogQueueIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	reg := prometheus.NewRegistry()
	l, err := NewLog(LogConfig{Path: path, QueueSize: 3, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	// No Run yet: nothing drains the queue.
	for i := range 10 {
		l.Process(testEvent(i, 0))
	}
	if v := testutil.ToFloat64(l.dropped.WithLabelValues("queue_full")); v != 7 {
		t.Errorf("dropped %v, want 7", v)
	}
	stop := runLog(t, l)
	stop()
	evs := readEvents(t, path)
	if len(evs) != 3 || evs[0].AuditID != "id-0" || evs[2].AuditID != "id-2" {
		t.Fatalf("events %+v, want the first 3", evs)
	}
	n, err := testutil.GatherAndCount(reg, "orch_audit_events_dropped_total", "orch_audit_events_total")
	if err != nil || n != 3 {
		t.Errorf("%d series registered (%v), want dropped{queue_full,write_error} and total", n, err)
	}
}

// TestLogRotates: past MaxSizeMB the file is rotated, at most MaxBackups
// rotated files are kept, and no line is split between files.
func TestLogRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	l, err := NewLog(LogConfig{Path: path, MaxSizeMB: 1, MaxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	stop := runLog(t, l)
	const n, pad = 400, 10 << 10 // about 4 MB
	for i := range n {           // the default queue holds them all
		l.Process(testEvent(i, pad))
	}
	stop()
	// lumberjack removes old backups in the background: wait for it.
	var backups []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		backups, err = filepath.Glob(filepath.Join(dir, "audit-*.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(backups) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rotated files, want 2: %v", len(backups), backups)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range append(backups, path) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 1<<20 {
			t.Errorf("%s has %d bytes, past the 1 MB limit", p, fi.Size())
		}
	}
	evs := readEvents(t, append(backups, path)...)
	if len(evs) == 0 || len(evs) >= n {
		t.Fatalf("%d events kept of %d: old files were not removed", len(evs), n)
	}
	// The newest events survive, in order.
	last := evs[len(evs)-1]
	if last.AuditID != types.UID("id-"+strconv.Itoa(n-1)) {
		t.Errorf("last event %s, want id-%d", last.AuditID, n-1)
	}
}

func TestNewLogRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  LogConfig
		want string
	}{
		{"no path", LogConfig{}, "a path is required"},
		{"under a file", LogConfig{Path: filepath.Join(file, "audit.log")}, "not a directory"},
		{"a directory", LogConfig{Path: dir}, "is a directory"},
		{"negative size", LogConfig{Path: filepath.Join(dir, "a.log"), MaxSizeMB: -1}, "may not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLog(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
