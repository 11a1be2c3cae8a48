package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver/serviceaccount"
	"orch.io/orch/fsm"
	"orch.io/orch/pki"
)

// newSAEnv is a test env with service accounts on, as orchd master wires
// them (sa.key of the PKI dir, the token authenticator), plus extra
// authorizers; "default" gets its default account (the leader's
// controller does it in orchd).
func newSAEnv(t *testing.T, maxExp time.Duration, authz ...authorizer.UnconditionalAuthorizer) *testEnv {
	t.Helper()
	var env *testEnv
	e := newTestEnv(t, withServerConfig(func(c *Config) {
		dir := t.TempDir()
		if err := pki.WriteServiceAccountKey(dir); err != nil {
			t.Fatal(err)
		}
		keys, err := pki.LoadServiceAccountKeys(dir)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := serviceaccount.NewSigner(keys.Signing, serviceaccount.DefaultIssuer)
		if err != nil {
			t.Fatal(err)
		}
		authn, err := serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorConfig{
			Issuers: []string{serviceaccount.DefaultIssuer}, Keys: keys.Public, Audiences: serviceaccount.DefaultAPIAudiences(),
			Getter: serviceaccount.StoreGetter(func() *fsm.Store { return env.cluster.Store() })})
		if err != nil {
			t.Fatal(err)
		}
		c.ServiceAccounts = &ServiceAccountConfig{Signer: signer, Audiences: serviceaccount.DefaultAPIAudiences(), MaxExpiration: maxExp}
		c.Authenticators = append(c.Authenticators, authn)
		c.Authorizers = append(c.Authorizers, authz...)
	}))
	env = e
	for _, name := range []string{"default", "builder"} {
		sa := &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: v1.DefaultNamespace}}
		if err := e.admin.Create(testCtx(t), sa); err != nil {
			t.Fatalf("create service account %s: %v", name, err)
		}
	}
	return e
}

func tokenPath(sa string) string {
	return "/api/v1/namespaces/default/serviceaccounts/" + sa + "/token"
}

// requestToken posts a TokenRequest and returns the answer's code and object.
func (e *testEnv) requestToken(t *testing.T, sa string, body any, opts ...reqOpt) (int, v1.TokenRequest, string) {
	t.Helper()
	code, raw := e.do(t, http.MethodPost, tokenPath(sa), body, opts...)
	var tr v1.TokenRequest
	if code == http.StatusCreated {
		if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatalf("decode TokenRequest: %v", err)
		}
		return code, tr, string(raw)
	}
	var st v1.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("decode Status: %v", err)
	}
	return code, tr, st.Message
}

func boundTo(pod *v1.Pod) map[string]any {
	return map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
		"spec": map[string]any{"boundObjectRef": map[string]any{"kind": "Pod", "apiVersion": "v1", "name": pod.Name, "uid": pod.UID}}}
}

// Pods run as a service account: serviceAccountName defaults to
// "default", a missing account is refused in Kubernetes' words, and the
// token volume is mounted unless automounting is off.
func TestServiceAccountAdmission(t *testing.T) {
	e := newSAEnv(t, 0)
	ctx := testCtx(t)
	p := newPod("web", nil)
	p.Spec.InitContainers = []v1.Container{{Name: "init", Image: "busybox"}}
	if err := e.admin.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	var got v1.Pod
	if err := e.admin.Get(ctx, "pods", "default", "web", &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.ServiceAccountName != "default" || got.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("serviceAccountName %q / serviceAccount %q, want default", got.Spec.ServiceAccountName, got.Spec.DeprecatedServiceAccount)
	}
	v := got.Spec.Volumes[len(got.Spec.Volumes)-1]
	if !strings.HasPrefix(v.Name, "kube-api-access-") || len(v.Name) != len("kube-api-access-")+5 || v.Projected == nil {
		t.Fatalf("volumes %+v: no kube-api-access-xxxxx projected volume", got.Spec.Volumes)
	}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		m := c.VolumeMounts[len(c.VolumeMounts)-1]
		if m.Name != v.Name || !m.ReadOnly || m.MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}

	off := newPod("no-token", nil)
	off.Spec.AutomountServiceAccountToken = new(false)
	if err := e.admin.Create(ctx, off); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Get(ctx, "pods", "default", "no-token", &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Volumes) != 0 || len(got.Spec.Containers[0].VolumeMounts) != 0 {
		t.Errorf("automountServiceAccountToken false, but the pod got %+v", got.Spec.Volumes)
	}

	missing := newPod("ghost", nil)
	missing.Spec.ServiceAccountName = "nobody"
	wantForbidden(t, e.admin.Create(ctx, missing),
		`pods "ghost" is forbidden: error looking up service account default/nobody: serviceaccount "nobody" not found`)
	e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("ghost"), nil)

	// A missing namespace is a 404, as Kubernetes' NamespaceLifecycle
	// answers before the ServiceAccount admission, and at once.
	start := time.Now()
	elsewhere := newPod("lost", nil)
	elsewhere.Namespace = "nope"
	if err := e.admin.Create(ctx, elsewhere); v1.CodeOf(err) != http.StatusNotFound || !strings.Contains(err.Error(), `namespaces "nope" not found`) {
		t.Errorf("pod in a missing namespace: %v, want 404", err)
	}
	if d := time.Since(start); d > defaultAccountWait/2 {
		t.Errorf("the refusal took %v: it waited for a default account", d)
	}
}

