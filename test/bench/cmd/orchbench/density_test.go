package main

import (
	"log/slog"
	"testing"
)

// The agents' log counts errors and warnings and keeps the first of each,
// naming the node.
func TestErrorLog(t *testing.T) {
	h := &errorLog{}
	log := slog.New(h).With("node", "hollow-00001")
	log.Info("ignored")
	if h.err() != nil || h.warnings() != "no warnings" {
		t.Fatalf("after info: %v, %s", h.err(), h.warnings())
	}
	log.Warn("watch failed; retrying", "resource", "pods")
	log.Warn("second")
	if h.err() != nil || h.warnings() != "2 warnings, the first: watch failed; retrying resource=pods node=hollow-00001" {
		t.Fatalf("after warnings: %v, %q", h.err(), h.warnings())
	}
	log.Error("undecodable pod event", "err", "boom")
	log.Error("later")
	err := h.err()
	if err == nil || err.Error() != "the hollow node agents logged 2 errors, the first: undecodable pod event err=boom node=hollow-00001" {
		t.Fatalf("error %v", err)
	}
}
