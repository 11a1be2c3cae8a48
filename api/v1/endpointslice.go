package v1

import (
	"net/netip"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the discovery.k8s.io/v1 kind EndpointSlice, with
// Kubernetes' field names and validation. orch's endpoint slice controller
// keeps one or more per selector Service, from the same pods as its
// Endpoints; the service proxy reads the Endpoints.

// DiscoveryGroup is the API group of endpoint slices.
const DiscoveryGroup = "discovery.k8s.io"

// Labels of endpoint slices, as Kubernetes names them.
const (
	// LabelServiceName names the Service a slice belongs to.
	LabelServiceName = "kubernetes.io/service-name"
	// LabelManagedBy names the controller that manages a slice.
	LabelManagedBy = "endpointslice.kubernetes.io/managed-by"
)

// Address types of endpoint slices.
const (
	AddressTypeIPv4 = "IPv4"
	AddressTypeIPv6 = "IPv6"
	AddressTypeFQDN = "FQDN"
)

// Kubernetes' limits on a slice.
const (
	// MaxEndpointsPerSlice is how many endpoints a slice may hold.
	MaxEndpointsPerSlice = 1000
	// maxAddressesPerEndpoint is how many addresses an endpoint may hold.
	maxAddressesPerEndpoint = 100
	// maxPortsPerSlice is how many ports a slice may hold.
	maxPortsPerSlice = 20000
)

// EndpointSlice is a set of endpoints of a service, as Kubernetes'
// discovery.k8s.io/v1 kind.
type EndpointSlice struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// AddressType is IPv4, IPv6 or FQDN; it cannot change.
	AddressType string `json:"addressType"`
	// Endpoints are the endpoints, at most 1000.
	Endpoints []Endpoint `json:"endpoints"`
	// Ports are the ports every endpoint of the slice serves.
	Ports []EndpointSlicePort `json:"ports"`
}

// Endpoint is one backend of a slice.
type Endpoint struct {
	// Addresses are the endpoint's addresses (1 to 100).
	Addresses []string `json:"addresses"`
	// Conditions are its ready, serving and terminating conditions.
	Conditions EndpointConditions `json:"conditions,omitempty"`
	// Hostname is the endpoint's host name, a DNS label.
	Hostname *string `json:"hostname,omitempty"`
	// TargetRef is the object behind the endpoint (its pod).
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
	// NodeName is the node the endpoint runs on.
	NodeName *string `json:"nodeName,omitempty"`
	// Zone is the zone the endpoint runs in.
	Zone *string `json:"zone,omitempty"`
}

// EndpointConditions are an endpoint's conditions; nil means unknown.
type EndpointConditions struct {
	// Ready: the endpoint takes traffic (serving and not terminating).
	Ready *bool `json:"ready,omitempty"`
	// Serving: the endpoint's pod is ready, whether it terminates or not.
	Serving *bool `json:"serving,omitempty"`
	// Terminating: the endpoint's pod is being deleted.
	Terminating *bool `json:"terminating,omitempty"`
}

// EndpointSlicePort is one port of a slice.
type EndpointSlicePort struct {
	// Name is the service port's name ("" for an unnamed one).
	Name *string `json:"name,omitempty"`
	// Protocol is TCP, UDP or SCTP (default TCP).
	Protocol *string `json:"protocol,omitempty"`
	// Port is the port number; nil means every port.
	Port *int32 `json:"port,omitempty"`
	// AppProtocol is the application protocol of the port.
	AppProtocol *string `json:"appProtocol,omitempty"`
}

// defaultEndpointSlice is Kubernetes' SetDefaults_EndpointPort.
func defaultEndpointSlice(s *EndpointSlice) {
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == nil {
			p.Name = new(string)
		}
		if p.Protocol == nil {
			tcp := ProtocolTCP
			p.Protocol = &tcp
		}
	}
}

var supportedAddressTypes = []string{AddressTypeIPv4, AddressTypeIPv6, AddressTypeFQDN}

