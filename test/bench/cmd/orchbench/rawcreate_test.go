package main

import (
	"encoding/json"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestRawPodsEncodeAsTheTypedPod(t *testing.T) {
	r, err := newRawPods()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"r0-w0-0", "r2-w63-123456", "a"} {
		p := podBody(name)
		v1.SetTypeMeta(p)
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.body([]byte("stale"), name)[len("stale"):]; string(got) != string(want) {
			t.Errorf("body(%q):\n got %s\nwant %s", name, got, want)
		}
	}
}
