package apiserver

import (
	"net/http"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// maxPatchAttempts bounds the read-patch-CAS loop under contention.
const maxPatchAttempts = 8

// servePatch applies a merge (RFC 7386), strategic merge or JSON (RFC 6902)
// patch. It reads the current object, patches it, and commits with the
// object's resourceVersion as a precondition, retrying on conflict, as
// Kubernetes does. A patch that sets metadata.resourceVersion to another
// value makes the conflict the caller's.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, req *request) {
	p, err := s.readPatch(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.patchBase(r, req, req.resource.Name, attempt)
		if err != nil {
			writeError(w, err)
			return
		}
		raw, err := s.recordJSON(req.resource, cur)
		if err != nil {
			writeError(w, err)
			return
		}
		patched, err := applyPatch(p, raw, req.resource.New(), s.cfg.MaxBodyBytes)
		if err != nil {
			if attempt == 0 && v1.CodeOf(err) == http.StatusUnprocessableEntity {
				continue // a JSON patch's test may have failed on a stale local copy
			}
			writeError(w, err)
			return
		}
		obj, err := decodeObject(req, patched)
		if err != nil {
			writeError(w, err)
			return
		}
		// The patch left the resourceVersion as it was: no precondition of
		// the caller's, so a conflict is retried on a fresh read.
		retry := obj.GetObjectMeta().ResourceVersion == cur.Meta().ResourceVersion
		rec, err := s.update(r.Context(), req, obj)
		if err != nil {
			if v1.IsConflict(err) && retry && attempt < maxPatchAttempts {
				continue
			}
			writeError(w, err)
			return
		}
		s.writeRecord(w, http.StatusOK, req.resource, rec)
		return
	}
}

// patchBase reads the object a patch attempt starts from. The first
// attempt reads the local copy; a later one may follow a conflict that
// means this master was behind, so it reads after a barrier.
func (s *Server) patchBase(r *http.Request, req *request, resource string, attempt int) (*fsm.Record, error) {
	if attempt == 0 {
		if resource == req.resource.Name {
			return s.current(r.Context(), req, "")
		}
		return s.backend.Store().Get(resource, req.namespace, req.name)
	}
	if _, err := s.backend.ReadBarrier(r.Context()); err != nil {
		return nil, err
	}
	return s.backend.Store().Get(resource, req.namespace, req.name)
}
