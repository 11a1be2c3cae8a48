package record

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/chaos/check"
)

func TestClassify(t *testing.T) {
	unknown := &client.UnknownOutcomeError{Method: "POST", URL: "https://m1/x", Err: errors.New("connection reset")}
	unreachable := &client.UnreachableError{Servers: []string{"https://m1"}, Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name   string
		err    error
		write  bool
		want   check.Outcome
		reason string
	}{
		{"answered", nil, true, check.OK, ""},
		{"no answer to a write", unknown, true, check.Unknown, ""},
		{"wrapped no answer", fmt.Errorf("create: %w", unknown), true, check.Unknown, ""},
		{"conflict", v1.NewConflict("endpoints", "k1", "changed"), true, check.Failed, v1.ReasonConflict},
		{"not found", v1.NewNotFound("endpoints", "k1"), true, check.Failed, v1.ReasonNotFound},
		{"already exists", v1.NewAlreadyExists("endpoints", "k1"), true, check.Failed, v1.ReasonAlreadyExists},
		{"503: not applied", v1.NewServiceUnavailable("no quorum"), true, check.Failed, v1.NewServiceUnavailable("").Status.Reason},
		{"504 to a write: maybe applied", v1.NewTimeout("leader lost"), true, check.Unknown, ""},
		{"500 to a write: maybe applied", v1.NewInternalError(errors.New("boom")), true, check.Unknown, ""},
		{"500 to a read: failed", v1.NewInternalError(errors.New("boom")), false, check.Failed, v1.NewInternalError(errors.New("")).Status.Reason},
		{"nothing sent", unreachable, true, check.Failed, "Unreachable"},
		{"other error on a write: maybe applied", context.Canceled, true, check.Unknown, ""},
		{"other error on a read: failed", context.Canceled, false, check.Failed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := classify(tc.err, tc.write)
			if got != tc.want || reason != tc.reason {
				t.Fatalf("classify(%v, write=%v) = %v %q, want %v %q", tc.err, tc.write, got, reason, tc.want, tc.reason)
			}
		})
	}
}

func TestToEvent(t *testing.T) {
	for _, tc := range []struct {
		in   client.Event
		want check.Event
		ok   bool
	}{
		{client.Event{Type: v1.Added, Namespace: "chaos", Name: "k01", ResourceVersion: "42"}, check.Event{Type: check.Added, Key: "chaos/k01", RV: 42}, true},
		{client.Event{Type: v1.Deleted, Namespace: "chaos", Name: "k02", ResourceVersion: "7"}, check.Event{Type: check.Deleted, Key: "chaos/k02", RV: 7}, true},
		{client.Event{Type: v1.Bookmark, ResourceVersion: "50"}, check.Event{}, false},
	} {
		got, ok := toEvent(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("toEvent(%+v) = %v %v, want %v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
