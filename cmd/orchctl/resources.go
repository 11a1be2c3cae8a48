package main

import (
	"fmt"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// resolveResource finds a resource by plural, singular, kind or short name,
// ignoring case ("pods", "pod", "po", "Pod", "PODS").
func resolveResource(name string) (v1.Resource, error) {
	if r, ok := v1.ResourceByName(name); ok {
		return r, nil
	}
	if r, ok := v1.ResourceByName(strings.ToLower(name)); ok {
		return r, nil
	}
	for _, r := range v1.Resources() {
		if strings.EqualFold(r.Kind, name) {
			return r, nil
		}
	}
	return v1.Resource{}, fmt.Errorf("unknown resource type %q (known: %s)", name, knownResources())
}

// knownResources lists the resources with their short names.
func knownResources() string {
	var parts []string
	for _, r := range v1.Resources() {
		s := r.Name
		if len(r.ShortNames) > 0 {
			s += " (" + strings.Join(r.ShortNames, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// target is one named object of a command line.
type target struct {
	res  v1.Resource
	name string
}

// selection is what a command line names: either objects (TYPE NAME... or
// TYPE/NAME...) or whole collections (TYPE[,TYPE...]).
type selection struct {
	// types are the resources, in command-line order, without repeats.
	types []v1.Resource
	// targets are the named objects; empty when collections are selected.
	targets []target
}

// named reports whether the selection names objects.
func (s *selection) named() bool { return len(s.targets) > 0 }

// parseSelection reads "TYPE [NAME...]", "TYPE1,TYPE2", or "TYPE/NAME...".
func parseSelection(args []string) (*selection, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("a resource type is required (known: %s)", knownResources())
	}
	s := &selection{}
	addType := func(r v1.Resource) {
		for _, t := range s.types {
			if t.Name == r.Name {
				return
			}
		}
		s.types = append(s.types, r)
	}
	if strings.Contains(args[0], "/") {
		for _, arg := range args {
			typ, name, ok := strings.Cut(arg, "/")
			if !ok || typ == "" || name == "" || strings.Contains(name, "/") {
				return nil, fmt.Errorf("%q is not TYPE/NAME: when the first argument is TYPE/NAME, all must be", arg)
			}
			r, err := resolveResource(typ)
			if err != nil {
				return nil, err
			}
			addType(r)
			s.targets = append(s.targets, target{res: r, name: name})
		}
		return s, nil
	}
	for _, typ := range strings.Split(args[0], ",") {
		if typ == "" {
			continue
		}
		r, err := resolveResource(typ)
		if err != nil {
			return nil, err
		}
		addType(r)
	}
	if len(s.types) == 0 {
		return nil, fmt.Errorf("a resource type is required (known: %s)", knownResources())
	}
	for _, name := range args[1:] {
		if strings.Contains(name, "/") {
			return nil, fmt.Errorf("%q: TYPE/NAME cannot follow a TYPE argument; use either 'TYPE NAME...' or 'TYPE/NAME...'", name)
		}
		for _, r := range s.types {
			s.targets = append(s.targets, target{res: r, name: name})
		}
	}
	return s, nil
}

// namespaceOf returns the namespace a request about one named object of r
// goes to: -n for a namespaced resource, "" otherwise.
func (a *app) namespaceOf(r v1.Resource) string {
	if !r.Namespaced {
		return ""
	}
	return a.namespace
}

// listNamespace returns the namespace a list or watch of r covers: "" (all)
// with -A or for a cluster-scoped resource, else -n.
func (a *app) listNamespace(r v1.Resource) string {
	if !r.Namespaced || a.allNamespaces {
		return ""
	}
	return a.namespace
}

// resourceTypeCompletions completes the first argument with resource names.
func resourceTypeCompletions() []string {
	var out []string
	for _, r := range v1.Resources() {
		out = append(out, r.Name)
		out = append(out, r.ShortNames...)
	}
	return out
}
