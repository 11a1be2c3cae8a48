package agentserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
)

// logOptions are the query parameters of a log request.
type logOptions struct {
	container  string
	follow     bool
	previous   bool
	timestamps bool
	// tail is the number of last lines to send; -1 sends everything.
	tail int64
	// since drops lines older than it (sinceSeconds, sinceTime); zero: none.
	since time.Time
	// limit is the most bytes to send (limitBytes); 0: no limit.
	limit int64
}

func parseLogOptions(r *http.Request) (logOptions, error) {
	q := r.URL.Query()
	o := logOptions{container: q.Get("container"), tail: -1}
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"follow", &o.follow}, {"previous", &o.previous}, {"timestamps", &o.timestamps}} {
		v := q.Get(b.name)
		if v == "" {
			continue
		}
		x, err := strconv.ParseBool(v)
		if err != nil {
			return o, v1.NewBadRequest(fmt.Sprintf("%s=%q is not a boolean", b.name, v))
		}
		*b.dst = x
	}
	if t := q.Get("tailLines"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			return o, v1.NewBadRequest(fmt.Sprintf("tailLines=%q must be a whole number >= 0", t))
		}
		o.tail = n
	}
	ss, st := q.Get("sinceSeconds"), q.Get("sinceTime")
	if ss != "" && st != "" {
		return o, v1.NewBadRequest("at most one of sinceTime or sinceSeconds may be specified")
	}
	if ss != "" {
		n, err := strconv.ParseInt(ss, 10, 64)
		if err != nil || n < 1 || n > maxLogSeconds {
			return o, v1.NewBadRequest(fmt.Sprintf("sinceSeconds=%q must be a whole number of seconds greater than 0", ss))
		}
		o.since = time.Now().Add(-time.Duration(n) * time.Second)
	}
	if st != "" {
		t, err := time.Parse(time.RFC3339, st)
		if err != nil {
			return o, v1.NewBadRequest(fmt.Sprintf("sinceTime=%q must be an RFC 3339 time", st))
		}
		o.since = t
	}
	if lb := q.Get("limitBytes"); lb != "" {
		n, err := strconv.ParseInt(lb, 10, 64)
		if err != nil || n < 1 {
			return o, v1.NewBadRequest(fmt.Sprintf("limitBytes=%q must be a whole number of bytes greater than 0", lb))
		}
		o.limit = n
	}
	return o, nil
}

// maxLogSeconds is the largest sinceSeconds that is a time.Duration.
const maxLogSeconds = int64(1<<63-1) / int64(time.Second)

// logFile is the attempt log a request reads.
type logFile struct {
	uid       string
	container string
	attempt   int
	// dir is PodsDir/<uid>/logs/<container>.
	dir string
}

// path is the attempt's log file; piece is its rotated piece.
func (l logFile) path() string  { return attemptPath(l.dir, l.attempt) }
func (l logFile) piece() string { return l.path() + ".1" }

// attemptPath returns the log file of attempt n in a container's log dir.
func attemptPath(dir string, n int) string {
	return filepath.Join(dir, strconv.Itoa(n)+".log")
}

// serveLog sends a container's log, optionally following it.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	opts, err := parseLogOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	lf, err := s.resolveLog(ns, name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := os.Open(lf.path())
	if err != nil {
		writeError(w, fmt.Errorf("open log of container %s of pod %s/%s: %w", lf.container, ns, name, err))
		return
	}
	defer f.Close()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	lw := &logWriter{w: w, rc: http.NewResponseController(w), timestamps: opts.timestamps,
		since: opts.since, remain: opts.limit, writeTimeout: s.cfg.WriteTimeout}
	err = s.streamLog(r.Context(), lw, f, lf, opts)
	if err == nil {
		err = lw.flush()
	}
	if err != nil && !errors.Is(err, errLimitReached) && r.Context().Err() == nil {
		s.log.Debug("log stream ended", "pod", ns+"/"+name, "container", lf.container, "err", err)
	}
}

// resolveLog finds the log file a request asks for, or a Status error.
func (s *Server) resolveLog(ns, name string, opts logOptions) (logFile, error) {
	uid, ok := s.cfg.Lookup(ns, name)
	if !ok {
		return logFile{}, v1.NewNotFound("pods", name)
	}
	logsDir := filepath.Join(s.cfg.PodsDir, uid, "logs")
	containers, err := listDirs(logsDir)
	if err != nil {
		return logFile{}, fmt.Errorf("list log directories of pod %s/%s: %w", ns, name, err)
	}
	pod := ns + "/" + name
	c := opts.container
	switch {
	case c == "" && len(containers) == 0:
		return logFile{}, v1.NewBadRequest(fmt.Sprintf("pod %s has no container logs yet", pod))
	case c == "" && len(containers) > 1:
		return logFile{}, v1.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]",
			pod, strings.Join(containers, " ")))
	case c == "":
		c = containers[0]
	case !slices.Contains(containers, c):
		have := "no container has logs yet"
		if len(containers) > 0 {
			have = "choose one of: [" + strings.Join(containers, " ") + "]"
		}
		return logFile{}, v1.NewBadRequest(fmt.Sprintf("container %q in pod %s has no logs: %s", c, pod, have))
	}
	dir := filepath.Join(logsDir, c)
	cur, err := currentAttempt(dir)
	if err != nil {
		return logFile{}, fmt.Errorf("find log of container %s of pod %s: %w", c, pod, err)
	}
	if cur < 0 {
		return logFile{}, v1.NewBadRequest(fmt.Sprintf("container %q in pod %s has no logs yet", c, pod))
	}
	lf := logFile{uid: uid, container: c, attempt: cur, dir: dir}
	if opts.previous {
		lf.attempt = cur - 1
		if lf.attempt < 0 || !exists(lf.path()) {
			return logFile{}, v1.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %s not found", c, pod))
		}
	}
	return lf, nil
}

