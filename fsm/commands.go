package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// CommandType is the first byte of every log entry. Types are append-only:
// never renumber or reuse one. A type with IgnoreUnknown set may be skipped by
// an older FSM that does not know it (rolling upgrades); any other unknown
// type stops the FSM, because a diverged state is worse than a crash.
type CommandType uint8

// IgnoreUnknown marks a command type that older FSMs may skip.
const IgnoreUnknown CommandType = 0x80

// Command types.
const (
	CreateCommand       CommandType = 1
	UpdateCommand       CommandType = 2
	UpdateStatusCommand CommandType = 3
	// LegacyDeleteCommand is the delete of orch before finalizers and the
	// garbage collector: it removes at once (a bound pod gracefully) and
	// cascades in the FSM to an RC's pods and a namespace's content. Entries
	// of older orch keep their meaning on replay; nothing proposes it now.
	LegacyDeleteCommand  CommandType = 4
	BindCommand          CommandType = 5
	ScaleCommand         CommandType = 6
	UpsertMasterCommand  CommandType = 7
	BatchCommand         CommandType = 8
	CreateNodeCommand    CommandType = 9
	CreateServiceCommand CommandType = 10
	// UpdateEphemeralContainersCommand sets a pod's
	// spec.ephemeralContainers (the pods/ephemeralcontainers subresource).
	UpdateEphemeralContainersCommand CommandType = 11
	// DeleteCommand deletes an object honouring its finalizers and the
	// propagation policy (DeleteRequest); an older FSM that does not know it
	// stops rather than cascade as LegacyDeleteCommand did.
	DeleteCommand CommandType = 12
	// RegisterNodeCommand creates a Node as CreateNodeCommand does, except
	// that when the cluster CIDR has no free subnet the node is created
	// without a pod CIDR (CreateNodeCommand refuses it; its entries keep
	// that meaning on replay, and an older FSM stops on this one).
	RegisterNodeCommand CommandType = 13
)

// CreateRequest creates an object. uid, creationTimestamp and the final name
// (for generateName) are already set. Namespace, Name, UID and NodeName
// repeat the object's fields so the FSM can check and index it without
// decoding it; NewCreate fills both from one object.
type CreateRequest struct {
	Resource  string          `json:"resource"`
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name"`
	UID       string          `json:"uid,omitempty"`
	NodeName  string          `json:"nodeName,omitempty"`
	Object    json.RawMessage `json:"object"`
}

// UpdateRequest replaces an object's spec and metadata (or, for
// UpdateStatusCommand, its status). A non-empty metadata.resourceVersion in
// Object is a compare-and-swap precondition.
type UpdateRequest struct {
	Resource string          `json:"resource"`
	Object   json.RawMessage `json:"object"`
}

// DeleteRequest deletes an object. Bound pods are deleted gracefully: they get
// a deletionTimestamp and are removed when their node confirms (a delete with
// grace period 0).
type DeleteRequest struct {
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// UID and ResourceVersion are optional preconditions.
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// GracePeriodSeconds overrides the pod's terminationGracePeriodSeconds.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	// Propagation is Orphan, Background or Foreground; "" is the kind's
	// default (DefaultPropagation), unless the object already has the
	// orphan or foregroundDeletion finalizer.
	Propagation string `json:"propagation,omitempty"`
	// Now is the proposer's clock, for deletionTimestamp.
	Now v1.Time `json:"now"`
}

// Binding binds one pod to one node.
type Binding struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID, if set, must match the pod's.
	UID  string `json:"uid,omitempty"`
	Node string `json:"node"`
}

// BindRequest binds many pods in one entry. Each binding is checked on its
// own against the state at apply time and succeeds or fails on its own.
type BindRequest struct {
	Bindings []Binding `json:"bindings"`
	Now      v1.Time   `json:"now"`
}

