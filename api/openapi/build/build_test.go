package build

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDefName(t *testing.T) {
	for _, tc := range []struct{ pkg, typ, want string }{
		{"k8s.io/api/core/v1", "Pod", "io.k8s.api.core.v1.Pod"},
		{"k8s.io/apimachinery/pkg/apis/meta/v1", "ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{"bootstrap.orch.io/v1", "BootstrapToken", "io.orch.bootstrap.v1.BootstrapToken"},
	} {
		if got := defName(tc.pkg, tc.typ); got != tc.want {
			t.Errorf("defName(%q, %q) = %q, want %q", tc.pkg, tc.typ, got, tc.want)
		}
	}
}

func TestGroupPackage(t *testing.T) {
	for _, tc := range []struct{ group, want string }{
		{"", "k8s.io/api/core/v1"},
		{"rbac.authorization.k8s.io", "k8s.io/api/rbac/v1"},
		{"certificates.k8s.io", "k8s.io/api/certificates/v1"},
		{"bootstrap.orch.io", "bootstrap.orch.io/v1"},
	} {
		if got := groupPackage(tc.group, "v1"); got != tc.want {
			t.Errorf("groupPackage(%q) = %q, want %q", tc.group, got, tc.want)
		}
	}
}

func TestDescription(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"", ""},
		{"Name of the pod.\n", "Name of the pod."},
		{"First line\nsecond line.\n\nNew paragraph.\n", "First line second line.\n\nNew paragraph."},
		{"Ports.\n+optional\n+listType=map\n+listMapKey=containerPort\n", "Ports."},
		{"Public part.\n---\nPrivate notes.\n", "Public part."},
		{"TODO: later\nKept.\n", "Kept."},
	} {
		if got := description(tc.doc); got != tc.want {
			t.Errorf("description(%q) = %q, want %q", tc.doc, got, tc.want)
		}
	}
}

func TestMarkers(t *testing.T) {
	doc := "Ports.\n+optional\n+listType=map\n+listMapKey=containerPort\n+listMapKey=protocol\n"
	if got := markers(doc, "listMapKey"); !slices.Equal(got, []string{"containerPort", "protocol"}) {
		t.Errorf("listMapKey = %v", got)
	}
	if got := markers(doc, "listType"); !slices.Equal(got, []string{"map"}) {
		t.Errorf("listType = %v", got)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{{"optional", true}, {"listType", true}, {"enum", false}, {"list", false}} {
		if got := hasMarker(doc, tc.name); got != tc.want {
			t.Errorf("hasMarker(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBuildNeedsSources checks that a missing source is an error, never a
// document that silently lacks docs or Kubernetes' metadata.
func TestBuildNeedsSources(t *testing.T) {
	noK8s := func(string) (string, error) { return "", errors.New("no source here") }
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no orch source", Options{OrchDir: t.TempDir(), PackageDir: GoListDir}, "no Go files"},
		{"no Kubernetes source", Options{OrchDir: "../../v1", PackageDir: noK8s}, "no source here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
