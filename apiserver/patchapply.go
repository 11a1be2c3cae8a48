package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kjson "sigs.k8s.io/json"

	v1 "orch.io/orch/api/v1"
)

// The patch media types, as Kubernetes names them. A PATCH with plain
// application/json (or no Content-Type) is a merge patch, as orch has
// always taken it.
const (
	mergePatchType     = "application/merge-patch+json"
	strategicPatchType = "application/strategic-merge-patch+json"
	jsonPatchType      = "application/json-patch+json"
)

// maxJSONPatchOperations is Kubernetes' limit on the operations of one
// JSON patch.
const maxJSONPatchOperations = 10000

// patchBody is a read and checked PATCH body.
type patchBody struct {
	// typ is one of the patch media types above.
	typ string
	raw []byte
}

// jsonPatchOp is one RFC 6902 operation, for the strict check of a JSON
// patch's shape (the fields jsonpatch reads; any other key is refused).
type jsonPatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// readPatch reads a PATCH body and checks its shape for its media type:
// a merge or strategic merge patch is a JSON object, a JSON patch a list
// of at most maxJSONPatchOperations operations. Server-side apply
// (application/apply-patch+yaml) is refused with 415.
func (s *Server) readPatch(w http.ResponseWriter, r *http.Request) (*patchBody, error) {
	raw, err := s.readBody(w, r, mergePatchType, strategicPatchType, jsonPatchType, "application/json")
	if err != nil {
		return nil, err
	}
	p := &patchBody{typ: mergePatchType, raw: raw}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt != "application/json" {
		p.typ = mt
	}
	if len(raw) == 0 {
		return nil, v1.NewBadRequest("the patch is empty")
	}
	if p.typ == jsonPatchType {
		var ops []jsonPatchOp
		if err := decodeStrict(raw, &ops); err != nil {
			return nil, v1.NewBadRequest("the JSON patch must be a list of operations: " + err.Error())
		}
		if ops == nil {
			return nil, v1.NewBadRequest("the JSON patch must be a list of operations, not null")
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, v1.NewRequestTooLarge(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d",
				maxJSONPatchOperations, len(ops)))
		}
		if _, err := jsonpatch.DecodePatch(raw); err != nil {
			return nil, v1.NewBadRequest(err.Error())
		}
		return p, nil
	}
	var probe map[string]any
	if err := decodeStrict(raw, &probe); err != nil {
		return nil, v1.NewBadRequest("the patch must be a JSON object: " + err.Error())
	}
	if probe == nil {
		// A null merge patch replaces the whole object with null (RFC 7386).
		return nil, v1.NewBadRequest("the patch must be a JSON object, not null")
	}
	return p, nil
}

// applyPatch applies p to the JSON document cur and returns the patched
// document. schema is an empty object of the document's Go type: its
// patchStrategy and patchMergeKey tags drive a strategic merge patch, as
// k8s.io/api's types do in Kubernetes. maxCopyBytes bounds how much a JSON
// patch's copy operations may add.
func applyPatch(p *patchBody, cur []byte, schema any, maxCopyBytes int64) (out []byte, err error) {
	defer func() {
		// The patch libraries panic on some malformed patches (a merge key
		// whose value is a list): the patch is bad, the master carries on.
		if r := recover(); r != nil {
			out, err = nil, v1.NewBadRequest(fmt.Sprintf("the patch does not apply: %v", r))
		}
	}()
	switch p.typ {
	case mergePatchType:
		out, err := jsonpatch.MergePatch(cur, p.raw)
		if err != nil {
			return nil, v1.NewBadRequest("apply merge patch: " + err.Error())
		}
		return out, nil
	case jsonPatchType:
		ops, err := jsonpatch.DecodePatch(p.raw)
		if err != nil {
			return nil, v1.NewBadRequest(err.Error())
		}
		opts := jsonpatch.NewApplyOptions()
		opts.AccumulatedCopySizeLimit = maxCopyBytes
		out, err := ops.ApplyWithOptions(cur, opts)
		if err != nil {
			// A failed test, a missing path: the patch does not apply to
			// this object (Kubernetes' 422).
			return nil, v1.NewUnprocessable("the JSON patch does not apply: " + err.Error())
		}
		return out, nil
	case strategicPatchType:
		return strategicMerge(cur, p.raw, schema)
	}
	return nil, v1.NewUnsupportedMediaType(fmt.Sprintf("Content-Type %q is not a patch type", p.typ))
}

// strategicMerge applies a strategic merge patch with apimachinery's
// strategicpatch, keeping integers exact, and maps its errors to the codes
// Kubernetes answers with.
func strategicMerge(cur, patch []byte, schema any) ([]byte, error) {
	var orig, pm map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(cur, &orig); err != nil {
		return nil, fmt.Errorf("decode the stored object: %w", err)
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(patch, &pm); err != nil {
		return nil, v1.NewBadRequest("the patch must be a JSON object: " + err.Error())
	}
	meta, err := strategicpatch.NewPatchMetaFromStruct(schema)
	if err != nil {
		return nil, fmt.Errorf("patch metadata of %T: %w", schema, err)
	}
	out, err := strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta(orig, pm, meta)
	if err != nil {
		switch {
		case errors.Is(err, mergepatch.ErrNoListOfLists), errors.Is(err, mergepatch.ErrPatchContentNotMatchRetainKeys):
			return nil, v1.NewUnprocessable(err.Error())
		default:
			// Bad directives, lists without their merge key, fields the
			// kind does not have: the patch is malformed.
			return nil, v1.NewBadRequest("apply strategic merge patch: " + err.Error())
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode the patched object: %w", err)
	}
	return b, nil
}
