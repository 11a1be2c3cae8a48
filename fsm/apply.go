package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	memdb "github.com/hashicorp/go-memdb"

	v1 "orch.io/orch/api/v1"
)

// writeTxn is the state of one batch of applies: one go-memdb write
// transaction, the index of the entry being applied, and the events the
// batch produced (published to the feed after commit).
type writeTxn struct {
	txn *memdb.Txn
	// base reads the store as the batch found it and rows is what the
	// batch wrote: point reads go to them, not to txn (see apply_reads.go).
	base *memdb.Txn
	rows batchRows
	uids *uidIndex
	// baseRecs caches the point reads of base (nil: not found), which
	// never changes during the batch: a batch of creates in one
	// namespace reads the namespace once. A batch of the FSM starts with
	// what the batches before it read (see applyCache).
	baseRecs map[rowKey]*Record
	// quotas caches quotaRecords by namespace until the batch writes a
	// quota: most namespaces have none, and every create asks.
	quotas map[string][]*Record
	index  uint64
	events []Event
	// rejected lists the entries of the batch that could not be applied.
	rejected []Rejection
	// funcs replaces applyFuncFor in tests of the FSM's panic guard.
	funcs func(CommandType) (applyFunc, bool)
	// legacyNamespace is set while a LegacyDeleteCommand deletes a
	// namespace's content: that command finishes the namespace itself.
	legacyNamespace bool
	// entries is the batch's length: its rows and events are made for
	// as many (most entries write one row), not grown one by one.
	entries int
}

// applyFunc applies one decoded command body at w.index and returns a
// Result or BatchResult.
type applyFunc func(w *writeTxn, body []byte) any

// applyFuncFor is the registry of command types: one small function each.
func applyFuncFor(t CommandType) (applyFunc, bool) {
	switch t {
	case CreateCommand:
		return applyCreate, true
	case UpdateCommand:
		return func(w *writeTxn, b []byte) any { return applyUpdate(w, b, false) }, true
	case UpdateStatusCommand:
		return func(w *writeTxn, b []byte) any { return applyUpdate(w, b, true) }, true
	case DeleteCommand:
		return applyDelete, true
	case LegacyDeleteCommand:
		return applyLegacyDelete, true
	case BindCommand:
		return applyBind, true
	case ScaleCommand:
		return applyScale, true
	case UpsertMasterCommand:
		return applyUpsertMaster, true
	case BatchCommand:
		return applyBatch, true
	case CreateNodeCommand:
		return applyCreateNode, true
	case RegisterNodeCommand:
		return applyRegisterNode, true
	case CreateServiceCommand:
		return applyCreateService, true
	case UpdateEphemeralContainersCommand:
		return applyUpdateEphemeralContainers, true
	}
	return nil, false
}

// applyEntry decodes and applies one log entry's data. An entry that cannot
// be applied gets entryError; only a command type this binary does not know
// stops the FSM (another master, newer, may know it).
func applyEntry(w *writeTxn, data []byte) any {
	if len(data) == 0 {
		return w.reject("the entry is empty")
	}
	t := CommandType(data[0])
	lookup := applyFuncFor
	if w.funcs != nil {
		lookup = w.funcs
	}
	fn, ok := lookup(t)
	if !ok {
		if t&IgnoreUnknown != 0 {
			return nil
		}
		panic(skew(fmt.Sprintf("fsm: unknown command type %d at index %d", t, w.index)))
	}
	return fn(w, data[1:])
}

// reject records that the entry being applied cannot be applied and returns
// its Result. Nothing of the entry is written: callers reject before they
// change anything.
func (w *writeTxn) reject(format string, args ...any) Result {
	err := entryError(w.index, format, args...)
	w.rejected = append(w.rejected, Rejection{Index: w.index, Err: err})
	return Result{Err: err}
}

// decode decodes a command's JSON body (or an object in it) into into.
func (w *writeTxn) decode(body []byte, into any) (Result, bool) {
	if err := json.Unmarshal(body, into); err != nil {
		return w.reject("undecodable %T: %v", into, err), false
	}
	return Result{}, true
}

