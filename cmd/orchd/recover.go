package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"orch.io/orch/cluster"
)

func newRecoverCommand() *cobra.Command {
	var dataDir, name, peers string
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Rebuild a quorum from surviving masters after the others are lost for good",
		Long: `Rewrite the Raft configuration in a stopped master's --data-dir to exactly
--peers, so the survivors can elect a leader again after a majority of the
masters is lost for good (two of three).

Use it only when the lost masters will never come back with their data:
  1. stop every surviving master;
  2. run 'orchd recover' on each survivor with the same --peers (the survivors);
  3. start them as before: they elect a leader among themselves;
  4. add fresh masters with 'orchd master --join' and 'orchctl cluster add-master'
     until there are three again.

Risks: entries that only the lost masters had stored are gone. A write is
acknowledged once a majority stored it, so with two of three lost, a write
acknowledged by those two while the survivor lagged behind is lost too: pick
the most up-to-date survivor ('orchctl cluster members' shows LAST-INDEX). A
lost master that returns with its old data would split the cluster: wipe its --data-dir first.`,
		Example: `  orchd recover --data-dir /var/lib/orch --name m1 --peers m1=10.0.0.1:7001`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := cluster.ParseInitialCluster(peers)
			if err != nil {
				return fmt.Errorf("--peers: %w", err)
			}
			log, _ := newLogger("info")
			if err := cluster.Recover(dataDir, name, ps, log); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovered %s: the Raft configuration is now %s; start the master(s) again\n", dataDir, peers)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the stopped master's --data-dir (required)")
	cmd.Flags().StringVar(&name, "name", "", "the master's --name (required)")
	cmd.Flags().StringVar(&peers, "peers", "", "NAME=RAFTADDR,... of the surviving masters, this one included (required)")
	for _, f := range []string{"data-dir", "name", "peers"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}
