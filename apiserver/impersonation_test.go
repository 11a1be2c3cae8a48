package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func withHeader(k string, vs ...string) reqOpt {
	return func(r *http.Request) {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
}

// Impersonation (kubectl --as): the request acts as the named user only
// when the caller may impersonate it, as Kubernetes decides it. Before,
// the headers were ignored: kubectl --as=ann with the admin's credentials
// answered with the admin's rights.
func TestImpersonation(t *testing.T) {
	e := newRBACEnv(t)
	// ann may impersonate pat (and the group team-x), nothing else.
	mustCreate(t, e.admin, &v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: "impersonate-pat"},
		Rules: []v1.PolicyRule{
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"pat"}},
			{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"groups"}, ResourceNames: []string{"team-x"}},
		}})
	mustCreate(t, e.admin, &v1.ClusterRoleBinding{ObjectMeta: v1.ObjectMeta{Name: "ann-impersonates-pat"},
		RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "impersonate-pat"}, Subjects: []v1.Subject{{Kind: "User", Name: "ann"}}})
	// team-x may list pods in team-a.
	mustCreate(t, e.admin, &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "team-x-view"},
		RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []v1.Subject{{Kind: "Group", Name: "team-x"}}})
	ann := e.certHTTP(t, "ann")

	for _, tc := range []struct {
		name string
		hc   *http.Client
		path string
		opts []reqOpt
		code int
		msg  string
	}{
		{name: "admin as ann is refused what ann may not do", path: "/api/v1/nodes",
			opts: []reqOpt{withHeader("Impersonate-User", "ann")}, code: 403, msg: `User "ann" cannot list resource "nodes"`},
		{name: "admin as a service account", path: "/api/v1/namespaces/team-b/pods",
			opts: []reqOpt{withHeader("Impersonate-User", "system:serviceaccount:team-a:default")}, code: 403,
			msg: `User "system:serviceaccount:team-a:default" cannot list resource "pods" in API group "" in the namespace "team-b"`},
		{name: "ann may not impersonate admin", hc: ann, path: "/api/v1/nodes",
			opts: []reqOpt{withToken(""), withHeader("Impersonate-User", "admin")}, code: 403,
			msg: `users "admin" is forbidden: User "ann" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{name: "ann may impersonate pat", hc: ann, path: "/api/v1/namespaces/team-a/pods",
			opts: []reqOpt{withToken(""), withHeader("Impersonate-User", "pat")}, code: 403, msg: `User "pat" cannot list resource "pods"`},
		{name: "ann as pat in team-x", hc: ann, path: "/api/v1/namespaces/team-a/pods",
			opts: []reqOpt{withToken(""), withHeader("Impersonate-User", "pat"), withHeader("Impersonate-Group", "team-x")}, code: 200},
		{name: "ann may not add system:masters", hc: ann, path: "/api/v1/namespaces/team-a/pods",
			opts: []reqOpt{withToken(""), withHeader("Impersonate-User", "pat"), withHeader("Impersonate-Group", "team-x", "system:masters")}, code: 403,
			msg: `groups "system:masters" is forbidden: User "ann" cannot impersonate resource "groups"`},
		{name: "a uid needs its own permission", hc: ann, path: "/api/v1/namespaces/team-a/pods",
			opts: []reqOpt{withToken(""), withHeader("Impersonate-User", "pat"), withHeader("Impersonate-Uid", "1234")}, code: 403,
			msg: `uids.authentication.k8s.io "1234" is forbidden: User "ann" cannot impersonate resource "uids" in API group "authentication.k8s.io"`},
		{name: "an extra needs its own permission", hc: ann, path: "/api/v1/namespaces/team-a/pods",
			opts: []reqOpt{withToken(""), withHeader("Impersonate-User", "pat"), withHeader("Impersonate-Extra-Scopes", "view")}, code: 403,
			msg: `cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io"`},
		{name: "a group without a user", path: "/api/v1/nodes",
			opts: []reqOpt{withHeader("Impersonate-Group", "team-x")}, code: 400, msg: "requested Impersonate-Group without impersonating a user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := tc.hc
			if hc == nil {
				hc = e.http
			}
			resp := e.send(t, hc, http.MethodGet, tc.path, nil, tc.opts...)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("code %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if tc.code != 200 {
				var st v1.Status
				if err := json.Unmarshal(body, &st); err != nil || !strings.Contains(st.Message, tc.msg) {
					t.Fatalf("status %s, want a message containing %q", body, tc.msg)
				}
			}
		})
	}
}
