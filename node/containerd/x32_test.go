package containerd

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRuntimeDefaultSeccompArchitectures(t *testing.T) {
	newSpec := func() *oci.Spec {
		return &oci.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{}}, Linux: &specs.Linux{}}
	}
	want := newSpec()
	if err := seccomp.WithDefaultProfile()(context.Background(), nil, &containers.Container{}, want); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		kernelHasX32 bool
		wantX32      bool
	}{
		{"kernel with x32 keeps containerd's architectures", true, slices.Contains(want.Linux.Seccomp.Architectures, specs.ArchX32)},
		{"kernel without x32 drops x32", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpec()
			if err := withRuntimeDefaultSeccomp(tc.kernelHasX32)(context.Background(), nil, &containers.Container{}, s); err != nil {
				t.Fatal(err)
			}
			got := s.Linux.Seccomp
			if slices.Contains(got.Architectures, specs.ArchX32) != tc.wantX32 {
				t.Errorf("architectures %v: x32 present = %v, want %v", got.Architectures, !tc.wantX32, tc.wantX32)
			}
			for _, a := range want.Linux.Seccomp.Architectures {
				if a != specs.ArchX32 && !slices.Contains(got.Architectures, a) {
					t.Errorf("architecture %s of containerd's profile missing: %v", a, got.Architectures)
				}
			}
			if got.DefaultAction != want.Linux.Seccomp.DefaultAction || len(got.Syscalls) != len(want.Linux.Seccomp.Syscalls) {
				t.Errorf("profile changed beyond its architectures: default %s, %d rules; containerd's %s, %d",
					got.DefaultAction, len(got.Syscalls), want.Linux.Seccomp.DefaultAction, len(want.Linux.Seccomp.Syscalls))
			}
		})
	}
	if !slices.Contains(want.Linux.Seccomp.Architectures, specs.ArchX32) {
		t.Log("containerd's profile has no x32 on this architecture")
	}
}

func TestWithoutX32LeavesItsInput(t *testing.T) {
	in := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	out := withoutX32(in)
	if !slices.Equal(out, []specs.Arch{specs.ArchX86_64, specs.ArchX86}) {
		t.Errorf("withoutX32 = %v", out)
	}
	if !slices.Equal(in, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
		t.Errorf("input changed: %v", in)
	}
}
