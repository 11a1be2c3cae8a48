package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

const policyRCD = "/usr/sbin/policy-rc.d"

// EnsureEtcd installs the Debian package etcd-server if EtcdBinary is
// missing, and does nothing otherwise. It runs `apt-get install -y
// etcd-server`, and `apt-get update` followed by a second attempt only if
// the first fails. It needs root.
//
// The package must not leave a system etcd running or starting on boot.
// What etcd-server 3.4.23-4 does (read from its maintainer scripts): postinst
// runs `update-rc.d etcd defaults` (sysv start links in rc2-5.d), then
// `invoke-rc.d etcd start`, then `deb-systemd-helper enable etcd.service`,
// and `deb-systemd-invoke start` when systemd is running. So EnsureEtcd:
//   - installs with a policy-rc.d that exits 101 ("action forbidden"), which
//     makes invoke-rc.d and deb-systemd-invoke skip the start. An existing
//     policy-rc.d that already answers 101 is used as is; otherwise one is put
//     in place for the install and the original restored afterwards;
//   - stops any /usr/bin/etcd process that appeared during the install anyway
//     (none could run before: the binary did not exist), through the init
//     system that started it, never by signalling a PID it did not start;
//   - disables the boot start: `update-rc.d etcd disable` (sysv links become
//     K links) and `systemctl disable etcd.service` (removes the
//     multi-user.target.wants and etcd2.service alias symlinks; works without
//     a running systemd).
//
// On the development machine PID 1 is neither systemd nor sysvinit and the
// container image ships a policy-rc.d that exits 101, so nothing starts; the
// steps above keep that true on a host with an init system.
func EnsureEtcd() error {
	if _, err := os.Stat(EtcdBinary); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("etcd: %s missing and installing etcd-server needs root", EtcdBinary)
	}
	before := etcdPIDs()

	restore, err := denyServiceStarts()
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	installErr := aptInstallEtcd()
	if err := restore(); err != nil {
		installErr = errors.Join(installErr, fmt.Errorf("etcd: restore %s: %w", policyRCD, err))
	}
	if installErr != nil {
		return installErr
	}

	var errs []error
	if err := stopPackageService(before); err != nil {
		errs = append(errs, err)
	}
	if err := disableBootStart(); err != nil {
		errs = append(errs, err)
	}
	if _, err := os.Stat(EtcdBinary); err != nil {
		errs = append(errs, fmt.Errorf("etcd: installed etcd-server but %w", err))
	}
	return errors.Join(errs...)
}

// denyServiceStarts makes sure policy-rc.d forbids service actions and
// returns how to put things back as they were.
func denyServiceStarts() (restore func() error, err error) {
	nothing := func() error { return nil }
	if _, err := os.Stat(policyRCD); err == nil {
		err := exec.Command(policyRCD, "etcd", "start").Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 101 {
			return nothing, nil // already forbids starts
		}
		saved := policyRCD + ".orch-bench-saved"
		if err := os.Rename(policyRCD, saved); err != nil {
			return nil, fmt.Errorf("set %s aside: %w", policyRCD, err)
		}
		if err := os.WriteFile(policyRCD, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
			return nil, errors.Join(fmt.Errorf("write %s: %w", policyRCD, err), os.Rename(saved, policyRCD))
		}
		return func() error { return os.Rename(saved, policyRCD) }, nil
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if err := os.WriteFile(policyRCD, []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", policyRCD, err)
	}
	return func() error { return os.Remove(policyRCD) }, nil
}

func aptInstallEtcd() error {
	install := func() error { return runLogged("apt-get", "install", "-y", "--no-install-recommends", "etcd-server") }
	err := install()
	if err == nil {
		return nil
	}
	if uerr := runLogged("apt-get", "update"); uerr != nil {
		return fmt.Errorf("etcd: apt-get install: %w; apt-get update: %w", err, uerr)
	}
	if err := install(); err != nil {
		return fmt.Errorf("etcd: apt-get install after update: %w", err)
	}
	return nil
}

// runLogged runs a command with a non-interactive Debian frontend and
// returns its output in the error when it fails.
func runLogged(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", name, args, err, out.Bytes())
	}
	return nil
}

// etcdPIDs lists processes running EtcdBinary.
func etcdPIDs() map[int]bool {
	pids := map[int]bool{}
	exes, _ := filepath.Glob("/proc/[0-9]*/exe")
	for _, exe := range exes {
		target, err := os.Readlink(exe)
		if err != nil || target != EtcdBinary {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(exe))); err == nil {
			pids[pid] = true
		}
	}
	return pids
}

func systemdRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// stopPackageService stops the package's etcd service if the install started
// one that was not running before, and checks that it is gone.
func stopPackageService(before map[int]bool) error {
	var started []int
	for pid := range etcdPIDs() {
		if !before[pid] {
			started = append(started, pid)
		}
	}
	if len(started) == 0 {
		return nil
	}
	var err error
	if systemdRunning() {
		err = runLogged("systemctl", "stop", "etcd.service")
	} else {
		err = runLogged("/etc/init.d/etcd", "stop")
	}
	if err != nil {
		return fmt.Errorf("etcd: the install started etcd (pids %v) and stopping the service failed: %w", started, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := 0
		now := etcdPIDs()
		for _, pid := range started {
			if now[pid] {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd: the install started etcd (pids %v) and it is still running after the service stop", started)
		}
		time.Sleep(50 * time.Millisecond) // polling /proc until the deadline
	}
}

// disableBootStart removes the package's boot-time start. `update-rc.d
// disable` turns the sysv S links into K links and, when systemctl exists,
// also runs `systemctl disable`, which edits the unit symlinks without a
// running systemd; the explicit systemctl call covers a host without the
// init script. (deb-systemd-helper refuses to run outside dpkg.)
func disableBootStart() error {
	var errs []error
	if _, err := os.Stat("/etc/init.d/etcd"); err == nil {
		if err := runLogged("update-rc.d", "etcd", "disable"); err != nil {
			errs = append(errs, fmt.Errorf("etcd: %w", err))
		}
	}
	if _, err := exec.LookPath("systemctl"); err == nil {
		if err := runLogged("systemctl", "disable", "etcd.service"); err != nil {
			errs = append(errs, fmt.Errorf("etcd: %w", err))
		}
	}
	return errors.Join(errs...)
}
