package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newScaleCmd(a *app) *cobra.Command {
	var replicas int32
	cmd := &cobra.Command{
		Use:   "scale (rc NAME | rc/NAME) --replicas N",
		Short: "Set the number of replicas of a replication controller",
		Long:  "Set the desired number of pods of a replication controller, through its scale subresource.",
		Example: `  orchctl scale rc web --replicas 5
  orchctl scale replicationcontroller/web --replicas 0`,
		ValidArgsFunction: completeResourceTypes,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("replicas") {
				return usagef(cmd, "--replicas is required")
			}
			if replicas < 0 {
				return usagef(cmd, "--replicas must be 0 or more, not %d", replicas)
			}
			sel, err := parseSelection(args)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			if !sel.named() {
				return usagef(cmd, "name the replication controller to scale: scale rc NAME --replicas N")
			}
			for _, t := range sel.targets {
				if t.res.Kind != "ReplicationController" {
					return usagef(cmd, "%s cannot be scaled: only replicationcontrollers (rc) have a scale subresource", t.res.Name)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			failed := false
			for _, t := range sel.targets {
				ctx, cancel := a.requestContext(cmd.Context())
				err := c.Scale(ctx, a.namespaceOf(t.res), t.name, replicas)
				cancel()
				if err != nil {
					if a.reportEach(err) {
						return errReported
					}
					failed = true
					continue
				}
				fmt.Fprintf(a.out, "%s/%s scaled\n", t.res.Singular, t.name)
			}
			if failed {
				return errReported
			}
			return nil
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "the desired number of replicas (required)")
	return cmd
}
