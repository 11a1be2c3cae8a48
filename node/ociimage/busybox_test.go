package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(DefaultBusyboxPath); err != nil {
		t.Fatalf("needs busybox-static (run make deps): %v", err)
	}
}

// readTar returns a tar stream's regular files and symlink targets.
func readTar(t *testing.T, r io.Reader) (files map[string][]byte, links map[string]string, hdrs map[string]*tar.Header) {
	t.Helper()
	files, links, hdrs = map[string][]byte{}, map[string]string{}, map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, links, hdrs
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		hdrs[hdr.Name] = hdr
		switch hdr.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s: %v", hdr.Name, err)
			}
			files[hdr.Name] = b
		case tar.TypeSymlink:
			links[hdr.Name] = hdr.Linkname
		}
	}
}

func blob(t *testing.T, files map[string][]byte, d ocispec.Descriptor) []byte {
	t.Helper()
	b, ok := files[blobPath(d.Digest)]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if got := digest.FromBytes(b); got != d.Digest {
		t.Fatalf("blob %s has digest %s", d.Digest, got)
	}
	if int64(len(b)) != d.Size {
		t.Fatalf("blob %s has size %d, descriptor says %d", d.Digest, len(b), d.Size)
	}
	return b
}

func TestWriteBusybox(t *testing.T) {
	requireBusybox(t)
	var buf bytes.Buffer
	if err := WriteBusybox(&buf, BusyboxOptions{}); err != nil {
		t.Fatal(err)
	}
	files, _, _ := readTar(t, bytes.NewReader(buf.Bytes()))

	var layout ocispec.ImageLayout
	if err := json.Unmarshal(files[ocispec.ImageLayoutFile], &layout); err != nil || layout.Version != ocispec.ImageLayoutVersion {
		t.Fatalf("oci-layout = %+v, %v", layout, err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(files[ocispec.ImageIndexFile], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("index has %d manifests", len(index.Manifests))
	}
	md := index.Manifests[0]
	if got := md.Annotations[AnnotationImageName]; got != BusyboxImage {
		t.Errorf("image name annotation = %q", got)
	}
	if got := md.Annotations[ocispec.AnnotationRefName]; got != "1.35" {
		t.Errorf("ref name annotation = %q", got)
	}

	var manifest ocispec.Manifest
	if err := json.Unmarshal(blob(t, files, md), &manifest); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var config ocispec.Image
	if err := json.Unmarshal(blob(t, files, manifest.Config), &config); err != nil {
		t.Fatalf("config: %v", err)
	}
	if config.Architecture != runtime.GOARCH || config.OS != "linux" {
		t.Errorf("platform = %s/%s", config.OS, config.Architecture)
	}
	if len(config.Config.Cmd) != 1 || config.Config.Cmd[0] != "sh" {
		t.Errorf("cmd = %q", config.Config.Cmd)
	}
	if len(config.Config.Env) != 1 || config.Config.Env[0] != DefaultPath {
		t.Errorf("env = %q", config.Config.Env)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("manifest has %d layers", len(manifest.Layers))
	}

	gz := blob(t, files, manifest.Layers[0])
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	layerTar, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(layerTar); len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != got {
		t.Errorf("diff ids = %v, layer is %s", config.RootFS.DiffIDs, got)
	}
	lfiles, llinks, lhdrs := readTar(t, bytes.NewReader(layerTar))
	want, err := os.ReadFile(DefaultBusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lfiles["bin/busybox"], want) {
		t.Errorf("bin/busybox differs from %s", DefaultBusyboxPath)
	}
	for _, applet := range []string{"sh", "ls", "cat", "sleep", "httpd", "wget", "hostname", "false"} {
		if got := llinks[filepath.Join("bin", applet)]; got != "busybox" {
			t.Errorf("bin/%s -> %q, want busybox", applet, got)
		}
	}
	for _, f := range []string{"etc/passwd", "etc/group", "etc/hosts", "etc/hostname", "etc/resolv.conf"} {
		if _, ok := lfiles[f]; !ok {
			t.Errorf("%s missing", f)
		}
	}
	if h := lhdrs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/ header = %+v", h)
	}
	if _, ok := lhdrs["var/www/"]; !ok {
		t.Error("var/www/ missing")
	}
}

func TestWriteBusyboxDeterministic(t *testing.T) {
	requireBusybox(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	opts := BusyboxOptions{Name: "busybox:test"}
	if err := WriteBusyboxFile(a, opts); err != nil {
		t.Fatal(err)
	}
	if err := WriteBusyboxFile(b, opts); err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Fatal("two builds differ")
	}
	files, _, _ := readTar(t, bytes.NewReader(ab))
	var index ocispec.Index
	if err := json.Unmarshal(files[ocispec.ImageIndexFile], &index); err != nil {
		t.Fatal(err)
	}
	if got := index.Manifests[0].Annotations[AnnotationImageName]; got != "docker.io/library/busybox:test" {
		t.Errorf("short name not normalized: %q", got)
	}
}

func TestWriteBusyboxErrors(t *testing.T) {
	if err := WriteBusybox(io.Discard, BusyboxOptions{BusyboxPath: "/nonexistent/busybox"}); err == nil {
		t.Error("missing binary: no error")
	}
	if err := WriteBusybox(io.Discard, BusyboxOptions{Name: "Not A Ref"}); err == nil {
		t.Error("bad name: no error")
	}
}

// layerEntries builds an image with opts and returns the names of its
// layer's entries in order, with their headers.
func layerEntries(t *testing.T, opts BusyboxOptions) ([]string, map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteBusybox(&buf, opts); err != nil {
		t.Fatal(err)
	}
	files, _, _ := readTar(t, bytes.NewReader(buf.Bytes()))
	var index ocispec.Index
	if err := json.Unmarshal(files[ocispec.ImageIndexFile], &index); err != nil {
		t.Fatal(err)
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(blob(t, files, index.Manifests[0]), &manifest); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, manifest.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
	zr, _ = gzip.NewReader(bytes.NewReader(blob(t, files, manifest.Layers[0])))
	lfiles, _, hdrs := readTar(t, zr)
	return names, hdrs, lfiles
}

func TestWriteBusyboxFiles(t *testing.T) {
	requireBusybox(t)
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		newDirs []string // directories made for the files, in order
		wantErr string
	}{
		{name: "in a directory the image has", files: map[string][]byte{"bin/tool": []byte("t")}},
		{name: "leading slash", files: map[string][]byte{"/usr/bin/tool": []byte("t")}},
		{name: "nested directories made outermost first", files: map[string][]byte{
			"usr/lib/x86_64-linux-gnu/perl-base/auto/List/Util/Util.so": []byte("so"),
			"usr/lib/x86_64-linux-gnu/perl-base/Carp.pm":                []byte("pm"),
			"lib64/ld-linux-x86-64.so.2":                                []byte("ld"),
		}, newDirs: []string{"lib64/", "usr/lib/", "usr/lib/x86_64-linux-gnu/", "usr/lib/x86_64-linux-gnu/perl-base/",
			"usr/lib/x86_64-linux-gnu/perl-base/auto/", "usr/lib/x86_64-linux-gnu/perl-base/auto/List/",
			"usr/lib/x86_64-linux-gnu/perl-base/auto/List/Util/"}},
		{name: "an applet's path", files: map[string][]byte{"bin/sh": []byte("x")}, wantErr: "not a free path"},
		{name: "busybox's path", files: map[string][]byte{"bin/busybox": []byte("x")}, wantErr: "not a free path"},
		{name: "a file of the image", files: map[string][]byte{"etc/passwd": []byte("x")}, wantErr: "not a free path"},
		{name: "a directory of the image", files: map[string][]byte{"tmp": []byte("x")}, wantErr: "not a free path"},
		{name: "under an applet link", files: map[string][]byte{"bin/sh/x": []byte("x")}, wantErr: "bin/sh is not a directory"},
		{name: "under a file of the image", files: map[string][]byte{"etc/hosts/x": []byte("x")}, wantErr: "etc/hosts is not a directory"},
		{name: "under another extra file", files: map[string][]byte{"opt/a": []byte("a"), "opt/a/b": []byte("b")}, wantErr: "opt/a is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr != "" {
				err := WriteBusybox(io.Discard, BusyboxOptions{Files: tc.files})
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			plain, _, _ := layerEntries(t, BusyboxOptions{})
			had := map[string]bool{}
			for _, n := range plain {
				had[n] = true
			}
			names, hdrs, files := layerEntries(t, BusyboxOptions{Files: tc.files})
			var made []string
			pos := map[string]int{}
			for i, n := range names {
				pos[n] = i
				if strings.HasSuffix(n, "/") && !had[n] {
					made = append(made, n)
				}
			}
			if !slices.Equal(made, tc.newDirs) {
				t.Fatalf("directories made %q, want %q", made, tc.newDirs)
			}
			for _, d := range made {
				if hdrs[d].Typeflag != tar.TypeDir || hdrs[d].Mode != 0o755 {
					t.Fatalf("%s: %+v", d, hdrs[d])
				}
				if parent := filepath.Dir(strings.TrimSuffix(d, "/")); parent != "." && pos[parent+"/"] > pos[d] {
					t.Fatalf("%s comes before its parent", d)
				}
			}
			for name, data := range tc.files {
				clean := strings.TrimPrefix(name, "/")
				if !bytes.Equal(files[clean], data) || hdrs[clean].Mode != 0o755 {
					t.Fatalf("%s: %q mode %o", clean, files[clean], hdrs[clean].Mode)
				}
				if pos[filepath.Dir(clean)+"/"] > pos[clean] {
					t.Fatalf("%s comes before its directory", clean)
				}
			}
		})
	}
}

