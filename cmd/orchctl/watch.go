package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// runWatch lists, prints, then watches from the list's resourceVersion and
// prints each change until interrupted.
func (a *app) runWatch(ctx context.Context, o *getOptions, sel *selection) error {
	if len(sel.types) != 1 {
		return errors.New("watch works on one resource type at a time")
	}
	r := sel.types[0]
	fieldSel := o.fieldSelector
	if sel.named() {
		if len(sel.targets) != 1 {
			return errors.New("watch takes at most one object name")
		}
		byName := "metadata.name=" + sel.targets[0].name
		if fieldSel != "" {
			byName += "," + fieldSel
		}
		fieldSel = byName
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ns := a.listNamespace(r)
	if sel.named() {
		ns = a.namespaceOf(r)
	}
	objs, rv, err := a.listObjects(ctx, c, r, ns, o.selector, fieldSel)
	if err != nil {
		return err
	}
	p := &watchPrinter{a: a, o: o, res: r, table: &streamTable{w: a.out, noHeaders: o.noHeaders}}
	if len(objs) == 0 && !sel.named() && (o.output == outputTable || o.output == outputWide) {
		a.noResources(sel.types)
	}
	if err := p.print(objs...); err != nil {
		return err
	}
	w, err := c.Watch(ctx, r.Name, ns, client.WatchOptions{
		ListOptions:     client.ListOptions{LabelSelector: o.selector, FieldSelector: fieldSel},
		ResourceVersion: rv,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer w.Stop()
	for ev := range w.Events() {
		obj, err := decodeObject(r, ev.Object)
		if err != nil {
			return err
		}
		if err := p.print(obj); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := w.Err(); err != nil {
		if v1.IsGone(err) {
			return withHint(err, "the watch fell too far behind the cluster's history; run the command again")
		}
		return err
	}
	return nil
}

// watchPrinter prints objects as they come, in the -o format.
type watchPrinter struct {
	a     *app
	o     *getOptions
	res   v1.Resource
	table *streamTable
	count int
}

func (p *watchPrinter) print(objs ...v1.Object) error {
	if len(objs) == 0 {
		return nil
	}
	out := p.a.out
	switch p.o.output {
	case outputJSON:
		for _, obj := range objs {
			if err := printJSON(out, obj); err != nil {
				return err
			}
		}
	case outputYAML:
		for _, obj := range objs {
			if p.count > 0 {
				if _, err := io.WriteString(out, "---\n"); err != nil {
					return fmt.Errorf("write output: %w", err)
				}
			}
			p.count++
			if err := printYAML(out, obj); err != nil {
				return err
			}
		}
	case outputName:
		for _, obj := range objs {
			fmt.Fprintln(out, objectRef(p.res, obj))
		}
	default:
		t := buildTable(p.res, objs, p.a.tableOptions(p.o, false))
		return p.table.print(t.headers, t.rows)
	}
	return nil
}
