package agentserver

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	v1 "orch.io/orch/api/v1"
)

// Defaults of the server's limits and timeouts (see Config).
const (
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultReadTimeout        = 30 * time.Second
	DefaultWriteTimeout       = 60 * time.Second
	DefaultIdleTimeout        = 120 * time.Second
	DefaultImageUploadTimeout = 30 * time.Minute
	DefaultMaxConnections     = 1000
)

// withDefaults fills the zero limits and timeouts of cfg.
func withDefaults(cfg Config) Config {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&cfg.ReadTimeout, DefaultReadTimeout},
		{&cfg.WriteTimeout, DefaultWriteTimeout},
		{&cfg.IdleTimeout, DefaultIdleTimeout},
		{&cfg.ImageUploadTimeout, DefaultImageUploadTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	return cfg
}

// httpServer is the http.Server that Run runs, with every timeout set.
// Responses that last (logs, image imports) move their own deadlines.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// refuseUnread answers err without reading the request's body and closes
// the connection. net/http would otherwise drain the body (up to 256 KiB,
// for as long as the ReadTimeout allows) before it sends the answer, and
// again before it closes the connection.
func refuseUnread(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close") // no draining before the answer
	writeError(w, err)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	// No draining after it either: the next read fails at once. An error
	// means the writer takes no deadlines (a test recorder).
	_ = rc.SetReadDeadline(time.Now())
}

// idleReader reads a long body (an image tarball) that outlives the
// server's ReadTimeout: each Read may wait at most idle for bytes, and the
// whole body must arrive before the end. A body that stalls is cut.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
	// total is the whole allowance, for the error message.
	total time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	d := time.Now().Add(r.idle)
	if d.After(r.end) {
		d = r.end
	}
	_ = r.rc.SetReadDeadline(d)
	n, err := r.r.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, v1.NewBadRequest(fmt.Sprintf("read request body: no bytes for %v or more than %v in all", r.idle, r.total))
	}
	return n, err
}
