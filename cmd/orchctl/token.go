package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// newTokenCmd is kubeadm's `token` for orch's BootstrapTokens.
func newTokenCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and delete bootstrap tokens",
		Long: `Manage bootstrap tokens, as kubeadm's: a node started with
'orchd node --bootstrap-token TOKEN' uses one to ask for its own client
certificate. A token is "<id>.<secret>"; the cluster keeps only a hash of it,
so it is shown once, by 'token create'.`,
	}
	var ttl time.Duration
	var description string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a bootstrap token and print it",
		Example: `  orchctl token create --ttl 2h --description "rack 4"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl < 0 {
				return usagef(cmd, "--ttl must not be negative")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			tok, err := v1.GenerateBootstrapToken()
			if err != nil {
				return err
			}
			id, _, _ := v1.ParseBootstrapToken(tok)
			bt := &v1.BootstrapToken{ObjectMeta: v1.ObjectMeta{Name: id},
				Spec: v1.BootstrapTokenSpec{SecretHash: v1.BootstrapTokenHash(tok), Description: description}}
			if ttl > 0 {
				exp := v1.NewTime(a.now().Add(ttl))
				bt.Spec.Expiration = &exp
			}
			ctx, cancel := a.requestContext(cmd.Context())
			defer cancel()
			if err := c.Create(ctx, bt); err != nil {
				return err
			}
			fmt.Fprintln(a.out, tok)
			return nil
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: never expires)")
	create.Flags().StringVar(&description, "description", "", "a description of the token's use")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the bootstrap tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd.Context())
			defer cancel()
			items, _, err := client.ListTyped[v1.BootstrapToken](ctx, c, "bootstraptokens", "", client.ListOptions{})
			if err != nil {
				return err
			}
			t := &table{headers: []string{"ID", "TTL", "EXPIRES", "DESCRIPTION"}}
			now := a.now()
			for _, bt := range items {
				ttl, exp := "<forever>", "<never>"
				if e := bt.Spec.Expiration; e != nil {
					exp = e.UTC().Format(time.RFC3339)
					if d := e.Sub(now); d > 0 {
						ttl = duration.HumanDuration(d)
					} else {
						ttl = "<expired>"
					}
				}
				desc := bt.Spec.Description
				if desc == "" {
					desc = none
				}
				t.rows = append(t.rows, []string{bt.Name, ttl, exp, desc})
			}
			return writeTable(a.out, t, false)
		},
	}
	del := &cobra.Command{
		Use:   "delete ID|TOKEN...",
		Short: "Delete bootstrap tokens",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef(cmd, "name the tokens to delete: token delete ID|TOKEN...")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			for _, arg := range args {
				id, _, _ := strings.Cut(arg, ".")
				ctx, cancel := a.requestContext(cmd.Context())
				_, err := c.Delete(ctx, "bootstraptokens", "", id, nil)
				cancel()
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out, "bootstrap token %q deleted\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
