package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// executor runs one external command (in the proxier's netns) and returns
// its stdout. Tests wrap it to inject failures.
type executor interface {
	run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error)
}

// nsExecutor runs commands in a network namespace.
type nsExecutor struct {
	netns string
}

// cmdError is a failed command with its stderr.
type cmdError struct {
	cmd    string
	err    error
	stderr string
}

func (e *cmdError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.cmd, e.err, strings.TrimSpace(e.stderr))
}

func (e *cmdError) Unwrap() error { return e.err }

func (x nsExecutor) run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	err := InNetNS(x.netns, func() error {
		cmd := exec.CommandContext(ctx, name, args...)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return &cmdError{cmd: name + " " + strings.Join(args, " "), err: err, stderr: stderr.String()}
		}
		return nil
	})
	return stdout.Bytes(), err
}

// backend is the iptables flavour in use (the system's `iptables`
// alternative) and the commands that drive it.
type backend struct {
	x       executor
	mode    string // "nf_tables" or "legacy"
	save    string
	restore string
	// iptables is the command go-iptables runs for the jump rules: the
	// detected flavour's own binary (iptables-nft or iptables-legacy), or
	// plain iptables when that is not installed or the flavour is unnamed.
	iptables string
	other    string // the other flavour's iptables-save, "" if not installed
}

// detectBackend asks `iptables --version` which flavour is the default.
func detectBackend(ctx context.Context, x executor) (*backend, error) {
	out, err := x.run(ctx, "iptables", []string{"--version"}, nil)
	if err != nil {
		return nil, fmt.Errorf("detect iptables backend: %w", err)
	}
	b := &backend{x: x, save: "iptables-save", restore: "iptables-restore", iptables: "iptables"}
	flavour := ""
	switch v := string(out); {
	case strings.Contains(v, "nf_tables"):
		b.mode = "nf_tables"
		b.other = "iptables-legacy-save"
		flavour = "iptables-nft"
	case strings.Contains(v, "legacy"):
		b.mode = "legacy"
		b.other = "iptables-nft-save"
		flavour = "iptables-legacy"
	default:
		// Old iptables without the flavour in its version: legacy only.
		b.mode = "legacy"
	}
	if flavour != "" {
		if _, err := exec.LookPath(flavour); err == nil {
			b.iptables = flavour
		}
	}
	if b.other != "" {
		if _, err := exec.LookPath(b.other); err != nil {
			b.other = ""
		}
	}
	return b, nil
}

// readState reads our chains (and the jump rules to them) from both tables.
func (b *backend) readState(ctx context.Context, saveCmd string) (*Ruleset, []jumpRule, error) {
	rs := newRuleset()
	var jumps []jumpRule
	for _, t := range []string{TableFilter, TableNAT} {
		out, err := b.x.run(ctx, saveCmd, []string{"-t", t}, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s table: %w", t, err)
		}
		part, j := parseSave(out)
		if pt := part.tables[t]; pt != nil {
			rs.tables[t] = pt
		}
		jumps = append(jumps, j...)
	}
	return rs, jumps, nil
}

// readOther reads our chains from the other flavour's save command. It
// names no table: iptables-legacy-save -t would load the legacy table's
// module (and register its hooks) just by asking; without -t it prints only
// tables that already exist.
func (b *backend) readOther(ctx context.Context) (*Ruleset, []jumpRule, error) {
	out, err := b.x.run(ctx, b.other, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", b.other, err)
	}
	rs, jumps := parseSave(out)
	return rs, jumps, nil
}

// applyRestore feeds text to iptables-restore --noflush. On failure the
// error quotes the lines around the one iptables-restore names.
func (b *backend) applyRestore(ctx context.Context, text []byte) error {
	_, err := b.x.run(ctx, b.restore, []string{"-w", "5", "--noflush"}, text)
	if err == nil {
		return nil
	}
	var ce *cmdError
	if errors.As(err, &ce) {
		if ctx := failingLines(text, ce.stderr); ctx != "" {
			return fmt.Errorf("%w; input around the failing line:\n%s", err, ctx)
		}
	}
	return err
}

var lineRE = regexp.MustCompile(`line:? (\d+)`)

// failingLines returns the input line iptables-restore reported as failing
// with one line either side, numbered, or "" when stderr names none.
func failingLines(text []byte, stderr string) string {
	m := lineRE.FindStringSubmatch(stderr)
	if m == nil {
		return ""
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 {
		return ""
	}
	lines := strings.Split(string(text), "\n")
	var b strings.Builder
	for i := max(n-1, 1); i <= n+1 && i <= len(lines); i++ {
		mark := "  "
		if i == n {
			mark = "> "
		}
		fmt.Fprintf(&b, "%s%d: %s\n", mark, i, lines[i-1])
	}
	return b.String()
}

// sysctls the proxier needs in its namespace: bridged pod traffic must see
// iptables. route_localnet, which DNAT of 127.0.0.1 (local NodePorts)
// needs, is set per device at each sync (localnet_devices.go), never for
// all devices.
var sysctls = []struct{ path, value string }{
	{"net/bridge/bridge-nf-call-iptables", "1"},
}

// setSysctls writes the sysctls in the target namespace (/proc/sys/net is
// resolved against the namespace of the thread that opens it).
func setSysctls(netnsPath string) error {
	return InNetNS(netnsPath, func() error {
		for _, s := range sysctls {
			p := filepath.Join("/proc/sys", s.path)
			cur, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("read sysctl %s: %w", s.path, err)
			}
			if strings.TrimSpace(string(cur)) == s.value {
				continue
			}
			if err := os.WriteFile(p, []byte(s.value), 0o644); err != nil {
				return fmt.Errorf("set sysctl %s=%s: %w", s.path, s.value, err)
			}
		}
		return nil
	})
}