// TestWriteBusyboxCmd: the image's default command is Cmd when set, sh
// when not.
func TestWriteBusyboxCmd(t *testing.T) {
	requireBusybox(t)
	for _, tc := range []struct {
		cmd, want []string
	}{
		{cmd: nil, want: []string{"sh"}},
		{cmd: []string{"httpd", "-f", "-p", "80"}, want: []string{"httpd", "-f", "-p", "80"}},
	} {
		var buf bytes.Buffer
		if err := WriteBusybox(&buf, BusyboxOptions{Applets: []string{"sh", "httpd"}, Cmd: tc.cmd}); err != nil {
			t.Fatal(err)
		}
		files, _, _ := readTar(t, bytes.NewReader(buf.Bytes()))
		var index ocispec.Index
		if err := json.Unmarshal(files[ocispec.ImageIndexFile], &index); err != nil || len(index.Manifests) != 1 {
			t.Fatalf("index.json: %v", err)
		}
		var manifest ocispec.Manifest
		if err := json.Unmarshal(blob(t, files, index.Manifests[0]), &manifest); err != nil {
			t.Fatal(err)
		}
		var config ocispec.Image
		if err := json.Unmarshal(blob(t, files, manifest.Config), &config); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(config.Config.Cmd, tc.want) {
			t.Errorf("Cmd %q: config's Cmd = %q, want %q", tc.cmd, config.Config.Cmd, tc.want)
		}
	}
}
