package v1

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Each name check gives exactly Kubernetes' answer (nil or the same
// messages) for edge cases and for random strings over the bytes that
// matter to the grammars, of every length around the limits.
func TestNameChecksMatchKubernetes(t *testing.T) {
	checks := []struct {
		name       string
		ours, kube func(string) []string
	}{
		{"IsLabelKey", isLabelKey, content.IsLabelKey},
		{"IsLabelValue", isLabelValue, content.IsLabelValue},
		{"IsDNS1123Label", isDNS1123Label, content.IsDNS1123Label},
		{"IsDNS1123Subdomain", isDNS1123Subdomain, content.IsDNS1123Subdomain},
		{"IsDNS1035Label", isDNS1035Label, validation.IsDNS1035Label},
		{"IsValidPortName", isValidPortName, validation.IsValidPortName},
	}
	edge := []string{"", "a", "A", "0", "-", "_", ".", "/", "a/", "/a", "a/b", "a/b/c", "a.b/c", "A.b/c", "a..b/c", "a-.b/c",
		"-a", "a-", "a-b", "a--b", "a_b", "a.b", "a.b.", ".a", "1a", "a1", "http", "h-t-t-p", "80", "8-0", "é", "aé", "a b",
		"kubernetes.io/app", "app.kubernetes.io/name", "x/" + strings.Repeat("a", 63), "x/" + strings.Repeat("a", 64),
		strings.Repeat("a", 15), strings.Repeat("a", 16), strings.Repeat("a", 63), strings.Repeat("a", 64),
		strings.Repeat("a", 253), strings.Repeat("a", 254), strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127) + "a",
		strings.Repeat("a", 253) + "/a", strings.Repeat("a", 254) + "/a", "a\n", "\na", "a\x00"}
	rng := rand.New(rand.NewPCG(17, 5))
	const alphabet = "aZz09-_./-.aA"
	random := func() string {
		n := rng.IntN(20)
		switch rng.IntN(8) {
		case 0:
			n = 60 + rng.IntN(8)
		case 1:
			n = 248 + rng.IntN(10)
		case 2:
			n = 13 + rng.IntN(5)
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			inputs := slices.Clone(edge)
			for range 50000 {
				inputs = append(inputs, random())
			}
			valid := 0
			for _, s := range inputs {
				got, want := c.ours(s), c.kube(s)
				if !slices.Equal(got, want) {
					t.Fatalf("%q: got %q, Kubernetes says %q", s, got, want)
				}
				if want == nil {
					valid++
				}
			}
			if valid < 100 || valid > len(inputs)-100 {
				t.Fatalf("%d of %d inputs valid: the inputs do not exercise both answers", valid, len(inputs))
			}
		})
	}
}
