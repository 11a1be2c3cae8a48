package containerd

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"orch.io/orch/node"
)

func TestKubeArgs(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"default"}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/entry", "default"}},
		{"command drops cmd", []string{"run"}, nil, []string{"run"}},
		{"args replace cmd", nil, []string{"x", "y"}, []string{"/entry", "x", "y"}},
		{"command and args", []string{"run"}, []string{"x"}, []string{"run", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := kubeArgs(ep, cmd, tc.command, tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("kubeArgs = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainerID(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)
	for _, spec := range []node.ContainerSpec{
		{PodName: "web-0", Name: "nginx", Attempt: 3},
		{PodName: strings.Repeat("very-long.pod.name_", 10), Name: strings.Repeat("c", 80), Attempt: 12345},
		{PodName: "--", Name: "__", Attempt: -1},
		{PodName: "ünïcode pod", Name: "a..b"},
	} {
		id, err := newContainerID(&spec)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) > 76 || !valid.MatchString(id) {
			t.Errorf("id %q (len %d) for %+v is not a valid containerd identifier", id, len(id), spec)
		}
	}
	a, _ := newContainerID(&node.ContainerSpec{PodName: "p", Name: "c"})
	b, _ := newContainerID(&node.ContainerSpec{PodName: "p", Name: "c"})
	if a == b {
		t.Errorf("two ids are equal: %s", a)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b\134c\0`); got != `/a b\c\0` {
		t.Errorf("unescape = %q", got)
	}
}