// decodeFramed decodes a create or update body into a new object.
func decodeFramed(w *writeTxn, body []byte) (v1.Resource, v1.Object, *Result) {
	f, raw, ok := splitFrame(body, 1)
	if !ok {
		res := w.reject("no resource frame")
		return v1.Resource{}, nil, &res
	}
	r := resourceOrSkew(w, f[0])
	obj := r.New()
	if res, ok := w.decode(raw, obj); !ok {
		return r, nil, &res
	}
	return r, obj, nil
}

func (w *writeTxn) put(resource, evType string, obj v1.Object, prev *Record) *Record {
	obj.GetObjectMeta().SetResourceVersionIndex(w.index)
	return w.insert(resource, evType, NewRecord(obj, nil), prev)
}

func (w *writeTxn) insert(resource, evType string, rec *Record, prev *Record) *Record {
	releasePodCIDRs(w, resource, prev, rec)
	if err := w.txn.Insert(resource, rec); err != nil {
		panic(fmt.Sprintf("fsm: insert %s %s at %d: %v", resource, rec.Key(), w.index, err))
	}
	w.wrote(resource, rec, prev)
	w.events = append(w.events, Event{Index: w.index, Type: evType, Resource: resource, Record: rec, Prev: prev})
	return rec
}

// remove removes old; its delete event carries old as it was stored.
func (w *writeTxn) remove(resource string, old *Record) *Record {
	return w.removeAs(resource, old, shallowCopy(old.Object()))
}

// removeAs removes old; its delete event carries final (a copy of old,
// possibly changed by the update that removes it) at the current index. A
// terminating namespace goes with its last object.
func (w *writeTxn) removeAs(resource string, old *Record, final v1.Object) *Record {
	releaseOnRemove(w, resource, old)
	releasePodCIDRs(w, resource, old, nil)
	if err := w.txn.Delete(resource, old); err != nil {
		panic(fmt.Sprintf("fsm: delete %s %s at %d: %v", resource, old.Key(), w.index, err))
	}
	w.wrote(resource, nil, old)
	final.GetObjectMeta().SetResourceVersionIndex(w.index)
	rec := NewRecord(final, nil)
	w.events = append(w.events, Event{Index: w.index, Type: v1.Deleted, Resource: resource, Record: rec, Prev: old})
	if ns := old.Meta().Namespace; ns != "" && resource != "namespaces" && !w.legacyNamespace {
		maybeFinishNamespace(w, ns)
	}
	return rec
}

// resourceOrSkew returns the named resource; one this binary does not know
// may be known to another master, so it stops the FSM.
func resourceOrSkew(w *writeTxn, name string) v1.Resource {
	r, ok := v1.ResourceByName(name)
	if !ok {
		panic(skew(fmt.Sprintf("fsm: unknown resource %q at index %d", name, w.index)))
	}
	return r
}

