package harness

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
)

// Pause stops the process with SIGSTOP: it keeps its sockets but answers
// nothing, like a machine that hangs.
func (p *process) Pause() error { return p.kill(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (p *process) Resume() error { return p.kill(syscall.SIGCONT) }

func (p *process) kill(sig syscall.Signal) error {
	pid := p.PID()
	if pid == 0 {
		return fmt.Errorf("process is not running")
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("send %v to %d: %w", sig, pid, err)
	}
	return nil
}

// DropRule is one iptables rule of a traffic cut, in the filter table.
type DropRule struct {
	Chain string
	Args  []string
}

// DropTraffic inserts DROP rules at the top of INPUT and OUTPUT in a test
// network namespace: traffic from and to each peer IP, or, with no peers,
// everything on eth0 (the namespace is cut off from the test network; its
// loopback and pod bridge keep working). It returns a heal function that
// deletes the rules; t.Cleanup deletes them too (the namespace's deletion
// would anyway).
func DropTraffic(t T, netns string, peers ...string) (heal func() error) {
	t.Helper()
	var rules []DropRule
	if len(peers) == 0 {
		rules = []DropRule{{"INPUT", []string{"-i", "eth0"}}, {"OUTPUT", []string{"-o", "eth0"}}}
	}
	for _, ip := range peers {
		rules = append(rules, DropRule{"INPUT", []string{"-s", ip}}, DropRule{"OUTPUT", []string{"-d", ip}})
	}
	return Drop(t, netns, rules...)
}

// DropPort cuts one port in a test network namespace, as DropTraffic cuts
// peers: every TCP and UDP packet in or out whose source or destination
// port is port (e.g. a member's gossip, while its API traffic flows).
func DropPort(t T, netns string, port int) (heal func() error) {
	t.Helper()
	var rules []DropRule
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		for _, proto := range []string{"tcp", "udp"} {
			rules = append(rules, DropRule{chain, []string{"-p", proto, "-m", "multiport", "--ports", fmt.Sprint(port)}})
		}
	}
	return Drop(t, netns, rules...)
}

// Drop inserts rules (each with -j DROP) at the top of their chains in a
// test network namespace and returns a heal function that deletes them;
// t.Cleanup deletes them too.
func Drop(t T, netns string, rules ...DropRule) (heal func() error) {
	t.Helper()
	ipt := func(op string, r DropRule) error {
		args := append([]string{"--net=/run/netns/" + netns, "--", "iptables", "-w", "5", op, r.Chain}, r.Args...)
		args = append(args, "-m", "comment", "--comment", "orch-chaos", "-j", "DROP")
		if op == "-I" {
			args = append(args[:7], append([]string{"1"}, args[7:]...)...)
		}
		if out, err := exec.Command("nsenter", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s %s in %s: %v: %s", op, strings.Join(r.Args, " "), netns, err, out)
		}
		return nil
	}
	for _, r := range rules {
		if err := ipt("-I", r); err != nil {
			t.Fatalf("cut traffic: %v", err)
		}
	}
	healed := false
	heal = func() error {
		if healed {
			return nil
		}
		healed = true
		var errs []string
		for _, r := range rules {
			if err := ipt("-D", r); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("heal: %s", strings.Join(errs, "; "))
		}
		return nil
	}
	t.Cleanup(func() { heal() })
	return heal
}
