package containerd

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// TestIA32ProbeIsAnI386Program: the probe is an ELF32 i386 executable
// whose entry point lies in its one loaded segment.
func TestIA32ProbeIsAnI386Program(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(ia32Probe()))
	if err != nil {
		t.Fatalf("not an ELF file: %v", err)
	}
	if f.Class != elf.ELFCLASS32 || f.Machine != elf.EM_386 || f.Type != elf.ET_EXEC {
		t.Fatalf("class %v machine %v type %v, want ELFCLASS32 EM_386 ET_EXEC", f.Class, f.Machine, f.Type)
	}
	if len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD {
		t.Fatalf("program headers %v, want one PT_LOAD", f.Progs)
	}
	p := f.Progs[0]
	if f.Entry < p.Vaddr || f.Entry >= p.Vaddr+p.Filesz || p.Flags&elf.PF_X == 0 {
		t.Fatalf("entry %#x outside the executable segment %#x+%#x (flags %v)", f.Entry, p.Vaddr, p.Filesz, p.Flags)
	}
}

// TestIA32Present: only the kernel's refusal of the format means absent.
func TestIA32Present(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ran and exited with its code", nil, true},
		{"exec format error", fmt.Errorf("run the ia32 probe: %w", &fs.PathError{Op: "fork/exec", Path: "/proc/1/fd/3", Err: syscall.ENOEXEC}), false},
		{"memfd not executable", fmt.Errorf("run the ia32 probe: %w", &fs.PathError{Op: "fork/exec", Err: syscall.EACCES}), true},
		{"no memfd", fmt.Errorf("memfd: %w", syscall.ENOSYS), true},
		{"other exit", errors.New("the ia32 probe exited with 0, not its code"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ia32Present(tc.err); got != tc.want {
				t.Fatalf("ia32Present(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestIA32ProbeAnswers: on this kernel the probe either runs (exit code
// seen) or is refused as a format; nothing else (no hang, no other error).
func TestIA32ProbeAnswers(t *testing.T) {
	err := runIA32Probe()
	if err != nil && !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("the probe neither ran nor was refused as a format: %v", err)
	}
	t.Logf("ia32 present: %v (%v)", ia32Present(err), err)
}
