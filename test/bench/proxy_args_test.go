package bench

import (
	"slices"
	"testing"
)

func TestRuleArgs(t *testing.T) {
	for _, tc := range []struct {
		rule string
		want []string
	}{
		{"-p tcp -j ACCEPT", []string{"-p", "tcp", "-j", "ACCEPT"}},
		{`-m comment --comment "block incoming localnet connections" -j DROP`,
			[]string{"-m", "comment", "--comment", "block incoming localnet connections", "-j", "DROP"}},
		{`  -s 10.0.0.0/8   --comment ""  -j X `, []string{"-s", "10.0.0.0/8", "--comment", "", "-j", "X"}},
		{"", nil},
	} {
		if got := ruleArgs(tc.rule); !slices.Equal(got, tc.want) {
			t.Errorf("ruleArgs(%q) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}
