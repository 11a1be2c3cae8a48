package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// applyPatchType is server-side apply's media type.
const applyPatchType = "application/apply-patch+yaml"

// isApply reports whether a PATCH is a server-side apply.
func isApply(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == applyPatchType
}

// checkPatchOptions validates a PATCH's fieldManager and force as
// Kubernetes' ValidatePatchOptions does: apply needs a field manager;
// force is for apply only. Errors are 422 naming PatchOptions.
func checkPatchOptions(q url.Values, apply bool) error {
	opts := &metav1.PatchOptions{FieldManager: q.Get("fieldManager")}
	if _, ok := q["force"]; ok {
		f := flag(q, "force")
		opts.Force = &f
	}
	pt := types.MergePatchType
	if apply {
		pt = types.ApplyPatchType
	}
	return optionErrors("patch", metav1validation.ValidatePatchOptions(opts, pt))
}

// checkWriteOptions validates the fieldManager of a create or an update
// (Kubernetes' ValidateCreateOptions and ValidateUpdateOptions), and
// refuses force, which only an apply takes.
func checkWriteOptions(verb string, q url.Values) error {
	if len(q) == 0 {
		return nil // no fieldManager (valid when empty) and no force
	}
	errs := metav1validation.ValidateFieldManager(q.Get("fieldManager"), field.NewPath("fieldManager"))
	if _, ok := q["force"]; ok {
		errs = append(errs, field.Forbidden(field.NewPath("force"), "may not be specified for non-apply patch"))
	}
	return optionErrors(verb, errs)
}

// optionErrors is the 422 of a request's invalid options.
func optionErrors(verb string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	causes := make([]v1.StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, v1.StatusCause{Type: string(e.Type), Field: e.Field, Message: e.Error()})
	}
	return v1.NewInvalid(optionsKind(verb)+".meta.k8s.io", "", causes)
}

// serveApply handles server-side apply (PATCH with
// application/apply-patch+yaml), as Kubernetes' apply patcher does: the
// applied configuration is merged into the live object by the schema,
// the manager takes ownership of the fields it applies, and a field
// another manager owns with a different value is a 409 conflict unless
// force=true. An absent object is created. The merge and managedFields
// are computed here, before proposing; the write is an ordinary create,
// or an update with the read resourceVersion as precondition, retried on
// a concurrent writer's conflict.
func (s *Server) serveApply(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	if err := checkPatchOptions(q, true); err != nil {
		writeError(w, err)
		return
	}
	patch, err := s.readApplyPatch(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	fm, err := s.fields.get(req.resource, trackedSub(req))
	if err != nil {
		writeError(w, err)
		return
	}
	manager, force := q.Get("fieldManager"), flag(q, "force")
	for attempt := 0; ; attempt++ {
		cur, err := s.patchBase(r, req, req.resource.Name, attempt)
		create := v1.IsNotFound(err) && req.sub == ""
		var live v1.Object
		switch {
		case create:
		case err != nil:
			writeError(w, err)
			return
		default:
			if cur, err = s.reveal(req.resource, cur); err != nil {
				writeError(w, err)
				return
			}
			live = viewOf(req.resource, cur.Object())
		}
		obj, err := appliedObject(req, fm, live, patch.DeepCopy(), manager, force)
		if err != nil {
			writeError(w, err)
			return
		}
		var rec *fsm.Record
		if create {
			rec, err = s.create(r.Context(), req, obj, false)
			if v1.IsAlreadyExists(err) && attempt < maxPatchAttempts {
				continue // created meanwhile: apply to it
			}
		} else {
			// The applied configuration may carry a resourceVersion: the
			// caller's precondition, and a conflict is then the caller's.
			retry := obj.GetObjectMeta().ResourceVersion == cur.Meta().ResourceVersion
			rec, err = s.commitUpdate(r.Context(), req, obj, false)
			if err != nil && v1.IsConflict(err) && retry && attempt < maxPatchAttempts {
				continue
			}
		}
		if err != nil {
			writeError(w, err)
			return
		}
		code := http.StatusOK
		if create {
			code = http.StatusCreated
		}
		s.writeRecord(w, code, req.resource, rec)
		return
	}
}

// appliedObject merges the applied configuration patch, which it takes,
// into live (nil: a create) for manager and returns the object to commit,
// its managedFields those the field manager computed.
func appliedObject(req *request, fm *managedfields.FieldManager, live v1.Object, patch *unstructured.Unstructured, manager string, force bool) (v1.Object, error) {
	var liveObj runtime.Object = emptyOf(req.resource)
	if live != nil {
		tracked, err := newTrackedObject(live)
		if err != nil {
			return nil, err
		}
		liveObj = tracked
	}
	out, err := fm.Apply(liveObj, patch, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	content, managed, err := appliedContent(out)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encode the applied object: %w", err)
	}
	obj, err := decodeObject(req, b)
	if err != nil {
		return nil, err
	}
	obj.GetObjectMeta().ManagedFields = managedFieldsFromK8s(managed)
	return obj, nil
}

// appliedContent splits the field manager's result, which it may change,
// into its content without managedFields and its managedFields: a merged
// object is an Unstructured; an apply that changed nothing returns the
// live trackedObject.
func appliedContent(out runtime.Object) (map[string]any, []metav1.ManagedFieldsEntry, error) {
	switch o := out.(type) {
	case *trackedObject:
		return o.Object, o.managed, nil
	case *unstructured.Unstructured:
		managed := o.GetManagedFields()
		unstructured.RemoveNestedField(o.Object, "metadata", "managedFields")
		return o.Object, managed, nil
	}
	return nil, nil, fmt.Errorf("server-side apply: the field manager returned a %T", out)
}

// readApplyPatch reads the request's body as an applied configuration.
func (s *Server) readApplyPatch(w http.ResponseWriter, r *http.Request) (*unstructured.Unstructured, error) {
	raw, err := s.readBody(w, r, applyPatchType)
	if err != nil {
		return nil, err
	}
	return decodeApplyPatch(raw, s.cfg.MaxJSONDepth)
}

// decodeApplyPatch reads an applied configuration: a YAML (or JSON)
// object.
func decodeApplyPatch(raw []byte, maxDepth int) (*unstructured.Unstructured, error) {
	if len(raw) == 0 {
		return nil, v1.NewBadRequest("the patch is empty")
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, v1.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	if err := checkDepth(js, maxDepth); err != nil {
		return nil, err
	}
	// Numbers as the field manager takes them: integers as int64.
	u := &unstructured.Unstructured{}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &u.Object); err != nil || u.Object == nil {
		return nil, v1.NewBadRequest("error decoding YAML: the applied configuration must be an object")
	}
	return u, nil
}

// checkManagerOptions validates the fieldManager and force parameters of
// a write.
func checkManagerOptions(verb string, r *http.Request, q url.Values) error {
	switch verb {
	case "patch":
		return checkPatchOptions(q, isApply(r))
	case "create", "update":
		return checkWriteOptions(verb, q)
	}
	return nil
}

// applyError maps the field manager's errors: its status errors (a
// conflict, a bad apiVersion or kind) keep their code; an applied
// configuration that does not fit the kind's schema (a field the kind does
// not have, a list item without its key) is the caller's 400.
func applyError(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return statusFromK8s(err)
	}
	if strings.Contains(err.Error(), "failed to create typed patch object") {
		return v1.NewBadRequest(err.Error())
	}
	return fmt.Errorf("server-side apply: %w", err)
}

