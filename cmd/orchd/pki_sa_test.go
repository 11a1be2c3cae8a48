package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"orch.io/orch/pki"
)

// orchd pki sa-key gives an old PKI directory its service account keys,
// once.
func TestPKIServiceAccountKey(t *testing.T) {
	dir := t.TempDir()
	run := func() (string, error) {
		cmd := newPKICommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"sa-key", "--dir", dir})
		err := cmd.Execute()
		return out.String(), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, filepath.Join(dir, pki.ServiceAccountKey)) {
		t.Fatalf("first run: %v %s", err, out)
	}
	if _, err := pki.LoadServiceAccountKeys(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := run(); err == nil {
		t.Fatal("a second run replaced sa.key")
	}
}
