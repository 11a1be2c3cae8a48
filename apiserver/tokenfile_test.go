package apiserver

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
)

// TestTokenFileUsers: users of a static token file (--token-auth-file)
// authenticate with their bearer tokens, with the file's groups, and get
// what RBAC grants them; a token not in the file is 401.
func TestTokenFileUsers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(file, []byte("tina-secret,tina,uid-tina,\"readers,devs\"\nodo-secret,odo,uid-odo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authn, err := TokenFileAuthenticator(file)
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, withRBAC(), withServerConfig(func(c *Config) { c.Authenticators = append(c.Authenticators, authn) }))
	for _, cr := range rbac.DefaultClusterRoles() {
		mustCreate(t, e.admin, cr)
	}
	for _, crb := range rbac.DefaultClusterRoleBindings() {
		mustCreate(t, e.admin, crb)
	}
	ctx := testCtx(t)
	mustCreate(t, e.admin, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "team-a"}})
	mustCreate(t, e.admin, &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "readers"},
		RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: rbac.View}, Subjects: []v1.Subject{{Kind: "Group", Name: "readers"}}})
	as := func(token string) *client.Client {
		cl, err := client.New(&client.Config{Servers: []string{e.base}, CertificateAuthorityData: e.bundle.CAPEM, Token: token, FailoverRounds: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.CloseIdleConnections)
		return cl
	}
	tina, odo := as("tina-secret"), as("odo-secret")
	if _, err := tina.List(ctx, "pods", "team-a", client.ListOptions{}); err != nil {
		t.Fatalf("tina (group readers, bound to view) lists pods in team-a: %v", err)
	}
	wantCode(t, tina.Create(ctx, &v1.Pod{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "p"},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}),
		http.StatusForbidden, `User "tina" cannot create resource "pods"`)
	_, err = odo.List(ctx, "pods", "team-a", client.ListOptions{})
	wantCode(t, err, http.StatusForbidden, `User "odo" cannot list resource "pods"`)
	_, err = as("not-in-the-file").List(ctx, "pods", "team-a", client.ListOptions{})
	wantCode(t, err, http.StatusUnauthorized, "Unauthorized")
}

// A token file with a record of fewer than three columns is refused.
func TestTokenFileRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"two columns", "tok,user\n", "at least 3 columns"},
		{"missing", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".csv")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := TokenFileAuthenticator(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
