package v1

import (
	"strings"
	"testing"
)

func TestValidateSecurityContext(t *testing.T) {
	csc := func(s *PodSpec) *SecurityContext {
		if s.Containers[0].SecurityContext == nil {
			s.Containers[0].SecurityContext = &SecurityContext{}
		}
		return s.Containers[0].SecurityContext
	}
	psc := func(s *PodSpec) *PodSecurityContext {
		if s.SecurityContext == nil {
			s.SecurityContext = &PodSecurityContext{}
		}
		return s.SecurityContext
	}
	for _, tc := range []struct {
		name   string
		mutate func(s *PodSpec)
		field  string // "" = valid
		msg    string // part of the cause's message
	}{
		{"restricted pod", func(s *PodSpec) {
			p := psc(s)
			p.RunAsNonRoot, p.RunAsUser, p.RunAsGroup, p.FSGroup = new(true), new(int64(1000)), new(int64(1000)), new(int64(2000))
			p.SupplementalGroups = []int64{3000}
			p.SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeRuntimeDefault}
			p.FSGroupChangePolicy = new(FSGroupChangeOnRootMismatch)
			c := csc(s)
			c.AllowPrivilegeEscalation, c.ReadOnlyRootFilesystem = new(false), new(true)
			c.Capabilities = &Capabilities{Drop: []Capability{"ALL"}, Add: []Capability{"NET_BIND_SERVICE"}}
			c.ProcMount = new(ProcMountDefault)
		}, "", ""},
		{"privileged", func(s *PodSpec) { csc(s).Privileged = new(true) }, "", ""},
		{"localhost seccomp", func(s *PodSpec) {
			csc(s).SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeLocalhost, LocalhostProfile: new("profiles/audit.json")}
		}, "", ""},
		{"unconfined seccomp", func(s *PodSpec) { psc(s).SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeUnconfined} }, "", ""},
		{"unconfined apparmor", func(s *PodSpec) { psc(s).AppArmorProfile = &AppArmorProfile{Type: AppArmorProfileTypeUnconfined} }, "", ""},
		{"safe sysctls", func(s *PodSpec) {
			psc(s).Sysctls = []Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}, {Name: "kernel/shm_rmid_forced", Value: "1"}}
		}, "", ""},
		{"runAsUser negative", func(s *PodSpec) { csc(s).RunAsUser = new(int64(-1)) },
			"spec.containers[0].securityContext.runAsUser", "must be between 0 and 2147483647, inclusive"},
		{"runAsUser too big", func(s *PodSpec) { psc(s).RunAsUser = new(int64(1 << 31)) },
			"spec.securityContext.runAsUser", "must be between 0 and 2147483647, inclusive"},
		{"runAsGroup negative", func(s *PodSpec) { csc(s).RunAsGroup = new(int64(-2)) },
			"spec.containers[0].securityContext.runAsGroup", "must be between 0 and 2147483647, inclusive"},
		{"fsGroup negative", func(s *PodSpec) { psc(s).FSGroup = new(int64(-1)) }, "spec.securityContext.fsGroup", "must be between"},
		{"supplementalGroups negative", func(s *PodSpec) { psc(s).SupplementalGroups = []int64{1, -1} },
			"spec.securityContext.supplementalGroups[1]", "must be between"},
		{"privileged without escalation", func(s *PodSpec) {
			c := csc(s)
			c.Privileged, c.AllowPrivilegeEscalation = new(true), new(false)
		}, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"},
		{"CAP_SYS_ADMIN without escalation", func(s *PodSpec) {
			c := csc(s)
			c.AllowPrivilegeEscalation = new(false)
			c.Capabilities = &Capabilities{Add: []Capability{"CAP_SYS_ADMIN"}}
		}, "spec.containers[0].securityContext", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"},
		{"seccomp type missing", func(s *PodSpec) { psc(s).SeccompProfile = &SeccompProfile{} },
			"spec.securityContext.seccompProfile.type", "type is required when seccompProfile is set"},
		{"seccomp type unknown", func(s *PodSpec) { csc(s).SeccompProfile = &SeccompProfile{Type: "Strict"} },
			"spec.containers[0].securityContext.seccompProfile.type", "supported values"},
		{"localhost without profile", func(s *PodSpec) { csc(s).SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeLocalhost} },
			"spec.containers[0].securityContext.seccompProfile.localhostProfile", "must be set when seccomp type is Localhost"},
		{"localhost absolute", func(s *PodSpec) {
			csc(s).SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeLocalhost, LocalhostProfile: new("/etc/shadow")}
		}, "spec.containers[0].securityContext.seccompProfile.localhostProfile", "must be a relative path"},
		{"localhost backsteps", func(s *PodSpec) {
			psc(s).SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeLocalhost, LocalhostProfile: new("a/../../x.json")}
		}, "spec.securityContext.seccompProfile.localhostProfile", "must not contain '..'"},
		{"profile without localhost", func(s *PodSpec) {
			psc(s).SeccompProfile = &SeccompProfile{Type: SeccompProfileTypeRuntimeDefault, LocalhostProfile: new("x.json")}
		}, "spec.securityContext.seccompProfile.localhostProfile", "can only be set when seccomp type is Localhost"},
		{"procMount Unmasked", func(s *PodSpec) { csc(s).ProcMount = new(ProcMountUnmasked) },
			"spec.containers[0].securityContext.procMount", "`hostUsers` must be false to use `Unmasked`"},
		{"procMount unknown", func(s *PodSpec) { csc(s).ProcMount = new("Raw") },
			"spec.containers[0].securityContext.procMount", "supported values"},
		{"apparmor runtime default", func(s *PodSpec) { csc(s).AppArmorProfile = &AppArmorProfile{Type: AppArmorProfileTypeRuntimeDefault} },
			"spec.containers[0].securityContext.appArmorProfile.type", "Cannot enforce AppArmor: AppArmor is not enabled on the host"},
		{"apparmor localhost", func(s *PodSpec) {
			psc(s).AppArmorProfile = &AppArmorProfile{Type: AppArmorProfileTypeLocalhost, LocalhostProfile: new("k8s-nginx")}
		}, "spec.securityContext.appArmorProfile.type", "AppArmor is not enabled"},
		{"apparmor type missing", func(s *PodSpec) { psc(s).AppArmorProfile = &AppArmorProfile{} },
			"spec.securityContext.appArmorProfile.type", "type is required when appArmorProfile is set"},
		{"selinux on pod", func(s *PodSpec) { psc(s).SELinuxOptions = &SELinuxOptions{Level: "s0:c123,c456"} },
			"spec.securityContext.seLinuxOptions", "orch does not support SELinux yet"},
		{"selinux on container", func(s *PodSpec) { csc(s).SELinuxOptions = &SELinuxOptions{Type: "spc_t"} },
			"spec.containers[0].securityContext.seLinuxOptions", "orch does not support SELinux yet"},
		{"fsGroupChangePolicy unknown", func(s *PodSpec) { psc(s).FSGroupChangePolicy = new("Never") },
			"spec.securityContext.fsGroupChangePolicy", "supported values"},
		{"sysctl bad name", func(s *PodSpec) { psc(s).Sysctls = []Sysctl{{Name: "Net.IPv4", Value: "1"}} },
			"spec.securityContext.sysctls[0].name", "must have at most 253 characters and match regex"},
		{"sysctl empty name", func(s *PodSpec) { psc(s).Sysctls = []Sysctl{{Value: "1"}} },
			"spec.securityContext.sysctls[0].name", "Required value"},
		{"sysctl duplicate", func(s *PodSpec) {
			psc(s).Sysctls = []Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}, {Name: "net/ipv4/tcp_syncookies", Value: "0"}}
		}, "spec.securityContext.sysctls[1].name", "Duplicate value"},
		{"sysctl unsafe", func(s *PodSpec) { psc(s).Sysctls = []Sysctl{{Name: "kernel.msgmax", Value: "65536"}} },
			"spec.securityContext.sysctls[0].name", "orch does not support unsafe sysctls yet"},
		{"init container too", func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "init", Image: "busybox", ImagePullPolicy: PullIfNotPresent,
				TerminationMessagePath: DefaultTerminationMessagePath, TerminationMessagePolicy: "File",
				SecurityContext: &SecurityContext{RunAsUser: new(int64(-5))}}}
		}, "spec.initContainers[0].securityContext.runAsUser", "must be between"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validPod()
			tc.mutate(&p.Spec)
			err := Validate(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid pod refused: %v", err)
				}
				return
			}
			wantInvalid(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			rc := validRC()
			rc.Spec.Template.Spec = p.Spec
			rc.Spec.Template.Spec.NodeName = ""
			wantInvalid(t, Validate(rc), "spec.template."+tc.field)
		})
	}
}

