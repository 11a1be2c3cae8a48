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
	// SecretType is a Secret's type ("" for other kinds).
	SecretType v1.SecretType
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
	switch o := obj.(type) {
	case *v1.Pod:
		s.SchedulerName, s.Phase = o.Spec.SchedulerName, o.Status.Phase
	case *v1.Secret:
		s.SecretType = o.Type
	}
	return s
}

// readNull consumes a JSON null and reports whether the next value was one.
func readNull(it *jsoniter.Iterator) bool {
	if it.WhatIsNext() != jsoniter.NilValue {
		return false
	}
	it.Skip()
	return true
}