// checkNamespace fails unless the namespace exists and is not terminating.
func checkNamespace(w *writeTxn, ns string) error {
	rec, err := w.get("namespaces", "", ns)
	if err != nil {
		return err
	}
	if rec.Object().(*v1.Namespace).Status.Phase == v1.NamespaceTerminating {
		return v1.NewForbidden(fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

func applyCreate(w *writeTxn, body []byte) any {
	f, ok := readCreateFrame(body)
	if !ok || len(f.name) == 0 || !validJSON(f.object) {
		return w.reject("the create names no object or holds no valid JSON")
	}
	r := resourceOrSkew(w, string(f.resource))
	// The header's fields as strings, in as few allocations as they need:
	// namespace and name are parts of the key.
	key := frameKey(f.namespace, f.name)
	ns, name := key[:len(f.namespace)], key[len(key)-len(f.name):]
	uid, nodeName := string(f.uid), string(f.nodeName)
	// In the shape NewCreate makes, the object is stored as bytes with its
	// resourceVersion spliced in and decoded only when read as an object.
	// Any other shape is decoded now (an undecodable one is rejected here).
	lazy := hasCreateShape(r.Kind, f.object)
	var obj v1.Object
	if !lazy {
		obj = r.New()
		if res, ok := w.decode(f.object, obj); !ok {
			return res
		}
		v1.SetTypeMeta(obj)
		obj.GetObjectMeta().Generation = 1
		m := obj.GetObjectMeta()
		ns, name, uid, key = m.Namespace, m.Name, m.UID, v1.Key(m.Namespace, m.Name)
	}
	if r.Namespaced {
		if err := checkNamespace(w, ns); err != nil {
			return Result{Err: err}
		}
	}
	if w.exists(r.Name, key) || (uid != "" && w.uidTaken(r.Name, uid)) {
		return Result{Err: v1.NewAlreadyExists(r.Name, name)}
	}
	adm, err := admitCreate(w, r, ns, name, f.object, obj)
	if err != nil {
		return Result{Err: err}
	}
	if adm != nil {
		obj, lazy = adm, false
	}
	if lazy {
		raw := spliceResourceVersion(r.Kind, f.object, w.index)
		return Result{Record: w.insert(r.Name, v1.Added, newKeyedRecord(r, raw, key, uid, nodeName), nil)}
	}
	return Result{Record: w.put(r.Name, v1.Added, obj, nil)}
}

// createFrame is a create's body (see CreateRequest.appendFrame) read in
// place: every field is a part of the entry.
type createFrame struct {
	resource, namespace, name, uid, nodeName, object []byte
}

// readCreateFrame splits a create's body without copying it.
func readCreateFrame(body []byte) (createFrame, bool) {
	var h [5][]byte
	for i := range h {
		j := bytes.IndexByte(body, 0)
		if j < 0 {
			return createFrame{}, false
		}
		h[i], body = body[:j], body[j+1:]
	}
	return createFrame{resource: h[0], namespace: h[1], name: h[2], uid: h[3], nodeName: h[4], object: body}, true
}

// frameKey is v1.Key of a frame's namespace and name, made in one allocation.
func frameKey(namespace, name []byte) string {
	if len(namespace) == 0 {
		return string(name)
	}
	return string(namespace) + "/" + string(name)
}

// An object that NewCreate encoded starts createHead, its kind, createTail
// (up to the quote that opens the first field of its metadata).
const (
	createHead = `{"kind":"`
	createTail = `","apiVersion":"v1","metadata":{"`
)

// hasCreateShape reports whether raw is an object of kind encoded by
// NewCreate, which starts {"kind":K,"apiVersion":"v1","metadata":{" and
// carries no resourceVersion (NewCreate clears it).
func hasCreateShape(kind string, raw []byte) bool {
	n := len(createHead) + len(kind) + len(createTail)
	return len(raw) >= n && string(raw[:len(createHead)]) == createHead &&
		string(raw[len(createHead):len(createHead)+len(kind)]) == kind &&
		string(raw[len(createHead)+len(kind):n]) == createTail
}

// spliceResourceVersion inserts "resourceVersion":"index" as the first field
// of metadata in an object that hasCreateShape.
func spliceResourceVersion(kind string, raw []byte, index uint64) []byte {
	at := len(createHead) + len(kind) + len(createTail) - 1 // the quote that opens the first field
	out := make([]byte, 0, len(raw)+len(`"resourceVersion":"",`)+20)
	out = append(out, raw[:at]...)
	out = append(out, `"resourceVersion":"`...)
	out = strconv.AppendUint(out, index, 10)
	out = append(out, `",`...)
	return append(out, raw[at:]...)
}

// preconditions checks the compare-and-swap fields of a request against the stored object.
func preconditions(resource string, old *Record, uid, rv string) error {
	m := old.Meta()
	if uid != "" && uid != m.UID {
		return v1.NewConflict(resource, m.Name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", uid, m.UID))
	}
	if rv != "" && rv != m.ResourceVersion {
		return v1.NewConflict(resource, m.Name, "the object has been modified; please apply your changes to the latest version and try again")
	}
	return nil
}

func applyUpdate(w *writeTxn, body []byte, status bool) any {
	r, obj, bad := decodeFramed(w, body)
	if bad != nil {
		return *bad
	}
	m := obj.GetObjectMeta()
	old, err := w.get(r.Name, m.Namespace, m.Name)
	if err != nil {
		return Result{Err: err}
	}
	if err := preconditions(r.Name, old, m.UID, m.ResourceVersion); err != nil {
		return Result{Err: err}
	}
	var next v1.Object
	if status {
		next = shallowCopy(old.Object())
		v1.CopyStatus(next, obj)
		if mf := m.ManagedFields; mf != nil {
			// The API server tracked the status writer's fields.
			next.GetObjectMeta().ManagedFields = mf
		}
		if ns, ok := next.(*v1.Namespace); ok {
			// The phase is the FSM's: Terminating starts with a delete and
			// ends with the namespace's removal.
			ns.Status.Phase = old.Object().(*v1.Namespace).Status.Phase
		}
	} else {
		next = obj
		if r.HasStatus {
			v1.CopyStatus(next, old.Object())
		}
		if err := checkFinalizersUpdate(r.Kind, next.GetObjectMeta(), old.Meta()); err != nil {
			return Result{Err: err}
		}
		keepSystemMeta(next.GetObjectMeta(), old.Meta())
		if err := keepImmutable(w, r.Name, next, old.Object()); err != nil {
			return Result{Err: err}
		}
		if !v1.JSONEqual(specOf(next), specOf(old.Object())) {
			next.GetObjectMeta().Generation = old.Meta().Generation + 1
		}
	}
	if err := admitUpdate(w, r.Name, next, old.Object()); err != nil {
		return Result{Err: err}
	}
	v1.SetTypeMeta(next)
	if !status {
		if rec, removed := finishOnUpdate(w, r, old, next); removed {
			return Result{Record: rec}
		}
	}
	return Result{Record: w.put(r.Name, v1.Modified, next, old)}
}

// keepSystemMeta carries the fields users cannot change from the stored object.
func keepSystemMeta(m, old *v1.ObjectMeta) {
	m.UID = old.UID
	m.CreationTimestamp = old.CreationTimestamp
	m.DeletionTimestamp = old.DeletionTimestamp
	m.DeletionGracePeriodSeconds = old.DeletionGracePeriodSeconds
	m.Generation = old.Generation
	m.GenerateName = old.GenerateName
	if m.Generation == 0 {
		m.Generation = 1
	}
}

// keepImmutable re-checks, against the state at apply time, the fields the
// API server checked against the state it read.
func keepImmutable(w *writeTxn, resource string, next, old v1.Object) error {
	switch o := next.(type) {
	case *v1.RoleBinding:
		if o.RoleRef != old.(*v1.RoleBinding).RoleRef {
			return roleRefChanged("RoleBinding", o.Name)
		}
	case *v1.ClusterRoleBinding:
		if o.RoleRef != old.(*v1.ClusterRoleBinding).RoleRef {
			return roleRefChanged("ClusterRoleBinding", o.Name)
		}
	case *v1.Pod:
		op := old.(*v1.Pod)
		// Ephemeral containers change through their own command only; the
		// API refused a change, so a differing list is a race: keep the stored one.
		o.Spec.EphemeralContainers = op.Spec.EphemeralContainers
		if o.Spec.NodeName == "" {
			o.Spec.NodeName = op.Spec.NodeName
		}
		if o.Spec.NodeName != op.Spec.NodeName {
			msg := "spec.nodeName: Forbidden: may not be changed once the pod is bound"
			if op.Spec.NodeName == "" {
				msg = "spec.nodeName: Forbidden: a pod is bound through its binding subresource, not by an update"
			}
			return v1.NewInvalid("Pod", o.Name, []v1.StatusCause{{Type: "FieldValueForbidden", Field: "spec.nodeName", Message: msg}})
		}
	case *v1.Job:
		if err := jobImmutable(o, old.(*v1.Job)); err != nil {
			return err
		}
	case *v1.Node:
		on := old.(*v1.Node)
		if msg := v1.PodCIDRChange(o, on); msg != "" {
			return v1.NewInvalid("Node", o.Name, []v1.StatusCause{{Type: "FieldValueForbidden", Field: "spec.podCIDRs",
				Message: "spec.podCIDRs: Forbidden: " + msg}})
		}
		if o.Spec.PodCIDR == "" {
			o.Spec.PodCIDR = on.Spec.PodCIDR
		}
		if len(o.Spec.PodCIDRs) == 0 {
			o.Spec.PodCIDRs = on.Spec.PodCIDRs
		}
		if len(nodeCIDRs(on)) == 0 {
			// From "" to a CIDR: it must not overlap another node's.
			if err := checkPodCIDRs(w, o, ""); err != nil {
				return err
			}
		}
	case *v1.EndpointSlice:
		if o.AddressType != old.(*v1.EndpointSlice).AddressType {
			return v1.NewInvalid("EndpointSlice", o.Name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "addressType",
				Message: "addressType: Invalid value: field is immutable"}})
		}
	case *v1.CertificateSigningRequest:
		// As Kubernetes' strategy: an update of the object changes only
		// its metadata; the spec is the requester's for good.
		o.Spec = old.(*v1.CertificateSigningRequest).Spec
	case *v1.Service:
		os := old.(*v1.Service)
		if o.Spec.ClusterIP == "" {
			o.Spec.ClusterIP = os.Spec.ClusterIP
			o.Spec.ClusterIPs = os.Spec.ClusterIPs
		}
		if o.Spec.ClusterIP != os.Spec.ClusterIP {
			return v1.NewInvalid("Service", o.Name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "spec.clusterIP",
				Message: "spec.clusterIP: Invalid value: field is immutable"}})
		}
		if err := allocateNodePorts(o, os, usedServiceAddresses(w, v1.Key(os.Namespace, os.Name))); err != nil {
			return err
		}
	}
	return nil
}