// TokenRequest issues a token bound to a pod; the token authenticates as
// the account (groups and extra as Kubernetes) until the pod is deleted.
func TestTokenRequestAndAuthenticator(t *testing.T) {
	seen := make(chan authorizer.Attributes, 64)
	az := recordingAuthorizer{seen: seen, allow: func(a authorizer.Attributes) bool {
		return a.GetUser().GetName() == "system:serviceaccount:default:builder" && a.GetVerb() == "list" && a.GetResource() == "pods"
	}}
	e := newSAEnv(t, 2*time.Hour, az)
	ctx := testCtx(t)
	p := newPod("web", nil)
	p.Spec.ServiceAccountName = "builder"
	if err := e.admin.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Get(ctx, "pods", "default", "web", p); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	code, tr, raw := e.requestToken(t, "builder", boundTo(p))
	if code != http.StatusCreated || tr.Status.Token == "" || tr.Kind != "TokenRequest" || tr.APIVersion != "authentication.k8s.io/v1" {
		t.Fatalf("token request: %d %s", code, raw)
	}
	if *tr.Spec.ExpirationSeconds != 3600 || strings.Join(tr.Spec.Audiences, ",") != strings.Join(serviceaccount.DefaultAPIAudiences(), ",") {
		t.Errorf("defaults: %+v", tr.Spec)
	}
	if exp := tr.Status.ExpirationTimestamp.Time; exp.Before(before.Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour+time.Second)) {
		t.Errorf("expirationTimestamp %v, want an hour from now", exp)
	}

	sa := e.newClient(t, tr.Status.Token)
	if _, err := sa.List(ctx, "pods", "default", client.ListOptions{}); err != nil {
		t.Fatalf("the token lists pods: %v", err)
	}
	var a authorizer.Attributes
	for a = range seen {
		if a.GetUser().GetName() == "system:serviceaccount:default:builder" {
			break
		}
	}
	u := a.GetUser()
	if strings.Join(u.GetGroups(), ",") != "system:serviceaccounts,system:serviceaccounts:default,system:authenticated" ||
		fmt.Sprint(u.GetExtra()["authentication.kubernetes.io/pod-name"]) != "[web]" ||
		fmt.Sprint(u.GetExtra()["authentication.kubernetes.io/pod-uid"]) != "["+p.UID+"]" {
		t.Errorf("user %+v", u)
	}
	wantForbidden(t, sa.Create(ctx, newPod("other", nil)),
		`pods is forbidden: User "system:serviceaccount:default:builder" cannot create resource "pods" in API group "" in the namespace "default"`)

	// Deleting the pod (gracefully: it only gets a deletionTimestamp)
	// ends the token at once.
	if _, err := e.admin.Delete(ctx, "pods", "default", "web", nil); err != nil {
		t.Fatal(err)
	}
	_, err := sa.List(ctx, "pods", "default", client.ListOptions{})
	if v1.CodeOf(err) != http.StatusUnauthorized {
		t.Fatalf("token of a deleted pod: %v, want 401", err)
	}

	// The cap shortens long requests.
	code, tr, raw = e.requestToken(t, "builder", map[string]any{"spec": map[string]any{"expirationSeconds": 86400}})
	if code != http.StatusCreated || *tr.Spec.ExpirationSeconds != 7200 {
		t.Fatalf("capped request: %d %s", code, raw)
	}
}

