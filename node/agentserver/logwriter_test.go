package agentserver

import (
	"strings"
	"testing"
	"time"
)

// CRI records are served with their own times and streams merged; raw
// lines keep the time given for them; since, timestamps and limitBytes
// apply to both.
func TestLogsCRIFormat(t *testing.T) {
	a := newTestAgent(t)
	a.addPod("default", "cri", "u1")
	a.writeLog(t, "u1", "c", 0, "", strings.Join([]string{
		"2026-12-04T10:00:00.5Z stdout F first",
		"2026-12-04T10:00:05Z stderr F second",
		"2026-12-04T10:00:10Z stdout P long ",
		"2026-12-04T10:00:10.1Z stdout F line",
		"2026-12-04T10:00:20Z stdout F",
		"",
	}, "\n"))
	a.addPod("default", "mixed", "u2")
	a.writeLog(t, "u2", "c", 0, "", "raw line\n2026-12-04T10:00:00Z stdout F cri line\n")

	for _, tc := range []struct {
		name, path, want string
		code             int
	}{
		{"content only", "/pods/default/cri/log", "first\nsecond\nlong line\n\n", 200},
		{"own timestamps", "/pods/default/cri/log?timestamps=true",
			"2026-12-04T10:00:00.5Z first\n2026-12-04T10:00:05Z second\n2026-12-04T10:00:10Z long line\n2026-12-04T10:00:20Z \n", 200},
		{"sinceTime", "/pods/default/cri/log?sinceTime=2026-12-04T10:00:05Z", "second\nlong line\n\n", 200},
		{"sinceTime after everything", "/pods/default/cri/log?sinceTime=2026-12-04T11:00:00Z", "", 200},
		{"sinceSeconds keeps recent lines only", "/pods/default/cri/log?sinceSeconds=60", "", 200},
		{"limitBytes", "/pods/default/cri/log?limitBytes=8", "first\nse", 200},
		{"limitBytes with timestamps", "/pods/default/cri/log?limitBytes=10&timestamps=true", "2026-12-04", 200},
		{"limitBytes larger than the log", "/pods/default/cri/log?limitBytes=1000", "first\nsecond\nlong line\n\n", 200},
		{"tail counts records", "/pods/default/cri/log?tailLines=1", "\n", 200},
		{"raw and CRI lines", "/pods/default/mixed/log", "raw line\ncri line\n", 200},
		{"both since parameters", "/pods/default/cri/log?sinceSeconds=1&sinceTime=2026-12-04T10:00:05Z", "at most one of sinceTime or sinceSeconds", 400},
		{"bad sinceSeconds", "/pods/default/cri/log?sinceSeconds=0", "sinceSeconds", 400},
		{"bad sinceTime", "/pods/default/cri/log?sinceTime=yesterday", "sinceTime", 400},
		{"bad limitBytes", "/pods/default/cri/log?limitBytes=-3", "limitBytes", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := a.get(t, tc.path)
			if code != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", code, tc.code, body)
			}
			if code != 200 {
				if st := decodeStatus(t, body); !strings.Contains(st.Message, tc.want) {
					t.Fatalf("message %q, want it to contain %q", st.Message, tc.want)
				}
				return
			}
			if body != tc.want {
				t.Fatalf("body %q, want %q", body, tc.want)
			}
		})
	}
}

// A raw line is stamped with the time given for its bytes, and a line
// split across writes is rendered once it is whole.
func TestLogWriterRawLines(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	lw := &logWriter{timestamps: true}
	for _, step := range []struct {
		p    string
		at   time.Time
		want string
	}{
		{"hel", t1, ""},
		{"lo\nwor", t2, "2026-01-01T00:00:01Z hello\n"}, // stamped with the time of its first bytes
		{"ld\n", t2, "2026-01-01T01:00:01Z world\n"},
		{"2026-12-04T10:00:00Z stdout F cri\n", t1, "2026-12-04T10:00:00Z cri\n"},
	} {
		lw.render([]byte(step.p), step.at)
		if got := string(lw.out); got != step.want {
			t.Fatalf("after %q: rendered %q, want %q", step.p, got, step.want)
		}
	}
}