// specOf returns what a change of bumps metadata.generation: the Spec field
// of kinds that have one, and the desired state of the few kinds that keep
// it at the top level; nil for kinds without a desired state.
func specOf(obj v1.Object) any {
	switch o := obj.(type) {
	case *v1.Endpoints:
		return o.Subsets
	case *v1.ServiceAccount:
		return struct {
			Automount *bool
			Secrets   []v1.ObjectReference
			Pull      []v1.LocalObjectRef
		}{o.AutomountServiceAccountToken, o.Secrets, o.ImagePullSecrets}
	case *v1.EndpointSlice:
		return struct {
			AddressType string
			Endpoints   []v1.Endpoint
			Ports       []v1.EndpointSlicePort
		}{o.AddressType, o.Endpoints, o.Ports}
	}
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	if f := v.Elem().FieldByName("Spec"); f.IsValid() {
		return f.Interface()
	}
	return nil
}

func applyScale(w *writeTxn, body []byte) any {
	var req ScaleRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	name := req.Resource
	if name == "" {
		name = "replicationcontrollers" // entries from before resource was named
	}
	r := resourceOrSkew(w, name)
	if !r.HasScale() {
		return w.reject("%s has no scale subresource", r.Name)
	}
	old, err := w.get(r.Name, req.Namespace, req.Name)
	if err != nil {
		return Result{Err: err}
	}
	if err := preconditions(r.Name, old, "", req.ResourceVersion); err != nil {
		return Result{Err: err}
	}
	obj := shallowCopy(old.Object()).(v1.Scalable)
	cur := obj.SpecReplicas()
	same := cur != nil && *cur == req.Replicas
	meta := obj.GetObjectMeta()
	if same && (req.ManagedFields == nil || v1.JSONEqual(req.ManagedFields, meta.ManagedFields)) {
		return Result{Record: old}
	}
	if req.ManagedFields != nil {
		meta.ManagedFields = req.ManagedFields
	}
	if !same {
		obj.SetSpecReplicas(req.Replicas)
		meta.Generation++
	}
	return Result{Record: w.put(r.Name, v1.Modified, obj, old)}
}

