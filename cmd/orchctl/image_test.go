package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageLoadCommand(t *testing.T) {
	tarball := strings.Repeat("oci layout bytes ", 10000)
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		failNode string
		wantOut  string
		wantErr  string   // "" for success
		uploaded []string // nodes that must have received the tarball
	}{
		{"one node", []string{"image", "load", "FILE", "--node", "n1"}, "", "",
			"node/n1: loaded docker.io/library/app:v1\nnode/n1: loaded docker.io/library/db:v2\n", "", []string{"n1"}},
		{"standard input", []string{"image", "load", "-", "--node", "n2"}, tarball, "",
			"node/n2: loaded docker.io/library/app:v1\nnode/n2: loaded docker.io/library/db:v2\n", "", []string{"n2"}},
		{"every node", []string{"image", "load", "FILE", "--all-nodes"}, "", "",
			"node/n1: loaded docker.io/library/app:v1\nnode/n1: loaded docker.io/library/db:v2\n" +
				"node/n2: loaded docker.io/library/app:v1\nnode/n2: loaded docker.io/library/db:v2\n", "", []string{"n1", "n2"}},
		{"one node fails, the others load", []string{"image", "load", "FILE", "--all-nodes"}, "", "n1",
			"node/n2: loaded docker.io/library/app:v1\nnode/n2: loaded docker.io/library/db:v2\n",
			"Error from server (ServiceUnavailable): cannot reach the agent of node n1", []string{"n2"}},
		{"no node flag", []string{"image", "load", "FILE"}, "", "", "", "give either --node NAME or --all-nodes", nil},
		{"both node flags", []string{"image", "load", "FILE", "--node", "n1", "--all-nodes"}, "", "", "", "give either --node NAME or --all-nodes", nil},
		{"stdin to every node", []string{"image", "load", "-", "--all-nodes"}, tarball, "", "", "standard input cannot be sent more than once", nil},
		{"missing file", []string{"image", "load", "/nonexistent/x.tar", "--node", "n1"}, "", "", "", "open the image tarball", nil},
		{"no file", []string{"image", "load", "--node", "n1"}, "", "", "", "name one image tarball", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := newProxyCLI(t)
			c.ok(nodeManifest("n1")+nodeManifest("n2"), "create", "-f", "-")
			file := filepath.Join(c.dir, "app.tar")
			if err := os.WriteFile(file, []byte(tarball), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "FILE" {
					args[i] = file
				}
			}
			p.mu.Lock()
			p.failNode = tc.failNode
			p.mu.Unlock()
			var out string
			if tc.wantErr == "" {
				out = c.ok(tc.stdin, args...)
			} else {
				out = c.fails(tc.stdin, tc.wantErr, args...)
			}
			if out != tc.wantOut {
				t.Fatalf("output %q, want %q", out, tc.wantOut)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.uploads) != len(tc.uploaded) {
				t.Fatalf("uploads to %d nodes, want %v", len(p.uploads), tc.uploaded)
			}
			for _, n := range tc.uploaded {
				if string(p.uploads[n]) != tarball {
					t.Errorf("node %s received %d bytes, want the %d of the tarball", n, len(p.uploads[n]), len(tarball))
				}
			}
		})
	}
}
