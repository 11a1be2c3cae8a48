// Package abac is Kubernetes' ABAC authorizer (--authorization-mode=ABAC,
// --authorization-policy-file): a file of JSON policies, one per line,
// each allowing a user or group some requests. It is the simplest static
// authorization for small clusters and tests; RBAC is the general one.
//
// A line is Kubernetes' abac.authorization.kubernetes.io/v1beta1 Policy:
//
//	{"apiVersion": "abac.authorization.kubernetes.io/v1beta1", "kind": "Policy",
//	 "spec": {"user": "system:serviceaccount:team:reader", "namespace": "team",
//	          "resource": "pods", "apiGroup": "*", "readonly": true}}
//
// user and group match a name or "*"; namespace, resource and apiGroup
// match a value or "*"; readonly allows only get, list and watch;
// nonResourcePath matches a path, "*" or a prefix ending in "*". Blank
// lines and lines starting with # are skipped.
package abac

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// APIVersion and Kind of a policy line.
const (
	APIVersion = "abac.authorization.kubernetes.io/v1beta1"
	Kind       = "Policy"
)

// Policy is one line of the file.
type Policy struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Spec       PolicySpec `json:"spec"`
}

// PolicySpec is what a policy allows, and to whom.
type PolicySpec struct {
	User            string `json:"user,omitempty"`
	Group           string `json:"group,omitempty"`
	Readonly        bool   `json:"readonly,omitempty"`
	APIGroup        string `json:"apiGroup,omitempty"`
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	NonResourcePath string `json:"nonResourcePath,omitempty"`
}

// Authorizer allows what any of its policies allows.
type Authorizer []Policy

// NewFromFile reads a policy file.
func NewFromFile(path string) (Authorizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorization policy file: %w", err)
	}
	return Parse(raw)
}

// Parse reads policies, one JSON object a line, refusing unknown fields.
func Parse(raw []byte) (Authorizer, error) {
	var out Authorizer
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p Policy
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("authorization policy line %d: %w", n, err)
		}
		if p.APIVersion != APIVersion || p.Kind != Kind {
			return nil, fmt.Errorf("authorization policy line %d: want apiVersion %s, kind %s", n, APIVersion, Kind)
		}
		if p.Spec.User == "" && p.Spec.Group == "" {
			return nil, fmt.Errorf("authorization policy line %d: a policy needs a user or a group", n)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("authorization policy file: %w", err)
	}
	return out, nil
}

// Authorize implements authorizer.Authorizer.
func (az Authorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	for _, p := range az {
		if p.matches(a) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "No policy matched.", nil
}

func (p Policy) matches(a authorizer.Attributes) bool {
	s := p.Spec
	u := a.GetUser()
	if u == nil {
		return false
	}
	if s.User != "" && s.User != "*" && s.User != u.GetName() {
		return false
	}
	if s.Group != "" && s.Group != "*" && !slices.Contains(u.GetGroups(), s.Group) {
		return false
	}
	if s.Readonly && !a.IsReadOnly() {
		return false
	}
	if a.IsResourceRequest() {
		return wild(s.Namespace, a.GetNamespace()) && wild(s.Resource, a.GetResource()) && wild(s.APIGroup, a.GetAPIGroup())
	}
	switch {
	case s.NonResourcePath == "*":
		return true
	case strings.HasSuffix(s.NonResourcePath, "*"):
		return strings.HasPrefix(a.GetPath(), strings.TrimSuffix(s.NonResourcePath, "*"))
	}
	return s.NonResourcePath != "" && s.NonResourcePath == a.GetPath()
}

// wild matches "*" or the value itself (an empty field matches only an
// empty value, as Kubernetes' ABAC).
func wild(pattern, v string) bool { return pattern == "*" || pattern == v }
