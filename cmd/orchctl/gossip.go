package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	v1 "orch.io/orch/api/v1"
)

func newGossipCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gossip",
		Short: "Manage the gossip pool of masters and nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	keyring := &cobra.Command{
		Use:   "keyring",
		Short: "List, install, use and remove the gossip encryption keys",
		Long: `Rotate the key that encrypts the gossip pool without losing a member, as
Consul's keyring command: install the new key everywhere, make it the primary
(encrypting) key, then remove the old one. Each step runs on every alive
member; the answer counts the members and names those that failed or did
not answer. A member that missed a step must be fixed before the next one
(its keyring file is <state-dir>/gossip.keyring). Generate a key with
` + "`head -c 32 /dev/urandom | base64`" + `.`,
		Example: `  orchctl gossip keyring list
  orchctl gossip keyring install NEW
  orchctl gossip keyring use NEW
  orchctl gossip keyring remove OLD`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	keyring.AddCommand(newKeyringListCmd(a))
	for _, op := range []string{v1.KeyringInstall, v1.KeyringUse, v1.KeyringRemove} {
		keyring.AddCommand(newKeyringChangeCmd(a, op))
	}
	cmd.AddCommand(keyring)
	return cmd
}

func newKeyringListCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the gossip keys and how many members hold each",
		Args:  cobra.NoArgs,
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
			res, err := c.GossipKeyring(ctx)
			if err != nil {
				return err
			}
			if output != outputTable {
				return printStructured(a.out, output, res)
			}
			t := &table{headers: []string{"KEY", "MEMBERS", "PRIMARY"}}
			keys := make([]string, 0, len(res.Keys))
			for k := range res.Keys {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				t.rows = append(t.rows, []string{k, fmt.Sprintf("%d/%d", res.Keys[k], res.NumMembers), strconv.Itoa(res.PrimaryKeys[k])})
			}
			if err := writeTable(a.out, t, false); err != nil {
				return err
			}
			return keyringProblems(a.out, res)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

func newKeyringChangeCmd(a *app, op string) *cobra.Command {
	short := map[string]string{
		v1.KeyringInstall: "Install a gossip key on every member",
		v1.KeyringUse:     "Make an installed key the primary (encrypting) key on every member",
		v1.KeyringRemove:  "Remove a gossip key from every member (not the primary one)",
	}[op]
	return &cobra.Command{
		Use:   op + " KEY",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd.Context())
			defer cancel()
			res, err := c.ChangeGossipKeyring(ctx, op, args[0])
			if err != nil {
				return err
			}
			ok := res.NumResponses - res.NumErrors
			fmt.Fprintf(a.out, "%s: done on %d of %d members\n", op, ok, res.NumMembers)
			return keyringProblems(a.out, res)
		},
	}
}

// keyringProblems prints the members that failed or did not answer, and
// fails when there are any.
func keyringProblems(w io.Writer, res *v1.GossipKeyringResponse) error {
	names := make([]string, 0, len(res.Messages))
	for n := range res.Messages {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "error on %s: %s\n", n, res.Messages[n])
	}
	if len(res.NoAnswer) > 0 {
		fmt.Fprintf(w, "no answer from: %s\n", strings.Join(res.NoAnswer, ", "))
	}
	if len(names) > 0 || len(res.NoAnswer) > 0 {
		return fmt.Errorf("gossip keyring: %d members failed and %d did not answer", len(names), len(res.NoAnswer))
	}
	return nil
}
