package audit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func resourceAttrs(name string, groups []string, verb, group, resource, sub, ns, obj string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: name, Groups: groups}, Verb: verb,
		APIGroup: group, APIVersion: "v1", Resource: resource, Subresource: sub, Namespace: ns, Name: obj, ResourceRequest: true}
}

func pathAttrs(name string, groups []string, verb, path string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: name, Groups: groups}, Verb: verb, Path: path}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct {
		name string
		a    authorizer.Attributes
		want auditv1.Level
	}{
		{"healthz", pathAttrs(user.Anonymous, nil, "get", "/healthz"), auditv1.LevelNone},
		{"readyz", pathAttrs(user.Anonymous, nil, "get", "/readyz"), auditv1.LevelNone},
		{"livez subpath", pathAttrs(user.Anonymous, nil, "get", "/livez/ping"), auditv1.LevelNone},
		{"metrics", pathAttrs("admin", nil, "get", "/metrics"), auditv1.LevelMetadata},
		{"healthz prefix is not healthz", pathAttrs("admin", nil, "get", "/healthzx"), auditv1.LevelMetadata},
		{"pods", resourceAttrs("admin", nil, "create", "", "pods", "", "default", ""), auditv1.LevelMetadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level, omit := p.Evaluate(tc.a)
			if level != tc.want {
				t.Errorf("level %s, want %s", level, tc.want)
			}
			if !slices.Equal(omit, []auditv1.Stage{auditv1.StageRequestReceived}) {
				t.Errorf("omitted stages %v, want [RequestReceived]", omit)
			}
		})
	}
}

const testPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users: ["system:kube-proxy"]
  verbs: ["watch"]
- level: None
  userGroups: ["system:nodes"]
  verbs: ["get"]
  resources:
  - group: ""
    resources: ["nodes"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
    resourceNames: ["controller-leader"]
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets", "pods/log"]
  omitStages: ["ResponseStarted"]
- level: Request
  namespaces: ["prod"]
- level: Request
  resources:
  - group: "apps"
- level: Metadata
  nonResourceURLs: ["/orch/v1/*"]
- level: None
  nonResourceURLs: ["/version"]
- level: Metadata
`

func TestPolicyRules(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	nodes := []string{"system:nodes", user.AllAuthenticated}
	for _, tc := range []struct {
		name     string
		a        authorizer.Attributes
		want     auditv1.Level
		wantOmit []auditv1.Stage
	}{
		{"user and verb", resourceAttrs("system:kube-proxy", nil, "watch", "", "services", "", "", ""), auditv1.LevelNone, []auditv1.Stage{auditv1.StageRequestReceived}},
		{"user, other verb", resourceAttrs("system:kube-proxy", nil, "list", "", "services", "", "", ""), auditv1.LevelMetadata, nil},
		{"group and resource", resourceAttrs("system:node:n1", nodes, "get", "", "nodes", "", "", "n1"), auditv1.LevelNone, nil},
		{"group, other resource", resourceAttrs("system:node:n1", nodes, "get", "", "pods", "", "default", "p"), auditv1.LevelMetadata, nil},
		{"resource name", resourceAttrs("alice", nil, "update", "", "configmaps", "", "kube-system", "controller-leader"), auditv1.LevelRequestResponse, nil},
		{"other name", resourceAttrs("alice", nil, "update", "", "configmaps", "", "kube-system", "x"), auditv1.LevelMetadata, nil},
		{"secrets stay at metadata even in prod", resourceAttrs("alice", nil, "create", "", "secrets", "", "prod", ""), auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted}},
		{"subresource", resourceAttrs("alice", nil, "get", "", "pods", "log", "default", "p"), auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted}},
		{"namespace", resourceAttrs("alice", nil, "create", "", "pods", "", "prod", ""), auditv1.LevelRequest, nil},
		{"group, any resource", resourceAttrs("alice", nil, "create", "apps", "deployments", "", "default", ""), auditv1.LevelRequest, nil},
		{"non-resource wildcard", pathAttrs("admin", nil, "post", "/orch/v1/cluster/masters"), auditv1.LevelMetadata, nil},
		{"non-resource exact", pathAttrs(user.Anonymous, nil, "get", "/version"), auditv1.LevelNone, nil},
		{"namespace rule skips non-resource", pathAttrs("admin", nil, "get", "/api"), auditv1.LevelMetadata, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			level, omit := p.Evaluate(tc.a)
			if level != tc.want {
				t.Errorf("level %s, want %s", level, tc.want)
			}
			want := tc.wantOmit
			if want == nil {
				want = []auditv1.Stage{auditv1.StageRequestReceived}
			}
			slices.Sort(omit)
			slices.Sort(want)
			if !slices.Equal(omit, want) {
				t.Errorf("omitted stages %v, want %v", omit, want)
			}
		})
	}
}

func TestPolicyRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, policy, want string }{
		{"not yaml", "{", "decode policy"},
		{"unknown field", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  userGroup: [x]\n", "unknown field"},
		{"wrong kind", "apiVersion: audit.k8s.io/v1\nkind: Event\nrules:\n- level: Metadata\n", "want audit.k8s.io/v1 Policy"},
		{"old version", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n", "want audit.k8s.io/v1 Policy"},
		{"bad level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n", "Everything"},
		{"no rules", "apiVersion: audit.k8s.io/v1\nkind: Policy\n", "0 rules"},
		{"resources and URLs", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  nonResourceURLs: [/x]\n  resources: [{group: \"\"}]\n", "nonResourceURLs"},
		{"bad stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Later]\nrules:\n- level: None\n", "Later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.policy))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if _, err := LoadPolicy(path); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if level, _ := p.Evaluate(pathAttrs(user.Anonymous, nil, "get", "/version")); level != auditv1.LevelNone {
		t.Errorf("level %s from the file's policy, want None", level)
	}
	// JSON is YAML.
	if err := os.WriteFile(path, []byte(`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Request"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err = LoadPolicy(path); err != nil {
		t.Fatal(err)
	}
	if level, _ := p.Evaluate(pathAttrs("admin", nil, "get", "/x")); level != auditv1.LevelRequest {
		t.Errorf("level %s, want Request", level)
	}
}

