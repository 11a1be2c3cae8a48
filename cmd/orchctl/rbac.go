package main

import (
	"fmt"
	"sort"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// bindingSubjects returns the users, groups and service accounts of a
// binding's subjects, comma-separated, as kubectl's wide columns.
func bindingSubjects(subjects []v1.Subject) (users, groups, sas string) {
	var u, g, s []string
	for _, x := range subjects {
		switch x.Kind {
		case v1.UserKind:
			u = append(u, x.Name)
		case v1.GroupKind:
			g = append(g, x.Name)
		case v1.ServiceAccountKind:
			s = append(s, x.Namespace+"/"+x.Name)
		}
	}
	return strings.Join(u, ", "), strings.Join(g, ", "), strings.Join(s, ", ")
}

// describeRules prints a role's rules as kubectl describe does: one row per
// resource (as resource.group) or non-resource URL.
func describeRules(d *descWriter, m *v1.ObjectMeta, namespaced bool, rules []v1.PolicyRule) {
	d.line(0, "Name:\t%s", m.Name)
	if namespaced {
		d.line(0, "Namespace:\t%s", m.Namespace)
	}
	d.mapLines(0, "Labels", m.Labels)
	d.mapLines(0, "Annotations", m.Annotations, lastAppliedAnnotation)
	d.line(0, "PolicyRule:")
	d.line(1, "Resources\tNon-Resource URLs\tResource Names\tVerbs")
	d.line(1, "---------\t-----------------\t--------------\t-----")
	type row struct{ res, urls, names, verbs string }
	var rows []row
	list := func(s []string) string { return "[" + strings.Join(s, " ") + "]" }
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			rows = append(rows, row{"", list(r.NonResourceURLs), list(r.ResourceNames), list(r.Verbs)})
			continue
		}
		for _, res := range r.Resources {
			for _, g := range r.APIGroups {
				name := res
				if g != "" {
					name += "." + g
				}
				rows = append(rows, row{name, "[]", list(r.ResourceNames), list(r.Verbs)})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].res < rows[j].res })
	for _, r := range rows {
		d.line(1, "%s\t%s\t%s\t%s", r.res, r.urls, r.names, r.verbs)
	}
}

// describeBinding prints a binding as kubectl describe does.
func describeBinding(d *descWriter, m *v1.ObjectMeta, namespaced bool, ref v1.RoleRef, subjects []v1.Subject) {
	d.line(0, "Name:\t%s", m.Name)
	if namespaced {
		d.line(0, "Namespace:\t%s", m.Namespace)
	}
	d.mapLines(0, "Labels", m.Labels)
	d.mapLines(0, "Annotations", m.Annotations, lastAppliedAnnotation)
	d.line(0, "Role:")
	d.line(1, "Kind:\t%s", ref.Kind)
	d.line(1, "Name:\t%s", ref.Name)
	d.line(0, "Subjects:")
	d.line(1, "Kind\tName\tNamespace")
	d.line(1, "----\t----\t---------")
	for _, s := range subjects {
		d.line(1, "%s\t%s\t%s", s.Kind, s.Name, s.Namespace)
	}
}

// roleColumn is kubectl's ROLE column: Kind/name.
func roleColumn(ref v1.RoleRef) string { return fmt.Sprintf("%s/%s", ref.Kind, ref.Name) }
