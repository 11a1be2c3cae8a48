package fsm

import (
	"weak"

	jsoniter "github.com/json-iterator/go"

	v1 "orch.io/orch/api/v1"
)

// Summary is the part of a stored object that the leader's controllers read
// to tell whether a change concerns them and to index it: its metadata but
// annotations and managedFields, and a pod's scheduler and phase. Reading
// it decodes only those fields and skips the rest unread, so the many
// controllers that look at each change do not decode the whole object; the
// record holds it weakly, as its object, so the controllers that look at
// one change share one summary and a master keeps none once they let go.
type Summary struct {
	// Meta is the object's metadata without Annotations and ManagedFields
	// (always nil here; read them with Record.Meta).
	Meta v1.ObjectMeta
	// SchedulerName is a pod's spec.schedulerName ("" for other kinds).
	SchedulerName string
	// Phase is a pod's status.phase ("" for other kinds).
	Phase string
}

// Terminal reports whether the summary is of a pod that has finished
// (Succeeded or Failed), as v1.Pod.Terminal.
func (s *Summary) Terminal() bool { return s.Phase == v1.PodSucceeded || s.Phase == v1.PodFailed }

// Summary returns the object's summary (read-only): the one the record
// holds while a reader holds it, or else one read from the decoded object
// if the record holds that, or else one decoded from the bytes.
func (r *Record) Summary() *Summary {
	if w := r.sum.Load(); w != nil {
		if s := w.Value(); s != nil {
			return s
		}
	}
	// Two readers may summarize at once; each gets an equal summary and
	// the later one is kept.
	s := r.summarize()
	w := weak.Make(s)
	r.sum.Store(&w)
	return s
}

// summarize makes the record's summary, from the decoded object when the
// record holds it (or the bytes do not read as a summary) and from the
// bytes otherwise. Both ways give the same summary: every stored object
// round-trips through its JSON, which encoding/json wrote.
func (r *Record) summarize() *Summary {
	if ref := r.obj.Load(); ref != nil {
		if obj := ref.load(); obj != nil {
			return summaryOf(obj)
		}
	}
	if s, ok := readSummary(r.raw); ok {
		return s
	}
	return summaryOf(r.Object())
}

// summaryOf returns the summary of a decoded object; it shares the
// object's maps and slices, which are never modified.
func summaryOf(obj v1.Object) *Summary {
	s := &Summary{Meta: *obj.GetObjectMeta()}
	s.Meta.Annotations, s.Meta.ManagedFields = nil, nil
	if p, ok := obj.(*v1.Pod); ok {
		s.SchedulerName, s.Phase = p.Spec.SchedulerName, p.Status.Phase
	}
	return s
}

// readSummary reads a summary from an object's JSON as encoding/json
// writes it (the keys as its tags spell them), decoding the summary's
// fields and skipping every other value unread. ok is false when raw does
// not read so (the caller then decodes the whole object) or names no kind.
func readSummary(raw []byte) (_ *Summary, ok bool) {
	it := jsoniter.ConfigDefault.BorrowIterator(raw)
	defer jsoniter.ConfigDefault.ReturnIterator(it)
	s := &Summary{}
	var kind, scheduler, phase string
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		switch field {
		case "kind":
			kind = it.ReadString()
		case "metadata":
			readMeta(it, &s.Meta)
		case "spec":
			scheduler = readStringField(it, "schedulerName")
		case "status":
			phase = readStringField(it, "phase")
		default:
			it.Skip()
		}
		return it.Error == nil
	})
	if it.Error != nil || kind == "" {
		return nil, false
	}
	if kind == "Pod" {
		s.SchedulerName, s.Phase = scheduler, phase
	}
	return s, true
}

// readStringField reads an object and returns its string field name.
func readStringField(it *jsoniter.Iterator, name string) string {
	var v string
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		if field == name {
			v = it.ReadString()
		} else {
			it.Skip()
		}
		return it.Error == nil
	})
	return v
}

// readNull consumes a JSON null and reports whether the next value was one.
func readNull(it *jsoniter.Iterator) bool {
	if it.WhatIsNext() != jsoniter.NilValue {
		return false
	}
	it.Skip()
	return true
}

// readMeta reads metadata into m as encoding/json would decode it into
// v1.ObjectMeta, leaving Annotations and ManagedFields (and any field
// ObjectMeta does not have) unread.
func readMeta(it *jsoniter.Iterator, m *v1.ObjectMeta) {
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		switch field {
		case "name":
			m.Name = it.ReadString()
		case "generateName":
			m.GenerateName = it.ReadString()
		case "namespace":
			m.Namespace = it.ReadString()
		case "uid":
			m.UID = it.ReadString()
		case "resourceVersion":
			m.ResourceVersion = it.ReadString()
		case "generation":
			if !readNull(it) {
				m.Generation = it.ReadInt64()
			}
		case "creationTimestamp":
			readTime(it, &m.CreationTimestamp)
		case "deletionTimestamp":
			if !readNull(it) {
				m.DeletionTimestamp = new(v1.Time)
				readTime(it, m.DeletionTimestamp)
			}
		case "deletionGracePeriodSeconds":
			if !readNull(it) {
				v := it.ReadInt64()
				m.DeletionGracePeriodSeconds = &v
			}
		case "labels":
			if !readNull(it) {
				m.Labels = map[string]string{}
				it.ReadMapCB(func(it *jsoniter.Iterator, k string) bool {
					m.Labels[k] = it.ReadString()
					return it.Error == nil
				})
			}
		case "ownerReferences":
			if !readNull(it) {
				m.OwnerReferences = []v1.OwnerReference{}
				it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
					var ref v1.OwnerReference
					readOwnerReference(it, &ref)
					m.OwnerReferences = append(m.OwnerReferences, ref)
					return it.Error == nil
				})
			}
		case "finalizers":
			if !readNull(it) {
				m.Finalizers = []string{}
				it.ReadArrayCB(func(it *jsoniter.Iterator) bool {
					m.Finalizers = append(m.Finalizers, it.ReadString())
					return it.Error == nil
				})
			}
		default: // annotations, managedFields
			it.Skip()
		}
		return it.Error == nil
	})
}

// readTime reads a timestamp with v1.Time's own decoding.
func readTime(it *jsoniter.Iterator, t *v1.Time) {
	if err := t.UnmarshalJSON(it.SkipAndReturnBytes()); err != nil && it.Error == nil {
		it.ReportError("read timestamp", err.Error())
	}
}

// readOwnerReference reads one metadata.ownerReferences item.
func readOwnerReference(it *jsoniter.Iterator, ref *v1.OwnerReference) {
	it.ReadObjectCB(func(it *jsoniter.Iterator, field string) bool {
		switch field {
		case "apiVersion":
			ref.APIVersion = it.ReadString()
		case "kind":
			ref.Kind = it.ReadString()
		case "name":
			ref.Name = it.ReadString()
		case "uid":
			ref.UID = it.ReadString()
		case "controller":
			if !readNull(it) {
				v := it.ReadBool()
				ref.Controller = &v
			}
		case "blockOwnerDeletion":
			if !readNull(it) {
				v := it.ReadBool()
				ref.BlockOwnerDeletion = &v
			}
		default:
			it.Skip()
		}
		return it.Error == nil
	})
}
