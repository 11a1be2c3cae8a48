package apiserver

import (
	"net/http"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// FuzzApplyPatch feeds arbitrary patches of every type to applyPatch
// against a stored pod: it must answer a patched document or a 4xx error,
// never panic or fail with a 5xx.
func FuzzApplyPatch(f *testing.F) {
	seeds := []string{
		`{"spec":{"containers":[{"name":"web","image":"x"}]}}`,
		`{"spec":{"$setElementOrder/containers":[{"name":"side"},{"name":"web"}],"containers":[{"name":"web","$patch":"delete"}]}}`,
		`{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/"},"$retainKeys":["name","hostPath"]}]}}`,
		`{"metadata":{"$deleteFromPrimitiveList/finalizers":["a/x"],"finalizers":["z"]}}`,
		`{"spec":{"containers":[{"$patch":"replace"}],"tolerations":{"$patch":"delete"}}}`,
		`{"$patch":"replace"}`, `{"spec":{"$retainKeys":[1]}}`, `{"spec":{"containers":[[1]]}}`,
		`[{"op":"move","from":"/spec","path":"/spec/x"}]`, `[{"op":"copy","from":"","path":"/a"}]`,
		`[{"op":"add","path":"/spec/containers/-","value":{"name":"n"}}]`, `[{"op":"remove","path":"/spec/containers/-1"}]`,
	}
	for _, s := range seeds {
		for typ := range 3 {
			f.Add(uint8(typ), []byte(s))
		}
	}
	types := []string{strategicPatchType, mergePatchType, jsonPatchType}
	f.Fuzz(func(t *testing.T, typ uint8, patch []byte) {
		p := &patchBody{typ: types[int(typ)%len(types)], raw: patch}
		if err := checkDepth(patch, 64); err != nil {
			return // readBody refuses it first
		}
		_, err := applyPatch(p, []byte(basePod), &v1.Pod{}, 1<<16)
		if code := v1.CodeOf(err); err != nil && code >= http.StatusInternalServerError {
			// An undecodable patch of a valid object is the client's fault.
			t.Fatalf("patch %q answered %d: %v", patch, code, err)
		}
	})
}
