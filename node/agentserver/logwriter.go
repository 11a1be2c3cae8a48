package agentserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"orch.io/orch/node/crilog"
)

// errLimitReached ends a log once limitBytes were sent.
var errLimitReached = errors.New("limitBytes reached")

// logWriter turns the bytes of a log file into the answer of a log
// request. Files in the CRI log format (node/crilog, what the runtime
// writes) give each line its own timestamp and stream; lines that are not
// CRI records (logs written raw by older agents, or by a container with
// stdin and no terminal) are sent as they are, stamped with the time
// given for the bytes. It applies since, the timestamps prefix and the
// byte limit, and flushes after each write.
type logWriter struct {
	w          io.Writer
	rc         *http.ResponseController
	timestamps bool
	// since drops the lines stamped earlier; zero keeps all.
	since time.Time
	// remain is how many bytes may still be sent; 0 means no limit.
	remain int64
	// pending is the start of a line whose end was not read yet.
	pending []byte
	// pendingAt is the time given for the bytes of pending.
	pendingAt time.Time
	// partial: the last CRI record sent was a P piece, so the next one
	// continues its line (and gets no timestamp of its own).
	partial bool
	out     []byte
	// writeTimeout bounds each write, not the whole stream: a followed log
	// lasts as long as its container, but a client that stops reading is cut.
	writeTimeout time.Duration
}

// write takes p, the next bytes of the file; t is the time for raw lines
// that start in p (the file's modification time for stored output, the
// time of reading for followed output).
func (lw *logWriter) write(p []byte, t time.Time) error {
	lw.render(p, t)
	return lw.send()
}

// render renders the whole lines p completes into lw.out (replacing what
// it held) and keeps the start of a line that p does not end.
func (lw *logWriter) render(p []byte, t time.Time) {
	lw.out = lw.out[:0]
	for len(p) > 0 {
		if len(lw.pending) == 0 {
			lw.pendingAt = t
		}
		i := indexNL(p)
		if i < 0 {
			lw.pending = append(lw.pending, p...)
			break
		}
		line := p[:i+1]
		if len(lw.pending) > 0 {
			line = append(lw.pending, line...)
		}
		lw.line(line, lw.pendingAt)
		lw.pending = lw.pending[:0]
		p = p[i+1:]
	}
}

// flush sends a last line that has no newline (raw logs only).
func (lw *logWriter) flush() error {
	if len(lw.pending) == 0 {
		return nil
	}
	lw.out = lw.out[:0]
	lw.line(lw.pending, lw.pendingAt)
	lw.pending = lw.pending[:0]
	return lw.send()
}

// line renders one line of the file (with its newline, if it has one).
func (lw *logWriter) line(line []byte, t time.Time) {
	content := line
	if rec, ok := crilog.Parse(line); ok {
		t, content = rec.Time, rec.Content
		if !rec.Partial {
			content = append(content[:len(content):len(content)], '\n')
		}
		cont := lw.partial
		lw.partial = rec.Partial
		if cont {
			// The rest of a line that was (or was not) sent.
			if lw.since.IsZero() || !t.Before(lw.since) {
				lw.out = append(lw.out, content...)
			}
			return
		}
	} else {
		lw.partial = false
	}
	if !lw.since.IsZero() && t.Before(lw.since) {
		return
	}
	if lw.timestamps {
		lw.out = t.UTC().AppendFormat(lw.out, time.RFC3339Nano)
		lw.out = append(lw.out, ' ')
	}
	lw.out = append(lw.out, content...)
}

// send writes what was rendered, cut at the byte limit.
func (lw *logWriter) send() error {
	out := lw.out
	limited := false
	if lw.remain > 0 && int64(len(out)) >= lw.remain {
		out, limited = out[:lw.remain], true
	}
	if len(out) > 0 {
		if lw.writeTimeout > 0 {
			if err := lw.rc.SetWriteDeadline(time.Now().Add(lw.writeTimeout)); err != nil {
				return fmt.Errorf("write log: set deadline: %w", err)
			}
		}
		if _, err := lw.w.Write(out); err != nil {
			return fmt.Errorf("write log: %w", err)
		}
		if err := lw.rc.Flush(); err != nil {
			return fmt.Errorf("flush log: %w", err)
		}
		if lw.remain > 0 {
			lw.remain -= int64(len(out))
		}
	}
	if limited {
		return errLimitReached
	}
	return nil
}

func indexNL(p []byte) int {
	for i, b := range p {
		if b == '\n' {
			return i
		}
	}
	return -1
}
