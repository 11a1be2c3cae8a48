package containerd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// x32SyscallBit marks a system call number as one of the x32 ABI's.
const x32SyscallBit = 0x40000000

// probeCompatABIs asks the kernel which compatibility ABIs it runs.
func probeCompatABIs() compatABIs {
	return compatABIs{X32: probeKernelX32(), IA32: probeKernelIA32()}
}

// probeKernelX32 reports whether the kernel runs x32 system calls: getpid
// with the x32 bit answers the pid on a kernel built with
// CONFIG_X86_X32_ABI (and not booted with x32 disabled) and fails with
// ENOSYS on one without.
func probeKernelX32() bool {
	_, _, errno := syscall.RawSyscall(x32SyscallBit|syscall.SYS_GETPID, 0, 0, 0)
	return errno == 0
}

// ia32ExitCode is what the probe program exits with.
const ia32ExitCode = 42

// probeKernelIA32 reports whether the kernel runs 32-bit x86 programs: it
// executes ia32Probe (from memory, never from disk), which exits with
// ia32ExitCode through int 0x80.
func probeKernelIA32() bool { return ia32Present(runIA32Probe()) }

// ia32Present reads the probe's outcome. Only the kernel's refusal of the
// format (ENOEXEC: no CONFIG_IA32_EMULATION, or the emulation off at boot)
// counts as absent; any other failure (a memfd the host forbids to
// execute, say) reports the ABI present, which keeps the profile's x86
// part as containerd makes it.
func ia32Present(probeErr error) bool { return !errors.Is(probeErr, syscall.ENOEXEC) }

// runIA32Probe executes the probe program: nil when it exited with
// ia32ExitCode, else why not.
func runIA32Probe() error {
	fd, err := unix.MemfdCreate("orch-ia32-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "orch-ia32-probe")
	defer f.Close()
	if _, err := f.Write(ia32Probe()); err != nil {
		return fmt.Errorf("write the probe: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The parent's descriptor stays open while the child executes it.
	err = exec.CommandContext(ctx, fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)).Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == ia32ExitCode {
		return nil
	}
	if err == nil {
		return errors.New("the ia32 probe exited with 0, not its code")
	}
	return fmt.Errorf("run the ia32 probe: %w", err)
}

// ia32Probe is a minimal static ELF32 i386 executable: one PT_LOAD segment
// holding the headers and the code `mov eax, 1; mov ebx, ia32ExitCode;
// int 0x80` (exit(ia32ExitCode)).
func ia32Probe() []byte {
	const (
		base     = 0x08048000
		ehdrSize = 52
		phdrSize = 32
	)
	code := []byte{0xb8, 1, 0, 0, 0, 0xbb, ia32ExitCode, 0, 0, 0, 0xcd, 0x80}
	size := uint32(ehdrSize + phdrSize + len(code))
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, 0x7f, 'E', 'L', 'F', 1 /* ELFCLASS32 */, 1 /* little endian */, 1 /* EV_CURRENT */, 0)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint16(b, 2)                      // e_type ET_EXEC
	b = le.AppendUint16(b, 3)                      // e_machine EM_386
	b = le.AppendUint32(b, 1)                      // e_version
	b = le.AppendUint32(b, base+ehdrSize+phdrSize) // e_entry
	b = le.AppendUint32(b, ehdrSize)               // e_phoff
	b = le.AppendUint32(b, 0)                      // e_shoff
	b = le.AppendUint32(b, 0)                      // e_flags
	b = le.AppendUint16(b, ehdrSize)               // e_ehsize
	b = le.AppendUint16(b, phdrSize)               // e_phentsize
	b = le.AppendUint16(b, 1)                      // e_phnum
	b = append(b, 0, 0, 0, 0, 0, 0)                // e_shentsize, e_shnum, e_shstrndx
	b = le.AppendUint32(b, 1)                      // p_type PT_LOAD
	b = le.AppendUint32(b, 0)                      // p_offset
	b = le.AppendUint32(b, base)                   // p_vaddr
	b = le.AppendUint32(b, base)                   // p_paddr
	b = le.AppendUint32(b, size)                   // p_filesz
	b = le.AppendUint32(b, size)                   // p_memsz
	b = le.AppendUint32(b, 5)                      // p_flags R+X
	b = le.AppendUint32(b, 0x1000)                 // p_align
	return append(b, code...)
}
