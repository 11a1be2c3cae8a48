package v1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseTaints parses taints written as the kubelet's --register-with-taints
// and kubectl taint write them: "key=value:Effect" or "key:Effect",
// comma-separated, with Kubernetes' checks and wording (util/taints).
func ParseTaints(spec string) ([]Taint, error) {
	var out []Taint
	seen := map[string]bool{}
	for _, s := range strings.Split(spec, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		t, err := parseTaint(s)
		if err != nil {
			return nil, err
		}
		if id := t.Key + ":" + t.Effect; seen[id] {
			return nil, fmt.Errorf("duplicated taints with the same key and effect: %v", t)
		} else {
			seen[id] = true
		}
		out = append(out, t)
	}
	return out, nil
}

func parseTaint(st string) (Taint, error) {
	var t Taint
	keyValue, effect, ok := strings.Cut(st, ":")
	if !ok || strings.Contains(effect, ":") {
		return t, fmt.Errorf("invalid taint spec: %v", st)
	}
	switch effect {
	case TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute:
	default:
		return t, fmt.Errorf("invalid taint spec: %v, unsupported taint effect", st)
	}
	key, value, _ := strings.Cut(keyValue, "=")
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return t, fmt.Errorf("invalid taint spec: %v, %s", st, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		return t, fmt.Errorf("invalid taint spec: %v, %s", st, strings.Join(errs, "; "))
	}
	t.Key, t.Value, t.Effect = key, value, effect
	return t, nil
}
