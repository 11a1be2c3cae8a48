package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/audit"
	nodeauth "orch.io/orch/auth/node"
	"orch.io/orch/fsm"
)

// serveResource handles everything under /api/v1/ and /apis/{group}/{version}/.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	q := r.URL.Query()
	// As in Kubernetes, a request is authorized before its parameters are
	// read: a forbidden request is 403 whatever its parameters. (A ?watch
	// that is not a bool counts as a list here; the two are authorized alike.)
	req, err := parsePath(r.Method, r.URL.Path, flag(q, "watch"))
	if err != nil {
		writeError(w, err)
		s.metrics.observe("unknown", "unknown", v1.CodeOf(err), start)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.metrics.observe(req.verb, req.resource.Name, rec.code, start) }()
	if err := s.authorize(r.Context(), resourceAttributes(UserFrom(r.Context()), req, q)); err != nil {
		writeError(rec, err)
		return
	}
	if err := checkParams(q); err != nil {
		writeError(rec, err)
		return
	}
	dryRun := false
	if req.verb != "get" && req.verb != "list" && req.verb != "watch" {
		if dryRun, err = checkDryRun(req.verb, q["dryRun"]); err != nil {
			writeError(rec, err)
			return
		}
	}
	if dryRun && isProxySub(req) {
		// A node agent cannot pretend: refused as Kubernetes refuses connecters.
		writeError(rec, v1.NewBadRequest("dryRun is not supported"))
		return
	}
	if req.resource.Review && req.verb != "create" {
		writeError(rec, v1.NewMethodNotAllowed(req.resource.Name+" supports create only"))
		return
	}
	if req.verb == "watch" {
		s.serveWatch(rec, r, req)
		return
	}
	if isProxySub(req) {
		s.serveProxy(rec, r, req) // proxied to a node agent; sets its own timeouts
		return
	}
	timeout, err := s.requestTimeout(q)
	if err != nil {
		writeError(rec, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 5*time.Second))
	if dryRun {
		ctx = withDryRun(ctx)
	}
	if err := checkManagerOptions(req.verb, r, q); err != nil {
		writeError(rec, err)
		return
	}
	ctx = withManager(ctx, q.Get("fieldManager"), r.UserAgent())
	r = r.WithContext(withWarnings(ctx, rec.Header()))
	switch {
	case req.resource.Review:
		s.serveReview(rec, r, req)
	case req.sub == "scale":
		s.serveScale(rec, r, req)
	case req.sub == "binding":
		s.serveBinding(rec, r, req)
	case req.sub == subToken:
		s.serveToken(rec, r, req)
	case req.sub == subEviction:
		s.serveEviction(rec, r, req)
	case req.verb == "create":
		s.serveCreate(rec, r, req)
	case req.verb == "get":
		s.serveGet(rec, r, req)
	case req.verb == "list":
		s.serveList(rec, r, req)
	case req.verb == "update":
		s.serveUpdate(rec, r, req)
	case req.verb == "patch" && isApply(r):
		s.serveApply(rec, r, req)
	case req.verb == "patch":
		s.servePatch(rec, r, req)
	case req.verb == "delete":
		s.serveDelete(rec, r, req)
	case req.verb == "deletecollection":
		s.serveDeleteCollection(rec, r, req)
	default:
		writeError(rec, v1.NewMethodNotAllowed(req.verb+" is not supported"))
	}
}

// read returns the store for a get or list: linearizable by default; from
// this master's own state with ?stale=true; and, for ?resourceVersion=N,
// once this master has applied N (Kubernetes' "not older than"), with 504
// "Too large resource version" for an N the cluster has not reached.
func (s *Server) read(r *http.Request) (*fsm.Store, error) {
	q := r.URL.Query()
	rv, err := parseResourceVersion(q.Get("resourceVersion"))
	if err != nil {
		return nil, err
	}
	if rv > 0 {
		return s.atLeast(r.Context(), rv)
	}
	if !flag(q, "stale") {
		if _, err := s.backend.ReadBarrier(r.Context()); err != nil {
			return nil, err
		}
	}
	return s.backend.Store(), nil
}

