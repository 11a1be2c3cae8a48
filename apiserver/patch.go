package apiserver

import (
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// maxPatchAttempts bounds the read-patch-CAS loop under contention.
const maxPatchAttempts = 8

// servePatch applies a JSON merge patch (RFC 7386). It reads the current
// object, patches it, and commits with the object's resourceVersion as a
// precondition, retrying on conflict, as Kubernetes does. A patch that sets
// metadata.resourceVersion itself makes the conflict the caller's.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, req *request) {
	patch, err := s.readBody(w, r, "application/merge-patch+json", "application/strategic-merge-patch+json", "application/json")
	if err != nil {
		writeError(w, err)
		return
	}
	if len(patch) == 0 {
		writeError(w, v1.NewBadRequest("the patch is empty"))
		return
	}
	var probe map[string]any
	if err := decodeStrict(patch, &probe); err != nil {
		writeError(w, v1.NewBadRequest("the patch must be a JSON object: "+err.Error()))
		return
	}
	if probe == nil {
		// A null merge patch replaces the whole object with null (RFC 7386).
		writeError(w, v1.NewBadRequest("the patch must be a JSON object, not null"))
		return
	}
	userRV := false
	if md, ok := probe["metadata"].(map[string]any); ok {
		_, userRV = md["resourceVersion"]
	}
	for attempt := 0; ; attempt++ {
		// The first attempt patches the local copy; a conflict may mean it
		// was behind, so later attempts read after a barrier.
		var cur *fsm.Record
		if attempt == 0 {
			cur, err = s.current(r.Context(), req, "")
		} else if _, err = s.backend.ReadBarrier(r.Context()); err == nil {
			cur, err = s.backend.Store().Get(req.resource.Name, req.namespace, req.name)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		raw, err := cur.JSON()
		if err != nil {
			writeError(w, err)
			return
		}
		patched, err := jsonpatch.MergePatch(raw, patch)
		if err != nil {
			writeError(w, v1.NewBadRequest("apply merge patch: "+err.Error()))
			return
		}
		obj, err := decodeObject(req, patched)
		if err != nil {
			writeError(w, err)
			return
		}
		if !userRV {
			obj.GetObjectMeta().ResourceVersion = cur.Meta().ResourceVersion
		}
		rec, err := s.update(r.Context(), req, obj)
		if err != nil {
			if v1.IsConflict(err) && !userRV && attempt < maxPatchAttempts {
				continue
			}
			writeError(w, err)
			return
		}
		writeRecord(w, http.StatusOK, rec)
		return
	}
}
