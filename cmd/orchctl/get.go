package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// listPageSize is the page size orchctl asks for when it lists.
const listPageSize = 500

// getOptions are the flags of get.
type getOptions struct {
	selector      string
	fieldSelector string
	output        string
	watch         bool
	showLabels    bool
	noHeaders     bool
}

func newGetCmd(a *app) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get RESOURCE [NAME...] | TYPE/NAME...",
		Short: "List objects or show some by name",
		Long: `List objects of one or more types (get pods,svc), or show some by name
(get pod web, get pod/web rc/db).

Resource types: ` + knownResources() + `.`,
		Example: `  orchctl get pods
  orchctl get po -o wide -l app=web
  orchctl get pods -A --field-selector spec.nodeName=node1
  orchctl get rc web -o yaml
  orchctl get pods -w`,
		ValidArgsFunction: completeResourceTypes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "a resource type is required (known: %s)", knownResources())
			}
			if err := checkOutput(o.output, outputTable, outputWide, outputJSON, outputYAML, outputName); err != nil {
				return usagef(cmd, "%v", err)
			}
			sel, err := parseSelection(args)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			if o.watch {
				return a.runWatch(cmd.Context(), o, sel)
			}
			return a.runGet(cmd.Context(), o, sel)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. app=web,tier!=db")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector, e.g. spec.nodeName=node1,status.phase=Running")
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, json, yaml or name")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, watch for changes and print them")
	f.BoolVar(&o.showLabels, "show-labels", false, "add a LABELS column")
	f.BoolVar(&o.noHeaders, "no-headers", false, "do not print table headers")
	return cmd
}

// completeResourceTypes completes the first argument with resource types.
func completeResourceTypes(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return resourceTypeCompletions(), cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// group is the objects of one resource, in the order they were found.
type group struct {
	res  v1.Resource
	objs []v1.Object
}

func (a *app) runGet(ctx context.Context, o *getOptions, sel *selection) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var groups []*group
	byName := map[string]*group{}
	for _, r := range sel.types {
		g := &group{res: r}
		groups = append(groups, g)
		byName[r.Name] = g
	}
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
			byName[t.res.Name].objs = append(byName[t.res.Name].objs, obj)
		}
	} else {
		for _, g := range groups {
			objs, _, err := a.listObjects(ctx, c, g.res, a.listNamespace(g.res), o.selector, o.fieldSelector)
			if err != nil {
				return err
			}
			g.objs = objs
		}
	}
	if err := a.printGroups(o, sel, groups); err != nil {
		return err
	}
	if failed {
		return errReported
	}
	return nil
}

// printGroups prints what get found in the -o format.
func (a *app) printGroups(o *getOptions, sel *selection, groups []*group) error {
	var all []v1.Object
	for _, g := range groups {
		all = append(all, g.objs...)
	}
	switch o.output {
	case outputJSON, outputYAML:
		if sel.named() && len(sel.targets) == 1 && len(all) == 1 {
			return printStructured(a.out, o.output, all[0])
		}
		if sel.named() && len(all) == 0 {
			return nil
		}
		return printStructured(a.out, o.output, newList(all))
	}
	if len(all) == 0 {
		if !sel.named() {
			a.noResources(sel.types)
		}
		return nil
	}
	if o.output == outputName {
		for _, g := range groups {
			for _, obj := range g.objs {
				fmt.Fprintln(a.out, objectRef(g.res, obj))
			}
		}
		return nil
	}
	printed := 0
	for _, g := range groups {
		if len(g.objs) == 0 {
			continue
		}
		if printed > 0 {
			fmt.Fprintln(a.out)
		}
		printed++
		t := buildTable(g.res, g.objs, a.tableOptions(o, len(groups) > 1))
		if err := writeTable(a.out, t, o.noHeaders); err != nil {
			return err
		}
	}
	return nil
}

func (a *app) tableOptions(o *getOptions, withKind bool) tableOptions {
	return tableOptions{
		wide:          o.output == outputWide,
		showLabels:    o.showLabels,
		withNamespace: a.allNamespaces,
		withKind:      withKind,
		now:           a.now(),
	}
}

// noResources tells on stderr that a list came back empty.
func (a *app) noResources(types []v1.Resource) {
	namespaced := false
	for _, r := range types {
		namespaced = namespaced || r.Namespaced
	}
	if namespaced && !a.allNamespaces {
		fmt.Fprintf(a.errOut, "No resources found in %s namespace.\n", a.namespace)
		return
	}
	fmt.Fprintln(a.errOut, "No resources found")
}

// getObject reads one object.
func (a *app) getObject(ctx context.Context, c *client.Client, r v1.Resource, ns, name string) (v1.Object, error) {
	rctx, cancel := a.requestContext(ctx)
	defer cancel()
	obj := r.New()
	if err := c.Get(rctx, r.Name, ns, name, obj); err != nil {
		return nil, err
	}
	v1.SetTypeMeta(obj)
	return obj, nil
}

// listObjects lists every object of r in ns (all pages) and returns them
// with the resourceVersion of the first page.
func (a *app) listObjects(ctx context.Context, c *client.Client, r v1.Resource, ns, labelSel, fieldSel string) ([]v1.Object, string, error) {
	opts := client.ListOptions{LabelSelector: labelSel, FieldSelector: fieldSel, Limit: listPageSize}
	var objs []v1.Object
	rv := ""
	for page := 0; ; page++ {
		rctx, cancel := a.requestContext(ctx)
		l, err := c.List(rctx, r.Name, ns, opts)
		cancel()
		if err != nil {
			return nil, "", err
		}
		if page == 0 {
			rv = l.ResourceVersion
		}
		for _, raw := range l.Items {
			obj, err := decodeObject(r, raw)
			if err != nil {
				return nil, "", err
			}
			objs = append(objs, obj)
		}
		if l.Continue == "" {
			return objs, rv, nil
		}
		opts.Continue = l.Continue
	}
}
