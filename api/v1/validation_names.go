package v1

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The name checks validation makes of every object (label keys and
// values, DNS labels and subdomains, port names) are Kubernetes' own
// (apimachinery's content and validation packages), whose regular
// expressions were most of a valid pod's validation CPU and whose
// IsLabelKey allocates. Each check below first asks a hand-written
// matcher of the same language, byte by byte, and calls Kubernetes' check
// only for what the matcher refuses, so every message is still Kubernetes'
// own; TestNameChecksMatchKubernetes holds each matcher to its check.

// isLabelKey is content.IsLabelKey.
func isLabelKey(s string) []string {
	if validLabelKey(s) {
		return nil
	}
	return content.IsLabelKey(s)
}

// isLabelValue is content.IsLabelValue.
func isLabelValue(s string) []string {
	if s == "" || validLabelName(s) {
		return nil
	}
	return content.IsLabelValue(s)
}

// isDNS1123Label is content.IsDNS1123Label.
func isDNS1123Label(s string) []string {
	if len(s) <= 63 && validDNSLabel(s, false) {
		return nil
	}
	return content.IsDNS1123Label(s)
}

// isDNS1123Subdomain is content.IsDNS1123Subdomain.
func isDNS1123Subdomain(s string) []string {
	if validDNS1123Subdomain(s) {
		return nil
	}
	return content.IsDNS1123Subdomain(s)
}

// isDNS1035Label is validation.IsDNS1035Label.
func isDNS1035Label(s string) []string {
	if len(s) <= 63 && validDNSLabel(s, true) {
		return nil
	}
	return validation.IsDNS1035Label(s)
}

// isValidPortName is validation.IsValidPortName.
func isValidPortName(s string) []string {
	if validPortName(s) {
		return nil
	}
	return validation.IsValidPortName(s)
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || 'A' <= c && c <= 'Z' }

// validLabelName reports whether s is a label key's name part or a
// non-empty label value: at most 63 bytes of
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
func validLabelName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// validLabelKey reports whether s is a label key: a name, or a DNS-1123
// subdomain, '/' and a name.
func validLabelKey(s string) bool {
	prefix, name, found := strings.Cut(s, "/")
	if !found {
		return validLabelName(s)
	}
	return validDNS1123Subdomain(prefix) && validLabelName(name)
}

// validDNSLabel reports whether s matches [a-z0-9]([-a-z0-9]*[a-z0-9])?
// (DNS-1123), or [a-z]([-a-z0-9]*[a-z0-9])? when letterFirst (DNS-1035);
// the length is the caller's to check.
func validDNSLabel(s string, letterFirst bool) bool {
	if len(s) == 0 || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) || letterFirst && !('a' <= s[0] && s[0] <= 'z') {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// validDNS1123Subdomain reports whether s is at most 253 bytes of
// DNS-1123 labels (of any length) joined by dots.
func validDNS1123Subdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !validDNSLabel(label, false) {
			return false
		}
	}
	return true
}

// validPortName reports whether s is a port name (IANA_SVC_NAME): 1 to 15
// bytes of [-a-z0-9] holding a letter, with no "--" and no '-' at either
// end.
func validPortName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			letter = true
		case '0' <= c && c <= '9':
		case c == '-':
			if s[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return letter
}
