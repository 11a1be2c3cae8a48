package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
)

// The headers of user impersonation (kubectl --as, --as-group, --as-uid;
// client-go's rest.ImpersonationConfig).
const (
	impersonateUserHeader      = "Impersonate-User"
	impersonateUIDHeader       = "Impersonate-Uid"
	impersonateGroupHeader     = "Impersonate-Group"
	impersonateUserExtraPrefix = "Impersonate-Extra-"
	authenticationAPIGroup     = "authentication.k8s.io"
	impersonateVerb            = "impersonate"
	impersonateWithoutUser     = "requested %s without impersonating a user"
)

// impersonate returns the user a request acts as, as kube-apiserver's
// impersonation filter: u itself when the request carries no Impersonate-*
// header, else the user those headers name, once the authorizer lets u
// impersonate every part of it (verb impersonate on users or
// serviceaccounts, groups, uids and userextras/<key>). A refused part is
// a 403 in Kubernetes' wording; groups, extras or a uid without a user are
// a 400. The impersonated user gets system:authenticated (a service
// account, when no group is named, its service account groups too).
func (s *Server) impersonate(ctx context.Context, r *http.Request, u user.Info) (user.Info, bool, error) {
	name := r.Header.Get(impersonateUserHeader)
	groups := r.Header.Values(impersonateGroupHeader)
	uid := r.Header.Get(impersonateUIDHeader)
	var extra map[string][]string
	for h, vs := range r.Header {
		if !strings.HasPrefix(h, impersonateUserExtraPrefix) {
			continue
		}
		key, err := url.PathUnescape(strings.ToLower(h[len(impersonateUserExtraPrefix):]))
		if err != nil {
			return nil, false, v1.NewBadRequest(fmt.Sprintf("malformed extra key for impersonation request: %v", err))
		}
		if extra == nil {
			extra = map[string][]string{}
		}
		extra[key] = append(extra[key], vs...)
	}
	if name == "" {
		var asked []string
		if len(groups) > 0 {
			asked = append(asked, impersonateGroupHeader)
		}
		if len(extra) > 0 {
			asked = append(asked, impersonateUserExtraPrefix+"*")
		}
		if uid != "" {
			asked = append(asked, impersonateUIDHeader)
		}
		if len(asked) == 0 {
			return u, false, nil
		}
		return nil, false, v1.NewBadRequest(fmt.Sprintf(impersonateWithoutUser, strings.Join(asked, ", ")))
	}

	check := func(a authorizer.AttributesRecord) error {
		a.User, a.Verb, a.ResourceRequest = u, impersonateVerb, true
		if d, reason, _ := s.authz.Authorize(ctx, a); d != authorizer.DecisionAllow {
			return forbidden(a, reason)
		}
		return nil
	}
	if ns, sa, err := serviceaccount.SplitUsername(name); err == nil {
		if err := check(authorizer.AttributesRecord{Namespace: ns, Resource: "serviceaccounts", Name: sa, APIVersion: "v1"}); err != nil {
			return nil, false, err
		}
		if len(groups) == 0 {
			groups = serviceaccount.MakeGroupNames(ns)
		}
	} else if err := check(authorizer.AttributesRecord{Resource: "users", Name: name, APIVersion: "v1"}); err != nil {
		return nil, false, err
	}
	for _, g := range r.Header.Values(impersonateGroupHeader) {
		if err := check(authorizer.AttributesRecord{Resource: "groups", Name: g, APIVersion: "v1"}); err != nil {
			return nil, false, err
		}
	}
	for key, values := range extra {
		for _, v := range values {
			if err := check(authorizer.AttributesRecord{APIGroup: authenticationAPIGroup, APIVersion: "v1",
				Resource: "userextras", Subresource: key, Name: v}); err != nil {
				return nil, false, err
			}
		}
	}
	if uid != "" {
		if err := check(authorizer.AttributesRecord{APIGroup: authenticationAPIGroup, APIVersion: "v1", Resource: "uids", Name: uid}); err != nil {
			return nil, false, err
		}
	}
	groups = slices.Clone(groups)
	if name == user.Anonymous {
		if !slices.Contains(groups, user.AllUnauthenticated) {
			groups = append(groups, user.AllUnauthenticated)
		}
	} else if !slices.Contains(groups, user.AllAuthenticated) {
		groups = append(groups, user.AllAuthenticated)
	}
	return &user.DefaultInfo{Name: name, UID: uid, Groups: groups, Extra: extra}, true, nil
}
