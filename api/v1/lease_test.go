package v1

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateLeaseAndEndpointSlice(t *testing.T) {
	i32 := func(n int32) *int32 { return &n }
	str := func(s string) *string { return &s }
	lease := func(spec LeaseSpec) *Lease {
		return &Lease{ObjectMeta: ObjectMeta{Namespace: "kube-node-lease", Name: "n1"}, Spec: spec}
	}
	slice := func(at string, eps []Endpoint, ports []EndpointSlicePort) *EndpointSlice {
		return &EndpointSlice{ObjectMeta: ObjectMeta{Namespace: "default", Name: "web-abcde"}, AddressType: at, Endpoints: eps, Ports: ports}
	}
	ep := func(addrs ...string) Endpoint { return Endpoint{Addresses: addrs} }
	many := make([]Endpoint, MaxEndpointsPerSlice+1)
	for i := range many {
		many[i] = ep(fmt.Sprintf("10.0.%d.%d", i/250, 1+i%250))
	}
	manyAddrs := make([]string, 101)
	for i := range manyAddrs {
		manyAddrs[i] = fmt.Sprintf("10.1.0.%d", 1+i)
	}
	tests := []struct {
		name string
		obj  Object
		want []string // substrings of the error; none for a valid object
	}{
		{"node lease", lease(LeaseSpec{HolderIdentity: str("n1"), LeaseDurationSeconds: i32(40), LeaseTransitions: i32(0)}), nil},
		{"empty lease", lease(LeaseSpec{}), nil},
		{"duration 0", lease(LeaseSpec{LeaseDurationSeconds: i32(0)}), []string{"spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"}},
		{"negative transitions", lease(LeaseSpec{LeaseTransitions: i32(-1)}), []string{"spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"}},
		{"strategy", lease(LeaseSpec{Strategy: str("OldestEmulationVersion")}), []string{"spec.strategy: Forbidden"}},
		{"preferred holder without strategy", lease(LeaseSpec{PreferredHolder: str("x")}),
			[]string{"spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"}},
		{"lease without namespace", &Lease{ObjectMeta: ObjectMeta{Name: "n1"}}, []string{"metadata.namespace: Required value"}},

		{"slice", slice(AddressTypeIPv4, []Endpoint{{Addresses: []string{"10.244.0.5"}, Hostname: str("web-0"), NodeName: str("node-1"),
			TargetRef: &ObjectReference{Kind: "Pod", Name: "web-0"}}}, []EndpointSlicePort{{Name: str("http"), Port: i32(8080)}}), nil},
		{"placeholder", slice(AddressTypeIPv4, nil, nil), nil},
		{"no address type", slice("", nil, nil), []string{"addressType: Required value"}},
		{"bad address type", slice("IPv5", nil, nil), []string{`addressType: Unsupported value: "IPv5"`}},
		{"no address", slice(AddressTypeIPv4, []Endpoint{ep()}, nil), []string{"endpoints[0].addresses: Required value"}},
		{"IPv6 in an IPv4 slice", slice(AddressTypeIPv4, []Endpoint{ep("fd00::1")}, nil), []string{`endpoints[0].addresses[0]: Invalid value: "fd00::1": must be an IPv4 address`}},
		{"not an IP", slice(AddressTypeIPv4, []Endpoint{ep("web")}, nil), []string{`endpoints[0].addresses[0]: Invalid value: "web"`}},
		{"loopback", slice(AddressTypeIPv4, []Endpoint{ep("127.0.0.1")}, nil), []string{`endpoints[0].addresses[0]`}},
		{"FQDN", slice(AddressTypeFQDN, []Endpoint{ep("db.example.com")}, nil), nil},
		{"too many endpoints", slice(AddressTypeIPv4, many, nil), []string{"endpoints: Too many: 1001: must have at most 1000 items"}},
		{"too many addresses", slice(AddressTypeIPv4, []Endpoint{ep(manyAddrs...)}, nil), []string{"endpoints[0].addresses: Too many: 101"}},
		{"bad hostname and node", slice(AddressTypeIPv4, []Endpoint{{Addresses: []string{"10.0.0.1"}, Hostname: str("a.b"), NodeName: str("N_1")}}, nil),
			[]string{`endpoints[0].hostname: Invalid value: "a.b"`, `endpoints[0].nodeName: Invalid value: "N_1"`}},
		{"duplicate port names", slice(AddressTypeIPv4, nil, []EndpointSlicePort{{Name: str("http"), Port: i32(80)}, {Name: str("http"), Port: i32(81)}}),
			[]string{`ports[1].name: Duplicate value: "http"`}},
		{"bad port", slice(AddressTypeIPv4, nil, []EndpointSlicePort{{Name: str("Bad_Name"), Port: i32(70000), Protocol: str("ICMP")}}),
			[]string{`ports[0].name: Invalid value: "Bad_Name"`, "ports[0].port: Invalid value: 70000", `ports[0].protocol: Unsupported value: "ICMP"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.obj)
			err := Validate(tc.obj)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("valid, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEndpointSliceDefaults(t *testing.T) {
	s := &EndpointSlice{ObjectMeta: ObjectMeta{Namespace: "default", Name: "x"}, AddressType: AddressTypeIPv4,
		Ports: []EndpointSlicePort{{}}}
	Default(s)
	if p := s.Ports[0]; p.Name == nil || *p.Name != "" || p.Protocol == nil || *p.Protocol != ProtocolTCP {
		t.Fatalf("port defaults %+v, want name \"\" and protocol TCP", p)
	}
}

func TestMicroTimeRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 4, 13, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		in   string // JSON
		want time.Time
		out  string // JSON after a round trip
		bad  bool
	}{
		{name: "micro", in: `"2026-12-04T13:00:00.123456Z"`, want: at.Truncate(time.Microsecond), out: `"2026-12-04T13:00:00.123456Z"`},
		{name: "nanos are cut to micros", in: `"2026-12-04T13:00:00.123456789Z"`, want: at.Truncate(time.Microsecond), out: `"2026-12-04T13:00:00.123456Z"`},
		{name: "whole seconds", in: `"2026-12-04T13:00:00Z"`, want: at.Truncate(time.Second), out: `"2026-12-04T13:00:00.000000Z"`},
		{name: "offset to UTC", in: `"2026-12-04T14:00:00.5+01:00"`, want: at.Truncate(time.Second).Add(500 * time.Millisecond), out: `"2026-12-04T13:00:00.500000Z"`},
		{name: "null", in: `null`, out: `null`},
		{name: "not a time", in: `"yesterday"`, bad: true},
		{name: "a number", in: `12`, bad: true},
		{name: "year 10000 in UTC", in: `"9999-12-31T23:59:59-23:59"`, bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m MicroTime
			err := json.Unmarshal([]byte(tc.in), &m)
			if tc.bad {
				if err == nil {
					t.Fatalf("decoded %v, want an error", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !m.Time.Equal(tc.want) {
				t.Fatalf("decoded %v, want %v", m.Time, tc.want)
			}
			b, err := json.Marshal(m)
			if err != nil || string(b) != tc.out {
				t.Fatalf("encoded %s, %v; want %s", b, err, tc.out)
			}
		})
	}
}