func TestTokenRequestRefusals(t *testing.T) {
	e := newSAEnv(t, 0)
	ctx := testCtx(t)
	p := newPod("web", nil) // runs as "default"
	if err := e.admin.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Get(ctx, "pods", "default", "web", p); err != nil {
		t.Fatal(err)
	}
	recreated := boundTo(p)
	recreated["spec"].(map[string]any)["boundObjectRef"].(map[string]any)["uid"] = "0000"
	for _, tc := range []struct {
		name, sa string
		body     any
		code     int
		msg      string
	}{
		{"too short", "default", map[string]any{"spec": map[string]any{"expirationSeconds": 599}}, 422, "may not specify a duration less than 10 minutes"},
		{"unknown field", "default", map[string]any{"spec": map[string]any{"expirationSecond": 600}}, 400, "expirationSecond"},
		{"wrong kind", "default", map[string]any{"kind": "Pod", "spec": map[string]any{}}, 400, "TokenRequest"},
		{"bound to a secret", "default", map[string]any{"spec": map[string]any{"boundObjectRef": map[string]any{"kind": "Secret", "name": "s"}}}, 422, "boundObjectRef.kind"},
		{"missing account", "nobody", map[string]any{"spec": map[string]any{}}, 404, `"nobody" not found`},
		{"missing pod", "default", map[string]any{"spec": map[string]any{"boundObjectRef": map[string]any{"kind": "Pod", "name": "gone"}}}, 404, `"gone" not found`},
		{"pod of another account", "builder", boundTo(p), 400, `cannot bind token for serviceaccount "builder" to pod running with different serviceaccount name.`},
		{"recreated pod", "default", recreated, 409, "does not match the UID in record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, raw := e.requestToken(t, tc.sa, tc.body)
			if code != tc.code || !strings.Contains(raw, tc.msg) {
				t.Fatalf("got %d %s, want %d saying %q", code, raw, tc.code, tc.msg)
			}
		})
	}
	if code, body := e.do(t, http.MethodGet, "/api/v1", nil); code != http.StatusOK ||
		!strings.Contains(string(body), `{"name":"serviceaccounts/token","singularName":"","namespaced":true,"group":"authentication.k8s.io","version":"v1","kind":"TokenRequest","verbs":["create"]}`) {
		t.Errorf("discovery does not list serviceaccounts/token: %d %s", code, body)
	}
	// PUT is not served; a node may request tokens for its own pods'
	// volumes; a user without rights may not.
	e.expectStatus(t, http.StatusMethodNotAllowed, http.MethodPut, tokenPath("default"), map[string]any{"spec": map[string]any{}})
	// A node gets only tokens bound to a pod bound to itself.
	if code, _, raw := e.requestToken(t, "default", boundTo(p), withToken(nodeCredential)); code != http.StatusForbidden ||
		raw != `serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node` {
		t.Fatalf("node token, unscheduled pod: %d %s", code, raw)
	}
	if code, _, raw := e.requestToken(t, "default", map[string]any{"spec": map[string]any{}}, withToken(nodeCredential)); code != http.StatusForbidden ||
		raw != `serviceaccounts "default" is forbidden: node requested token not bound to a pod` {
		t.Fatalf("node token, unbound: %d %s", code, raw)
	}
	bound := newPod("bound", nil)
	bound.Spec.NodeName = "n1"
	if err := e.admin.Create(ctx, bound); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Get(ctx, "pods", "default", "bound", bound); err != nil {
		t.Fatal(err)
	}
	if code, _, raw := e.requestToken(t, "default", boundTo(bound), withToken(nodeCredential)); code != http.StatusCreated {
		t.Fatalf("node n1, its own pod: %d %s", code, raw)
	}
	other := newPod("elsewhere", nil)
	other.Spec.NodeName = "n2"
	if err := e.admin.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Get(ctx, "pods", "default", "elsewhere", other); err != nil {
		t.Fatal(err)
	}
	if code, _, raw := e.requestToken(t, "default", boundTo(other), withToken(nodeCredential)); code != http.StatusForbidden ||
		raw != `serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node` {
		t.Fatalf("node n1, a pod of n2: %d %s", code, raw)
	}
	alice := e.certClient(t, "alice")
	err := alice.Do(ctx, http.MethodPost, tokenPath("default"), nil, map[string]any{"spec": map[string]any{}}, nil)
	if v1.CodeOf(err) != http.StatusForbidden || !strings.Contains(err.Error(), `User "alice" cannot create resource "serviceaccounts/token" in API group "" in the namespace "default"`) {
		t.Errorf("alice's token request: %v, want 403", err)
	}
}

// Without ServiceAccountConfig a pod naming an account is refused, not
// run as someone else.
func TestServiceAccountsOff(t *testing.T) {
	e := newTestEnv(t)
	p := newPod("web", nil)
	p.Spec.ServiceAccountName = "builder"
	if err := e.admin.Create(testCtx(t), p); v1.CodeOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "spec.serviceAccountName") {
		t.Fatalf("got %v, want 422 naming spec.serviceAccountName", err)
	}
	e.expectStatus(t, http.StatusNotFound, http.MethodPost, tokenPath("default"), map[string]any{"spec": map[string]any{}})
}
