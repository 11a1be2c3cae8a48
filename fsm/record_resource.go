package fsm

import (
	"reflect"

	v1 "orch.io/orch/api/v1"
)

// Resource returns the resource of the record's object from its type,
// without decoding stored bytes (a forwarded write's answer names it) and
// without making an object: a lazy record's newObj is its resource's New,
// found in resourceByNew, and a record that held its object keeps the
// object's type (objRef.typ), found in resourceByType. A record neither
// names (a constructor or type no resource has) makes an empty object to
// ask its type, as it always did.
func (r *Record) Resource() (v1.Resource, error) {
	if ref := r.obj.Load(); ref != nil {
		if obj := ref.load(); obj != nil {
			return v1.ResourceOf(obj)
		}
		if res, ok := resourceByType[ref.typ]; ok {
			return res, nil
		}
	}
	if r.newObj != nil {
		if res, ok := resourceByNew[reflect.ValueOf(r.newObj).Pointer()]; ok {
			return res, nil
		}
	}
	return v1.ResourceOf(r.newObj())
}

// resourceByType maps the struct type of each resource's objects to
// v1.ResourceOf of such an object; filled once, never changed.
var resourceByType = func() map[reflect.Type]v1.Resource {
	m := map[reflect.Type]v1.Resource{}
	for _, r := range v1.Resources() {
		obj := r.New()
		if res, err := v1.ResourceOf(obj); err == nil {
			m[reflect.TypeOf(obj).Elem()] = res
		}
	}
	return m
}()

// resourceByNew maps the code of each resource's New to v1.ResourceOf of
// the object it makes; filled once, never changed. Code is not a
// function's identity (closures made by one function literal share it, and
// so may two resources' News), so a code whose functions make objects of
// different types is left out, and such a record makes an object.
var resourceByNew = func() map[uintptr]v1.Resource {
	m := map[uintptr]v1.Resource{}
	ambiguous := map[uintptr]bool{}
	for _, r := range v1.Resources() {
		code := reflect.ValueOf(r.New).Pointer()
		res, err := v1.ResourceOf(r.New())
		if err != nil {
			ambiguous[code] = true
			continue
		}
		if prev, ok := m[code]; ok && prev.Name != res.Name {
			ambiguous[code] = true
		}
		m[code] = res
	}
	for code := range ambiguous {
		delete(m, code)
	}
	return m
}()
