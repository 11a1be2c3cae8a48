package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"orch.io/orch/node/ociimage"
)

// RegistryPort is the port a Registry listens on in its node's network
// namespace (a namespace of the test's own, so the port is free).
const RegistryPort = 5000

// Registry is a docker-registry (the Debian docker-registry package's
// distribution 2.8) running in a network namespace of the test, with its
// own configuration and storage in a temporary directory: a private one
// with htpasswd authentication in a node's namespace (Node.StartRegistry),
// which the node's agent reaches on loopback, where orch's pulls speak
// plain HTTP; or an anonymous mirror on a host of its own (Net.StartMirror).
// The test reaches it on its namespace's address on the test bridge.
// Nothing leaves the machine.
type Registry struct {
	// Host is the registry part of image references, as nodes see it:
	// 127.0.0.1:5000 for a node's own, <address>:5000 for a mirror.
	Host string
	// URL is the registry's base URL from the test process.
	URL string

	t T
	process
}

// StartRegistry starts a registry in nd's network namespace whose users
// (name → password) are written to an htpasswd file with bcrypt (htpasswd
// -B of apache2-utils, which `make deps` installs). It returns once the
// registry answers; t.Cleanup stops it by PID and removes its files.
func (nd *Node) StartRegistry(users map[string]string) *Registry {
	nd.c.t.Helper()
	r := startRegistry(nd.c.t, nd.NetNS, nd.IP, filepath.Join(nd.c.Dir, "registry-"+nd.Name+".log"), users)
	r.Host = fmt.Sprintf("127.0.0.1:%d", RegistryPort)
	return r
}

// startRegistry starts docker-registry in netns (whose address is ip),
// listening on RegistryPort, logging to logPath; with users, every request
// needs HTTP Basic credentials of one of them, without, none. Its Host is
// ip:RegistryPort. It returns once the registry answers; t.Cleanup stops it
// by PID.
func startRegistry(t T, netns, ip, logPath string, users map[string]string) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatalf("needs docker-registry from the docker-registry package (run `make deps`): %v", err)
	}
	dir := t.TempDir()
	auth := ""
	if len(users) > 0 {
		htpasswd, err := exec.LookPath("htpasswd")
		if err != nil {
			t.Fatalf("needs htpasswd from the apache2-utils package (run `make deps`): %v", err)
		}
		var lines []byte
		for user, pass := range users {
			out, err := exec.Command(htpasswd, "-Bbn", user, pass).Output()
			if err != nil {
				t.Fatalf("htpasswd for %q: %v", user, err)
			}
			lines = append(append(lines, bytes.TrimSpace(out)...), '\n')
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), lines, 0o600); err != nil {
			t.Fatalf("write htpasswd: %v", err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: orch-e2e-registry\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: :%d
%s`, filepath.Join(dir, "data"), RegistryPort, auth)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatalf("write registry config: %v", err)
	}
	host := fmt.Sprintf("%s:%d", ip, RegistryPort)
	r := &Registry{Host: host, URL: "http://" + host, t: t}
	// nsenter execs the registry: the PID is the registry's.
	cmd := exec.Command("nsenter", "--net=/run/netns/"+netns, "--", bin, "serve", configPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.start(cmd, logPath); err != nil {
		t.Fatalf("start registry: %v", err)
	}
	t.Cleanup(func() {
		if !r.signal(syscall.SIGTERM, 10*time.Second) {
			t.Logf("registry in %s needed SIGKILL", netns)
		}
		if t.Failed() {
			t.Logf("--- registry log:\n%s", tail(logPath, 30))
		}
	})
	ready := http.StatusOK
	if auth != "" {
		ready = http.StatusUnauthorized
	}
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(r.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == ready {
				return r
			}
			err = fmt.Errorf("GET /v2/ without credentials: %s, want %d", resp.Status, ready)
		}
		select {
		case <-r.exited():
			t.Fatalf("registry exited before it was ready:\n%s", tail(logPath, 30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry at %s not ready: %v", r.URL, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// PushBusybox builds the test busybox image with extra files (path in the
// image → content, mode 0755) and pushes it as repo:tag (see Push),
// authenticating as user. It returns the manifest's digest.
func (r *Registry) PushBusybox(ctx context.Context, repo, tag, user, pass string, files map[string][]byte) string {
	r.t.Helper()
	return r.Push(ctx, repo, tag, user, pass, ociimage.BusyboxOptions{Files: files})
}

// Push builds a busybox image as opts say (opts.Name is set here) and
// pushes it as repo:tag with the registry's HTTP API (monolithic blob
// uploads, then the OCI manifest), authenticating as user unless user is
// "". It returns the manifest's digest.
func (r *Registry) Push(ctx context.Context, repo, tag, user, pass string, opts ociimage.BusyboxOptions) string {
	r.t.Helper()
	var buf bytes.Buffer
	opts.Name = r.Host + "/" + repo + ":" + tag
	if err := ociimage.WriteBusybox(&buf, opts); err != nil {
		r.t.Fatalf("build image: %v", err)
	}
	blobs := map[string][]byte{}
	var index []byte
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.t.Fatalf("read image: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			r.t.Fatalf("read image: %v", err)
		}
		switch {
		case h.Name == ocispec.ImageIndexFile:
			index = data
		case strings.HasPrefix(h.Name, "blobs/sha256/") && h.Typeflag == tar.TypeReg:
			blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = data
		}
	}
	var idx ocispec.Index
	if err := json.Unmarshal(index, &idx); err != nil || len(idx.Manifests) != 1 {
		r.t.Fatalf("image index %s: %v", index, err)
	}
	manifestDigest := idx.Manifests[0].Digest.String()
	var m ocispec.Manifest
	if err := json.Unmarshal(blobs[manifestDigest], &m); err != nil {
		r.t.Fatalf("image manifest: %v", err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	do := func(method, u, contentType string, body []byte, want int) *http.Response {
		r.t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			r.t.Fatalf("%s %s: %v", method, u, err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := hc.Do(req)
		if err != nil {
			r.t.Fatalf("%s %s: %v", method, u, err)
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != want {
			r.t.Fatalf("%s %s: %s %s", method, u, resp.Status, msg)
		}
		return resp
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		start := do(http.MethodPost, r.URL+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
		loc, err := url.Parse(start.Header.Get("Location"))
		if err != nil {
			r.t.Fatalf("upload location %q: %v", start.Header.Get("Location"), err)
		}
		base, _ := url.Parse(r.URL)
		loc = base.ResolveReference(loc)
		q := loc.Query()
		q.Set("digest", d.Digest.String())
		loc.RawQuery = q.Encode()
		do(http.MethodPut, loc.String(), "application/octet-stream", blobs[d.Digest.String()], http.StatusCreated)
	}
	do(http.MethodPut, r.URL+"/v2/"+repo+"/manifests/"+tag, ocispec.MediaTypeImageManifest, blobs[manifestDigest], http.StatusCreated)
	return manifestDigest
}
