package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// scaleOf returns the Scale view of a replication controller.
func scaleOf(rc *v1.ReplicationController) v1.Scale {
	var sel []string
	for k, v := range rc.Spec.Selector {
		sel = append(sel, k+"="+v)
	}
	replicas := int32(1)
	if rc.Spec.Replicas != nil {
		replicas = *rc.Spec.Replicas
	}
	return v1.Scale{
		TypeMeta: v1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: v1.ObjectMeta{Name: rc.Name, Namespace: rc.Namespace, UID: rc.UID,
			ResourceVersion: rc.ResourceVersion, CreationTimestamp: rc.CreationTimestamp},
		Spec:   v1.ScaleSpec{Replicas: replicas},
		Status: v1.ScaleStatus{Replicas: rc.Status.Replicas, Selector: strings.Join(sortedStrings(sel), ",")},
	}
}

func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, req *request) {
	switch req.verb {
	case "get":
		store, err := s.read(r)
		if err != nil {
			writeError(w, err)
			return
		}
		rec, err := store.Get("replicationcontrollers", req.namespace, req.name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, scaleOf(rec.Object().(*v1.ReplicationController)))
	case "update":
		body, err := s.readBody(w, r)
		if err != nil {
			writeError(w, err)
			return
		}
		var sc v1.Scale
		if err := decodeStrict(body, &sc); err != nil {
			writeError(w, err)
			return
		}
		if sc.Name != "" && sc.Name != req.name {
			writeError(w, v1.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name in the path (%s)", sc.Name, req.name)))
			return
		}
		if sc.Spec.Replicas < 0 {
			writeError(w, v1.NewInvalid("Scale", req.name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "spec.replicas",
				Message: fmt.Sprintf("spec.replicas: Invalid value: %d: must be greater than or equal to 0", sc.Spec.Replicas)}}))
			return
		}
		cmd, err := fsm.Encode(fsm.ScaleCommand, fsm.ScaleRequest{Namespace: req.namespace, Name: req.name,
			Replicas: sc.Spec.Replicas, ResourceVersion: sc.ResourceVersion})
		if err != nil {
			writeError(w, err)
			return
		}
		rec, err := s.apply(r.Context(), cmd)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, scaleOf(rec.Object().(*v1.ReplicationController)))
	default:
		writeError(w, v1.NewMethodNotAllowed("scale supports GET and PUT"))
	}
}

func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var b v1.Binding
	if err := decodeStrict(body, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.Name != "" && b.Name != req.name {
		writeError(w, v1.NewBadRequest(fmt.Sprintf("the binding's name (%s) does not match the pod in the path (%s)", b.Name, req.name)))
		return
	}
	if b.Target.Name == "" {
		writeError(w, v1.NewInvalid("Binding", req.name, []v1.StatusCause{{Type: "FieldValueRequired", Field: "target.name",
			Message: "target.name: Required value"}}))
		return
	}
	cmd, err := fsm.Encode(fsm.BindCommand, fsm.BindRequest{Now: v1.NewTime(time.Now()),
		Bindings: []fsm.Binding{{Namespace: req.namespace, Name: req.name, UID: b.UID, Node: b.Target.Name}}})
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := s.apply(r.Context(), cmd); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, successStatus(http.StatusCreated))
}
