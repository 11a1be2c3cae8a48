package containerd

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"orch.io/orch/node"
)

func TestRuntimeDefaultSeccompArchitectures(t *testing.T) {
	newSpec := func() *oci.Spec {
		return &oci.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}, Linux: &specs.Linux{}}
	}
	want := newSpec()
	if err := seccomp.WithDefaultProfile()(context.Background(), nil, &containers.Container{}, want); err != nil {
		t.Fatal(err)
	}
	has := func(a specs.Arch) bool { return slices.Contains(want.Linux.Seccomp.Architectures, a) }
	for _, tc := range []struct {
		name             string
		abis             compatABIs
		wantX32, wantX86 bool
	}{
		{"kernel with both keeps containerd's architectures", compatABIs{X32: true, IA32: true}, has(specs.ArchX32), has(specs.ArchX86)},
		{"kernel without x32 drops x32", compatABIs{IA32: true}, false, has(specs.ArchX86)},
		{"kernel without ia32 drops x86", compatABIs{X32: true}, has(specs.ArchX32), false},
		{"kernel with neither keeps the native one", compatABIs{}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpec()
			if err := withRuntimeDefaultSeccomp(tc.abis)(context.Background(), nil, &containers.Container{}, s); err != nil {
				t.Fatal(err)
			}
			got := s.Linux.Seccomp
			if slices.Contains(got.Architectures, specs.ArchX32) != tc.wantX32 || slices.Contains(got.Architectures, specs.ArchX86) != tc.wantX86 {
				t.Errorf("architectures %v: want x32 %v, x86 %v", got.Architectures, tc.wantX32, tc.wantX86)
			}
			for _, a := range want.Linux.Seccomp.Architectures {
				if a != specs.ArchX32 && a != specs.ArchX86 && !slices.Contains(got.Architectures, a) {
					t.Errorf("architecture %s of containerd's profile missing: %v", a, got.Architectures)
				}
			}
			if got.DefaultAction != want.Linux.Seccomp.DefaultAction || len(got.Syscalls) != len(want.Linux.Seccomp.Syscalls) {
				t.Errorf("profile changed beyond its architectures: default %s, %d rules; containerd's %s, %d",
					got.DefaultAction, len(got.Syscalls), want.Linux.Seccomp.DefaultAction, len(want.Linux.Seccomp.Syscalls))
			}
		})
	}
}

func TestSupportedArchesLeavesItsInput(t *testing.T) {
	in := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	for _, tc := range []struct {
		abis compatABIs
		want []specs.Arch
	}{
		{compatABIs{X32: true, IA32: true}, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}},
		{compatABIs{IA32: true}, []specs.Arch{specs.ArchX86_64, specs.ArchX86}},
		{compatABIs{X32: true}, []specs.Arch{specs.ArchX86_64, specs.ArchX32}},
		{compatABIs{}, []specs.Arch{specs.ArchX86_64}},
	} {
		if out := supportedArches(in, tc.abis); !slices.Equal(out, tc.want) {
			t.Errorf("supportedArches(%+v) = %v, want %v", tc.abis, out, tc.want)
		}
	}
	if !slices.Equal(in, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
		t.Errorf("input changed: %v", in)
	}
}

func TestSecurityOptsMatchStartContainers(t *testing.T) {
	for _, tc := range []struct {
		name string
		sec  node.ContainerSecurity
	}{
		{"default: RuntimeDefault seccomp", node.ContainerSecurity{}},
		{"unconfined", node.ContainerSecurity{Seccomp: node.SeccompUnconfined}},
		{"no new privileges, dropped capability", node.ContainerSecurity{NoNewPrivileges: true, CapDrop: []string{"NET_RAW"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			apply := func(opts []oci.SpecOpts) *oci.Spec {
				s := &oci.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
					Bounding: []string{"CAP_NET_RAW", "CAP_CHOWN"}, Effective: []string{"CAP_NET_RAW", "CAP_CHOWN"},
					Permitted: []string{"CAP_NET_RAW", "CAP_CHOWN"}}}, Linux: &specs.Linux{}}
				for _, o := range opts {
					if err := o(context.Background(), nil, &containers.Container{}, s); err != nil {
						t.Fatal(err)
					}
				}
				return s
			}
			got := apply(SecurityOpts(tc.sec))
			want := apply(securityOpts(tc.sec, probeCompatABIs()))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("SecurityOpts gave %+v, StartContainer's options %+v", got.Linux.Seccomp, want.Linux.Seccomp)
			}
			if (tc.sec.Seccomp == "") != (got.Linux.Seccomp != nil) {
				t.Errorf("seccomp %+v for mode %q", got.Linux.Seccomp, tc.sec.Seccomp)
			}
		})
	}
}
