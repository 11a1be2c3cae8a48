// Package v1test holds fixtures for the tests of packages that use api/v1.
package v1test

import (
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// Resources returns the ResourceList of NAME, QUANTITY pairs, e.g.
// Resources("cpu", "500m", "memory", "1Gi"). It panics on a bad quantity.
func Resources(kv ...string) v1.ResourceList {
	out := v1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}