func applyUpsertMaster(w *writeTxn, body []byte) any {
	var m MasterInfo
	if res, ok := w.decode(body, &m); !ok {
		return res
	}
	if m.ID == "" {
		return w.reject("the master has no id")
	}
	if err := w.txn.Insert(tableMasters, &m); err != nil {
		panic(fmt.Sprintf("fsm: insert master %s: %v", m.ID, err))
	}
	return Result{}
}

func applyBatch(w *writeTxn, body []byte) any {
	var req BatchRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	for _, it := range req.Items {
		if it.Type == BatchCommand {
			return w.reject("a batch may not hold a batch")
		}
	}
	out := make(BatchResult, 0, len(req.Items))
	for _, it := range req.Items {
		data := append([]byte{byte(it.Type)}, it.Body...)
		switch res := applyEntry(w, data).(type) {
		case Result:
			out = append(out, res)
		case BatchResult:
			out = append(out, res...)
		default:
			out = append(out, Result{})
		}
	}
	return out
}

// roleRefChanged is the refusal of an update that changes a binding's
// roleRef, which Kubernetes keeps immutable.
func roleRefChanged(kind, name string) error {
	return v1.NewInvalid(kind, name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "roleRef",
		Message: "roleRef: Invalid value: cannot change roleRef"}})
}
