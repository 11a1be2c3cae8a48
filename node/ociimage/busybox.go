package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BusyboxImage is the default name of the image WriteBusybox builds.
const BusyboxImage = "docker.io/library/busybox:1.35"

// DefaultBusyboxPath is where Debian's busybox-static installs the binary.
const DefaultBusyboxPath = "/bin/busybox"

// AnnotationImageName is the index annotation containerd's importer reads
// the image's name from.
const AnnotationImageName = "io.containerd.image.name"

// DefaultPath is the PATH in the image's config.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is the modification time of every file in the image, so that the
// layer, and with it every digest, only depends on the inputs.
var epoch = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

// BusyboxOptions configure WriteBusybox. The zero value builds BusyboxImage
// from DefaultBusyboxPath with every applet the binary lists.
type BusyboxOptions struct {
	// Name is the image reference; short names are normalized
	// (busybox:1.35 → docker.io/library/busybox:1.35). Default BusyboxImage.
	Name string
	// BusyboxPath is the static busybox binary to copy. Default
	// DefaultBusyboxPath.
	BusyboxPath string
	// Applets are the names linked to /bin/busybox. Nil runs
	// `<BusyboxPath> --list` and links all of them.
	Applets []string
	// Files are extra executables to add, by path in the image (e.g.
	// "bin/udpecho", "usr/lib/x86_64-linux-gnu/libc.so.6"); directories
	// the image lacks are made (mode 0755) for them.
	Files map[string][]byte
	// Cmd is the image's default command (its config's Cmd). Default
	// ["sh"].
	Cmd []string
}

// WriteBusyboxFile writes the image tarball WriteBusybox builds to path.
func WriteBusyboxFile(path string, opts BusyboxOptions) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write busybox image: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write busybox image %s: %w", path, cerr)
		}
	}()
	return WriteBusybox(f, opts)
}

// WriteBusybox writes an OCI image-layout tarball (oci-layout, index.json,
// blobs/sha256/...) holding one image for the host's architecture: a config,
// a manifest and one gzip layer with busybox, its applet links, /etc/passwd,
// /etc/group, empty /etc/hosts, /etc/hostname and /etc/resolv.conf, /tmp,
// /root and /var/www. The index names the manifest with both the
// io.containerd.image.name and org.opencontainers.image.ref.name
// annotations.
func WriteBusybox(w io.Writer, opts BusyboxOptions) error {
	name, tag, err := normalizeName(opts.Name)
	if err != nil {
		return fmt.Errorf("write busybox image: %w", err)
	}
	bbPath := opts.BusyboxPath
	if bbPath == "" {
		bbPath = DefaultBusyboxPath
	}
	bin, err := os.ReadFile(bbPath)
	if err != nil {
		return fmt.Errorf("write busybox image: read busybox: %w", err)
	}
	applets := opts.Applets
	if applets == nil {
		if applets, err = listApplets(bbPath); err != nil {
			return fmt.Errorf("write busybox image: %w", err)
		}
	}

	layerTar, err := buildRootfs(bin, applets, opts.Files)
	if err != nil {
		return fmt.Errorf("write busybox image: build layer: %w", err)
	}
	diffID := digest.FromBytes(layerTar)
	layer, err := gzipBytes(layerTar)
	if err != nil {
		return fmt.Errorf("write busybox image: compress layer: %w", err)
	}

	cmd := opts.Cmd
	if len(cmd) == 0 {
		cmd = []string{"sh"}
	}
	platform := ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"}
	created := epoch
	config, err := json.Marshal(ocispec.Image{
		Created:  &created,
		Platform: platform,
		Config: ocispec.ImageConfig{
			Env: []string{DefaultPath},
			Cmd: cmd,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{
			Created:   &created,
			CreatedBy: "orch ociimage.WriteBusybox from " + bbPath,
		}},
	})
	if err != nil {
		return fmt.Errorf("write busybox image: encode config: %w", err)
	}
	configDesc := descriptorOf(ocispec.MediaTypeImageConfig, config)
	layerDesc := descriptorOf(ocispec.MediaTypeImageLayerGzip, layer)

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return fmt.Errorf("write busybox image: encode manifest: %w", err)
	}
	manifestDesc := descriptorOf(ocispec.MediaTypeImageManifest, manifest)
	manifestDesc.Platform = &platform
	manifestDesc.Annotations = map[string]string{
		AnnotationImageName:       name,
		ocispec.AnnotationRefName: tag,
	}

	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	})
	if err != nil {
		return fmt.Errorf("write busybox image: encode index: %w", err)
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return fmt.Errorf("write busybox image: encode oci-layout: %w", err)
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageLayoutFile, layout},
		{ocispec.ImageIndexFile, index},
		{blobPath(configDesc.Digest), config},
		{blobPath(layerDesc.Digest), layer},
		{blobPath(manifestDesc.Digest), manifest},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(dirHeader(dir, 0o755)); err != nil {
			return fmt.Errorf("write busybox image: %w", err)
		}
	}
	for _, e := range entries {
		if err := writeFile(tw, e.name, 0o644, e.data); err != nil {
			return fmt.Errorf("write busybox image: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write busybox image: %w", err)
	}
	return nil
}

