package fsm

import v1 "orch.io/orch/api/v1"

// Resource returns the resource of the record's object from its type,
// without decoding stored bytes (a forwarded write's answer names it).
func (r *Record) Resource() (v1.Resource, error) {
	if ref := r.obj.Load(); ref != nil {
		if obj := ref.load(); obj != nil {
			return v1.ResourceOf(obj)
		}
	}
	return v1.ResourceOf(r.newObj())
}
