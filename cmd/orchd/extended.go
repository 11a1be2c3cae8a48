package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// parseExtendedResources parses --extended-resources: NAME=COUNT pairs of
// domain-prefixed extended resources in whole units, as a node would
// advertise them (Kubernetes' device plugins do it through the node status).
func parseExtendedResources(s string) (v1.ResourceList, error) {
	out := v1.ResourceList{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--extended-resources %q: want NAME=COUNT", kv)
		}
		name := v1.ResourceName(k)
		if !v1.IsExtendedResourceName(name) {
			return nil, fmt.Errorf("--extended-resources %q: %q is not an extended resource name (a domain-prefixed name such as example.com/gpu)", kv, k)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil || q.Sign() < 0 || q.MilliValue()%1000 != 0 {
			return nil, fmt.Errorf("--extended-resources %q: %q is not a whole number >= 0", kv, v)
		}
		out[name] = q
	}
	return out, nil
}
