package client

import (
	"fmt"
	"net/url"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// ResourcePath returns the REST path of a collection (name "") or of one
// object, optionally of one of its subresources ("status", "scale",
// "binding"). resource may be any name v1.ResourceByName accepts. For a
// namespaced resource, namespace "" with name "" is the all-namespaces
// collection (/api/v1/pods); resources of other groups are under
// /apis/<group>/<version>; the namespace is ignored for cluster-scoped
// resources.
func ResourcePath(resource, namespace, name string, subresource ...string) (string, error) {
	r, ok := v1.ResourceByName(resource)
	if !ok {
		return "", fmt.Errorf("unknown resource %q (known: %s)", resource, strings.Join(v1.ResourceNames(), ", "))
	}
	var b strings.Builder
	b.WriteString(r.PathPrefix())
	if r.Namespaced && namespace != "" {
		b.WriteString("/namespaces/")
		b.WriteString(url.PathEscape(namespace))
	} else if r.Namespaced && name != "" {
		return "", fmt.Errorf("%s %q: a namespace is required", r.Name, name)
	}
	b.WriteString("/")
	b.WriteString(r.Name)
	if name != "" {
		b.WriteString("/")
		b.WriteString(url.PathEscape(name))
	} else if len(subresource) > 0 {
		return "", fmt.Errorf("%s: subresource %q needs an object name", r.Name, subresource[0])
	}
	for _, s := range subresource {
		b.WriteString("/")
		b.WriteString(url.PathEscape(s))
	}
	return b.String(), nil
}

// objectPath returns the resource and the path of obj (or of its
// subresource), defaulting an empty namespace of a namespaced kind to
// "default".
func objectPath(obj v1.Object, withName bool, subresource ...string) (v1.Resource, string, error) {
	r, err := v1.ResourceOf(obj)
	if err != nil {
		return v1.Resource{}, "", err
	}
	m := obj.GetObjectMeta()
	ns := ""
	if r.Namespaced {
		ns = m.Namespace
		if ns == "" {
			ns = v1.DefaultNamespace
		}
	}
	name := ""
	if withName {
		if m.Name == "" {
			return r, "", fmt.Errorf("%s: metadata.name is required", r.Singular)
		}
		name = m.Name
	}
	p, err := ResourcePath(r.Name, ns, name, subresource...)
	return r, p, err
}
