package v1

import (
	"reflect"
	"sort"
	"strings"
)

// This file holds what a kind can do beyond being stored, as interfaces its
// Go type implements: the API server, the FSM, Pod Security and the
// controllers ask a resource (Resource.HasScale, Resource.HasPodTemplate)
// instead of keeping switches keyed by resource name. Adding a kind with a
// scale subresource or a pod template means implementing the interface on
// its type and adding its table entry.

// PodTemplater is a kind whose objects hold a pod template their
// controller makes pods from (ReplicationController, ReplicaSet). Pod
// Security checks the template; the API server clears the status of a new
// one (only its controller writes it); deleting one deletes the pods it
// controls, or releases them with propagationPolicy Orphan.
type PodTemplater interface {
	Object
	// PodTemplate returns the object's pod template, nil when it has none.
	PodTemplate() *PodTemplateSpec
}

// Scalable is a kind with a scale subresource (autoscaling/v1 Scale).
type Scalable interface {
	Object
	// SpecReplicas returns spec.replicas (nil when unset).
	SpecReplicas() *int32
	// SetSpecReplicas sets spec.replicas.
	SetSpecReplicas(n int32)
	// ScaleStatus returns the Scale's status: status.replicas and the pod
	// selector as a string in label selector syntax.
	ScaleStatus() ScaleStatus
}

// HasScale reports whether the resource has a scale subresource.
func (r Resource) HasScale() bool { return capabilitiesOf[r.Kind].scale }

// HasPodTemplate reports whether the resource's objects hold a pod
// template (see PodTemplater).
func (r Resource) HasPodTemplate() bool { return capabilitiesOf[r.Kind].podTemplate }

// capabilities are the interfaces a kind's Go type implements.
type capabilities struct {
	scale, podTemplate bool
}

// capabilitiesOf holds each kind's capabilities, found once from its Go
// type (the API server and the FSM ask on every request). Read-only after
// initialisation.
var capabilitiesOf = func() map[string]capabilities {
	m := make(map[string]capabilities, len(resources))
	for _, r := range resources {
		obj := r.New()
		_, scale := obj.(Scalable)
		_, tmpl := obj.(PodTemplater)
		m[r.Kind] = capabilities{scale: scale, podTemplate: tmpl}
	}
	return m
}()

// GroupResource is the resource's name qualified by its group as
// Kubernetes writes it: "pods" for the core group, "replicasets.apps"
// otherwise (quota's count/<resource>, RBAC messages).
func (r Resource) GroupResource() string {
	if r.Group == "" {
		return r.Name
	}
	return r.Name + "." + r.Group
}

// ResourceByGroupResource finds a resource by its group-qualified name
// (GroupResource), or by its plural name alone.
func ResourceByGroupResource(s string) (Resource, bool) {
	for _, r := range resources {
		if r.Name == s || r.GroupResource() == s {
			return r, true
		}
	}
	return Resource{}, false
}

// PodTemplate returns the replication controller's pod template.
func (rc *ReplicationController) PodTemplate() *PodTemplateSpec { return rc.Spec.Template }

// SpecReplicas returns spec.replicas.
func (rc *ReplicationController) SpecReplicas() *int32 { return rc.Spec.Replicas }

// SetSpecReplicas sets spec.replicas.
func (rc *ReplicationController) SetSpecReplicas(n int32) { rc.Spec.Replicas = &n }

// ScaleStatus returns status.replicas and the equality selector of
// spec.selector (its pairs sorted).
func (rc *ReplicationController) ScaleStatus() ScaleStatus {
	sel := make([]string, 0, len(rc.Spec.Selector))
	for k, v := range rc.Spec.Selector {
		sel = append(sel, k+"="+v)
	}
	sort.Strings(sel)
	return ScaleStatus{Replicas: rc.Status.Replicas, Selector: strings.Join(sel, ",")}
}

// PodTemplate returns the job's pod template.
func (j *Job) PodTemplate() *PodTemplateSpec { return &j.Spec.Template }

// PodTemplate returns the pod template of the jobs the cron job makes.
func (cj *CronJob) PodTemplate() *PodTemplateSpec { return &cj.Spec.JobTemplate.Spec.Template }

// statusField returns the Status field of the struct obj points to, if it
// has one.
func statusField(obj Object) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	f := v.Elem().FieldByName("Status")
	return f, f.IsValid() && f.CanSet()
}

// ResetStatus clears obj's status, for the kinds whose status only their
// controller writes (PodTemplater): a client's create may not set it.
func ResetStatus(obj Object) {
	if _, ok := obj.(PodTemplater); !ok {
		return
	}
	if f, ok := statusField(obj); ok {
		f.Set(reflect.Zero(f.Type()))
	}
}
