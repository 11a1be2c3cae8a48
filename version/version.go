// Package version turns the version orch is stamped with at build time (the
// output of `git describe --tags --always --dirty`, passed with -ldflags)
// into the version.Info Kubernetes serves on /version: a gitVersion that is
// a semantic version, as kubectl's version skew check parses it, and the
// numeric major and minor that match it.
//
// The translation is Kubernetes' own (hack/lib/version.sh):
//
//	v0.7.0                  → v0.7.0
//	v0.7.0-3-ge4d4994       → v0.7.0-3+e4d4994
//	v0.7.0-rc.1-3-ge4d4994  → v0.7.0-rc.1.3+e4d4994
//	v0.7.0-3-ge4d4994-dirty → v0.7.0-3+e4d4994-dirty
//	e4d4994 (no tag)        → v0.0.0-master+e4d4994
//	anything else, e.g. dev → v0.0.0-master+dev
package version

import (
	"regexp"
	"runtime"
	"strconv"
	"strings"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	apiversion "k8s.io/apimachinery/pkg/version"
)

// Tree states, as Kubernetes reports them.
const (
	TreeClean = "clean"
	TreeDirty = "dirty"
)

var (
	// describedRE matches `git describe` of a commit after a tag:
	// <tag>-<distance>-g<hash>.
	describedRE = regexp.MustCompile(`^(v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)-(\d+)-g([0-9a-f]{4,40})$`)
	// hashRE matches a bare abbreviated commit (describe --always, no tag).
	hashRE = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
	// notBuildRE matches what may not appear in semver build metadata.
	notBuildRE = regexp.MustCompile(`[^0-9A-Za-z.-]+`)
)

// Parsed is a build's version: the semantic gitVersion and what it was
// made from.
type Parsed struct {
	// GitVersion is a semantic version (with a leading v).
	GitVersion string
	// GitCommit is the commit's abbreviated hash, "" when unknown.
	GitCommit string
	// GitTreeState is TreeClean or TreeDirty.
	GitTreeState string
	// Major and Minor are GitVersion's numbers.
	Major, Minor uint
}

// Parse translates a `git describe --tags --always --dirty` string into a
// semantic version. It never fails: what it cannot read becomes
// v0.0.0-master with the input as build metadata.
func Parse(describe string) Parsed {
	d := strings.TrimSpace(describe)
	p := Parsed{GitTreeState: TreeClean}
	if s, ok := strings.CutSuffix(d, "-dirty"); ok {
		d, p.GitTreeState = s, TreeDirty
	}
	switch m := describedRE.FindStringSubmatch(d); {
	case m != nil:
		tag, distance, hash := m[1], m[2], m[3]
		p.GitCommit = hash
		if strings.Contains(strings.TrimPrefix(tag, "v"), "-") {
			// A pre-release tag: the distance extends the pre-release.
			p.GitVersion = tag + "." + distance + "+" + hash
		} else {
			p.GitVersion = tag + "-" + distance + "+" + hash
		}
	case hashRE.MatchString(d):
		p.GitCommit = d
		p.GitVersion = "v0.0.0-master+" + d
	default:
		p.GitVersion = d
	}
	if p.GitTreeState == TreeDirty {
		if strings.Contains(p.GitVersion, "+") {
			p.GitVersion += "-dirty"
		} else {
			p.GitVersion += "+dirty"
		}
	}
	if !strings.HasPrefix(p.GitVersion, "v") {
		p.GitVersion = "v" + p.GitVersion
	}
	v, err := utilversion.ParseSemantic(p.GitVersion)
	if err != nil {
		build := strings.Trim(notBuildRE.ReplaceAllString(strings.TrimSpace(describe), "-"), ".-")
		p.GitVersion = "v0.0.0-master"
		if build != "" {
			p.GitVersion += "+" + build
		}
		v = utilversion.MustParseSemantic(p.GitVersion)
	}
	p.Major, p.Minor = v.Major(), v.Minor()
	return p
}

// Info returns the /version document of a build stamped with describe and
// built at buildDate (RFC 3339, "" when unknown). orch emulates and is
// compatible with only its own version, so the emulation and minimum
// compatibility versions are its own major.minor.
func Info(describe, buildDate string) apiversion.Info {
	p := Parse(describe)
	major, minor := strconv.FormatUint(uint64(p.Major), 10), strconv.FormatUint(uint64(p.Minor), 10)
	if buildDate == "" {
		buildDate = "1970-01-01T00:00:00Z" // Kubernetes' value for an unstamped build
	}
	return apiversion.Info{
		Major: major, Minor: minor,
		EmulationMajor: major, EmulationMinor: minor,
		MinCompatibilityMajor: major, MinCompatibilityMinor: minor,
		GitVersion: p.GitVersion, GitCommit: p.GitCommit, GitTreeState: p.GitTreeState,
		BuildDate: buildDate,
		GoVersion: runtime.Version(), Compiler: runtime.Compiler,
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}
