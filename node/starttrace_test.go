package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestStartTrace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trace func() *startTrace
		want  []string // in the debug line, in order; none: no line
	}{
		{"nil trace logs nothing", func() *startTrace { return nil }, nil},
		{"phases in order, pulls excluded", func() *startTrace {
			tr := newStartTrace(time.Now().Add(-time.Second))
			tr.mark("sandbox")
			tr.pulled(400 * time.Millisecond)
			tr.mark("image")
			tr.mark("runtime")
			return tr
		}, []string{`msg="pod start phases"`, "pod=ns/web", "sandbox=", "image=", "runtime=", "pulling=400ms", "total="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			tr := tc.trace()
			tr.finish(log, "ns/web")
			tr.mark("after")
			tr.finish(log, "ns/web") // once only
			out := buf.String()
			if tc.want == nil {
				if out != "" {
					t.Fatalf("logged %q, want nothing", out)
				}
				return
			}
			if n := strings.Count(out, "\n"); n != 1 {
				t.Fatalf("%d lines, want 1: %q", n, out)
			}
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("line %q lacks %q after the previous parts", out, w)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(out, "after=") {
				t.Errorf("a mark after finish was logged: %q", out)
			}
			// The total excludes the pull: about 600 ms of the second.
			if tr.marks[len(tr.marks)-1].at.Sub(tr.received)-tr.pulling < 500*time.Millisecond {
				t.Errorf("total %v", tr.marks[len(tr.marks)-1].at.Sub(tr.received)-tr.pulling)
			}
		})
	}
}