// apply commits a command and returns the single result's record.
// In a dry run (dryRun=All) the command is checked against the store and
// never proposed; the record is what would be stored.
func (s *Server) apply(ctx context.Context, cmd []byte) (*fsm.Record, error) {
	apply := s.backend.Apply
	if isDryRun(ctx) {
		apply = s.dryApply
	}
	res, err := apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case fsm.Result:
		return r.Record, r.Err
	case fsm.BatchResult:
		if len(r) != 1 {
			return nil, fmt.Errorf("apply: %d results, want 1", len(r))
		}
		return r[0].Record, r[0].Err
	}
	return nil, fmt.Errorf("apply: unexpected result %T", res)
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, req *request) {
	if r.URL.Query().Get("resourceVersionMatch") != "" {
		writeError(w, v1.NewBadRequest("resourceVersionMatch is forbidden for get"))
		return
	}
	tab, err := s.tableFor(r, req)
	if err != nil {
		writeError(w, err)
		return
	}
	store, err := s.read(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := store.Get(req.resource.Name, req.namespace, req.name)
	if err != nil {
		writeError(w, err)
		return
	}
	if tab != nil {
		b, err := tab.table([]*fsm.Record{rec}, metav1.ListMeta{ResourceVersion: rec.Meta().ResourceVersion}, true)
		if err != nil {
			writeError(w, err)
			return
		}
		writeRaw(w, http.StatusOK, b)
		return
	}
	s.writeRecord(w, http.StatusOK, req.resource, rec)
}

// maxGenerateAttempts bounds retries when a generated name is taken.
const maxGenerateAttempts = 5

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := s.readObjectBody(w, r, req.resource.Kind, req.resource.GroupVersion())
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := decodeObject(req, body)
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := s.create(r.Context(), req, obj, true)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeRecord(w, http.StatusCreated, req.resource, rec)
}