// listDirs returns the names of the directories in dir, sorted; a missing
// dir has none.
func listDirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// currentAttempt returns the highest N of the N.log files in dir, or -1.
func currentAttempt(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	cur := -1
	for _, e := range entries {
		num, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || strconv.Itoa(n) != num {
			continue
		}
		cur = max(cur, n)
	}
	return cur, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// streamLog writes the requested part of the log and, when following, new
// bytes as they are written, until the attempt stops running (or a newer
// one starts) and everything was sent, or ctx ends, or the server stops.
func (s *Server) streamLog(ctx context.Context, lw *logWriter, f *os.File, lf logFile, opts logOptions) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", lf.path(), err)
	}
	// The piece rotated out before the request is sent first, unless the
	// tail lies entirely in the current file.
	piece, pieceInfo := openPiece(lf.piece())
	if piece != nil {
		defer piece.Close()
	}
	start, found := int64(0), int64(0)
	if opts.tail >= 0 {
		if start, found, err = tailStart(f, fi.Size(), opts.tail); err != nil {
			return fmt.Errorf("tail %s: %w", lf.path(), err)
		}
	}
	if piece != nil && (opts.tail < 0 || found < opts.tail) {
		pstart := int64(0)
		if opts.tail >= 0 {
			if pstart, _, err = tailStart(piece, pieceInfo.Size(), opts.tail-found); err != nil {
				return fmt.Errorf("tail %s: %w", lf.piece(), err)
			}
		}
		if _, err := copyFrom(lw, piece, pstart, pieceInfo.ModTime); err != nil {
			return err
		}
	}
	off, err := copyFrom(lw, f, start, fi.ModTime)
	if err != nil || !opts.follow {
		return err
	}

	timer := time.NewTimer(s.pollInterval)
	defer timer.Stop()
	shrunk := 0
	for {
		// Decide before the last read, so bytes written just before the
		// container ended are still sent.
		stopped := s.cfg.Running == nil || !s.cfg.Running(lf.uid, lf.container, lf.attempt) ||
			exists(attemptPath(lf.dir, lf.attempt+1))
		if p, pi := openPiece(lf.piece()); p != nil {
			if pieceInfo == nil || !os.SameFile(pieceInfo, pi) {
				// Rotated (RotateLogs truncates before it renames the new
				// piece in place): what followed off is in the new piece.
				_, err := copyFrom(lw, p, off, time.Now)
				p.Close()
				if err != nil {
					return err
				}
				pieceInfo, off, shrunk = pi, 0, 0
			} else {
				p.Close()
			}
		}
		if fi, err := f.Stat(); err == nil && fi.Size() < off {
			// Truncated without a new piece (yet): give the rotation one
			// poll to rename its piece, then start over from the top.
			if shrunk++; shrunk > 1 {
				off, shrunk = 0, 0
			}
		}
		off, err = copyFrom(lw, f, off, time.Now)
		if err != nil || stopped {
			return err
		}
		timer.Reset(s.pollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopping:
			return nil
		case <-timer.C:
		}
	}
}

// openPiece opens a rotated piece; nil when there is none.
func openPiece(path string) (*os.File, os.FileInfo) {
	p, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	pi, err := p.Stat()
	if err != nil {
		p.Close()
		return nil, nil
	}
	return p, pi
}

// copyFrom writes f from off to its current end and returns the new
// offset. now gives the timestamp of the bytes read (when asked for).
func copyFrom(lw *logWriter, f *os.File, off int64, now func() time.Time) (int64, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := f.ReadAt(buf, off)
		if n > 0 {
			if werr := lw.write(buf[:n], now()); werr != nil {
				return off, werr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return off, fmt.Errorf("read %s: %w", f.Name(), err)
		}
	}
}

// tailStart returns the offset at which the last n lines of f (size bytes)
// begin, and how many lines it found (fewer than n when f holds fewer). A
// last line without a newline counts as a line.
func tailStart(f *os.File, size, n int64) (int64, int64, error) {
	if n == 0 || size == 0 {
		return size, 0, nil
	}
	end := size
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, 0, err
	}
	if last[0] == '\n' {
		end-- // the final newline ends the last line; it starts none
	}
	buf := make([]byte, 32<<10)
	count := int64(0)
	for pos := end; pos > 0; {
		chunk := min(int64(len(buf)), pos)
		pos -= chunk
		if _, err := f.ReadAt(buf[:chunk], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, err
		}
		for i := chunk - 1; i >= 0; i-- {
			if buf[i] == '\n' {
				count++
				if count == n {
					return pos + i + 1, n, nil
				}
			}
		}
	}
	return 0, count + 1, nil
}
