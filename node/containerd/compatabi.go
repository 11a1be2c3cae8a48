package containerd

import (
	"context"
	"slices"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// compatABIs says which compatibility system call ABIs the kernel runs
// beside its native one: on amd64, x32 (CONFIG_X86_X32_ABI) and ia32, the
// 32-bit x86 ABI (CONFIG_IA32_EMULATION, which a kernel may also turn off
// at boot: ia32_emulation=off, or by default in some virtual machines).
// Off amd64 both are reported present, so profiles stay as containerd makes
// them.
type compatABIs struct {
	X32, IA32 bool
}

// withRuntimeDefaultSeccomp applies containerd's default profile, as the
// CRI plugin's RuntimeDefault, without the architectures whose system
// calls the kernel does not run.
//
// runc compiles the profile with libseccomp for every container, and each
// architecture in it costs about 5 ms of container start on these
// machines. The part of a filter for an ABI the kernel lacks can never
// match: an x32 system call fails with ENOSYS before any filter sees it,
// and a 32-bit x86 program cannot even be executed (ENOEXEC) nor enter the
// kernel through int 0x80 (the kernel answers it with a fault). The syscall
// lists, actions and the native part stay exactly containerd's.
func withRuntimeDefaultSeccomp(abis compatABIs) oci.SpecOpts {
	def := seccomp.WithDefaultProfile()
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if err := def(ctx, c, ctr, s); err != nil {
			return err
		}
		if s.Linux != nil && s.Linux.Seccomp != nil {
			s.Linux.Seccomp.Architectures = supportedArches(s.Linux.Seccomp.Architectures, abis)
		}
		return nil
	}
}

// supportedArches returns arches without those of the ABIs abis lacks.
func supportedArches(arches []specs.Arch, abis compatABIs) []specs.Arch {
	return slices.DeleteFunc(slices.Clone(arches), func(a specs.Arch) bool {
		return (a == specs.ArchX32 && !abis.X32) || (a == specs.ArchX86 && !abis.IA32)
	})
}