// create admits and commits a new object. With track, its managedFields
// are those of an Update by the request's manager (a create); an apply
// has computed them already.
func (s *Server) create(ctx context.Context, req *request, obj v1.Object, track bool) (*fsm.Record, error) {
	if obj.GetObjectMeta().ResourceVersion != "" {
		return nil, v1.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	prepareCreate(obj)
	fillRequester(ctx, obj)
	v1.Default(obj)
	if err := s.admitLimitRanges(obj); err != nil {
		return nil, err
	}
	if err := s.admitServiceAccount(ctx, obj); err != nil {
		return nil, err
	}
	if track {
		if err := s.trackUpdate(ctx, req, obj, nil); err != nil {
			return nil, err
		}
	}
	m := obj.GetObjectMeta()
	generated := m.Name == "" && m.GenerateName != ""
	for attempt := 0; ; attempt++ {
		if generated {
			m.Name = v1.GenerateName(m.GenerateName)
		}
		if err := v1.ValidateIn(req.resource, obj); err != nil {
			return nil, err
		}
		if err := s.admitPodSecurity(ctx, req, obj, nil); err != nil {
			return nil, err
		}
		if err := s.admitNodeRestriction(ctx, req, nodeauth.Create, obj, nil); err != nil {
			return nil, err
		}
		if err := s.admitRBAC(ctx, req, obj); err != nil {
			return nil, err
		}
		prop, err := s.sealed(ctx, obj, nil)
		if err != nil {
			return nil, err
		}
		cmd, err := s.createCommand(prop)
		if err != nil {
			return nil, err
		}
		rec, err := s.apply(ctx, cmd)
		if err != nil {
			if generated && v1.IsAlreadyExists(err) && attempt < maxGenerateAttempts {
				continue
			}
			return nil, err
		}
		audit.SetObject(ctx, m.Namespace, m.Name, types.UID(m.UID))
		return rec, nil
	}
}

// createCommand encodes the create of obj; a node gets its pod CIDR and a
// service its ClusterIP and NodePorts from the FSM, which picks free ones.
func (s *Server) createCommand(obj v1.Object) ([]byte, error) {
	switch o := obj.(type) {
	case *v1.Node:
		return fsm.NewCreateNode(o, s.cfg.ClusterCIDR, s.cfg.NodeCIDRMaskSize)
	case *v1.Service:
		return fsm.NewCreateService(o, s.cfg.ServiceCIDR)
	}
	return fsm.NewCreate(obj)
}

// prepareCreate sets the fields the server owns on a new object: uid,
// creationTimestamp, a clean system metadata and an initial status; a
// pod's matchLabelKeys and mismatchLabelKeys are merged into its selectors.
func prepareCreate(obj v1.Object) {
	m := obj.GetObjectMeta()
	m.UID = uuid.NewString()
	m.CreationTimestamp = v1.NewTime(time.Now())
	m.ResourceVersion = ""
	m.Generation = 0
	m.DeletionTimestamp = nil
	m.DeletionGracePeriodSeconds = nil
	switch o := obj.(type) {
	case *v1.Pod:
		o.Status = v1.PodStatus{}
		v1.ApplyLabelKeys(o)
		if o.Spec.NodeName != "" {
			// Created already bound (as a static assignment): scheduled now.
			o.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: m.CreationTimestamp}}
		}
	case v1.PodTemplater:
		v1.ResetStatus(o)
	case *v1.Namespace:
		o.Status = v1.NamespaceStatus{}
	}
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, req *request) {
	body, err := s.readObjectBody(w, r, req.resource.Kind, req.resource.GroupVersion())
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := decodeObject(req, body)
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := s.update(r.Context(), req, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeRecord(w, http.StatusOK, req.resource, rec)
}

// update validates obj against the stored object and commits it, with
// its managedFields updated for the request's manager. The FSM re-checks
// the resourceVersion precondition and immutable fields.
func (s *Server) update(ctx context.Context, req *request, obj v1.Object) (*fsm.Record, error) {
	if obj.GetObjectMeta().ResourceVersion != "" || req.resource.Name == "leases" {
		return s.commitUpdate(ctx, req, obj, true)
	}
	// An unconditional update: its managedFields are computed from the
	// object read, so it commits with that object's resourceVersion and
	// starts again after a concurrent write (Kubernetes' GuaranteedUpdate),
	// never overwriting another writer's managedFields.
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if _, err := s.backend.ReadBarrier(ctx); err != nil {
				return nil, err
			}
		}
		next := v1.DeepCopy(obj)
		rec, err := s.commitUpdate(withPinnedVersion(ctx), req, next, true)
		if err != nil && v1.IsConflict(err) && attempt < maxPatchAttempts {
			continue
		}
		return rec, err
	}
}

// pinnedKey marks an update to be committed with the read object's
// resourceVersion as precondition.
type pinnedKey struct{}

func withPinnedVersion(ctx context.Context) context.Context {
	return context.WithValue(ctx, pinnedKey{}, true)
}

func isPinned(ctx context.Context) bool {
	b, _ := ctx.Value(pinnedKey{}).(bool)
	return b
}

