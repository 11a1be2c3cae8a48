package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// quotaColumns returns kubectl's REQUEST and LIMIT cells of a quota:
// "name: used/hard" pairs sorted by name, limits.* in LIMIT, the rest in REQUEST.
func quotaColumns(q *v1.ResourceQuota) (request, limit string) {
	var req, lim []string
	for _, n := range v1.SortedResourceNames(q.Spec.Hard) {
		used, hard := q.Status.Used[n], q.Status.Hard[n]
		cell := fmt.Sprintf("%s: %s/%s", n, used.String(), hard.String())
		if strings.HasPrefix(string(n), "limits.") {
			lim = append(lim, cell)
		} else {
			req = append(req, cell)
		}
	}
	return strings.Join(req, ", "), strings.Join(lim, ", ")
}

// createdAt prints a creation time as kubectl's CREATED AT column does.
func createdAt(t v1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.UTC().Format(time.RFC3339)
}

// quotaScopeHelp is kubectl's explanation of each quota scope.
var quotaScopeHelp = map[v1.ResourceQuotaScope]string{
	v1.QuotaScopeTerminating:    "Matches all pods that have an active deadline. These pods have a limited lifespan on a node before being actively terminated by the system.",
	v1.QuotaScopeNotTerminating: "Matches all pods that do not have an active deadline. These pods usually include long running pods whose container command is not expected to terminate.",
	v1.QuotaScopeBestEffort:     "Matches all pods that do not have resource requirements set. These pods have a best effort quality of service.",
	v1.QuotaScopeNotBestEffort:  "Matches all pods that have at least one resource requirement set. These pods have a burstable or guaranteed quality of service.",
}

// describeQuota prints a quota as kubectl describe does: its scopes, then
// Used against Hard for every resource of status.hard.
func describeQuota(d *descWriter, q *v1.ResourceQuota) {
	d.line(0, "Name:\t%s", q.Name)
	d.line(0, "Namespace:\t%s", q.Namespace)
	if len(q.Spec.Scopes) > 0 {
		scopes := make([]string, 0, len(q.Spec.Scopes))
		for _, s := range q.Spec.Scopes {
			scopes = append(scopes, string(s))
		}
		sort.Strings(scopes)
		d.line(0, "Scopes:\t%s", strings.Join(scopes, ", "))
		for _, s := range scopes {
			if h := quotaScopeHelp[v1.ResourceQuotaScope(s)]; h != "" {
				d.line(0, " * %s", h)
			}
		}
	}
	d.line(0, "Resource\tUsed\tHard")
	d.line(0, "--------\t----\t----")
	for _, n := range v1.SortedResourceNames(q.Status.Hard) {
		hard, used := q.Status.Hard[n], q.Status.Used[n]
		if hard.Format != used.Format {
			used = *resource.NewQuantity(used.Value(), hard.Format)
		}
		d.line(0, "%s\t%s\t%s", n, used.String(), hard.String())
	}
}

// describeLimitRange prints a LimitRange as kubectl describe does: one row
// per type and resource, "-" where the item sets nothing.
func describeLimitRange(d *descWriter, lr *v1.LimitRange) {
	d.line(0, "Name:\t%s", lr.Name)
	d.line(0, "Namespace:\t%s", lr.Namespace)
	d.line(0, "Type\tResource\tMin\tMax\tDefault Request\tDefault Limit\tMax Limit/Request Ratio")
	d.line(0, "----\t--------\t---\t---\t---------------\t-------------\t-----------------------")
	for _, it := range lr.Spec.Limits {
		names := map[v1.ResourceName]bool{}
		for _, l := range []v1.ResourceList{it.Min, it.Max, it.Default, it.DefaultRequest, it.MaxLimitRequestRatio} {
			for k := range l {
				names[k] = true
			}
		}
		all := v1.ResourceList{}
		for k := range names {
			all[k] = resource.Quantity{}
		}
		for _, k := range v1.SortedResourceNames(all) {
			cell := func(l v1.ResourceList) string {
				if q, ok := l[k]; ok {
					return q.String()
				}
				return "-"
			}
			d.line(0, "%s\t%s\t%s\t%s\t%s\t%s\t%s", it.Type, k, cell(it.Min), cell(it.Max),
				cell(it.DefaultRequest), cell(it.Default), cell(it.MaxLimitRequestRatio))
		}
	}
}