func TestSysctlDotted(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.tcp_rmem":         "net.ipv4.tcp_rmem",
		"net/ipv4/tcp_rmem":         "net.ipv4.tcp_rmem",
		"net/ipv4/conf/eth0.100/rp": "net.ipv4.conf.eth0/100.rp",
		"net.ipv4.conf.eth0/100.rp": "net.ipv4.conf.eth0/100.rp",
		"kernel":                    "kernel",
	} {
		if got := SysctlDotted(in); got != want {
			t.Errorf("SysctlDotted(%q) = %q, want %q", in, got, want)
		}
	}
}

// The node never needs to restart a container for a changed
// securityContext: as in Kubernetes, a pod update cannot change it.
func TestSecurityContextImmutable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(s *PodSpec)
		field  string
	}{
		{"pod securityContext", func(s *PodSpec) { s.SecurityContext = &PodSecurityContext{RunAsUser: new(int64(1000))} }, "spec"},
		{"container securityContext", func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{Privileged: new(true)}
		}, "spec.containers[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := validPod()
			old.Spec.NodeName = "node-1"
			p := validPod()
			p.Spec.NodeName = "node-1"
			tc.mutate(&p.Spec)
			wantInvalid(t, ValidateUpdate(p, old), tc.field)
		})
	}
}
