package main

import (
	"strings"
	"testing"

	"orch.io/orch/api/client"
)

func membersFixture() *client.Members {
	return &client.Members{Leader: "m1", Members: []client.Member{
		{Name: "m1", RaftAddr: "127.0.0.1:7001", APIAddr: "127.0.0.1:6443", State: "leader", Voter: true, LastIndex: 123},
		{Name: "m2", RaftAddr: "127.0.0.1:7002", APIAddr: "127.0.0.1:6444", State: "follower", Voter: true},
	}}
}

func TestResolveResource(t *testing.T) {
	tests := map[string]string{
		"pods": "pods", "pod": "pods", "po": "pods", "Pod": "pods", "PODS": "pods",
		"rc": "replicationcontrollers", "replicationcontroller": "replicationcontrollers",
		"svc": "services", "service": "services",
		"ep": "endpoints", "endpoints": "endpoints",
		"ns": "namespaces", "namespace": "namespaces",
		"no": "nodes", "node": "nodes", "Node": "nodes",
	}
	for in, want := range tests {
		r, err := resolveResource(in)
		if err != nil || r.Name != want {
			t.Errorf("resolveResource(%q) = %q, %v; want %q", in, r.Name, err, want)
		}
	}
	_, err := resolveResource("deployments")
	if err == nil || !strings.Contains(err.Error(), `unknown resource type "deployments"`) || !strings.Contains(err.Error(), "pods (po)") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseSelection(t *testing.T) {
	tests := []struct {
		args    []string
		types   string
		targets string
		wantErr string
	}{
		{[]string{"po"}, "pods", "", ""},
		{[]string{"pods,svc,pods"}, "pods services", "", ""},
		{[]string{"pod", "a", "b"}, "pods", "pods/a pods/b", ""},
		{[]string{"pod/a", "rc/b", "pod/c"}, "pods replicationcontrollers", "pods/a replicationcontrollers/b pods/c", ""},
		{[]string{"po,svc", "x"}, "pods services", "pods/x services/x", ""},
		{nil, "", "", "a resource type is required"},
		{[]string{"pod/a", "b"}, "", "", `"b" is not TYPE/NAME`},
		{[]string{"pod", "rc/b"}, "", "", "TYPE/NAME cannot follow a TYPE argument"},
		{[]string{"widget/a"}, "", "", `unknown resource type "widget"`},
		{[]string{"pod/"}, "", "", "is not TYPE/NAME"},
	}
	for _, tt := range tests {
		s, err := parseSelection(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseSelection(%q) err = %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSelection(%q): %v", tt.args, err)
			continue
		}
		var types, targets []string
		for _, r := range s.types {
			types = append(types, r.Name)
		}
		for _, tg := range s.targets {
			targets = append(targets, tg.res.Name+"/"+tg.name)
		}
		if strings.Join(types, " ") != tt.types || strings.Join(targets, " ") != tt.targets {
			t.Errorf("parseSelection(%q) = %v %v, want %s | %s", tt.args, types, targets, tt.types, tt.targets)
		}
	}
}
