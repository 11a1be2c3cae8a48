package apiserver

import "testing"

func TestNegotiate(t *testing.T) {
	offers := []mediaRequest{tableV1, tableV1beta1, aggregatedDiscovery}
	tests := []struct {
		accept string
		want   mediaRequest
	}{
		{"", mediaRequest{}},
		{"application/json", mediaRequest{}},
		{"*/*", mediaRequest{}},
		{kubectlGetAccept, tableV1},
		{"application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", tableV1beta1},
		{"application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io", tableV1},
		{"application/json;as=Table;v=v2;g=meta.k8s.io,application/json", mediaRequest{}},
		{"application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", mediaRequest{}},
		{"application/json;q=0.5,application/json;as=Table;v=v1;g=meta.k8s.io", tableV1},
		{aggregatedAccept, aggregatedDiscovery},
		{"application/yaml", mediaRequest{}},
		{"application/vnd.kubernetes.protobuf", mediaRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			if got := negotiate(tt.accept, offers...); got != tt.want {
				t.Errorf("negotiate(%q) = %+v, want %+v", tt.accept, got, tt.want)
			}
		})
	}
}
