package check

import (
	"fmt"
	"strconv"
	"time"
)

// OpKind is the kind of request an [Op] records.
type OpKind int

// The request kinds. The zero OpKind is invalid, so a forgotten Kind is
// reported instead of being read as a Create.
const (
	// Create creates an object; it fails with AlreadyExists if it exists.
	Create OpKind = iota + 1
	// Update replaces an object's value, compare-and-swap on ExpectRV
	// (unconditional when ExpectRV is "").
	Update
	// Delete deletes an object; it fails with NotFound if it is absent.
	Delete
	// Get reads an object.
	Get
)

// String returns the kind's name.
func (k OpKind) String() string {
	switch k {
	case Create:
		return "Create"
	case Update:
		return "Update"
	case Delete:
		return "Delete"
	case Get:
		return "Get"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Outcome is what the recording client learnt about a request.
type Outcome int

// The outcomes. The zero Outcome is invalid.
const (
	// OK: the request was applied (writes) or answered (Get).
	OK Outcome = iota + 1
	// Failed: the request definitely was not applied (409, 404, 422,
	// 503, ...). Op.Reason says whether the failure tells us something
	// about the object.
	Failed
	// Unknown: no answer came back; the request may or may not have been
	// applied.
	Unknown
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "OK"
	case Failed:
		return "Failed"
	case Unknown:
		return "Unknown"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Reasons of a Failed op that carry information about the object: they are
// the Kubernetes Status reasons of the API's precondition failures. A Failed
// op with any other Reason (including "") is treated as "not applied, nothing
// learnt" and dropped from the linearizability check.
const (
	// ReasonAlreadyExists: a Create found the object existing (409).
	ReasonAlreadyExists = "AlreadyExists"
	// ReasonConflict: an Update's ExpectRV did not match, or the object
	// was absent (409).
	ReasonConflict = "Conflict"
	// ReasonNotFound: an Update, Delete or Get found the object absent (404).
	ReasonNotFound = "NotFound"
)

// Op is one client request as the recording client saw it.
type Op struct {
	// ClientID identifies the client (zero-based; used by the visualization).
	ClientID int
	// Kind is the request kind.
	Kind OpKind
	// Key is the object's namespace/name.
	Key string

	// Value is, for Create and Update, the value written (an opaque string,
	// e.g. a counter).
	Value string
	// ExpectRV is, for Update, the expected resourceVersion (the CAS
	// precondition); "" means unconditional.
	ExpectRV string

	// Call is when the request was sent.
	Call time.Time
	// Return is when the answer came back; zero when the outcome is Unknown.
	Return time.Time
	// Outcome is OK, Failed or Unknown.
	Outcome Outcome
	// Reason is, for a Failed op, the Kubernetes Status reason
	// (ReasonAlreadyExists, ReasonConflict, ReasonNotFound, or another one).
	Reason string
	// RV is the resourceVersion returned when OK (Create, Update, Get);
	// "" otherwise, or when the client did not record it.
	RV string
	// GotValue is, for an OK Get, the value read; "" with Found=false when
	// the object was not found.
	GotValue string
	// Found is, for an OK Get, whether the object existed.
	Found bool
}

// String describes the op in one line, for error messages.
func (op Op) String() string {
	in := op.Kind.String() + " " + op.Key
	switch op.Kind {
	case Create:
		in += fmt.Sprintf(" value=%q", op.Value)
	case Update:
		in += fmt.Sprintf(" value=%q expectRV=%q", op.Value, op.ExpectRV)
	}
	out := op.Outcome.String()
	switch {
	case op.Outcome == Failed:
		out += " " + op.Reason
	case op.Outcome == OK && op.Kind == Get && !op.Found:
		out += " not found"
	case op.Outcome == OK && op.Kind == Get:
		out += fmt.Sprintf(" value=%q rv=%s", op.GotValue, op.RV)
	case op.Outcome == OK && op.RV != "":
		out += " rv=" + op.RV
	}
	return fmt.Sprintf("client %d: %s -> %s", op.ClientID, in, out)
}

// parseRV parses a resourceVersion: "" is 0 (none), anything else must be a
// positive Raft index.
func parseRV(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	rv, err := strconv.ParseUint(s, 10, 64)
	if err != nil || rv == 0 {
		return 0, fmt.Errorf("resourceVersion %q is not a positive integer", s)
	}
	return rv, nil
}

// validate reports an op that cannot be interpreted.
func (op Op) validate() error {
	if op.Kind < Create || op.Kind > Get {
		return fmt.Errorf("invalid kind %v", op.Kind)
	}
	if op.Outcome < OK || op.Outcome > Unknown {
		return fmt.Errorf("invalid outcome %v", op.Outcome)
	}
	if op.Key == "" {
		return fmt.Errorf("empty key")
	}
	if op.ClientID < 0 {
		return fmt.Errorf("negative client id %d", op.ClientID)
	}
	if op.Call.IsZero() {
		return fmt.Errorf("zero call time")
	}
	if op.Outcome != Unknown && (op.Return.IsZero() || op.Return.Before(op.Call)) {
		return fmt.Errorf("return time %v is zero or before call time %v", op.Return, op.Call)
	}
	if _, err := parseRV(op.ExpectRV); err != nil {
		return fmt.Errorf("expectRV: %w", err)
	}
	if _, err := parseRV(op.RV); err != nil {
		return fmt.Errorf("rv: %w", err)
	}
	return nil
}

// informative reports whether a Failed op's reason tells us something about
// the object's state (a precondition failure), given its kind.
func informative(kind OpKind, reason string) bool {
	switch kind {
	case Create:
		return reason == ReasonAlreadyExists
	case Update:
		return reason == ReasonConflict || reason == ReasonNotFound
	case Delete, Get:
		return reason == ReasonNotFound
	}
	return false
}

// dropped reports whether an op is left out of the linearizability check
// because it had no effect and observed nothing.
func (op Op) dropped() bool {
	switch op.Outcome {
	case Failed:
		return !informative(op.Kind, op.Reason)
	case Unknown:
		return op.Kind == Get
	}
	return false
}
