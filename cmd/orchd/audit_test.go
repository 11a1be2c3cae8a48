package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAuditFlags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		f       auditFlags
		wantLog bool
		wantErr string
	}{
		{"off by default", auditFlags{}, false, ""},
		{"the default policy", auditFlags{path: filepath.Join(dir, "a.log"), maxSize: 1}, true, ""},
		{"a policy file", auditFlags{path: filepath.Join(dir, "b.log"), policyFile: filepath.Join("..", "..", "deploy", "audit-policy.yaml")}, true, ""},
		{"a missing policy file", auditFlags{path: filepath.Join(dir, "c.log"), policyFile: filepath.Join(dir, "none.yaml")}, false, "no such file"},
		{"a bad policy file", auditFlags{path: filepath.Join(dir, "d.log"), policyFile: bad}, false, "Loud"},
		{"a negative size", auditFlags{path: filepath.Join(dir, "e.log"), maxSize: -1}, false, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, p, err := tc.f.open(nil, prometheus.NewRegistry())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (l != nil) != tc.wantLog || (p != nil) != tc.wantLog {
				t.Fatalf("log %v policy %v, want them: %v", l, p, tc.wantLog)
			}
		})
	}
}
