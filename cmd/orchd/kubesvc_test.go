package main

import (
	"slices"
	"testing"
)

func TestKubernetesServiceAddress(t *testing.T) {
	for _, tc := range []struct {
		cidr, host, port string
		err              bool
	}{
		{cidr: "10.96.0.0/16", host: "10.96.0.1", port: "443"},
		{cidr: "172.20.0.0/24", host: "172.20.0.1", port: "443"},
		{cidr: "fd00::/108", err: true},
		{cidr: "nonsense", err: true},
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			host, port, err := kubernetesService(tc.cidr)
			if (err != nil) != tc.err || host != tc.host || port != tc.port {
				t.Fatalf("kubernetesService(%q) = %q, %q, %v", tc.cidr, host, port, err)
			}
		})
	}
}

func TestMasterCertificateHosts(t *testing.T) {
	got, err := withKubernetesService([]string{"10.0.0.1", "m1.example"}, "10.96.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1", "m1.example", "10.96.0.1", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if !slices.Equal(got, want) {
		t.Fatalf("hosts %v, want %v", got, want)
	}
	if _, err := withKubernetesService([]string{"10.0.0.1"}, "10.96.0.0"); err == nil {
		t.Fatal("a service CIDR without a prefix accepted")
	}
}
