package containerd

import "syscall"

// x32SyscallBit marks a system call number as one of the x32 ABI's.
const x32SyscallBit = 0x40000000

// probeKernelX32 reports whether the kernel runs x32 system calls: getpid
// with the x32 bit answers the pid on a kernel built with
// CONFIG_X86_X32_ABI (and not booted with x32 disabled) and fails with
// ENOSYS on one without.
func probeKernelX32() bool {
	_, _, errno := syscall.RawSyscall(x32SyscallBit|syscall.SYS_GETPID, 0, 0, 0)
	return errno == 0
}
