package apiserver

import (
	"context"
	"mime"
	"net/http"
	"slices"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
)

// serveReview answers an access review (authorization.k8s.io): it is
// decided by the authorizer chain and returned with its status, never
// stored, as Kubernetes' SubjectAccessReview REST storage.
func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, req *request) {
	if req.verb != "create" || req.name != "" || req.sub != "" {
		writeError(w, v1.NewMethodNotAllowed(req.resource.Name+" supports create only"))
		return
	}
	body, err := s.readObjectBody(w, r, req.resource.Kind, req.resource.GroupVersion())
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := decodeObject(req, body)
	if err != nil {
		writeError(w, err)
		return
	}
	caller := UserFrom(r.Context())
	switch o := obj.(type) {
	case *v1.SelfSubjectAccessReview:
		errs := validateReviewMeta(&o.ObjectMeta)
		errs = append(errs, validateReviewAttrs(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)...)
		if len(errs) > 0 {
			writeError(w, invalid(o, errs))
			return
		}
		o.Status = s.review(r.Context(), reviewAttributes(caller, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes))
	case *v1.SubjectAccessReview:
		errs := validateReviewMeta(&o.ObjectMeta)
		errs = append(errs, validateReviewAttrs(o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)...)
		if o.Spec.User == "" && len(o.Spec.Groups) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "user"), o.Spec.User, "at least one of user or group must be specified"))
		}
		if len(errs) > 0 {
			writeError(w, invalid(o, errs))
			return
		}
		extra := map[string][]string{}
		for k, v := range o.Spec.Extra {
			extra[k] = v
		}
		u := &user.DefaultInfo{Name: o.Spec.User, UID: o.Spec.UID, Groups: o.Spec.Groups, Extra: extra}
		o.Status = s.review(r.Context(), reviewAttributes(u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes))
	case *v1.SelfSubjectRulesReview:
		errs := validateReviewMeta(&o.ObjectMeta)
		if o.Spec.Namespace == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "namespace"), ""))
		}
		if len(errs) > 0 {
			writeError(w, invalid(o, errs))
			return
		}
		o.Status = s.rulesReview(caller, o.Spec.Namespace)
	}
	v1.SetTypeMeta(obj)
	writeJSON(w, http.StatusCreated, obj)
}

// review decides attributes with the authorizer chain.
func (s *Server) review(ctx context.Context, a authorizer.Attributes) v1.SubjectAccessReviewStatus {
	d, reason, err := s.authz.Authorize(ctx, a)
	st := v1.SubjectAccessReviewStatus{Allowed: d == authorizer.DecisionAllow, Denied: d == authorizer.DecisionDeny, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

// rulesReview lists the RBAC rules of u in namespace, as Kubernetes'
// SelfSubjectRulesReview. The rules of system:masters and the node token
// are not RBAC rules: for them the list is marked incomplete.
func (s *Server) rulesReview(u user.Info, namespace string) v1.SubjectRulesReviewStatus {
	st := v1.SubjectRulesReviewStatus{ResourceRules: []v1.ResourceRule{}, NonResourceRules: []v1.NonResourceRule{}}
	if isPrivileged(u) {
		st.ResourceRules = append(st.ResourceRules, v1.ResourceRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}})
		st.NonResourceRules = append(st.NonResourceRules, v1.NonResourceRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}})
		return st
	}
	if s.cfg.RBAC == nil {
		st.Incomplete = true
		st.EvaluationError = "no RBAC authorizer is configured"
		return st
	}
	rules, err := s.cfg.RBAC.RulesFor(u, namespace)
	if err != nil {
		st.Incomplete = true
		st.EvaluationError = err.Error()
	}
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			st.NonResourceRules = append(st.NonResourceRules, v1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
			continue
		}
		st.ResourceRules = append(st.ResourceRules, v1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	if slices.Contains(u.GetGroups(), user.NodesGroup) {
		st.Incomplete = true // the Node authorizer grants beyond RBAC's rules
	}
	return st
}

// reviewAttributes are the authorization attributes a review asks about.
func reviewAttributes(u user.Info, ra *v1.ResourceAttributes, na *v1.NonResourceAttributes) authorizer.AttributesRecord {
	if ra != nil {
		return authorizer.AttributesRecord{User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group,
			APIVersion: ra.Version, Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name, ResourceRequest: true}
	}
	return authorizer.AttributesRecord{User: u, Verb: na.Verb, Path: na.Path}
}

// validateReviewMeta is Kubernetes' check that a review's metadata is empty.
func validateReviewMeta(m *v1.ObjectMeta) field.ErrorList {
	if !v1.JSONEqual(*m, v1.ObjectMeta{}) {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), m.Name, "must be empty")}
	}
	return nil
}

// validateReviewAttrs is Kubernetes' ValidateSelfSubjectAccessReviewSpec.
// Field and label selectors are refused: no orch authorizer reads them.
func validateReviewAttrs(ra *authzv1.ResourceAttributes, na *authzv1.NonResourceAttributes) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if ra != nil && na != nil {
		errs = append(errs, field.Invalid(p.Child("nonResourceAttributes"), na, "cannot be specified in combination with resourceAttributes"))
	}
	if ra == nil && na == nil {
		errs = append(errs, field.Invalid(p.Child("resourceAttributes"), na, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	if ra != nil && ra.FieldSelector != nil {
		errs = append(errs, field.Forbidden(p.Child("resourceAttributes", "fieldSelector"), "field selectors are not supported"))
	}
	if ra != nil && ra.LabelSelector != nil {
		errs = append(errs, field.Forbidden(p.Child("resourceAttributes", "labelSelector"), "label selectors are not supported"))
	}
	return errs
}

// invalid is the 422 of a review, naming every bad field.
func invalid(obj v1.Object, errs field.ErrorList) error {
	causes := make([]v1.StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, v1.StatusCause{Type: string(e.Type), Message: e.Error(), Field: e.Field})
	}
	return v1.NewInvalid(v1.KindOf(obj), "", causes)
}

// isProtobuf reports whether a request's body is Kubernetes protobuf.
func isProtobuf(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "application/json" {
		return false // as parsed, without the parser's map of parameters
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == protobufContentType
}
