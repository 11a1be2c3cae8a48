package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

func newDescribeCmd(a *app) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "describe RESOURCE [NAME...] | TYPE/NAME...",
		Short: "Show the details of objects in human-readable form",
		Long: `Show objects in detail: metadata, labels, a summary of the spec, the status and
its conditions; for a replication controller the states of its pods, for a
service its endpoints, for a node the pods it runs. Without a name, every
object of the type (matching -l) is described.`,
		Example: `  orchctl describe pod web-x7k2p
  orchctl describe rc/web
  orchctl describe nodes`,
		ValidArgsFunction: completeResourceTypes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "a resource type is required (known: %s)", knownResources())
			}
			sel, err := parseSelection(args)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return a.runDescribe(cmd.Context(), sel, selector)
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "describe the objects matching this label selector")
	return cmd
}

func (a *app) runDescribe(ctx context.Context, sel *selection, selector string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	type item struct {
		res v1.Resource
		obj v1.Object
	}
	var items []item
	failed := false
	if sel.named() {
		for _, t := range sel.targets {
			obj, err := a.getObject(ctx, c, t.res, a.namespaceOf(t.res), t.name)
			if err != nil {
				if a.reportEach(err) {
					return errReported
				}
				failed = true
				continue
			}
			items = append(items, item{t.res, obj})
		}
	} else {
		for _, r := range sel.types {
			objs, _, err := a.listObjects(ctx, c, r, a.listNamespace(r), selector, "")
			if err != nil {
				return err
			}
			for _, obj := range objs {
				items = append(items, item{r, obj})
			}
		}
		if len(items) == 0 {
			a.noResources(sel.types)
		}
	}
	for i, it := range items {
		text, err := a.describeObject(ctx, c, it.obj)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(a.out)
			fmt.Fprintln(a.out)
		}
		fmt.Fprint(a.out, text)
	}
	if failed {
		return errReported
	}
	return nil
}

// describeObject renders one object, reading the related objects it
// summarizes (an RC's pods, a service's endpoints, a node's pods).
func (a *app) describeObject(ctx context.Context, c *client.Client, obj v1.Object) (string, error) {
	var buf bytes.Buffer
	d := &descWriter{tw: tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0), now: a.now()}
	switch o := obj.(type) {
	case *v1.Pod:
		describePod(d, o)
	case *v1.ReplicationController:
		var pods []v1.Object
		if len(o.Spec.Selector) > 0 {
			var err error
			pods, _, err = a.listObjects(ctx, c, mustResource("pods"), o.Namespace, formatSelector(o.Spec.Selector), "")
			if err != nil {
				return "", err
			}
		}
		describeRC(d, o, pods)
	case *v1.Service:
		var ep *v1.Endpoints
		if obj, err := a.getObject(ctx, c, mustResource("endpoints"), o.Namespace, o.Name); err == nil {
			ep = obj.(*v1.Endpoints)
		} else if !v1.IsNotFound(err) {
			return "", err
		}
		describeService(d, o, ep)
	case *v1.Endpoints:
		describeEndpoints(d, o)
	case *v1.ResourceQuota:
		describeQuota(d, o)
	case *v1.LimitRange:
		describeLimitRange(d, o)
	case *v1.Role:
		describeRules(d, &o.ObjectMeta, true, o.Rules)
	case *v1.ClusterRole:
		describeRules(d, &o.ObjectMeta, false, o.Rules)
	case *v1.RoleBinding:
		describeBinding(d, &o.ObjectMeta, true, o.RoleRef, o.Subjects)
	case *v1.ClusterRoleBinding:
		describeBinding(d, &o.ObjectMeta, false, o.RoleRef, o.Subjects)
	case *v1.CertificateSigningRequest:
		describeCSR(d, o)
	case *v1.Namespace:
		describeNamespace(d, o)
	case *v1.Node:
		pods, _, err := a.listObjects(ctx, c, mustResource("pods"), "", "", "spec.nodeName="+o.Name)
		if err != nil {
			return "", err
		}
		describeNode(d, o, pods)
	default:
		d.meta(obj.GetObjectMeta(), true)
	}
	switch obj.(type) {
	case *v1.Pod, *v1.ReplicationController, *v1.Node:
		a.describeEvents(ctx, c, d, obj)
	}
	if err := d.tw.Flush(); err != nil {
		return "", fmt.Errorf("describe: %w", err)
	}
	return buf.String(), nil
}

// mustResource returns a resource of the registry by name; the names used
// are constants of this package, so a miss is a programming error.
func mustResource(name string) v1.Resource {
	r, ok := v1.ResourceByName(name)
	if !ok {
		panic("unknown resource " + name)
	}
	return r
}

// formatSelector prints an equality selector as a label selector string.
func formatSelector(m map[string]string) string {
	s := formatMap(m)
	if s == none {
		return ""
	}
	return s
}

// descWriter writes "Key:\tvalue" lines, indented by level, aligned by a
// tabwriter.
type descWriter struct {
	tw  *tabwriter.Writer
	now time.Time
}

func (d *descWriter) line(level int, format string, args ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format+"\n", args...)
}

// mapLines prints a map one key=value per line under a title.
func (d *descWriter) mapLines(level int, title string, m map[string]string, skip ...string) {
	sep := "="
	if title == "Annotations" {
		sep = ": " // as kubectl shows them; values may hold commas and "="
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !contains(skip, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		d.line(level, "%s:\t%s", title, none)
		return
	}
	for i, k := range keys {
		if i == 0 {
			d.line(level, "%s:\t%s%s%s", title, k, sep, m[k])
		} else {
			d.line(level, "\t%s%s%s", k, sep, m[k])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// meta prints name, namespace, labels, annotations and timestamps.
func (d *descWriter) meta(m *v1.ObjectMeta, namespaced bool) {
	d.line(0, "Name:\t%s", m.Name)
	if namespaced {
		d.line(0, "Namespace:\t%s", m.Namespace)
	}
	d.mapLines(0, "Labels", m.Labels)
	// The applied configuration is long and repeats the manifest.
	d.mapLines(0, "Annotations", m.Annotations, lastAppliedAnnotation)
	d.line(0, "CreationTimestamp:\t%s", d.timestamp(m.CreationTimestamp))
	if m.DeletionTimestamp != nil {
		d.line(0, "DeletionTimestamp:\t%s", d.timestamp(*m.DeletionTimestamp))
	}
	if ref := m.ControllerRef(); ref != nil {
		d.line(0, "Controlled By:\t%s/%s", ref.Kind, ref.Name)
	}
}

// timestamp prints a time the way kubectl describe does, with its age.
func (d *descWriter) timestamp(t v1.Time) string {
	if t.IsZero() {
		return none
	}
	return fmt.Sprintf("%s (%s ago)", t.Format(time.RFC1123Z), humanDuration(d.now.Sub(t.Time)))
}