// TestDeployPolicy: the policy shipped in deploy/ parses and says what its
// comments say.
func TestDeployPolicy(t *testing.T) {
	p, err := LoadPolicy(filepath.Join("..", "deploy", "audit-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	node := []string{"system:nodes", user.AllAuthenticated}
	for _, tc := range []struct {
		name string
		a    authorizer.Attributes
		want auditv1.Level
	}{
		{"readyz", pathAttrs(user.Anonymous, nil, "get", "/readyz"), auditv1.LevelNone},
		{"a node watches its pods", resourceAttrs("system:node:n1", node, "watch", "", "pods", "", "", ""), auditv1.LevelNone},
		{"a node's heartbeat", resourceAttrs("system:node:n1", node, "update", "", "nodes", "status", "", "n1"), auditv1.LevelNone},
		{"a node deletes a pod", resourceAttrs("system:node:n1", node, "delete", "", "pods", "", "default", "p"), auditv1.LevelRequest},
		{"a user lists pods", resourceAttrs("alice", nil, "list", "", "pods", "", "default", ""), auditv1.LevelMetadata},
		{"a user creates a pod", resourceAttrs("alice", nil, "create", "", "pods", "", "default", ""), auditv1.LevelRequest},
		{"a user scales", resourceAttrs("alice", nil, "update", "", "replicationcontrollers", "scale", "default", "web"), auditv1.LevelRequest},
		{"an image upload", resourceAttrs("admin", nil, "create", "", "nodes", "images", "", "n1"), auditv1.LevelMetadata},
		{"a membership change", pathAttrs("admin", nil, "post", "/orch/v1/cluster/masters"), auditv1.LevelMetadata},
		{"metrics", pathAttrs("prometheus", nil, "get", "/metrics"), auditv1.LevelMetadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if level, _ := p.Evaluate(tc.a); level != tc.want {
				t.Errorf("level %s, want %s", level, tc.want)
			}
		})
	}
}
