package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
)

func newClusterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the masters of the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newClusterMembersCmd(a))
	return cmd
}

func newClusterMembersCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the masters, their Raft state and which one leads",
		Long: `List the masters of the cluster as the answering master sees them. LAST-INDEX
(the last Raft log index) is known for the answering master only; others show -.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputTable, outputJSON, outputYAML); err != nil {
				return usagef(cmd, "%v", err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd.Context())
			defer cancel()
			m, err := c.Members(ctx)
			if err != nil {
				return err
			}
			if output != outputTable {
				return printStructured(a.out, output, m)
			}
			return writeTable(a.out, membersTable(m), false)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

// membersTable is the table of cluster members.
func membersTable(m *client.Members) *table {
	t := &table{headers: []string{"NAME", "RAFT-ADDRESS", "API-ADDRESS", "STATE", "VOTER", "LAST-INDEX"}}
	for _, mb := range m.Members {
		last := "-"
		if mb.LastIndex > 0 {
			last = strconv.FormatUint(mb.LastIndex, 10)
		}
		t.rows = append(t.rows, []string{mb.Name, orNone(mb.RaftAddr), orNone(mb.APIAddr), mb.State,
			strconv.FormatBool(mb.Voter), last})
	}
	return t
}
