// Package ociimage builds small OCI images in Go, without a registry or a
// container build tool.
//
// WriteBusybox packs the host's static busybox binary (Debian's
// busybox-static) into an OCI image-layout tarball that containerd can
// import: one gzip layer with /bin/busybox, a symlink per applet, minimal
// /etc files and the usual directories. The output is deterministic (fixed
// mtimes, owners and ordering), so the same busybox binary always yields the
// same manifest digest. Tests and `orchd dev` use it to run pods on a machine
// that cannot reach an image registry.
package ociimage
