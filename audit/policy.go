package audit

import (
	"fmt"
	"os"
	"slices"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	kaudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"sigs.k8s.io/yaml"
)

// defaultPolicy logs every request at Metadata but the health probes, and
// omits the RequestReceived stage so that a request is one line.
const defaultPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  nonResourceURLs: ["/healthz", "/healthz/*", "/readyz", "/readyz/*", "/livez", "/livez/*"]
- level: Metadata
`

// Policy decides the level and the omitted stages of a request, from
// Kubernetes' audit.k8s.io/v1 Policy: the first rule that matches the
// request's user, groups, verb, resource or non-resource URL decides.
type Policy struct {
	eval kaudit.PolicyRuleEvaluator
}

// DefaultPolicy is the policy used when none is given: Metadata for every
// request but /healthz, /readyz and /livez (None), without the
// RequestReceived stage.
func DefaultPolicy() *Policy {
	p, err := ParsePolicy([]byte(defaultPolicy))
	if err != nil {
		panic(fmt.Sprintf("audit: the default policy does not parse: %v", err)) // a constant: a bug
	}
	return p
}

// LoadPolicy reads an audit.k8s.io/v1 Policy file (YAML or JSON).
func LoadPolicy(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("audit policy %s: %w", path, err)
	}
	return p, nil
}

// ParsePolicy parses and validates an audit.k8s.io/v1 Policy. Unlike
// kube-apiserver, which falls back to lenient decoding with a warning, a
// field it does not know is an error: a misspelt rule would otherwise
// change what is logged without a word.
func ParsePolicy(b []byte) (*Policy, error) {
	var strict auditv1.Policy
	if err := yaml.UnmarshalStrict(b, &strict); err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	if strict.APIVersion != auditv1.SchemeGroupVersion.String() || strict.Kind != "Policy" {
		return nil, fmt.Errorf("decode policy: apiVersion %q, kind %q: want %s Policy", strict.APIVersion, strict.Kind, auditv1.SchemeGroupVersion)
	}
	p, err := policy.LoadPolicyFromBytes(b)
	if err != nil {
		return nil, err
	}
	return &Policy{eval: policy.NewPolicyRuleEvaluator(p)}, nil
}

// Evaluate returns the level of a request and the stages not to log.
func (p *Policy) Evaluate(a authorizer.Attributes) (auditv1.Level, []auditv1.Stage) {
	rc := p.eval.EvaluatePolicyRule(a)
	omit := make([]auditv1.Stage, 0, len(rc.OmitStages))
	for _, s := range rc.OmitStages {
		omit = append(omit, auditv1.Stage(s))
	}
	return auditv1.Level(rc.Level), omit
}

// levelAtLeast reports whether level l logs at least as much as min.
func levelAtLeast(l, min auditv1.Level) bool {
	return !auditinternal.Level(l).Less(auditinternal.Level(min))
}

func omitted(omit []auditv1.Stage, s auditv1.Stage) bool { return slices.Contains(omit, s) }
