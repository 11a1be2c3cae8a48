package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// Verify proves, before a command is proposed, that every master will
// decode it into what the proposer meant: the body decodes with the code
// the FSM uses, and encoding what was decoded gives back the same bytes, for
// the command and for every object in it. A command that fails would be
// rejected by every master's FSM (or, for stored bytes, decoded differently
// from what was written); Verify refuses it with a 400 before it reaches the
// log. Unknown command types and resources are refused too.
func Verify(cmd []byte) error {
	if len(cmd) == 0 {
		return badCommand("the command is empty")
	}
	return verifyBody(CommandType(cmd[0]), cmd[1:], true)
}

// MaxObjectBytes is the largest object orch stores, encoded: 1.5 MiB, as
// etcd's request limit bounds a Kubernetes object. Together with the feed's
// byte bound it bounds what a master holds for any one change.
const MaxObjectBytes = 3 << 19

func badCommand(format string, args ...any) error {
	return v1.NewBadRequest("the write cannot be stored: " + fmt.Sprintf(format, args...))
}

func verifyBody(t CommandType, body []byte, top bool) error {
	switch t {
	case CreateCommand:
		var f [5][]byte // resource, namespace, name, uid, nodeName
		raw, ok := frameHeader(body, f[:])
		if !ok || len(f[2]) == 0 {
			return badCommand("the create names no object")
		}
		return verifyObject(f[0], raw)
	case UpdateCommand, UpdateStatusCommand, UpdateEphemeralContainersCommand:
		var f [1][]byte // resource
		raw, ok := frameHeader(body, f[:])
		if !ok {
			return badCommand("no resource frame")
		}
		return verifyObject(f[0], raw)
	case DeleteCommand, LegacyDeleteCommand:
		var req DeleteRequest
		if err := verifyJSON(body, &req); err != nil {
			return err
		}
		if _, ok := v1.ResourceByName(req.Resource); !ok {
			return badCommand("unknown resource %q", req.Resource)
		}
		switch req.Propagation {
		case "", v1.PropagationOrphan, v1.PropagationBackground, v1.PropagationForeground:
		default:
			return badCommand("unknown propagation policy %q", req.Propagation)
		}
		return nil
	case BindCommand:
		return verifyJSON(body, &BindRequest{})
	case ScaleCommand:
		var req ScaleRequest
		if err := verifyJSON(body, &req); err != nil {
			return err
		}
		if r, ok := v1.ResourceByName(req.Resource); req.Resource != "" && (!ok || !r.HasScale()) {
			return badCommand("resource %q has no scale subresource", req.Resource)
		}
		return nil
	case UpsertMasterCommand:
		return verifyJSON(body, &MasterInfo{})
	case CreateNodeCommand, RegisterNodeCommand:
		var req CreateNodeRequest
		if err := verifyJSON(body, &req); err != nil {
			return err
		}
		return verifyObject([]byte("nodes"), req.Object)
	case CreateServiceCommand:
		var req CreateServiceRequest
		if err := verifyJSON(body, &req); err != nil {
			return err
		}
		return verifyObject([]byte("services"), req.Object)
	case BatchCommand:
		if !top {
			return badCommand("a batch may not hold a batch")
		}
		var req BatchRequest
		if err := verifyJSON(body, &req); err != nil {
			return err
		}
		for i, it := range req.Items {
			if err := verifyBody(it.Type, it.Body, false); err != nil {
				return fmt.Errorf("batch item %d: %w", i, err)
			}
		}
		return nil
	}
	if t&IgnoreUnknown != 0 {
		return nil
	}
	return badCommand("unknown command type %d", t)
}

// frameHeader reads a framed body as splitFrame does, without copying:
// it fills fields with the header's len(fields) fields and returns the
// object after them; ok is false when the body has fewer fields.
func frameHeader(body []byte, fields [][]byte) (obj []byte, ok bool) {
	for i := range fields {
		j := bytes.IndexByte(body, 0)
		if j < 0 {
			return nil, false
		}
		fields[i], body = body[:j], body[j+1:]
	}
	return body, true
}

// verifyJSON checks that body decodes into into and encodes back to itself.
func verifyJSON(body []byte, into any) error {
	if err := json.Unmarshal(body, into); err != nil {
		return badCommand("%T does not decode: %v", into, err)
	}
	buf := getEncoder()
	defer putEncoder(buf)
	back, err := buf.encode(into, len(body))
	if err != nil {
		return badCommand("%T does not encode: %v", into, err)
	}
	if !bytes.Equal(back, body) {
		return badCommand("%T does not survive a round trip", into)
	}
	return nil
}

// encodeInto encodes v as json.Marshal does, into e's buffer: the
// encoding Verify compares and drops needs no allocation of its own.
func encodeInto(e *encoder, v any) ([]byte, error) { return e.encode(v, 0) }

// verifyObject checks that raw decodes into an object of the resource and
// encodes back to itself.
func verifyObject(resource, raw []byte) error {
	r, ok := v1.ResourceByName(string(resource))
	if !ok || r.Name != string(resource) {
		return badCommand("unknown resource %q", resource)
	}
	if len(raw) > MaxObjectBytes {
		return v1.NewRequestTooLarge(fmt.Sprintf("the %s is %d bytes once encoded, above the limit of %d bytes", r.Kind, len(raw), MaxObjectBytes))
	}
	obj := r.New()
	if verifyCanonical(raw, obj) {
		return nil // decoded as every master decodes it, and proven to encode to raw
	}
	// The decoder every master reads stored objects with (Record.Object).
	if err := decodeObject(raw, obj); err != nil {
		return badCommand("the %s does not decode: %v", r.Kind, err)
	}
	buf := getEncoder()
	defer putEncoder(buf)
	back, err := buf.encode(obj, len(raw)) // the same size if it survives
	if err != nil {
		return badCommand("the %s does not encode: %v", r.Kind, err)
	}
	if !bytes.Equal(back, raw) {
		return badCommand("the %s does not survive a round trip: %s", r.Kind, firstDifference(raw, back))
	}
	return nil
}

// firstDifference shows where two encodings part, for the error message.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-40)
	return fmt.Sprintf("at byte %d, %q became %q", i, a[from:min(len(a), i+40)], b[from:min(len(b), i+40)])
}