// serveApplyScale applies an autoscaling/v1 Scale to a replication
// controller's scale subresource. As Kubernetes' scale handler maps a
// Scale's fields to its parent's, the applied spec.replicas is applied to
// the controller's .spec.replicas by the manager with subresource
// "scale", so conflicts name .spec.replicas and its other owners.
func (s *Server) serveApplyScale(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	patch, err := s.readApplyPatch(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if patch.GetAPIVersion() != "autoscaling/v1" || patch.GetKind() != "Scale" {
		writeError(w, v1.NewBadRequest(fmt.Sprintf("the applied configuration is %q %q, not autoscaling/v1 Scale", patch.GetAPIVersion(), patch.GetKind())))
		return
	}
	if n := patch.GetName(); n != "" && n != req.name {
		writeError(w, v1.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", n, req.name)))
		return
	}
	for k := range patch.Object {
		if k != "apiVersion" && k != "kind" && k != "metadata" && k != "spec" {
			writeError(w, v1.NewBadRequest(fmt.Sprintf("a Scale is applied with its spec.replicas only, not %s", k)))
			return
		}
	}
	parent := emptyOf(req.resource)
	parent.SetName(req.name)
	parent.SetNamespace(req.namespace)
	if spec, ok := patch.Object["spec"]; ok {
		m, ok := spec.(map[string]any)
		if !ok || len(m) > 1 || (len(m) == 1 && m["replicas"] == nil) {
			writeError(w, v1.NewBadRequest("a Scale is applied with its spec.replicas only"))
			return
		}
		if n, ok := m["replicas"]; ok {
			parent.Object["spec"] = map[string]any{"replicas": n}
		}
	}
	fm, err := s.fields.get(req.resource, "scale")
	if err != nil {
		writeError(w, err)
		return
	}
	manager, force := q.Get("fieldManager"), flag(q, "force")
	rc, err := s.commitScale(r.Context(), req, patch.GetResourceVersion(), func(next, old v1.Scalable) error {
		live, err := newTrackedObject(old)
		if err != nil {
			return err
		}
		out, err := fm.Apply(live, parent.DeepCopy(), manager, force)
		if err != nil {
			return applyError(err)
		}
		content, managed, err := appliedContent(out)
		if err != nil {
			return err
		}
		b, err := json.Marshal(content)
		if err != nil {
			return fmt.Errorf("encode the applied object: %w", err)
		}
		got := req.resource.New().(v1.Scalable)
		if err := json.Unmarshal(b, got); err != nil {
			return v1.NewBadRequest(fmt.Sprintf("the applied Scale: %v", err))
		}
		if n := got.SpecReplicas(); n != nil {
			next.SetSpecReplicas(*n)
		}
		next.GetObjectMeta().ManagedFields = managedFieldsFromK8s(managed)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scaleOf(rc))
}
