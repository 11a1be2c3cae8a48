package main

import (
	"encoding/json"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// live builds a live object: the config as applied, plus fields the system
// set, with the config recorded in the annotation.
func live(t *testing.T, applied string, system string) []byte {
	t.Helper()
	doc := []byte(applied)
	if system != "" {
		var err error
		doc, err = jsonpatch.MergePatch(doc, []byte(system))
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := withLastApplied(doc, []byte(applied))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func get(m map[string]any, path ...string) (any, bool) {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = mm[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

const rcV1 = `{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web","namespace":"default","labels":{"app":"web","tier":"fe"}},"spec":{"replicas":3,"selector":{"app":"web"}}}`

func TestApplyPatchUnchanged(t *testing.T) {
	cur := live(t, rcV1, `{"metadata":{"uid":"u1","resourceVersion":"7"},"status":{"replicas":3}}`)
	patch, changed, err := applyPatch(cur, []byte(rcV1))
	if err != nil || changed || patch != nil {
		t.Fatalf("patch %s, changed %v, err %v", patch, changed, err)
	}
}

func TestApplyPatchRemovesWhatTheUserRemoved(t *testing.T) {
	// The system set status, uid and an annotation of its own.
	cur := live(t, rcV1, `{"metadata":{"uid":"u1","annotations":{"note":"by system"}},"status":{"replicas":3}}`)
	// The user dropped the tier label and spec.replicas, and added minReadySeconds.
	v2 := `{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web","namespace":"default","labels":{"app":"web"}},"spec":{"minReadySeconds":5,"selector":{"app":"web"}}}`
	patch, changed, err := applyPatch(cur, []byte(v2))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	p := decodeMap(t, patch)
	if v, ok := get(p, "metadata", "labels", "tier"); !ok || v != nil {
		t.Errorf("tier label not deleted: %s", patch)
	}
	if v, ok := get(p, "spec", "replicas"); !ok || v != nil {
		t.Errorf("replicas not deleted: %s", patch)
	}
	if v, _ := get(p, "spec", "minReadySeconds"); v != float64(5) {
		t.Errorf("minReadySeconds not set: %s", patch)
	}
	if v, _ := get(p, "metadata", "annotations", lastAppliedAnnotation); v != v2 {
		t.Errorf("annotation not updated: %s", patch)
	}
	for _, path := range [][]string{{"status"}, {"metadata", "uid"}, {"metadata", "annotations", "note"}, {"metadata", "labels", "app"}} {
		if _, ok := get(p, path...); ok {
			t.Errorf("patch touches %v: %s", path, patch)
		}
	}

	// Applying the patch gives the new config plus the system's fields.
	result, err := jsonpatch.MergePatch(cur, patch)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeMap(t, result)
	if v, _ := get(r, "status", "replicas"); v != float64(3) {
		t.Errorf("status lost: %s", result)
	}
	if v, _ := get(r, "metadata", "annotations", "note"); v != "by system" {
		t.Errorf("system annotation lost: %s", result)
	}
	if _, ok := get(r, "spec", "replicas"); ok {
		t.Errorf("replicas kept: %s", result)
	}
	// And applying the same config again is a no-op.
	if _, changed, err := applyPatch(result, []byte(v2)); err != nil || changed {
		t.Fatalf("second apply: changed %v, err %v", changed, err)
	}
}

func TestApplyPatchUserAnnotationsRemoved(t *testing.T) {
	withAnn := `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a","annotations":{"owner":"me"}}}`
	without := `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}`
	cur := live(t, withAnn, "")
	patch, changed, err := applyPatch(cur, []byte(without))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	result, err := jsonpatch.MergePatch(cur, patch)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeMap(t, result)
	if _, ok := get(r, "metadata", "annotations", "owner"); ok {
		t.Errorf("owner annotation kept: %s", result)
	}
	if v, _ := get(r, "metadata", "annotations", lastAppliedAnnotation); v != without {
		t.Errorf("applied config = %v", v)
	}
}

func TestApplyPatchWithoutRecordedConfig(t *testing.T) {
	// Made by create: no annotation. Nothing is deleted; what differs is set.
	cur := []byte(`{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web","uid":"u","labels":{"app":"web","extra":"x"}},"spec":{"replicas":1,"selector":{"app":"web"}},"status":{"replicas":1}}`)
	modified := `{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"web","labels":{"app":"web"}},"spec":{"replicas":4,"selector":{"app":"web"}}}`
	patch, changed, err := applyPatch(cur, []byte(modified))
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	result, err := jsonpatch.MergePatch(cur, patch)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeMap(t, result)
	if v, _ := get(r, "spec", "replicas"); v != float64(4) {
		t.Errorf("replicas = %v", v)
	}
	for _, path := range [][]string{{"metadata", "labels", "extra"}, {"metadata", "uid"}, {"status", "replicas"}} {
		if _, ok := get(r, path...); !ok {
			t.Errorf("%v removed: %s", path, result)
		}
	}
	if v, _ := get(r, "metadata", "annotations", lastAppliedAnnotation); v != modified {
		t.Errorf("config not recorded: %v", v)
	}
}

func TestAppliedConfigDropsItsOwnAnnotation(t *testing.T) {
	raw, err := decodeRaw([]byte(`{"metadata":{"name":"a","annotations":{"` + lastAppliedAnnotation + `":"old"}},"spec":{"big":12345678901234567890}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := appliedConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"metadata":{"name":"a"},"spec":{"big":12345678901234567890}}`; got != want {
		t.Fatalf("config = %s, want %s", got, want)
	}
	if _, ok := get(raw, "metadata", "annotations", lastAppliedAnnotation); !ok {
		t.Fatal("appliedConfig changed its input")
	}
}