// normalizeName returns the fully qualified reference and the
// org.opencontainers.image.ref.name value (the tag, or the reference when
// it has none).
func normalizeName(name string) (full, refName string, err error) {
	if name == "" {
		name = BusyboxImage
	}
	named, err := reference.ParseDockerRef(name)
	if err != nil {
		return "", "", fmt.Errorf("image name %q: %w", name, err)
	}
	full = named.String()
	refName = full
	if tagged, ok := named.(reference.Tagged); ok {
		refName = tagged.Tag()
	}
	return full, refName, nil
}

// listApplets asks the busybox binary for its applets.
func listApplets(bbPath string) ([]string, error) {
	out, err := exec.Command(bbPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", bbPath, err)
	}
	return strings.Fields(string(out)), nil
}

// buildRootfs returns the uncompressed layer tar.
func buildRootfs(bin []byte, applets []string, extra map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)

	dirs := []struct {
		name string
		mode int64
	}{
		{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555},
		{"root/", 0o700}, {"sbin/", 0o755}, {"sys/", 0o555}, {"tmp/", 0o1777},
		{"usr/", 0o755}, {"usr/bin/", 0o755}, {"usr/sbin/", 0o755},
		{"var/", 0o755}, {"var/www/", 0o755},
	}
	// made holds the directories in the layer, without their slash.
	made := map[string]bool{}
	for _, d := range dirs {
		if err := tw.WriteHeader(dirHeader(d.name, d.mode)); err != nil {
			return nil, err
		}
		made[strings.TrimSuffix(d.name, "/")] = true
	}
	// taken holds the files and links in the layer.
	taken := map[string]bool{"bin/busybox": true}
	if err := writeFile(tw, "bin/busybox", 0o755, bin); err != nil {
		return nil, err
	}

	links := make([]string, 0, len(applets))
	seen := map[string]bool{"busybox": true}
	for _, a := range applets {
		if a == "" || strings.ContainsRune(a, '/') || seen[a] {
			continue
		}
		seen[a] = true
		links = append(links, a)
	}
	sort.Strings(links)
	for _, a := range links {
		hdr := &tar.Header{
			Typeflag: tar.TypeSymlink,
			Name:     filepath.Join("bin", a),
			Linkname: "busybox",
			Mode:     0o777,
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		taken[hdr.Name] = true
	}

	files := []struct {
		name string
		mode int64
		data string
	}{
		{"etc/group", 0o644, "root:x:0:\nnobody:x:65534:\n"},
		{"etc/hostname", 0o644, ""},
		{"etc/hosts", 0o644, ""},
		{"etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
		{"etc/resolv.conf", 0o644, ""},
	}
	for _, f := range files {
		if err := writeFile(tw, f.name, f.mode, []byte(f.data)); err != nil {
			return nil, err
		}
		taken[f.name] = true
	}
	names := make([]string, 0, len(extra))
	for name := range extra {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		clean := strings.TrimPrefix(filepath.Clean("/"+name), "/")
		if clean == "" || made[clean] || taken[clean] {
			return nil, fmt.Errorf("extra file %q: not a free path in the image", name)
		}
		if err := makeParents(tw, made, taken, clean); err != nil {
			return nil, fmt.Errorf("extra file %q: %w", name, err)
		}
		if err := writeFile(tw, clean, 0o755, extra[name]); err != nil {
			return nil, err
		}
		taken[clean] = true
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// makeParents writes a directory entry (0755) for each directory above
// path that the layer lacks, outermost first, and records it in made. A
// parent that is a file or a link in the layer is an error.
func makeParents(tw *tar.Writer, made, taken map[string]bool, path string) error {
	var missing []string
	for dir := filepath.Dir(path); dir != "." && !made[dir]; dir = filepath.Dir(dir) {
		if taken[dir] {
			return fmt.Errorf("%s is not a directory in the image", dir)
		}
		missing = append(missing, dir)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := tw.WriteHeader(dirHeader(missing[i]+"/", 0o755)); err != nil {
			return err
		}
		made[missing[i]] = true
	}
	return nil
}

func dirHeader(name string, mode int64) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeDir,
		Name:     name,
		Mode:     mode,
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     mode,
		Size:     int64(len(data)),
		ModTime:  epoch,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("tar %s: %w", name, err)
	}
	return nil
}

func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	// The zero header (no name, no mtime) keeps the output deterministic.
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func descriptorOf(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: mediaType,
		Digest:    digest.FromBytes(data),
		Size:      int64(len(data)),
	}
}

func blobPath(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}