// validateEndpointSlice is Kubernetes' ValidateEndpointSlice.
func validateEndpointSlice(s *EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	at := field.NewPath("addressType")
	switch s.AddressType {
	case "":
		errs = append(errs, field.Required(at, ""))
	case AddressTypeIPv4, AddressTypeIPv6, AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(at, s.AddressType, supportedAddressTypes))
	}
	ep := field.NewPath("endpoints")
	if len(s.Endpoints) > MaxEndpointsPerSlice {
		errs = append(errs, field.TooMany(ep, len(s.Endpoints), MaxEndpointsPerSlice))
	}
	for i := range s.Endpoints {
		errs = append(errs, validateEndpoint(&s.Endpoints[i], s.AddressType, ep.Index(i))...)
	}
	errs = append(errs, validateEndpointSlicePorts(s.Ports, field.NewPath("ports"))...)
	return errs
}

func validateEndpoint(e *Endpoint, addressType string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ap := p.Child("addresses")
	switch n := len(e.Addresses); {
	case n == 0:
		errs = append(errs, field.Required(ap, "must contain at least 1 address"))
	case n > maxAddressesPerEndpoint:
		errs = append(errs, field.TooMany(ap, n, maxAddressesPerEndpoint))
	}
	for i, a := range e.Addresses {
		aip := ap.Index(i)
		switch addressType {
		case AddressTypeIPv4, AddressTypeIPv6:
			errs = append(errs, validateSliceIP(a, addressType, aip)...)
		case AddressTypeFQDN:
			for _, msg := range isDNS1123Subdomain(a) {
				errs = append(errs, field.Invalid(aip, a, msg))
			}
		}
	}
	if e.Hostname != nil {
		for _, msg := range isDNS1123Label(*e.Hostname) {
			errs = append(errs, field.Invalid(p.Child("hostname"), *e.Hostname, msg))
		}
	}
	if e.NodeName != nil {
		for _, msg := range isDNS1123Subdomain(*e.NodeName) {
			errs = append(errs, field.Invalid(p.Child("nodeName"), *e.NodeName, msg))
		}
	}
	if e.TargetRef != nil && e.TargetRef.Name == "" {
		errs = append(errs, field.Required(p.Child("targetRef", "name"), ""))
	}
	return errs
}

func validateEndpointSlicePorts(ports []EndpointSlicePort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(ports) > maxPortsPerSlice {
		errs = append(errs, field.TooMany(p, len(ports), maxPortsPerSlice))
	}
	names := sets.New[string]()
	for i, port := range ports {
		ip := p.Index(i)
		if port.Name != nil && *port.Name != "" {
			for _, msg := range isDNS1123Label(*port.Name) {
				errs = append(errs, field.Invalid(ip.Child("name"), *port.Name, msg))
			}
		}
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(ip.Child("name"), name))
		}
		names.Insert(name)
		if port.Protocol == nil {
			errs = append(errs, field.Required(ip.Child("protocol"), ""))
		} else {
			errs = append(errs, validateProtocol(*port.Protocol, ip.Child("protocol"))...)
		}
		if port.Port != nil {
			errs = append(errs, validatePortNum(*port.Port, ip.Child("port"))...)
		}
		if port.AppProtocol != nil {
			for _, msg := range isLabelKey(*port.AppProtocol) {
				errs = append(errs, field.Invalid(ip.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}

// validateSliceIP checks an address of an IPv4 or IPv6 slice: an IP of that
// family, and not a special one (see ValidateNonSpecialIP).
func validateSliceIP(a, addressType string, p *field.Path) field.ErrorList {
	if errs := validation.IsValidIP(p, a); len(errs) > 0 {
		return errs
	}
	ip, _ := netip.ParseAddr(a)
	if ip.Is4() != (addressType == AddressTypeIPv4) {
		want := "IPv4"
		if addressType == AddressTypeIPv6 {
			want = "IPv6"
		}
		return field.ErrorList{field.Invalid(p, a, "must be an "+want+" address")}
	}
	return ValidateNonSpecialIP(a, p)
}
