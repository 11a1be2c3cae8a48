package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

func TestFormatError(t *testing.T) {
	a := &app{configSource: "/home/u/.orch/admin.conf"}
	invalid := v1.NewInvalid("Pod", "web", []v1.StatusCause{
		{Field: "spec.containers[0].image", Message: "spec.containers[0].image: Required value"},
		{Field: "metadata.name", Message: "must be lowercase"},
	})
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unauthorized", v1.NewUnauthorized("bad token"),
			"error: unauthorized: check the token in your config (/home/u/.orch/admin.conf)"},
		{"not found", v1.NewNotFound("pods", "x"), `Error from server (NotFound): pods "x" not found`},
		{"already exists", v1.NewAlreadyExists("pods", "x"), `Error from server (AlreadyExists): pods "x" already exists`},
		{"conflict", v1.NewConflict("pods", "x", "the object has been modified"),
			`Error from server (Conflict): Operation cannot be fulfilled on pods "x": the object has been modified`},
		{"invalid with causes", invalid, "Error from server (Invalid): Pod \"web\" is invalid:\n" +
			"* spec.containers[0].image: Required value\n* metadata.name: must be lowercase"},
		{"unavailable", v1.NewServiceUnavailable("no leader"), "Error from server (ServiceUnavailable): no leader"},
		{"wrapped status", fmt.Errorf("ctx: %w", v1.NewNotFound("pods", "x")), `Error from server (NotFound): pods "x" not found`},
		{"no reason", &v1.StatusError{Status: v1.Status{Message: "odd", Code: 418}}, "Error from server: odd"},
		{"unreachable", &client.UnreachableError{Servers: []string{"https://a:6443", "https://b:6443"},
			Err: errors.New("dial tcp b:6443: connect: connection refused")},
			"error: cannot reach any orch master (tried https://a:6443, https://b:6443): dial tcp b:6443: connect: connection refused"},
		{"unknown outcome", &client.UnknownOutcomeError{Method: "POST", URL: "https://a/api/v1/namespaces/default/pods",
			Err: context.DeadlineExceeded},
			"error: POST https://a/api/v1/namespaces/default/pods: outcome unknown, the request was sent but no answer came back " +
				"(it may or may not have been applied): context deadline exceeded"},
		{"hint", withHint(v1.NewConflict("pods", "x", "modified"), "get it again"),
			`Error from server (Conflict): Operation cannot be fulfilled on pods "x": modified (get it again)`},
		{"plain", errors.New("f.yaml: unknown field \"x\""), `error: f.yaml: unknown field "x"`},
		{"reported", errReported, ""},
	}
	for _, tt := range tests {
		if got := a.formatError(tt.err); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
	tok := "t"
	a.flags = genericclioptions.NewConfigFlags(false)
	a.flags.BearerToken = &tok
	if got := a.formatError(v1.NewUnauthorized("")); got != "error: unauthorized: check the token in your config (--token)" {
		t.Errorf("with --token: %q", got)
	}
}
