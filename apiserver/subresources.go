package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// scaleOf returns the Scale view of an object with a scale subresource.
func scaleOf(obj v1.Scalable) v1.Scale {
	m := obj.GetObjectMeta()
	replicas := int32(1)
	if n := obj.SpecReplicas(); n != nil {
		replicas = *n
	}
	return v1.Scale{
		TypeMeta: v1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: v1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp},
		Spec:   v1.ScaleSpec{Replicas: replicas},
		Status: obj.ScaleStatus(),
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
		rec, err := store.Get(req.resource.Name, req.namespace, req.name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, scaleOf(rec.Object().(v1.Scalable)))
	case "update":
		body, err := s.readObjectBody(w, r, "Scale", "autoscaling/v1")
		if err != nil {
			writeError(w, err)
			return
		}
		var sc v1.Scale
		if err := decodeStrict(body, &sc); err != nil {
			writeError(w, err)
			return
		}
		rc, err := s.scaleTo(r.Context(), req, &sc)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, scaleOf(rc))
	case "patch":
		s.servePatchScale(w, r, req)
	default:
		writeError(w, v1.NewMethodNotAllowed("scale supports GET, PUT and PATCH"))
	}
}

// scaleTo sets the replicas of the scaled object to sc's, with sc's
// resourceVersion, if any, as a precondition.
func (s *Server) scaleTo(ctx context.Context, req *request, sc *v1.Scale) (v1.Scalable, error) {
	if sc.Name != "" && sc.Name != req.name {
		return nil, v1.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name in the path (%s)", sc.Name, req.name))
	}
	if sc.Namespace != "" && sc.Namespace != req.namespace {
		return nil, v1.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace of the path (%s)", sc.Namespace, req.namespace))
	}
	if sc.Spec.Replicas < 0 {
		return nil, v1.NewInvalid("Scale", req.name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "spec.replicas",
			Message: fmt.Sprintf("spec.replicas: Invalid value: %d: must be greater than or equal to 0", sc.Spec.Replicas)}})
	}
	return s.commitScale(ctx, req, sc.ResourceVersion, func(next, old v1.Scalable) error {
		next.SetSpecReplicas(sc.Spec.Replicas)
		return s.trackUpdate(ctx, req, next, old)
	})
}

// commitScale reads the scaled object, lets change set its replicas and
// managedFields on a copy, and commits them with rv (the
// caller's precondition) or else the read resourceVersion as the
// precondition, read and changed again after a concurrent write.
func (s *Server) commitScale(ctx context.Context, req *request, rv string, change func(next, old v1.Scalable) error) (v1.Scalable, error) {
	for attempt := 0; ; attempt++ {
		var cur *fsm.Record
		var err error
		if attempt == 0 {
			// The local copy, or after a read barrier when it is missing
			// or not at rv: a master that forwarded the object's create
			// may not have applied it yet.
			cur, err = s.current(ctx, req, rv)
		} else {
			if _, err := s.backend.ReadBarrier(ctx); err != nil {
				return nil, err
			}
			cur, err = s.backend.Store().Get(req.resource.Name, req.namespace, req.name)
		}
		if err != nil {
			return nil, err
		}
		old := cur.Object().(v1.Scalable)
		next := v1.DeepCopy(old)
		if err := change(next, old); err != nil {
			return nil, err
		}
		if n := next.SpecReplicas(); n == nil || *n < 0 {
			return nil, v1.NewInvalid("Scale", req.name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "spec.replicas",
				Message: "spec.replicas: Invalid value: must be greater than or equal to 0"}})
		}
		pin := rv
		if pin == "" {
			pin = old.GetObjectMeta().ResourceVersion
		}
		cmd, err := fsm.Encode(fsm.ScaleCommand, fsm.ScaleRequest{Resource: req.resource.Name, Namespace: req.namespace, Name: req.name,
			Replicas: *next.SpecReplicas(), ResourceVersion: pin, ManagedFields: next.GetObjectMeta().ManagedFields})
		if err != nil {
			return nil, err
		}
		rec, err := s.apply(ctx, cmd)
		if err != nil {
			if v1.IsConflict(err) && rv == "" && attempt < maxPatchAttempts {
				continue
			}
			return nil, err
		}
		return rec.Object().(v1.Scalable), nil
	}
}

// servePatchScale patches the Scale view of a scalable object (as
// kubectl scale does, with a merge patch of spec.replicas) and commits the
// patched replicas, retrying on conflict unless the patch set a
// resourceVersion of its own.
func (s *Server) servePatchScale(w http.ResponseWriter, r *http.Request, req *request) {
	if isApply(r) {
		s.serveApplyScale(w, r, req)
		return
	}
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
		before := scaleOf(cur.Object().(v1.Scalable))
		raw, err := json.Marshal(before)
		if err != nil {
			writeError(w, err)
			return
		}
		patched, err := applyPatch(p, raw, &v1.Scale{}, s.cfg.MaxBodyBytes)
		if err != nil {
			if attempt == 0 && v1.CodeOf(err) == http.StatusUnprocessableEntity {
				continue
			}
			writeError(w, err)
			return
		}
		var sc v1.Scale
		if err := decodeStrict(patched, &sc); err != nil {
			writeError(w, err)
			return
		}
		if sc.Kind != "Scale" || sc.APIVersion != before.APIVersion {
			writeError(w, v1.NewBadRequest(fmt.Sprintf("the patched object is %s %s, not %s Scale", sc.APIVersion, sc.Kind, before.APIVersion)))
			return
		}
		retry := sc.ResourceVersion == before.ResourceVersion
		rc, err := s.scaleTo(r.Context(), req, &sc)
		if err != nil {
			if v1.IsConflict(err) && retry && attempt < maxPatchAttempts {
				continue
			}
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, scaleOf(rc))
		return
	}
}

func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := s.readObjectBody(w, r, "Binding", "v1")
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
