package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// maxRewriteAttempts bounds the retries of one Secret's rewrite that
// lost a race with another writer.
const maxRewriteAttempts = 5

func newSecretsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Maintain the Secrets encrypted at rest",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "reencrypt",
		Short: "Rewrite every Secret so that it is encrypted with the masters' primary key",
		Long: `Rewrite every Secret of every namespace unchanged (an update with its
resourceVersion, retried after a concurrent change), as Kubernetes' rotation
does with 'kubectl get secrets -A -o json | kubectl replace -f -'. The
master that takes each update encrypts again every value that is not
encrypted with its primary key, so run it once every master has the new
primary key (step 3 of 'orchd pki encryption-key'); values already under
the primary key keep their ciphertext. Afterwards the old key can go.`,
		Example: "  orchctl secrets reencrypt",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			n, err := reencryptSecrets(cmd.Context(), c)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "rewrote %d secrets\n", n)
			return nil
		},
	})
	return cmd
}

// reencryptSecrets rewrites every Secret and returns how many it wrote
// (one deleted meanwhile is skipped).
func reencryptSecrets(ctx context.Context, c *client.Client) (int, error) {
	secrets, _, err := client.ListTyped[v1.Secret](ctx, c, "secrets", "", client.ListOptions{Limit: 500})
	if err != nil {
		return 0, fmt.Errorf("list secrets: %w", err)
	}
	n := 0
	for i := range secrets {
		s := &secrets[i]
		for attempt := 1; ; attempt++ {
			err := c.Update(ctx, s)
			if err == nil {
				n++
				break
			}
			if v1.IsNotFound(err) {
				break
			}
			if !v1.IsConflict(err) || attempt == maxRewriteAttempts {
				return n, fmt.Errorf("rewrite secret %s/%s: %w", s.Namespace, s.Name, err)
			}
			var fresh v1.Secret
			if err := c.Get(ctx, "secrets", s.Namespace, s.Name, &fresh); err != nil {
				if v1.IsNotFound(err) {
					break
				}
				return n, fmt.Errorf("rewrite secret %s/%s: %w", s.Namespace, s.Name, err)
			}
			*s = fresh
		}
	}
	return n, nil
}
