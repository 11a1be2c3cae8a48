package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// lastAppliedAnnotation keeps, on each object apply created or changed, the
// configuration that was applied (the manifest as written, as compact JSON),
// so the next apply knows which fields the user owns.
const lastAppliedAnnotation = "orch.io/last-applied-configuration"

// appliedConfig returns the configuration apply records for a manifest: the
// object as the user wrote it, without the annotation itself.
func appliedConfig(raw map[string]any) ([]byte, error) {
	cp, err := cloneJSON(raw)
	if err != nil {
		return nil, err
	}
	if md, ok := cp["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, lastAppliedAnnotation)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("encode applied configuration: %w", err)
	}
	return b, nil
}

// withLastApplied returns doc (a JSON object) with the last-applied
// annotation set to config.
func withLastApplied(doc []byte, config []byte) ([]byte, error) {
	m, err := decodeRaw(doc)
	if err != nil {
		return nil, err
	}
	setAnnotation(m, lastAppliedAnnotation, string(config))
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode object: %w", err)
	}
	return b, nil
}

func setAnnotation(m map[string]any, key, value string) {
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
		m["metadata"] = md
	}
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[key] = value
}

// lastApplied returns the configuration recorded on a live object, or nil.
func lastApplied(current []byte) ([]byte, error) {
	var live struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(current, &live); err != nil {
		return nil, fmt.Errorf("decode live object: %w", err)
	}
	s, ok := live.Metadata.Annotations[lastAppliedAnnotation]
	if !ok || s == "" {
		return nil, nil
	}
	return []byte(s), nil
}

// applyPatch computes the JSON merge patch that apply sends to turn the live
// object current into the configuration modified (see appliedConfig).
//
// When current records a previous configuration, the patch is the merge
// patch from that configuration to modified: fields the user changed are
// set, fields the user removed become null (and are removed), and fields
// the user never wrote — status, defaults, what controllers and other
// clients set — are not touched. The annotation is updated in the same
// patch. When the configuration did not change, changed is false and no
// request needs to be sent.
//
// When current has no recorded configuration (it was made by create, not
// apply), nothing can be known to be removed: the patch only sets the
// fields of modified that differ from current, and records modified.
func applyPatch(current, modified []byte) (patch []byte, changed bool, err error) {
	original, err := lastApplied(current)
	if err != nil {
		return nil, false, err
	}
	if original == nil {
		p, err := jsonpatch.CreateMergePatch(current, modified)
		if err != nil {
			return nil, false, fmt.Errorf("compute patch: %w", err)
		}
		pm, err := decodeRaw(p)
		if err != nil {
			return nil, false, err
		}
		pruneNulls(pm)
		setAnnotation(pm, lastAppliedAnnotation, string(modified))
		b, err := json.Marshal(pm)
		if err != nil {
			return nil, false, fmt.Errorf("encode patch: %w", err)
		}
		return b, true, nil
	}
	diff, err := jsonpatch.CreateMergePatch(original, modified)
	if err != nil {
		return nil, false, fmt.Errorf("compute patch from the last applied configuration: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(diff), []byte("{}")) {
		return nil, false, nil
	}
	// Diff the two configurations with their annotations, so the patch also
	// records the new one, even when the user removed all other annotations.
	from, err := withLastApplied(original, original)
	if err != nil {
		return nil, false, err
	}
	to, err := withLastApplied(modified, modified)
	if err != nil {
		return nil, false, err
	}
	patch, err = jsonpatch.CreateMergePatch(from, to)
	if err != nil {
		return nil, false, fmt.Errorf("compute patch: %w", err)
	}
	return patch, true, nil
}

// pruneNulls removes null members, recursively, and objects left empty.
func pruneNulls(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneNulls(x)
			if len(x) == 0 {
				delete(m, k)
			}
		}
	}
}

// cloneJSON deep-copies a JSON object.
func cloneJSON(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("copy object: %w", err)
	}
	return decodeRaw(b)
}
