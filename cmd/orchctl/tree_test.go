package main

import (
	"bytes"
	"strings"
	"testing"
)

// The verbs of issue 14 are kubectl's own commands in orchctl's tree, orch's
// commands sit beside them, and no two commands share a name or alias.
func TestCommandTree(t *testing.T) {
	var out bytes.Buffer
	a := &app{ioStreams: newIOStreams(strings.NewReader(""), &out, &out), getenv: func(string) string { return "" }}
	root := newRootCmd(a, nil)
	if root.Name() != "orchctl" {
		t.Fatalf("root is %q", root.Name())
	}
	kubectlVerbs := [][]string{
		{"get"}, {"describe"}, {"create"}, {"apply"}, {"edit"}, {"patch"}, {"delete"}, {"logs"}, {"exec"},
		{"attach"}, {"cp"}, {"port-forward"}, {"run"}, {"scale"}, {"rollout"}, {"label"}, {"annotate"},
		{"set"}, {"diff"}, {"wait"}, {"events"}, {"explain"}, {"cordon"}, {"uncordon"}, {"drain"}, {"top"},
		{"api-resources"}, {"api-versions"}, {"auth", "can-i"}, {"auth", "whoami"}, {"config", "view"},
		{"version"}, {"certificate", "approve"}, {"certificate", "deny"}, {"replace"}, {"debug"},
		{"create", "rolebinding"}, {"expose"}, {"taint"}, {"autoscale"},
	}
	for _, path := range kubectlVerbs {
		c, rest, err := root.Find(path)
		if err != nil || len(rest) != 0 || c.Name() != path[len(path)-1] {
			t.Errorf("orchctl %s: not found (%v)", strings.Join(path, " "), err)
			continue
		}
		// kubectl's commands come from k8s.io/kubectl, not from orchctl.
		for ; c != nil && c != root; c = c.Parent() {
			for _, oc := range orchCommands(a) {
				if c.Name() == oc.Name() {
					t.Errorf("orchctl %s is orch's, want kubectl's", strings.Join(path, " "))
				}
			}
		}
	}
	orchVerbs := [][]string{
		{"cluster", "members"}, {"cluster", "add-master"}, {"cluster", "remove-master"}, {"cluster", "transfer-leader"},
		{"gossip", "keyring", "list"}, {"snapshot", "save"}, {"snapshot", "inspect"}, {"image", "load"},
		{"token", "create"}, {"token", "list"}, {"token", "delete"}, {"user", "create"}, {"secrets", "reencrypt"},
	}
	for _, path := range orchVerbs {
		c, rest, err := root.Find(path)
		if err != nil || len(rest) != 0 || c.Name() != path[len(path)-1] {
			t.Errorf("orchctl %s: not found (%v)", strings.Join(path, " "), err)
		}
	}
	seen := map[string]string{}
	for _, c := range root.Commands() {
		for _, n := range append([]string{c.Name()}, c.Aliases...) {
			if prev, ok := seen[n]; ok {
				t.Errorf("%q names both %s and %s", n, prev, c.CommandPath())
			}
			seen[n] = c.CommandPath()
		}
	}
	// orch's global flags sit beside kubectl's.
	for _, f := range []string{"config", "ca-file", "kubeconfig", "server", "token", "certificate-authority", "namespace", "request-timeout"} {
		if root.PersistentFlags().Lookup(f) == nil {
			t.Errorf("no global flag --%s", f)
		}
	}
}
