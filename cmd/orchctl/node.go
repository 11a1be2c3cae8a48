package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// drainPollInterval is how often drain checks whether the pods it deleted
// are gone.
var drainPollInterval = time.Second

func newCordonCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "cordon NODE...",
		GroupID: "cluster",
		Short:   "Mark nodes as unschedulable",
		Long: `Mark nodes as unschedulable: the scheduler places no new pods on them. Pods
already running there keep running; use 'orchctl drain' to move them away and
'orchctl uncordon' to make the nodes schedulable again.

It sets spec.unschedulable to true with a merge patch on each node.`,
		Example: `  orchctl cordon node-1
  orchctl cordon node-1 node-2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "name the nodes to cordon: cordon NODE...")
			}
			return a.setUnschedulableAll(cmd.Context(), args, true)
		},
	}
}

func newUncordonCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "uncordon NODE...",
		GroupID: "cluster",
		Short:   "Mark nodes as schedulable",
		Long: `Mark nodes as schedulable again after 'orchctl cordon' or 'orchctl drain':
the scheduler may place new pods on them.

It sets spec.unschedulable to false with a merge patch on each node.`,
		Example: `  orchctl uncordon node-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "name the nodes to uncordon: uncordon NODE...")
			}
			return a.setUnschedulableAll(cmd.Context(), args, false)
		},
	}
}

// drainOptions are the flags of drain.
type drainOptions struct {
	gracePeriod int64
	force       bool
	timeout     time.Duration
}

func newDrainCmd(a *app) *cobra.Command {
	o := &drainOptions{}
	cmd := &cobra.Command{
		Use:     "drain NODE",
		GroupID: "cluster",
		Short:   "Cordon a node and delete its pods, for maintenance",
		Long: `Drain a node before maintenance: cordon it (so that no new pod is scheduled
there), then delete every pod bound to it, in all namespaces. Pods managed by
a replication controller are recreated by it on other nodes.

Pods that no controller manages would be lost for good, so drain refuses to
delete them, and deletes nothing, unless --force is given. Pods that have
already finished (Succeeded or Failed) are deleted without --force.

Pods are deleted gracefully, each with its own terminationGracePeriodSeconds
unless --grace-period is given. With --timeout, drain then waits until all the
deleted pods are gone and fails if some are still there when it expires; with
--timeout 0 (the default) it does not wait.

Use 'orchctl uncordon' to make the node schedulable again.`,
		Example: `  orchctl drain node-1
  orchctl drain node-1 --force --grace-period 0
  orchctl drain node-1 --timeout 2m`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(cmd, "name one node to drain: drain NODE")
			}
			if o.timeout < 0 {
				return usagef(cmd, "--timeout must be 0 or more, not %s", o.timeout)
			}
			return a.drain(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.gracePeriod, "grace-period", -1,
		"seconds each pod is given to stop (0: immediately; -1: the pod's own terminationGracePeriodSeconds)")
	f.BoolVar(&o.force, "force", false, "also delete pods that no replication controller manages (they are not recreated)")
	f.DurationVar(&o.timeout, "timeout", 0, "how long to wait for the deleted pods to be gone, e.g. 30s or 5m (0: do not wait)")
	return cmd
}

