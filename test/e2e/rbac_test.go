package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// rbacUser is a user with a client certificate of the cluster CA: an API
// client, an orchctl config and a kubeconfig for it.
type rbacUser struct {
	name       string
	cl         *client.Client
	orchConf   string
	kubeconfig string
}

func newRBACUser(t *testing.T, c *harness.Cluster, name string, groups ...string) *rbacUser {
	t.Helper()
	ca, err := pki.LoadClusterCA(c.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: name, Organizations: groups, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	caFile := filepath.Join(dir, "ca.crt")
	admin := c.Config()
	for f, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, caFile: admin.CertificateAuthorityData} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &client.Config{Servers: admin.Servers, CertificateAuthorityData: admin.CertificateAuthorityData,
		ClientCertificate: certFile, ClientKey: keyFile}
	u := &rbacUser{name: name, orchConf: filepath.Join(dir, "orch.conf"), kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := cfg.Save(u.orchConf); err != nil {
		t.Fatal(err)
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: orch
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: orch
  context: {cluster: orch, user: %s}
current-context: orch
`, admin.Servers[0], caFile, name, certFile, keyFile, name)
	if err := os.WriteFile(u.kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if u.cl, err = client.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.cl.CloseIdleConnections)
	return u
}

// answer sends a request as u and returns the code it got (0 for a 2xx);
// 403 means refused, any other answer (200, 404, 422...) that it was
// authorized, which is checked before anything else.
func answer(t *testing.T, u *rbacUser, method, path string) int {
	t.Helper()
	var body any
	if method == http.MethodPost || method == http.MethodPut {
		body = map[string]any{"metadata": map[string]any{}} // invalid: an allowed write changes nothing
	}
	err := u.cl.Do(ctxT(t, 10*time.Second), method, path, nil, body, nil)
	var st *v1.StatusError
	if errors.As(err, &st) {
		return int(st.Status.Code)
	}
	if err != nil && !strings.Contains(err.Error(), "decode") {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return 0
}

// canI runs "auth can-i" of kubectl (bin "kubectl") or orchctl as u and
// returns its answer.
func canI(t *testing.T, bin string, u *rbacUser, args ...string) bool {
	t.Helper()
	var cmd *exec.Cmd
	if bin == "kubectl" {
		cmd = exec.Command(bins.Kubectl, append([]string{"--kubeconfig", u.kubeconfig, "auth", "can-i"}, args...)...)
	} else {
		cmd = exec.Command(bins.Orchctl, append([]string{"--config", u.orchConf, "auth", "can-i"}, args...)...)
	}
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "KUBECONFIG="+u.kubeconfig)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	answer := strings.TrimSpace(out.String())
	switch {
	case err == nil && answer == "yes":
		return true
	case strings.HasPrefix(answer, "no"):
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("%s auth can-i %v: no with %v", bin, args, err)
		}
		return false
	}
	t.Fatalf("%s auth can-i %v: %q %q %v", bin, args, out.String(), errb.String(), err)
	return false
}

// Done when 2 (issue 13): users identified by client certificates get
// exactly what their RoleBindings grant: edit in team-a writes pods there
// and nothing in team-b or on nodes; view reads what view allows and
// nothing more; and kubectl auth can-i (and orchctl's) agree with what the
// API does.
func TestRBACUsers(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{Masters: 1, AuditLog: true})
	admin := c.Client()
	ctx := ctxT(t, 2*time.Minute)

	// The leader creates the default roles.
	eventually(t, 30*time.Second, "default roles", func() error {
		for _, cr := range rbac.DefaultClusterRoles() {
			var got v1.ClusterRole
			if err := admin.Get(ctx, "clusterroles", "", cr.Name, &got); err != nil {
				return err
			}
		}
		for _, crb := range rbac.DefaultClusterRoleBindings() {
			var got v1.ClusterRoleBinding
			if err := admin.Get(ctx, "clusterrolebindings", "", crb.Name, &got); err != nil {
				return err
			}
		}
		return nil
	})
	for _, ns := range []string{"team-a", "team-b"} {
		if err := admin.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	rb := &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "victor-view"},
		RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: rbac.View}, Subjects: []v1.Subject{{Kind: "User", Name: "victor"}}}
	if err := admin.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := c.Orchctl("", "create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice", "-n", "team-a"); err != nil ||
		out != "rolebinding.rbac.authorization.k8s.io/alice-edit created\n" {
		t.Fatalf("orchctl create rolebinding: %q %q %v", out, errOut, err)
	}
	if out, errOut, err := c.Orchctl("", "get", "rolebindings", "-n", "team-a", "-o", "wide"); err != nil ||
		!strings.Contains(out, "ClusterRole/edit") || !strings.Contains(out, "alice") {
		t.Fatalf("orchctl get rolebindings: %q %q %v", out, errOut, err)
	}
	alice := newRBACUser(t, c, "alice", "devs")
	victor := newRBACUser(t, c, "victor")

	// alice (edit in team-a) creates a pod there and is refused elsewhere.
	p := testPod("web")
	p.Namespace = "team-a"
	if err := alice.cl.Create(ctx, p); err != nil {
		t.Fatalf("alice creates a pod in team-a: %v", err)
	}
	// As Kubernetes' view, victor reads service accounts; as Kubernetes'
	// edit, alice writes them and asks for their tokens, but not Endpoints
	// (CVE-2021-25740: they would send a Service's traffic anywhere).
	if err := alice.cl.Create(ctx, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "builder"}}); err != nil {
		t.Fatalf("alice creates a service account in team-a: %v", err)
	}
	ep := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "hijack"}}
	wantStatus(t, alice.cl.Create(ctx, ep), http.StatusForbidden,
		`endpoints is forbidden: User "alice" cannot create resource "endpoints" in API group "" in the namespace "team-a"`)
	p2 := testPod("web")
	p2.Namespace = "team-b"
	wantStatus(t, alice.cl.Create(ctx, p2), http.StatusForbidden,
		`pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "team-b"`)
	_, err := alice.cl.List(ctx, "nodes", "", client.ListOptions{})
	wantStatus(t, err, http.StatusForbidden, `nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope`)
	wantStatus(t, alice.cl.Create(ctx, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n"}}), http.StatusForbidden, `cannot create resource "nodes"`)

	// victor (view in team-a) reads pods and nothing more.
	var got v1.Pod
	if err := victor.cl.Get(ctx, "pods", "team-a", "web", &got); err != nil {
		t.Fatalf("victor reads a pod in team-a: %v", err)
	}
	if _, err := victor.cl.List(ctx, "replicationcontrollers", "team-a", client.ListOptions{}); err != nil {
		t.Fatalf("victor lists rcs in team-a: %v", err)
	}
	_, err = victor.cl.Delete(ctx, "pods", "team-a", "web", nil)
	wantStatus(t, err, http.StatusForbidden, `pods "web" is forbidden: User "victor" cannot delete resource "pods" in API group "" in the namespace "team-a"`)
	_, err = victor.cl.List(ctx, "rolebindings", "team-a", client.ListOptions{})
	wantStatus(t, err, http.StatusForbidden, `cannot list resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "team-a"`)

	// kubectl auth can-i, orchctl auth can-i and the API agree.
	type pair struct {
		u          *rbacUser
		verb, res  string
		ns         string // "" for cluster-scoped
		method     string
		path       string
		wantAllows bool
	}
	pairs := []pair{
		{alice, "create", "pods", "team-a", "POST", "/api/v1/namespaces/team-a/pods", true},
		{alice, "list", "pods", "team-a", "GET", "/api/v1/namespaces/team-a/pods", true},
		{alice, "delete", "pods", "team-a", "DELETE", "/api/v1/namespaces/team-a/pods/nope", true},
		{alice, "create", "replicationcontrollers", "team-a", "POST", "/api/v1/namespaces/team-a/replicationcontrollers", true},
		{alice, "update", "services", "team-a", "PUT", "/api/v1/namespaces/team-a/services/nope", true},
		{alice, "create", "pods", "team-b", "POST", "/api/v1/namespaces/team-b/pods", false},
		{alice, "list", "pods", "team-b", "GET", "/api/v1/namespaces/team-b/pods", false},
		{alice, "list", "nodes", "", "GET", "/api/v1/nodes", false},
		{alice, "create", "rolebindings", "team-a", "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", false},
		{alice, "create", "resourcequotas", "team-a", "POST", "/api/v1/namespaces/team-a/resourcequotas", false},
		{alice, "create", "endpoints", "team-a", "POST", "/api/v1/namespaces/team-a/endpoints", false},
		{alice, "create", "serviceaccounts/token", "team-a", "POST", "/api/v1/namespaces/team-a/serviceaccounts/builder/token", true},
		{victor, "get", "pods", "team-a", "GET", "/api/v1/namespaces/team-a/pods/web", true},
		{victor, "list", "services", "team-a", "GET", "/api/v1/namespaces/team-a/services", true},
		{victor, "list", "limitranges", "team-a", "GET", "/api/v1/namespaces/team-a/limitranges", true},
		{victor, "list", "serviceaccounts", "team-a", "GET", "/api/v1/namespaces/team-a/serviceaccounts", true},
		{victor, "create", "pods", "team-a", "POST", "/api/v1/namespaces/team-a/pods", false},
		{victor, "delete", "replicationcontrollers", "team-a", "DELETE", "/api/v1/namespaces/team-a/replicationcontrollers/nope", false},
		{victor, "list", "roles", "team-a", "GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/roles", false},
		{victor, "get", "rolebindings", "team-a", "GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/victor-view", false},
		{victor, "get", "pods", "team-b", "GET", "/api/v1/namespaces/team-b/pods/web", false},
		{victor, "list", "clusterroles", "", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", false},
		{victor, "delete", "nodes", "", "DELETE", "/api/v1/nodes/nope", false},
		{victor, "create", "selfsubjectaccessreviews", "", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", true},
		{victor, "create", "subjectaccessreviews", "", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", false},
	}
	var audit []auditedRequest
	// reviews counts the SelfSubjectAccessReviews each user's auth can-i
	// sent, to find them all in the audit log.
	reviews := map[string]int{}
	ask := func(bin string, u *rbacUser, args ...string) bool {
		t.Helper()
		reviews[u.name]++
		return canI(t, bin, u, args...)
	}
	for _, pr := range pairs {
		args := []string{pr.verb, pr.res}
		if res, sub, ok := strings.Cut(pr.res, "/"); ok { // kubectl reads TYPE/NAME
			args = []string{pr.verb, res, "--subresource=" + sub}
		}
		if pr.ns != "" {
			args = append(args, "-n", pr.ns)
		}
		name := pr.u.name + " " + strings.Join(args, " ")
		code := answer(t, pr.u, pr.method, pr.path)
		audit = append(audit, auditedRequest{pr.u.name, pr.method, pr.path, code})
		api := code != http.StatusForbidden
		kube := ask("kubectl", pr.u, args...)
		orch := ask("orchctl", pr.u, args...)
		if api != pr.wantAllows || kube != api || orch != api {
			t.Errorf("%s: API allows %v, kubectl %v, orchctl %v; want %v", name, api, kube, orch, pr.wantAllows)
		}
	}
	// Non-resource URLs: discovery for every user, metrics for none of them.
	for _, u := range []*rbacUser{alice, victor} {
		if !ask("kubectl", u, "get", "/apis") || ask("kubectl", u, "get", "/metrics") {
			t.Errorf("%s: kubectl can-i on non-resource URLs disagrees with the default roles", u.name)
		}
	}
	// kubectl auth can-i --list reads a SelfSubjectRulesReview.
	list := exec.Command(bins.Kubectl, "--kubeconfig", alice.kubeconfig, "auth", "can-i", "--list", "-n", "team-a")
	list.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), "replicationcontrollers/scale") ||
		!strings.Contains(string(out), "selfsubjectaccessreviews.authorization.k8s.io") {
		t.Errorf("kubectl auth can-i --list: %v\n%s", err, out)
	}
	// orchctl's auth can-i is kubectl's (a SelfSubjectAccessReview), here
	// with alice's kubeconfig.
	out, _, err := c.Orchctl("", "--kubeconfig", alice.kubeconfig, "auth", "can-i", "create", "pods", "-n", "team-a")
	if err != nil || strings.TrimSpace(out) != "yes" {
		t.Errorf("orchctl auth can-i create pods as alice: %q %v", out, err)
	}
	if out, _, _ := c.Orchctl("", "--kubeconfig", alice.kubeconfig, "auth", "can-i", "list", "nodes"); strings.TrimSpace(out) != "no" {
		t.Errorf("orchctl auth can-i list nodes as alice: %q", out)
	}
	reviews["alice"] += 2
	// Every request above is in the audit log with its user and the code
	// its client got.
	audit = append(audit,
		auditedRequest{"alice", "POST", "/api/v1/namespaces/team-a/pods", http.StatusCreated},
		auditedRequest{"alice", "POST", "/api/v1/namespaces/team-a/serviceaccounts", http.StatusCreated},
		auditedRequest{"alice", "POST", "/api/v1/namespaces/team-a/endpoints", http.StatusForbidden},
		auditedRequest{"alice", "POST", "/api/v1/namespaces/team-b/pods", http.StatusForbidden},
		auditedRequest{"alice", "GET", "/api/v1/nodes", http.StatusForbidden},
		auditedRequest{"alice", "POST", "/api/v1/nodes", http.StatusForbidden},
		auditedRequest{"victor", "GET", "/api/v1/namespaces/team-a/pods/web", http.StatusOK},
		auditedRequest{"victor", "GET", "/api/v1/namespaces/team-a/replicationcontrollers", http.StatusOK},
		auditedRequest{"victor", "DELETE", "/api/v1/namespaces/team-a/pods/web", http.StatusForbidden},
		auditedRequest{"victor", "GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings", http.StatusForbidden},
	)
	waitAudited(t, c, audit)
	// ... and so is every access review of every auth can-i: one created
	// (201) SelfSubjectAccessReview per question, and alice's one rules
	// review of --list.
	for _, u := range []string{"alice", "victor"} {
		waitAuditCount(t, c, u, "selfsubjectaccessreviews", http.StatusCreated, reviews[u])
	}
	waitAuditCount(t, c, "alice", "selfsubjectrulesreviews", http.StatusCreated, 1)
}

func wantStatus(t *testing.T, err error, code int, msgPart string) {
	t.Helper()
	var st *v1.StatusError
	if !errors.As(err, &st) || int(st.Status.Code) != code || !strings.Contains(st.Status.Message, msgPart) {
		t.Fatalf("err = %v, want %d containing %q", err, code, msgPart)
	}
}
