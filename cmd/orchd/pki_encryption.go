package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	"orch.io/orch/encryption"
)

// newPKIEncryptionKeyCommand edits the EncryptionConfiguration file of a
// PKI directory: the steps of Kubernetes' key rotation, with orch's
// commands.
func newPKIEncryptionKeyCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "encryption-key",
		Short: "Manage the keys Secrets are encrypted with (" + encryption.FileName + ")",
		Long: `Edit the EncryptionConfiguration file (` + encryption.FileName + `) in --dir.

Every master holds the same file and reads it again within
--encryption-provider-config-reload-interval (10 s) of a change. Rotate a key
as Kubernetes does, on every master at each step:

  1. orchd pki encryption-key add key2     (every master can now read key2)
  2. orchd pki encryption-key use key2     (new writes are encrypted with key2)
  3. orchctl secrets reencrypt              (rewrites every Secret with key2; once)
  4. orchd pki encryption-key remove key1  (key1 is gone)

Wait for each step to reach every master before the next (the metric
orch_secrets_encryption_primary_key_info shows each master's primary key):
a master that cannot read a key answers 500 for the Secrets encrypted
with it.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "the PKI directory holding "+encryption.FileName+" (required)")
	cmd.MarkPersistentFlagRequired("dir")
	path := func() string { return filepath.Join(dir, encryption.FileName) }
	edit := func(f func(*apiserverv1.EncryptionConfiguration, string) error, done string) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			cfg, err := encryption.ReadFile(path())
			if err != nil {
				return err
			}
			if err := f(cfg, args[0]); err != nil {
				return err
			}
			if err := encryption.WriteFile(path(), cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), done+"\n", args[0], path())
			return nil
		}
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Write a new configuration with one AES-GCM key (key1) and identity last, for a cluster made without one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := encryption.WriteNew(dir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: copy it to every master's PKI directory, restart them, then run 'orchctl secrets reencrypt'\n", path())
			return nil
		},
	}, &cobra.Command{
		Use:   "add NAME",
		Short: "Add a new random key as the second key of the primary provider (readable, not yet used)",
		Args:  cobra.ExactArgs(1),
		RunE:  edit(encryption.AddKey, "added key %q to %s"),
	}, &cobra.Command{
		Use:   "use NAME",
		Short: "Make a key primary: new writes of Secrets are encrypted with it",
		Args:  cobra.ExactArgs(1),
		RunE:  edit(encryption.UseKey, "key %q is now primary in %s"),
	}, &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a key that is not primary (after 'orchctl secrets reencrypt')",
		Args:  cobra.ExactArgs(1),
		RunE:  edit(encryption.RemoveKey, "removed key %q from %s"),
	}, &cobra.Command{
		Use:   "list",
		Short: "List the providers and key names in order (the first is primary), never the keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := encryption.ReadFile(path())
			if err != nil {
				return err
			}
			for _, line := range encryption.Describe(cfg) {
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			return nil
		},
	})
	return cmd
}