// ScaleRequest sets the replicas of an object with a scale subresource.
type ScaleRequest struct {
	// Resource names the object's resource; "" is replicationcontrollers
	// (entries written before the field existed). A master that does not
	// know the field cannot hold objects of another scalable resource: it
	// stops at their creates, which name a resource it does not know.
	Resource        string `json:"resource,omitempty"`
	Namespace       string `json:"namespace"`
	Name            string `json:"name"`
	Replicas        int32  `json:"replicas"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// ManagedFields, when set, are the controller's managedFields after
	// the scale, as the API server's field manager computed them.
	ManagedFields []v1.ManagedFieldsEntry `json:"managedFields,omitempty"`
}

// BatchItem is one command inside a BatchCommand: its type and its body as
// EncodeBody makes it.
type BatchItem struct {
	Type CommandType `json:"type"`
	Body []byte      `json:"body"`
}

// BatchRequest applies many commands in one entry; each succeeds or fails on its own.
type BatchRequest struct {
	Items []BatchItem `json:"items"`
}

// Result is the outcome of one command: the object as stored (or as last
// stored, for a delete) or a *v1.StatusError.
type Result struct {
	Record *Record
	Err    error
}

// BatchResult is the outcome of a BindCommand or BatchCommand, one per item.
type BatchResult []Result

// framed is implemented by the bodies of the hot commands (create, update):
// they are encoded as "resource NUL object-JSON" instead of a JSON wrapper,
// so the FSM on every master scans each object once, not twice.
type framed interface {
	appendFrame(dst []byte) []byte
	frameLen() int // the bytes appendFrame appends
}

// A create is framed "resource NUL namespace NUL name NUL uid NUL nodeName
// NUL object"; an update "resource NUL object".
func (r CreateRequest) appendFrame(dst []byte) []byte {
	return appendFrame(dst, r.Object, r.Resource, r.Namespace, r.Name, r.UID, r.NodeName)
}
func (r UpdateRequest) appendFrame(dst []byte) []byte { return appendFrame(dst, r.Object, r.Resource) }

func (r CreateRequest) frameLen() int {
	return len(r.Object) + len(r.Resource) + len(r.Namespace) + len(r.Name) + len(r.UID) + len(r.NodeName) + 5
}
func (r UpdateRequest) frameLen() int { return len(r.Object) + len(r.Resource) + 1 }

func appendFrame(dst, obj []byte, fields ...string) []byte {
	for _, f := range fields {
		dst = append(dst, f...)
		dst = append(dst, 0)
	}
	return append(dst, obj...)
}

// splitFrame splits a framed body into n header fields and the object.
func splitFrame(body []byte, n int) (fields []string, obj []byte, ok bool) {
	fields = make([]string, 0, n)
	for len(fields) < n {
		i := bytes.IndexByte(body, 0)
		if i < 0 {
			return nil, nil, false
		}
		fields = append(fields, string(body[:i]))
		body = body[i+1:]
	}
	return fields, body, true
}

func decodeCreateFrame(body []byte) (CreateRequest, bool) {
	f, obj, ok := splitFrame(body, 5)
	if !ok {
		return CreateRequest{}, false
	}
	return CreateRequest{Resource: f[0], Namespace: f[1], Name: f[2], UID: f[3], NodeName: f[4], Object: obj}, true
}

// EncodeBody returns a command's body: framed for create and update, JSON otherwise.
func EncodeBody(t CommandType, body any) ([]byte, error) {
	if f, ok := body.(framed); ok {
		return f.appendFrame(make([]byte, 0, f.frameLen())), nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", t, err)
	}
	return b, nil
}

// Encode returns the log entry for a command: its type byte and its body.
func Encode(t CommandType, body any) ([]byte, error) {
	if f, ok := body.(framed); ok {
		// One allocation for the entry, not a body copied behind the type.
		return f.appendFrame(append(make([]byte, 0, 1+f.frameLen()), byte(t))), nil
	}
	b, err := EncodeBody(t, body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(t))
	return append(out, b...), nil
}

// NewCreate encodes a CreateCommand for obj. It sets obj's kind, apiVersion
// and generation (1) and clears its resourceVersion, as stored objects have
// them; the FSM adds the resourceVersion.
func NewCreate(obj v1.Object) ([]byte, error) {
	r, err := v1.ResourceOf(obj)
	if err != nil {
		return nil, err
	}
	v1.SetTypeMeta(obj)
	m := obj.GetObjectMeta()
	m.Generation, m.ResourceVersion = 1, ""
	// The object is encoded into a pooled buffer and copied once, into
	// the entry.
	buf := getEncoder()
	defer putEncoder(buf)
	raw, err := encodeInto(buf, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.Kind, err)
	}
	req := CreateRequest{Resource: r.Name, Namespace: m.Namespace, Name: m.Name, UID: m.UID, Object: raw}
	if p, ok := obj.(*v1.Pod); ok {
		req.NodeName = p.Spec.NodeName
	}
	return Encode(CreateCommand, req)
}

// NewUpdate encodes an UpdateCommand (status=false) or UpdateStatusCommand for obj.
func NewUpdate(obj v1.Object, status bool) ([]byte, error) {
	r, err := v1.ResourceOf(obj)
	if err != nil {
		return nil, err
	}
	buf := getEncoder()
	defer putEncoder(buf)
	raw, err := encodeInto(buf, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.Kind, err)
	}
	t := UpdateCommand
	if status {
		t = UpdateStatusCommand
	}
	return Encode(t, UpdateRequest{Resource: r.Name, Object: raw})
}
