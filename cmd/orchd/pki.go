package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	"orch.io/orch/pki"
)

func newPKICommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pki", Short: "Create cluster credentials"}
	var dir, hosts, servers string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA, the master certificate, the admin and node tokens, and admin.conf",
		Long: `Create a new cluster's credentials in --dir:

  ca.crt ca.key           the cluster CA
  master.crt master.key   the masters' certificate, valid for --hosts
  admin.token node.token  bearer tokens (admin: everything; node: read, update status)
  admin.conf              orchctl's config: --servers, the CA and the admin token
  sa.key sa.pub           service account token keys (the same on every master)

Copy the directory to every master (and ca.crt and node.token to every node).`,
		Example: `  orchd pki init --dir /etc/orch/pki --hosts 127.0.0.1,localhost \
    --servers https://127.0.0.1:6443,https://127.0.0.1:6444,https://127.0.0.1:6445`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			hostList := splitList(hosts)
			if err := pki.Init(pki.InitOptions{Dir: abs, Hosts: hostList}); err != nil {
				return err
			}
			b, err := pki.Load(abs)
			if err != nil {
				return err
			}
			serverList := splitList(servers)
			if len(serverList) == 0 {
				serverList = []string{"https://" + hostList[0] + ":6443"}
			}
			for i, s := range serverList {
				if !strings.HasPrefix(s, "https://") {
					serverList[i] = "https://" + s
				}
			}
			conf := &client.Config{APIVersion: "orch.io/v1", Kind: "Config", Servers: serverList,
				CertificateAuthority: filepath.Join(abs, pki.CACert), Token: b.AdminToken}
			if err := conf.Save(filepath.Join(abs, pki.AdminConf)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote the cluster credentials to %s\nuse them with: orchctl --config %s get nodes\n",
				abs, filepath.Join(abs, pki.AdminConf))
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory to create the credentials in (must not hold a CA yet)")
	initCmd.Flags().StringVar(&hosts, "hosts", "127.0.0.1,localhost", "comma-separated IPs and DNS names the masters are reached at")
	initCmd.Flags().StringVar(&servers, "servers", "", "comma-separated API URLs for admin.conf (default https://FIRST-HOST:6443)")
	cmd.AddCommand(initCmd, newPKIServiceAccountKeyCommand())
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
