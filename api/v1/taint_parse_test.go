package v1

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTaints(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		want    []Taint
		wantErr string
	}{
		{"", nil, ""},
		{"dedicated=db:NoSchedule", []Taint{{Key: "dedicated", Value: "db", Effect: TaintNoSchedule}}, ""},
		{"orch.io/hollow:NoExecute, a=b:PreferNoSchedule", []Taint{{Key: "orch.io/hollow", Effect: TaintNoExecute},
			{Key: "a", Value: "b", Effect: TaintPreferNoSchedule}}, ""},
		{"a=b:NoSchedule,a=c:NoExecute", []Taint{{Key: "a", Value: "b", Effect: TaintNoSchedule}, {Key: "a", Value: "c", Effect: TaintNoExecute}}, ""},
		{"dedicated=db", nil, "invalid taint spec: dedicated=db"},
		{"a:b:NoSchedule", nil, "invalid taint spec: a:b:NoSchedule"},
		{"a=b:Sometimes", nil, "invalid taint spec: a=b:Sometimes, unsupported taint effect"},
		{"-bad=b:NoSchedule", nil, "invalid taint spec: -bad=b:NoSchedule, name part must consist of"},
		{"a=b c:NoSchedule", nil, "invalid taint spec: a=b c:NoSchedule, a valid label must be"},
		{"a=b:NoSchedule,a=c:NoSchedule", nil, "duplicated taints with the same key and effect"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseTaints(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
