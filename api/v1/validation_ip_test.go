package v1

import (
	"strings"
	"testing"
)

// Endpoints and pod IPs refuse the addresses Kubernetes' ValidateNonSpecialIP
// refuses, with its wording, and accept ordinary ones.
func TestValidateNonSpecialIPs(t *testing.T) {
	const (
		unspecified = "may not be unspecified"
		loopback    = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
		linkLocal   = "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
		llMulticast = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
	)
	ips := []struct {
		ip, want string // want "" = accepted
	}{
		{"10.244.1.5", ""},
		{"192.168.77.1", ""},
		{"8.8.8.8", ""},
		{"224.1.2.3", ""}, // multicast beyond link-local: Kubernetes accepts it
		{"2001:db8::1", ""},
		{"0.0.0.0", unspecified + " (0.0.0.0)"},
		{"::", unspecified + " (::)"},
		{"127.0.0.1", loopback},
		{"127.3.4.5", loopback},
		{"::1", loopback},
		{"::ffff:127.0.0.1", "must not be an IPv4-mapped IPv6 address"}, // IsValidIPForLegacyField
		{"169.254.169.254", linkLocal},
		{"fe80::1", linkLocal},
		{"224.0.0.1", llMulticast},
		{"ff02::1", llMulticast},
	}
	places := []struct {
		field string
		obj   func(ip string) Object
	}{
		{"subsets[0].addresses[0].ip", func(ip string) Object {
			e := validEndpoints()
			e.Subsets[0].Addresses[0].IP = ip
			return e
		}},
		{"subsets[0].notReadyAddresses[0].ip", func(ip string) Object {
			e := validEndpoints()
			e.Subsets[0].NotReadyAddresses[0].IP = ip
			return e
		}},
		{"status.podIP", func(ip string) Object {
			p := validPod()
			p.Status.PodIP = ip
			return p
		}},
		{"status.podIPs[0].ip", func(ip string) Object {
			p := validPod()
			p.Status.PodIPs = []PodIP{{IP: ip}}
			return p
		}},
	}
	for _, pl := range places {
		for _, c := range ips {
			t.Run(pl.field+" "+c.ip, func(t *testing.T) {
				err := Validate(pl.obj(c.ip))
				if c.want == "" {
					if err != nil {
						t.Fatalf("%s refused: %v", c.ip, err)
					}
					return
				}
				wantInvalid(t, err, pl.field)
				if !strings.Contains(err.Error(), c.want) {
					t.Fatalf("message %q does not say %q", err.Error(), c.want)
				}
			})
		}
	}
}

func TestIsSpecialIP(t *testing.T) {
	for ip, want := range map[string]bool{
		"10.244.1.5": false, "127.0.0.1": true, "::ffff:127.0.0.1": true, "169.254.1.1": true,
		"0.0.0.0": true, "224.0.0.251": true, "not-an-ip": true, "": true,
	} {
		if got := IsSpecialIP(ip); got != want {
			t.Errorf("IsSpecialIP(%q) = %v, want %v", ip, got, want)
		}
	}
}

// A node's pod CIDRs are checked as Kubernetes' ValidateNode checks podCIDRs,
// and podCIDR must agree with them.
func TestValidateNodePodCIDRs(t *testing.T) {
	cases := []struct {
		name     string
		spec     NodeSpec
		field    string // "" = valid
		contains string
	}{
		{"none", NodeSpec{}, "", ""},
		{"podCIDR only", NodeSpec{PodCIDR: "10.244.1.0/24"}, "", ""},
		{"both, agreeing", NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}, "", ""},
		{"dual stack", NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64"}}, "", ""},
		{"not a CIDR", NodeSpec{PodCIDR: "10.244.1.0"}, "spec.podCIDR", "must be a valid CIDR value"},
		{"host bits set", NodeSpec{PodCIDR: "10.244.1.7/24"}, "spec.podCIDR", "must not have bits set beyond the prefix length"},
		{"bad entry in podCIDRs", NodeSpec{PodCIDRs: []string{"10.244.1.0/33"}}, "spec.podCIDRs[0]", "must be a valid CIDR value"},
		{"two IPv4", NodeSpec{PodCIDRs: []string{"10.244.1.0/24", "10.244.2.0/24"}}, "spec.podCIDRs",
			"may specify no more than one CIDR for each IP family"},
		{"three", NodeSpec{PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64", "fd00:2::/64"}}, "spec.podCIDRs",
			"may specify no more than one CIDR for each IP family"},
		{"podCIDR disagrees", NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.2.0/24"}}, "spec.podCIDR",
			"must be the first of podCIDRs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := validNode()
			n.Spec.PodCIDR, n.Spec.PodCIDRs = c.spec.PodCIDR, c.spec.PodCIDRs
			err := Validate(n)
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, c.field)
			if !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("message %q does not say %q", err.Error(), c.contains)
			}
		})
	}
}

// A hostNetwork pod reports its node's address as its IP, which may be
// loopback on a single-machine cluster; any other special IP is refused.
func TestValidateHostNetworkPodIP(t *testing.T) {
	cases := []struct {
		name, podIP, hostIP string
		hostNetwork         bool
		ok                  bool
	}{
		{"hostNetwork, the node's loopback address", "127.0.0.1", "127.0.0.1", true, true},
		{"hostNetwork, another loopback address", "127.0.0.2", "127.0.0.1", true, false},
		{"hostNetwork, link-local not the node's", "169.254.169.254", "10.0.0.5", true, false},
		{"pod network, the node's loopback address", "127.0.0.1", "127.0.0.1", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPod()
			p.Spec.HostNetwork = c.hostNetwork
			p.Status.PodIP, p.Status.PodIPs, p.Status.HostIP = c.podIP, []PodIP{{IP: c.podIP}}, c.hostIP
			errs := validatePodIPs(p)
			if ok := len(errs) == 0; ok != c.ok {
				t.Fatalf("errors %v, want ok=%v", errs, c.ok)
			}
		})
	}
}
