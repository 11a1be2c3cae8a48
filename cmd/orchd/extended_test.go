package main

import "testing"

func TestParseExtendedResources(t *testing.T) {
	got, err := parseExtendedResources("example.com/gpu=2, vendor.io/fpga=1")
	if err != nil {
		t.Fatal(err)
	}
	if q := got["example.com/gpu"]; q.Value() != 2 || len(got) != 2 {
		t.Fatalf("parsed %v", got)
	}
	for _, bad := range []string{"gpu=2", "example.com/gpu", "example.com/gpu=0.5", "example.com/gpu=-1", "kubernetes.io/x=1", "example.com/gpu=many"} {
		if _, err := parseExtendedResources(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if got, err := parseExtendedResources(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}
