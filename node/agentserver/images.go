package agentserver

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	v1 "orch.io/orch/api/v1"
)

// serveImages imports the OCI image tarball in the request body.
func (s *Server) serveImages(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/x-tar" && mt != "application/octet-stream") {
			writeError(w, v1.NewUnsupportedMediaType(fmt.Sprintf(
				"Content-Type %q is not supported here (use application/x-tar)", ct)))
			return
		}
	}
	if s.cfg.Import == nil {
		writeError(w, v1.NewServiceUnavailable("this node cannot import images"))
		return
	}
	// An image outlives the ReadTimeout sized for small requests; it has
	// ImageUploadTimeout, but a body that stalls is still cut.
	rc := http.NewResponseController(w)
	end := time.Now().Add(s.cfg.ImageUploadTimeout)
	_ = rc.SetWriteDeadline(end.Add(s.cfg.WriteTimeout))
	ctx, cancel := context.WithDeadline(r.Context(), end)
	defer cancel()
	body := &idleReader{r: http.MaxBytesReader(w, r.Body, v1.MaxImageUploadBytes), rc: rc, idle: s.cfg.ReadTimeout, end: end,
		total: s.cfg.ImageUploadTimeout}
	names, err := s.cfg.Import(ctx, body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, v1.NewRequestTooLarge(fmt.Sprintf("the image tarball is larger than the limit of %d bytes", v1.MaxImageUploadBytes)))
			return
		}
		s.log.Warn("import image", "err", err)
		var se *v1.StatusError
		if !errors.As(err, &se) {
			err = fmt.Errorf("import image: %w", err)
		}
		writeError(w, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, v1.ImageLoadResult{Images: names})
}
