package crilog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixedClock() func() time.Time {
	t := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestCopy(t *testing.T) {
	long := strings.Repeat("x", MaxLineBytes+10)
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"lines", "a\nb\n", []string{
			"2026-12-04T10:00:01Z stdout F a", "2026-12-04T10:00:02Z stdout F b"}},
		{"no final newline", "a\nrest", []string{
			"2026-12-04T10:00:01Z stdout F a", "2026-12-04T10:00:02Z stdout F rest"}},
		{"empty line", "\n", []string{"2026-12-04T10:00:01Z stdout F "}},
		{"long line", long + "\n", []string{
			"2026-12-04T10:00:01Z stdout P " + long[:MaxLineBytes], "2026-12-04T10:00:02Z stdout F " + long[MaxLineBytes:]}},
		{"nothing", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := NewWriter(&out, fixedClock()).Copy(Stdout, strings.NewReader(tc.in)); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if out.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	ts := time.Date(2026, 12, 4, 10, 0, 0, 123456789, time.UTC)
	for _, tc := range []struct {
		line string
		ok   bool
		want Record
	}{
		{"2026-12-04T10:00:00.123456789Z stdout F hello world\n", true, Record{Time: ts, Stream: Stdout, Content: []byte("hello world")}},
		{"2026-12-04T10:00:00.123456789Z stderr P part", true, Record{Time: ts, Stream: Stderr, Partial: true, Content: []byte("part")}},
		{"2026-12-04T10:00:00.123456789Z stdout F", true, Record{Time: ts, Stream: Stdout}},
		{"2026-12-04T10:00:00.123456789Z stdout F  two spaces", true, Record{Time: ts, Stream: Stdout, Content: []byte(" two spaces")}},
		{"plain output line\n", false, Record{}},
		{"2026-12-04T10:00:00Z stdin F x", false, Record{}},
		{"2026-12-04T10:00:00Z stdout X x", false, Record{}},
		{"yesterday stdout F x", false, Record{}},
		{"", false, Record{}},
	} {
		got, ok := Parse([]byte(tc.line))
		if ok != tc.ok || !got.Time.Equal(tc.want.Time) || got.Stream != tc.want.Stream || got.Partial != tc.want.Partial ||
			!bytes.Equal(got.Content, tc.want.Content) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

// Follow sends only what is written after it starts, split by stream,
// and what was written just before its context ended.
func TestFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, nil)
	if err := w.WriteRecord(Stdout, TagFull, []byte("before")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		done <- Follow(ctx, path, &stdout, &stderr)
	}()
	<-started
	// Follow may open the file after these writes; poll until it saw the
	// first one, then write the rest and end it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.WriteRecord(Stdout, TagPartial, []byte("par"))
		w.WriteRecord(Stdout, TagFull, []byte("t"))
		time.Sleep(20 * time.Millisecond)
		if cur, _ := os.ReadFile(path); bytes.Count(cur, []byte("\n")) > 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no records written")
		}
	}
	w.WriteRecord(Stderr, TagFull, []byte("last"))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "before") {
		t.Errorf("stdout %q holds output from before Follow", stdout.String())
	}
	if !strings.HasSuffix(stdout.String(), "part\n") || strings.Trim(stdout.String(), "part\n") != "" {
		t.Errorf("stdout %q, want whole \"part\" lines", stdout.String())
	}
	if stderr.String() != "last\n" {
		t.Errorf("stderr %q, want the record written before cancel", stderr.String())
	}
}

// TestTailKeepsWhatFollowsItsOpening: records appended after OpenTail and
// before Follow runs are copied (attach connects stdin in between), and
// those before OpenTail are not.
func TestTailKeepsWhatFollowsItsOpening(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f, nil)
	if err := w.WriteRecord(Stdout, TagFull, []byte("before")); err != nil {
		t.Fatal(err)
	}
	tail, err := OpenTail(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"got:hello", "got:world"} {
		if err := w.WriteRecord(Stdout, TagFull, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Follow drains what is there, then ends
	var stdout bytes.Buffer
	if err := tail.Follow(ctx, &stdout, nil); err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "got:hello\ngot:world\n" {
		t.Fatalf("stdout %q, want the two records written after OpenTail", got)
	}
}
