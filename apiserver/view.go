package apiserver

import (
	"encoding/json"
	"fmt"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// A view resource (events.k8s.io/v1 Events) has no storage of its own: it
// shows the objects of the stored resource of the same name, converted on
// every request. Bodies are decoded as the view's type and converted to
// the stored kind at once (decodeObject), so admission, validation and
// the FSM see only stored objects; what goes back to the client (objects,
// lists, watch events, Table rows with their objects) is converted here.

// viewOf returns a stored object as resource r shows it: converted for a
// view, obj itself otherwise.
func viewOf(r v1.Resource, obj v1.Object) v1.Object {
	if r.View == nil {
		return obj
	}
	return r.View.FromStored(obj)
}

// recordJSON encodes a stored record as resource r shows it. A stored
// resource's record is its stored bytes, never re-encoded, but for a
// Secret, whose values are opened (reveal); a view shows what the record's
// object holds (a record that does not decode shows the metadata that
// could be read, as it does through its own resource). Every answer that
// carries a stored object goes through here.
func (s *Server) recordJSON(r v1.Resource, rec *fsm.Record) ([]byte, error) {
	if r.View == nil {
		rec, err := s.reveal(r, rec)
		if err != nil {
			return nil, err
		}
		return rec.JSON()
	}
	b, err := json.Marshal(r.View.FromStored(rec.Object()))
	if err != nil {
		return nil, fmt.Errorf("encode %s as %s: %w", rec.Key(), r.GroupVersion(), err)
	}
	return b, nil
}
