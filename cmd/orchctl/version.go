package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
)

// versionOutput is what version -o json|yaml prints.
type versionOutput struct {
	ClientVersion client.VersionInfo  `json:"clientVersion"`
	ServerVersion *client.VersionInfo `json:"serverVersion,omitempty"`
}

func newVersionCmd(a *app) *cobra.Command {
	var output string
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputTable, outputJSON, outputYAML); err != nil {
				return usagef(cmd, "%v", err)
			}
			out := versionOutput{ClientVersion: client.VersionInfo{
				GitVersion: clientVersion, GoVersion: runtime.Version(),
				Platform: runtime.GOOS + "/" + runtime.GOARCH,
			}}
			var serverErr error
			if !clientOnly {
				serverErr = func() error {
					c, err := a.client()
					if err != nil {
						return err
					}
					ctx, cancel := a.requestContext(cmd.Context())
					defer cancel()
					v, err := c.Version(ctx)
					out.ServerVersion = v
					return err
				}()
			}
			if output != outputTable {
				if err := printStructured(a.out, output, out); err != nil {
					return err
				}
				return serverErr
			}
			fmt.Fprintf(a.out, "Client Version: %s\n", clientVersion)
			if out.ServerVersion != nil {
				fmt.Fprintf(a.out, "Server Version: %s\n", out.ServerVersion.GitVersion)
			}
			return serverErr
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the client version only")
	return cmd
}