// commitUpdate is update; without track, obj's managedFields are kept as
// they are (an apply has computed them).
func (s *Server) commitUpdate(ctx context.Context, req *request, obj v1.Object, track bool) (*fsm.Record, error) {
	if rv := obj.GetObjectMeta().ResourceVersion; rv != "" {
		if _, err := strconv.ParseUint(rv, 10, 64); err != nil {
			return nil, v1.NewInvalid(req.resource.Kind, req.name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "metadata.resourceVersion",
				Message: fmt.Sprintf("metadata.resourceVersion: Invalid value: %q: must be a whole number", rv)}})
		}
	}
	stored, err := s.current(ctx, req, obj.GetObjectMeta().ResourceVersion)
	if err != nil {
		return nil, err
	}
	// Admission and validation compare with the clear form; the stored
	// form lends the envelopes of unchanged values to the sealed update.
	old, err := s.reveal(req.resource, stored)
	if err != nil {
		return nil, err
	}
	if rv := obj.GetObjectMeta().ResourceVersion; rv != "" && rv != old.Meta().ResourceVersion {
		// The FSM makes the same check atomically; answering early keeps a
		// stale writer from seeing validation errors about someone else's change.
		return nil, v1.NewConflict(req.resource.Name, req.name,
			"the object has been modified; please apply your changes to the latest version and try again")
	}
	if isPinned(ctx) {
		obj.GetObjectMeta().ResourceVersion = old.Meta().ResourceVersion
	}
	if req.sub == subEphemeral {
		return s.updateEphemeralContainers(ctx, req, obj, old)
	}
	if csr, ok := obj.(*v1.CertificateSigningRequest); ok {
		if req.sub != "" {
			return s.updateCSRStatus(ctx, req, csr, old)
		}
		keepCSR(csr, old)
	}
	status := req.sub == "status"
	if status {
		// Only the status changes: validate the stored object with the new status.
		next := v1.DeepCopy(old.Object())
		v1.CopyStatus(next, obj)
		next.GetObjectMeta().ResourceVersion = obj.GetObjectMeta().ResourceVersion
		obj = next
	} else {
		v1.Default(obj)
	}
	if track {
		if err := s.trackUpdate(ctx, req, obj, old.Object()); err != nil {
			return nil, err
		}
	}
	// NodeRestriction first, as Kubernetes' mutating admission runs
	// before validation: a node overstepping is 403 whatever it sent.
	if err := s.admitNodeRestriction(ctx, req, nodeauth.Update, obj, old.Object()); err != nil {
		return nil, err
	}
	if err := v1.ValidateUpdateIn(req.resource, obj, old.Object()); err != nil {
		return nil, err
	}
	if err := s.admitPodSecurity(ctx, req, obj, old.Object()); err != nil {
		return nil, err
	}
	if !status {
		if err := s.admitRBAC(ctx, req, obj); err != nil {
			return nil, err
		}
	}
	prop, err := s.sealed(ctx, obj, stored)
	if err != nil {
		return nil, err
	}
	cmd, err := fsm.NewUpdate(prop, status)
	if err != nil {
		return nil, err
	}
	if req.resource.Name == "leases" && s.leases != nil {
		if err := fsm.Verify(cmd); err != nil {
			return nil, err // refused alone, never in a batch
		}
		return s.leases.Apply(ctx, cmd)
	}
	return s.apply(ctx, cmd)
}

// current returns the stored object an update is checked against. The local
// copy serves when it agrees with the caller's resourceVersion; a miss or a
// mismatch may only mean this master is behind, so it takes a read barrier
// and reads again before answering 404 or 409.
func (s *Server) current(ctx context.Context, req *request, rv string) (*fsm.Record, error) {
	rec, err := s.backend.Store().Get(req.resource.Name, req.namespace, req.name)
	if err == nil && (rv == "" || rv == rec.Meta().ResourceVersion) {
		return rec, nil
	}
	if err != nil && !v1.IsNotFound(err) {
		return nil, err
	}
	if _, err := s.backend.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return s.backend.Store().Get(req.resource.Name, req.namespace, req.name)
}

// deletePropagation is the propagation policy of a delete, as Kubernetes
// reads DeleteOptions: the deprecated orphanDependents maps to Orphan (true)
// or Background (false) and may not be set together with a policy; "" leaves
// the choice to the object's finalizers and its kind's default.
func deletePropagation(opts v1.DeleteOptions) (string, error) {
	if o := opts.OrphanDependents; o != nil {
		if opts.PropagationPolicy != "" {
			return "", v1.NewInvalid("DeleteOptions.meta.k8s.io", "", []v1.StatusCause{{Type: "FieldValueInvalid", Field: "propagationPolicy",
				Message: fmt.Sprintf("propagationPolicy: Invalid value: %q: orphanDependents and deletionPropagation cannot be both set", opts.PropagationPolicy)}})
		}
		if *o {
			return v1.PropagationOrphan, nil
		}
		return v1.PropagationBackground, nil
	}
	switch opts.PropagationPolicy {
	case "", v1.PropagationBackground, v1.PropagationForeground, v1.PropagationOrphan:
		return opts.PropagationPolicy, nil
	}
	return "", v1.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not one of Orphan, Background, Foreground", opts.PropagationPolicy))
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, req *request) {
	dr, r, err := s.readDeleteOptions(w, r, req.resource.Name)
	if err != nil {
		writeError(w, err)
		return
	}
	dr.Resource, dr.Namespace, dr.Name = req.resource.Name, req.namespace, req.name
	if err := s.admitNodeDelete(r.Context(), req, &dr.UID); err != nil {
		writeError(w, err)
		return
	}
	cmd, err := fsm.Encode(fsm.DeleteCommand, dr.DeleteRequest)
	if err != nil {
		writeError(w, err)
		return
	}
	rec, err := s.apply(r.Context(), cmd)
	if err != nil {
		writeError(w, err)
		return
	}
	code := http.StatusOK
	if o := dr.OrphanDependents; o != nil && !*o && deletionPending(rec) {
		// Kubernetes answers 202 when a delete that asked for its
		// dependents' deletion with orphanDependents=false left the object.
		code = http.StatusAccepted
	}
	s.writeRecord(w, code, req.resource, rec)
}

