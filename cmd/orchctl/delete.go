package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// deleteOptions are the flags of delete.
type deleteOptions struct {
	files          fileOptions
	selector       string
	all            bool
	gracePeriod    int64
	cascade        string
	ignoreNotFound bool
}

func newDeleteCmd(a *app) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete (RESOURCE NAME... | TYPE/NAME... | RESOURCE -l SELECTOR | RESOURCE --all | -f FILE)",
		Short: "Delete objects by name, label selector or manifest",
		Long: `Delete objects. Pods are deleted gracefully: they are marked for deletion and
removed once their node has stopped them (--grace-period bounds how long that
may take). Deleting a replication controller deletes its pods too, unless
--cascade=orphan.`,
		Example: `  orchctl delete pod web
  orchctl delete pod/web svc/web
  orchctl delete pods -l app=web
  orchctl delete -f web.yaml
  orchctl delete rc web --cascade=orphan`,
		ValidArgsFunction: completeResourceTypes,
		RunE: func(cmd *cobra.Command, args []string) error {
			policy, err := propagationPolicy(o.cascade)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			opts := &v1.DeleteOptions{PropagationPolicy: policy}
			if o.gracePeriod >= 0 {
				g := o.gracePeriod
				opts.GracePeriodSeconds = &g
			}
			targets, err := a.deleteTargets(cmd, o, args)
			if err != nil {
				return err
			}
			return a.deleteAll(cmd.Context(), targets, opts, o.ignoreNotFound)
		},
	}
	o.files.addFlags(cmd, "whose objects to delete")
	f := cmd.Flags()
	f.StringVarP(&o.selector, "selector", "l", "", "delete the objects matching this label selector")
	f.BoolVar(&o.all, "all", false, "delete every object of the type in the namespace")
	f.Int64Var(&o.gracePeriod, "grace-period", -1,
		"seconds a pod is given to stop (0: immediately; -1: the pod's own terminationGracePeriodSeconds)")
	f.StringVar(&o.cascade, "cascade", "background", "what happens to dependents (the pods of an RC): background or orphan")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "do not fail when an object does not exist")
	return cmd
}

// propagationPolicy maps --cascade to a DeleteOptions propagation policy.
func propagationPolicy(cascade string) (string, error) {
	switch strings.ToLower(cascade) {
	case "background", "true", "":
		return v1.PropagationBackground, nil
	case "orphan", "false":
		return v1.PropagationOrphan, nil
	case "foreground":
		return v1.PropagationForeground, nil
	}
	return "", fmt.Errorf("--cascade must be background or orphan, not %q", cascade)
}

// deleteTarget is one object to delete, in its namespace.
type deleteTarget struct {
	res       v1.Resource
	namespace string
	name      string
}

// deleteTargets resolves the command line into objects to delete.
func (a *app) deleteTargets(cmd *cobra.Command, o *deleteOptions, args []string) ([]deleteTarget, error) {
	if len(o.files.files) > 0 {
		if len(args) > 0 || o.selector != "" || o.all {
			return nil, usagef(cmd, "-f cannot be combined with resource arguments, -l or --all")
		}
		ms, err := a.manifests(&o.files)
		if err != nil {
			return nil, err
		}
		var out []deleteTarget
		for _, m := range ms {
			meta := m.obj.GetObjectMeta()
			if meta.Name == "" {
				return nil, fmt.Errorf("%s: delete needs metadata.name", m.source)
			}
			out = append(out, deleteTarget{res: m.res, namespace: meta.Namespace, name: meta.Name})
		}
		return out, nil
	}
	if len(args) == 0 {
		return nil, usagef(cmd, "say what to delete: RESOURCE NAME..., TYPE/NAME..., RESOURCE -l SELECTOR, RESOURCE --all or -f FILE")
	}
	sel, err := parseSelection(args)
	if err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	if sel.named() {
		if o.selector != "" || o.all {
			return nil, usagef(cmd, "names cannot be combined with -l or --all")
		}
		var out []deleteTarget
		for _, t := range sel.targets {
			out = append(out, deleteTarget{res: t.res, namespace: a.namespaceOf(t.res), name: t.name})
		}
		return out, nil
	}
	if o.selector == "" && !o.all {
		return nil, usagef(cmd, "no name given: pass names, -l SELECTOR, or --all to delete every %s", sel.types[0].Singular)
	}
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var out []deleteTarget
	for _, r := range sel.types {
		objs, _, err := a.listObjects(cmd.Context(), c, r, a.listNamespace(r), o.selector, "")
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			m := obj.GetObjectMeta()
			out = append(out, deleteTarget{res: r, namespace: m.Namespace, name: m.Name})
		}
	}
	if len(out) == 0 {
		a.noResources(sel.types)
	}
	return out, nil
}

// deleteAll deletes the targets, printing `pod "web" deleted` for each.
func (a *app) deleteAll(ctx context.Context, targets []deleteTarget, opts *v1.DeleteOptions, ignoreNotFound bool) error {
	if len(targets) == 0 {
		return nil
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	failed := false
	for _, t := range targets {
		if err := a.deleteOne(ctx, c, t, opts); err != nil {
			if ignoreNotFound && v1.IsNotFound(err) {
				continue
			}
			if a.reportEach(err) {
				return errReported
			}
			failed = true
			continue
		}
		fmt.Fprintf(a.out, "%s %q deleted\n", t.res.Singular, t.name)
	}
	if failed {
		return errReported
	}
	return nil
}

func (a *app) deleteOne(ctx context.Context, c *client.Client, t deleteTarget, opts *v1.DeleteOptions) error {
	rctx, cancel := a.requestContext(ctx)
	defer cancel()
	_, err := c.Delete(rctx, t.res.Name, t.namespace, t.name, opts)
	return err
}
