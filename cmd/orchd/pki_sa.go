package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"orch.io/orch/pki"
)

// newPKIServiceAccountKeyCommand is `orchd pki sa-key`: the service
// account key pair for a PKI directory made before service accounts.
func newPKIServiceAccountKeyCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "sa-key",
		Short: "Create sa.key and sa.pub (service account token keys) in an existing PKI directory",
		Long: `Create the service account token key pair (ECDSA P-256) in --dir, for a PKI
directory made by an orch without service accounts (pki init makes it).
It refuses to replace an existing sa.key. Every master needs the same
sa.key and sa.pub: make them once and copy them to every master.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.WriteServiceAccountKey(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(dir, pki.ServiceAccountKey), filepath.Join(dir, pki.ServiceAccountPub))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the PKI directory (required)")
	cmd.MarkFlagRequired("dir")
	return cmd
}