// setUnschedulableAll cordons (or uncordons) each node, going on after an
// API error about one of them.
func (a *app) setUnschedulableAll(ctx context.Context, nodes []string, unschedulable bool) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	failed := false
	for _, name := range nodes {
		if err := a.setUnschedulable(ctx, c, name, unschedulable); err != nil {
			if a.reportEach(err) {
				return errReported
			}
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// setUnschedulable sets spec.unschedulable of one node, printing
// `node/NAME cordoned` (or `already cordoned` when there was nothing to do).
func (a *app) setUnschedulable(ctx context.Context, c *client.Client, name string, unschedulable bool) error {
	verb := "cordoned"
	if !unschedulable {
		verb = "uncordoned"
	}
	var node v1.Node
	rctx, cancel := a.requestContext(ctx)
	err := c.Get(rctx, "nodes", "", name, &node)
	cancel()
	if err != nil {
		return err
	}
	if node.Spec.Unschedulable == unschedulable {
		fmt.Fprintf(a.out, "node/%s already %s\n", name, verb)
		return nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": unschedulable}})
	if err != nil {
		return err
	}
	rctx, cancel = a.requestContext(ctx)
	err = c.Patch(rctx, "nodes", "", name, patch, nil)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "node/%s %s\n", name, verb)
	return nil
}

// podRef names one pod, as ns/name.
func podRef(p *v1.Pod) string { return p.Namespace + "/" + p.Name }

// drain cordons the node, deletes its pods and, with a timeout, waits for
// them to be gone.
func (a *app) drain(ctx context.Context, node string, o *drainOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	if err := a.setUnschedulable(ctx, c, node, true); err != nil {
		return err
	}
	rctx, cancel := a.requestContext(ctx)
	pods, _, err := client.ListTyped[v1.Pod](rctx, c, "pods", "", client.ListOptions{FieldSelector: "spec.nodeName=" + node})
	cancel()
	if err != nil {
		return err
	}
	var unmanaged []string
	for i := range pods {
		p := &pods[i]
		if p.ControllerRef() == nil && !p.Terminal() {
			unmanaged = append(unmanaged, podRef(p))
		}
	}
	if len(unmanaged) > 0 {
		if !o.force {
			return fmt.Errorf("cannot delete Pods not managed by a ReplicationController (use --force to override): %s",
				strings.Join(unmanaged, ", "))
		}
		fmt.Fprintf(a.errOut, "Warning: deleting Pods not managed by a ReplicationController: %s\n", strings.Join(unmanaged, ", "))
	}

	opts := &v1.DeleteOptions{}
	if o.gracePeriod >= 0 {
		g := o.gracePeriod
		opts.GracePeriodSeconds = &g
	}
	var deleted []v1.Pod
	failed := false
	for _, p := range pods {
		rctx, cancel := a.requestContext(ctx)
		_, err := c.Delete(rctx, "pods", p.Namespace, p.Name, opts)
		cancel()
		if err != nil {
			if v1.IsNotFound(err) {
				continue // gone already
			}
			if a.reportEach(err) {
				return errReported
			}
			failed = true
			continue
		}
		fmt.Fprintf(a.out, "pod/%s evicted\n", p.Name)
		deleted = append(deleted, p)
	}
	if failed {
		return errReported
	}
	if o.timeout > 0 {
		if err := a.waitPodsGone(ctx, c, deleted, o.timeout); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.out, "node/%s drained\n", node)
	return nil
}

// waitPodsGone polls until none of pods exists any more (a pod of the same
// name with another UID is a new pod) or the timeout expires.
func (a *app) waitPodsGone(ctx context.Context, c *client.Client, pods []v1.Pod, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	remaining := pods
	for {
		var still []v1.Pod
		for _, p := range remaining {
			var cur v1.Pod
			rctx, rcancel := a.requestContext(ctx)
			err := c.Get(rctx, "pods", p.Namespace, p.Name, &cur)
			rcancel()
			switch {
			case err == nil:
				if p.UID == "" || cur.UID == p.UID {
					still = append(still, p)
				}
			case v1.IsNotFound(err):
			case ctx.Err() != nil:
				still = append(still, p)
			default:
				return err
			}
		}
		remaining = still
		if len(remaining) == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return timeoutError(ctx, remaining, timeout)
		}
		select {
		case <-ctx.Done():
			return timeoutError(ctx, remaining, timeout)
		case <-time.After(drainPollInterval):
		}
	}
}

func timeoutError(ctx context.Context, pods []v1.Pod, timeout time.Duration) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	names := make([]string, len(pods))
	for i := range pods {
		names[i] = podRef(&pods[i])
	}
	return fmt.Errorf("timed out after %s waiting for pods to be deleted: %s", timeout, strings.Join(names, ", "))
}
