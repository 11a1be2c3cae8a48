package e2e

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"orch.io/orch/test/harness"
)

// perlImage is the image the Kubernetes docs' pi Job names (perl:5.34.0
// in testdata/docs/job.yaml), as containerd names it.
const perlImage = "docker.io/library/perl:5.34.0"

// perlFilesScript runs the docs' computation on the host, then prints
// its result and every file perl loaded for it: the modules (%INC) and
// the XS libraries (DynaLoader's list), one a line. The core
// Math::BigInt of perl 5.36 cannot compute bpi(2000) under bignum (the
// reason the docs pin perl 5.34.0); Debian's libmath-bigint-perl, which
// comes first in @INC, can.
const perlFilesScript = `my $pi = "" . bpi(2000);
die "bpi(2000) fails on this perl: $pi\n" unless $pi =~ /^3\.14159/;
print for $pi, sort(values %INC), @DynaLoader::dl_shared_objects;`

// loadPerl builds an image of the host's perl named perlImage and loads
// it into every node: busybox, /usr/bin/perl, the perl modules and XS
// libraries the docs' command loads, and the shared libraries ldd lists
// for perl and those XS libraries, each at its path on the host (perl
// finds its modules by the @INC it was built with). It returns what the
// docs' command prints on the host.
func loadPerl(t *testing.T, c *harness.Cluster) string {
	t.Helper()
	cmd := exec.Command("perl", "-Mbignum=bpi", "-wle", perlFilesScript)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("perl on the host (needs perl and libmath-bigint-perl: make deps): %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	pi, loaded := lines[0]+"\n", lines[1:]
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{perl: true}
	for _, f := range loaded {
		if !filepath.IsAbs(f) {
			t.Fatalf("perl loaded %q, not an absolute path", f)
		}
		files[f] = true
	}
	for _, elf := range append([]string{perl}, loaded...) {
		if strings.HasSuffix(elf, ".pm") {
			continue
		}
		for _, lib := range lddLibs(t, elf) {
			files[lib] = true
		}
	}

	dir := t.TempDir()
	img := filepath.Join(dir, "perl.tar")
	args := []string{"image", "busybox", "--name", perlImage, "-o", img}
	for _, f := range slices.Sorted(maps.Keys(files)) {
		args = append(args, "--add", f+":"+f)
	}
	if out, err := exec.Command(bins.Orchd, args...).CombinedOutput(); err != nil {
		t.Fatalf("build the perl image: %v\n%s", err, out)
	}
	if st, err := os.Stat(img); err == nil {
		t.Logf("perl image: %d files from the host, %d bytes", len(files), st.Size())
	}
	if out, stderr, err := c.Orchctl("", "image", "load", img, "--all-nodes"); err != nil {
		t.Fatalf("load the perl image: %v\n%s%s", err, out, stderr)
	}
	return pi
}

// lddLibs returns the paths of the shared libraries, the dynamic loader
// among them, that ldd lists for the ELF file path.
func lddLibs(t *testing.T, path string) []string {
	t.Helper()
	libs, err := harness.SharedLibs(path)
	if err != nil {
		t.Fatal(err)
	}
	return libs
}
