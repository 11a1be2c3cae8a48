package fsm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestStoredRecordsKnownValid checks what a snapshot relies on: a stored
// record that knows its bytes to be valid JSON (rawValid or rawCompact)
// holds valid JSON, whatever form of JSON the creates that stored it held
// (whitespace, HTML characters, U+2028, spaces in strings: a create in
// NewCreate's shape is stored as it came, with its resourceVersion spliced
// in), and so does a record made from an object.
func TestStoredRecordsKnownValid(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"))
	base, err := json.Marshal(func() *v1.Pod {
		p := podObj("default", "tmpl", map[string]string{"app": "<web> & co"})
		p.Annotations = map[string]string{"sep": "\u2028", "text": "a b"}
		v1.SetTypeMeta(p)
		return p
	}())
	if err != nil {
		t.Fatal(err)
	}
	variants := formVariants(base)
	stored, shaped := 0, 0
	for i, raw := range variants {
		// Each variant under a name of its own, in the frame and the object.
		name := fmt.Sprintf("p%d", i)
		body := strings.Replace(string(raw), `"name":"tmpl"`, `"name":"`+name+`"`, 1)
		body = strings.Replace(body, `"uid":"uid-default/tmpl"`, `"uid":"uid-`+name+`"`, 1)
		cmd := mustEncode(t, CreateCommand, CreateRequest{Resource: "pods", Namespace: "default", Name: name, UID: "uid-" + name, Object: []byte(body)})
		res := h.result(cmd)
		if res.Err != nil || res.Record == nil {
			continue // refused (not JSON, or not a pod): nothing stored
		}
		stored++
		if hasCreateShape("Pod", res.Record.raw) {
			shaped++
		}
	}
	if stored < len(variants)/2 || shaped < stored/2 {
		t.Fatalf("%d of %d creates stored, %d in NewCreate's shape: too few to test", stored, len(variants), shaped)
	}
	t.Logf("%d of %d creates stored, %d in NewCreate's shape", stored, len(variants), shaped)
	// Records made from objects: an update stores one.
	upd := podObj("default", "p0", map[string]string{"v": "<2>"})
	upd.UID, upd.ResourceVersion = "uid-p0", h.get("pods", "default", "p0").Meta().ResourceVersion
	if res := h.update(upd, false); res.Err != nil {
		t.Fatal(res.Err)
	}
	list, err := h.f.Store().List("pods", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range list.Items {
		b, err := rec.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if form := rec.form.Load(); form != rawValid && form != rawCompact {
			t.Errorf("%s: form %d, want rawValid", rec.Key(), form)
		}
		if !json.Valid(b) {
			t.Errorf("%s is known valid but holds %q", rec.Key(), b)
		}
	}
}
