package apiserver

import (
	"github.com/munnerz/goautoneg"
)

// mediaRequest names a JSON rendering a client may ask for in its Accept
// header with Kubernetes' media type parameters: as (the kind), g (its
// group) and v (its version). The zero value is the plain object.
type mediaRequest struct {
	As, Group, Version string
}

// negotiate returns the first of the client's accepted media types (in its
// order of preference) that offers holds, matching JSON clauses by their
// as/g/v parameters; a JSON clause without "as" and */* are the plain
// object. Clauses the server cannot answer (protobuf, YAML, a conversion
// not on offer) are passed over, as Kubernetes passes over them; a header
// with nothing the server can answer gets the plain object (the JSON
// orch always served), as does no header.
func negotiate(accept string, offers ...mediaRequest) mediaRequest {
	for _, c := range goautoneg.ParseAccept(accept) {
		json := (c.Type == "application" || c.Type == "*") && (c.SubType == "json" || c.SubType == "*")
		if !json {
			continue
		}
		want := mediaRequest{As: c.Params["as"], Group: c.Params["g"], Version: c.Params["v"]}
		if want.As == "" {
			return mediaRequest{}
		}
		for _, o := range offers {
			if o == want {
				return o
			}
		}
	}
	return mediaRequest{}
}
