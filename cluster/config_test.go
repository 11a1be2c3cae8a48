package cluster

import (
	"slices"
	"testing"
)

func TestParseInitialCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []Peer
		wantErr bool
	}{
		{name: "one", in: "m1=127.0.0.1:7001", want: []Peer{{"m1", "127.0.0.1:7001"}}},
		{name: "three", in: "m1=10.0.0.1:7001,m2=10.0.0.2:7001,m3=master-3:7001",
			want: []Peer{{"m1", "10.0.0.1:7001"}, {"m2", "10.0.0.2:7001"}, {"m3", "master-3:7001"}}},
		{name: "spaces and empty entries", in: " m1=a:1 , ,m2=b:2,", want: []Peer{{"m1", "a:1"}, {"m2", "b:2"}}},
		{name: "duplicate name", in: "m1=a:1,m2=b:2,m1=c:3", wantErr: true},
		{name: "missing '='", in: "m1=a:1,m2b:2", wantErr: true},
		{name: "empty name", in: "=a:1", wantErr: true},
		{name: "empty address", in: "m1=", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "only separators", in: " , ,", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInitialCluster(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseInitialCluster(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInitialCluster(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ParseInitialCluster(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
