package version

import (
	"runtime"
	"testing"

	utilversion "k8s.io/apimachinery/pkg/util/version"
)

func TestParse(t *testing.T) {
	tests := []struct {
		describe, want, commit, tree string
		major, minor                 uint
	}{
		{"v0.7.0", "v0.7.0", "", TreeClean, 0, 7},
		{"v1.12.3", "v1.12.3", "", TreeClean, 1, 12},
		{"v0.7.0-3-ge4d4994", "v0.7.0-3+e4d4994", "e4d4994", TreeClean, 0, 7},
		{"v0.7.0-3-ge4d4994-dirty", "v0.7.0-3+e4d4994-dirty", "e4d4994", TreeDirty, 0, 7},
		{"v0.7.0-rc.1-3-ge4d4994", "v0.7.0-rc.1.3+e4d4994", "e4d4994", TreeClean, 0, 7},
		{"v0.7.0-dirty", "v0.7.0+dirty", "", TreeDirty, 0, 7},
		{"e4d4994", "v0.0.0-master+e4d4994", "e4d4994", TreeClean, 0, 0},
		{"e4d4994-dirty", "v0.0.0-master+e4d4994-dirty", "e4d4994", TreeDirty, 0, 0},
		{"0.3.1", "v0.3.1", "", TreeClean, 0, 3},
		{"v0.1.0-dev", "v0.1.0-dev", "", TreeClean, 0, 1},
		{"dev", "v0.0.0-master+dev", "", TreeClean, 0, 0},
		{"", "v0.0.0-master", "", TreeClean, 0, 0},
		{"release/2 x", "v0.0.0-master+release-2-x", "", TreeClean, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			p := Parse(tt.describe)
			if p.GitVersion != tt.want || p.GitCommit != tt.commit || p.GitTreeState != tt.tree || p.Major != tt.major || p.Minor != tt.minor {
				t.Fatalf("Parse(%q) = %+v, want %s commit %q tree %s %d.%d", tt.describe, p, tt.want, tt.commit, tt.tree, tt.major, tt.minor)
			}
			// kubectl's version skew check parses gitVersion so.
			if _, err := utilversion.ParseSemantic(p.GitVersion); err != nil {
				t.Fatalf("%q is not semantic: %v", p.GitVersion, err)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	info := Info("v0.7.0-3-ge4d4994", "2026-12-04T12:00:00Z")
	if info.Major != "0" || info.Minor != "7" || info.GitVersion != "v0.7.0-3+e4d4994" || info.GitCommit != "e4d4994" ||
		info.GitTreeState != TreeClean || info.BuildDate != "2026-12-04T12:00:00Z" {
		t.Fatalf("Info = %+v", info)
	}
	if info.EmulationMajor != "0" || info.EmulationMinor != "7" || info.MinCompatibilityMajor != "0" || info.MinCompatibilityMinor != "7" {
		t.Fatalf("emulation/compatibility = %+v", info)
	}
	if info.GoVersion != runtime.Version() || info.Compiler != runtime.Compiler || info.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("build fields = %+v", info)
	}
	if d := Info("v1.0.0", "").BuildDate; d != "1970-01-01T00:00:00Z" {
		t.Fatalf("unstamped buildDate = %q", d)
	}
}
