package apiserver

import (
	"net/http"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// serveDeleteCollection deletes every object of a collection that the
// request's label and field selectors select (all of them without), as
// Kubernetes' DeleteCollection: each one is deleted as a delete of it
// would be, with the request's DeleteOptions and its uid as precondition,
// so an object replaced meanwhile stays. The answer is the list of the
// objects deleted (or, for those deleted gracefully, marked).
func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, req *request) {
	opts, err := listOptions(req, r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	opts.Limit, opts.After = 0, ""
	tmpl, r, err := s.readDeleteOptions(w, r, req.resource.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	store, err := s.read(r)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := store.List(req.resource.Name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	var deleted []*fsm.Record
	for _, item := range res.Items {
		m := item.Meta()
		dr := tmpl.DeleteRequest
		dr.Resource, dr.Namespace, dr.Name = req.resource.Name, m.Namespace, m.Name
		if dr.UID == "" {
			dr.UID = m.UID
		}
		cmd, err := fsm.Encode(fsm.DeleteCommand, dr)
		if err != nil {
			writeError(w, err)
			return
		}
		rec, err := s.apply(r.Context(), cmd)
		if v1.IsNotFound(err) || (v1.IsConflict(err) && tmpl.UID == "" && tmpl.ResourceVersion == "") {
			continue // gone, or replaced by another object of its name, meanwhile
		}
		if err != nil {
			writeError(w, err)
			return
		}
		deleted = append(deleted, rec)
	}
	b, err := s.listJSON(req.resource, res.Index, "", deleted)
	if err != nil {
		writeError(w, err)
		return
	}
	writeRaw(w, http.StatusOK, b)
}
