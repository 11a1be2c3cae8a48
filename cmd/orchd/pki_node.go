package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/pki"
)

// newPKIIssueNodeCommand is `orchd pki issue node`: offline issuance of a
// node's client certificate with the CA key.
func newPKIIssueNodeCommand() *cobra.Command {
	var dir, out string
	var validity time.Duration
	nodeCmd := &cobra.Command{
		Use:   "node NAME",
		Short: "Issue a node's client certificate (CN=system:node:NAME, O=system:nodes)",
		Long: `Issue a node's client certificate with the CA key in --dir and write into
--out (default DIR/nodes/NAME) all the node's --pki-dir needs: node.crt,
node.key, ca.crt and gossip.key. Copy that directory to the node.`,
		Example: `  orchd pki issue node n1 --dir /etc/orch/pki --out /tmp/n1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			o := out
			if o == "" {
				o = filepath.Join(dir, "nodes", args[0])
			}
			if err := pki.IssueNode(pki.IssueNodeOptions{Dir: dir, Name: args[0], Out: o, Validity: validity}, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the credentials of node %s to %s\nrun it with: orchd node --name %s --pki-dir %s ...\n", args[0], o, args[0], o)
			return nil
		},
	}
	nodeCmd.Flags().StringVar(&dir, "dir", "", "the PKI directory holding ca.crt, ca.key and gossip.key (required)")
	nodeCmd.Flags().StringVar(&out, "out", "", "directory to write the node's files to (default DIR/nodes/NAME)")
	nodeCmd.Flags().DurationVar(&validity, "validity", pki.DefaultNodeValidity, "how long the certificate is valid")
	return nodeCmd
}
