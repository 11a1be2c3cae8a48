package containerd

import (
	"context"
	"slices"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// withRuntimeDefaultSeccomp applies containerd's default profile, as the
// CRI plugin's RuntimeDefault, without the x32 architecture when the kernel
// has no x32 ABI (CONFIG_X86_X32_ABI unset, as in most distribution
// kernels since 2022).
//
// runc compiles the profile with libseccomp for every container, and each
// architecture in it costs about 5 ms of container start on these
// machines. On a kernel without x32 the x32 part of the filter can never
// match: an x32 system call fails with ENOSYS before any filter sees it,
// filtered or not. The syscall lists, actions and the x86_64 and x86
// parts stay exactly containerd's.
func withRuntimeDefaultSeccomp(kernelHasX32 bool) oci.SpecOpts {
	def := seccomp.WithDefaultProfile()
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if err := def(ctx, c, ctr, s); err != nil {
			return err
		}
		if !kernelHasX32 && s.Linux != nil && s.Linux.Seccomp != nil {
			s.Linux.Seccomp.Architectures = withoutX32(s.Linux.Seccomp.Architectures)
		}
		return nil
	}
}

// withoutX32 returns arches without SCMP_ARCH_X32.
func withoutX32(arches []specs.Arch) []specs.Arch {
	return slices.DeleteFunc(slices.Clone(arches), func(a specs.Arch) bool { return a == specs.ArchX32 })
}
