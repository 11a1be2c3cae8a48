package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
)

func newClusterCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and change the masters of the cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newClusterMembersCmd(a), newClusterChangeCmd(a, "add-master"), newClusterChangeCmd(a, "remove-master"),
		newClusterChangeCmd(a, "transfer-leader"))
	return cmd
}

// newClusterChangeCmd builds add-master, remove-master and transfer-leader:
// each changes the masters through the leader and prints the members after.
func newClusterChangeCmd(a *app, verb string) *cobra.Command {
	cmd := &cobra.Command{Use: verb}
	switch verb {
	case "add-master":
		cmd.Use = "add-master NAME RAFT-ADDRESS"
		cmd.Short = "Add a master (started with `orchd master --join`) as a voting member"
		cmd.Long = `Add a master to the Raft group. Start it first with an empty --data-dir and
--join (no --initial-cluster): it waits until the leader adds it, then
catches up from the leader's log and snapshots. Add one master at a time, and
keep an odd number of them (3 or 5).`
		cmd.Example = "  orchctl cluster add-master m4 10.0.0.4:7001"
		cmd.Args = cobra.ExactArgs(2)
	case "remove-master":
		cmd.Use = "remove-master NAME"
		cmd.Short = "Remove a master from the Raft group"
		cmd.Long = `Remove a master from the Raft group (a leader being removed hands over
first). Stop its orchd afterwards and delete its data directory before it is
ever added again. Removing a master of three leaves two: losing either of
them then stops writes.`
		cmd.Example = "  orchctl cluster remove-master m3"
		cmd.Args = cobra.ExactArgs(1)
	case "transfer-leader":
		cmd.Use = "transfer-leader [NAME]"
		cmd.Short = "Hand leadership to a master (any up-to-date one when no name is given)"
		cmd.Long = `Hand Raft leadership to the named master, or to any up-to-date follower.
Writes pause for milliseconds instead of an election's worth; use it before
restarting the leader's machine.`
		cmd.Example = "  orchctl cluster transfer-leader m2"
		cmd.Args = cobra.MaximumNArgs(1)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		ctx, cancel := a.requestContext(cmd.Context())
		defer cancel()
		var m *client.Members
		switch verb {
		case "add-master":
			m, err = c.AddMaster(ctx, args[0], args[1])
		case "remove-master":
			m, err = c.RemoveMaster(ctx, args[0])
		default:
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			m, err = c.TransferLeader(ctx, name)
		}
		if err != nil {
			return err
		}
		return writeTable(a.out, membersTable(m), false)
	}
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