// deletionPending reports whether a delete's answer is an object that is
// still stored: one the FSM removes keeps no finalizers, and a pod it only
// marked has a grace period left.
func deletionPending(rec *fsm.Record) bool {
	m := rec.Meta()
	if m.DeletionTimestamp == nil {
		return false
	}
	return len(m.Finalizers) > 0 || (m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds > 0)
}

// deleteOptions is a delete's request to commit, without its object, and
// the orphanDependents the caller sent (which decides a 202).
type deleteOptions struct {
	fsm.DeleteRequest
	OrphanDependents *bool
}

// readDeleteOptions reads a delete's DeleteOptions (body and query) into
// the request to commit, without its object; a dry run comes back in the
// returned request's context.
func (s *Server) readDeleteOptions(w http.ResponseWriter, r *http.Request, resource string) (deleteOptions, *http.Request, error) {
	var opts v1.DeleteOptions
	body, err := s.readObjectBody(w, r, "DeleteOptions", "")
	if err != nil {
		return deleteOptions{}, r, err
	}
	if len(body) > 0 {
		if err := decodeStrict(body, &opts); err != nil {
			return deleteOptions{}, r, err
		}
	}
	if len(opts.DryRun) > 0 {
		dry, err := checkDryRun("delete", opts.DryRun)
		if err != nil {
			return deleteOptions{}, r, err
		}
		if dry {
			r = r.WithContext(withDryRun(r.Context()))
		}
	}
	if g := opts.GracePeriodSeconds; g != nil && (*g < 0 || *g > maxSeconds) {
		return deleteOptions{}, r, v1.NewBadRequest(fmt.Sprintf("gracePeriodSeconds %d must be a whole number of seconds from 0 to %d", *g, maxSeconds))
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := parseSeconds("gracePeriodSeconds", g)
		if err != nil {
			return deleteOptions{}, r, err
		}
		opts.GracePeriodSeconds = &n
	}
	if p := q.Get("propagationPolicy"); p != "" {
		opts.PropagationPolicy = p
	}
	if q.Has("orphanDependents") {
		b, err := parseBool(q.Get("orphanDependents"))
		if err != nil {
			return deleteOptions{}, r, v1.NewBadRequest(fmt.Sprintf("orphanDependents: invalid value %q: %v", q.Get("orphanDependents"), err))
		}
		opts.OrphanDependents = &b
	}
	warnJobDelete(r.Context(), resource, &opts)
	policy, err := deletePropagation(opts)
	if err != nil {
		return deleteOptions{}, r, err
	}
	dr := deleteOptions{DeleteRequest: fsm.DeleteRequest{GracePeriodSeconds: opts.GracePeriodSeconds, Propagation: policy, Now: v1.NewTime(time.Now())},
		OrphanDependents: opts.OrphanDependents}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil {
			dr.UID = *p.UID
		}
		if p.ResourceVersion != nil {
			if _, err := strconv.ParseUint(*p.ResourceVersion, 10, 64); err != nil {
				return deleteOptions{}, r, v1.NewBadRequest(fmt.Sprintf("preconditions.resourceVersion: Invalid value: %q: must be a whole number", *p.ResourceVersion))
			}
			dr.ResourceVersion = *p.ResourceVersion
		}
	}
	return dr, r, nil
}
