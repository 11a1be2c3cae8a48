package apiserver

import (
	"fmt"
	"net/http"
	"time"

	v1 "orch.io/orch/api/v1"
)

// serveSnapshot streams a point-in-time backup of the whole store: after a
// read barrier (so it holds every write acknowledged before the request),
// from one read transaction of this master's copy, with a checksum trailer.
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	if _, err := s.backend.ReadBarrier(r.Context()); err != nil {
		writeError(w, v1.NewServiceUnavailable(fmt.Sprintf("snapshot: %v", err)))
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Minute))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="orch-snapshot"`)
	if err := s.backend.Store().WriteBackup(w); err != nil {
		s.log.Warn("snapshot stream", "err", err)
		panic(http.ErrAbortHandler) // the client must not take a cut stream for a backup
	}
}
