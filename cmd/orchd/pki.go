package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	"orch.io/orch/encryption"
	"orch.io/orch/pki"
	"orch.io/orch/sched"
)

func newPKICommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pki", Short: "Create cluster credentials"}
	var dir, hosts, servers, masters, serviceCIDR string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a CA, a certificate per master, the admin token, and admin.conf",
		Long: `Create a new cluster's credentials in --dir:

  ca.crt ca.key                    the cluster root CA
  master-NAME.crt master-NAME.key  a certificate for each of --masters, valid for --hosts
                                   and the kubernetes Service (its ClusterIP in
                                   --service-cidr, kubernetes.default.svc, ...)
  admin.token                      the admin bearer token (everything)
  gossip.key                       the gossip pool's key
  sa.key sa.pub                    service account token keys (the same on every master)
  admin.conf                       orchctl's config: --servers, the CA and the admin token
  admin.kubeconfig                 the same admin as a kubeconfig, for kubectl and client-go
  encryption-config.yaml           the key Secrets are encrypted with (the same on every master;
                                   see 'orchd pki encryption-key')

Copy the directory to every master. A master needs only its own
master-NAME.crt and .key: ca.key can stay offline (see 'orchd pki issue').
Nodes get their own certificates: from a bootstrap token ('orchctl token
create', 'orchd node --bootstrap-token') or 'orchd pki issue node NAME'.`,
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
			if len(hostList) == 0 {
				return fmt.Errorf("--hosts is required: the IPs and DNS names the masters are reached at")
			}
			certHosts, err := withKubernetesService(hostList, serviceCIDR)
			if err != nil {
				return err
			}
			if err := pki.Init(pki.InitOptions{Dir: abs, Hosts: certHosts, Masters: splitList(masters)}); err != nil {
				return err
			}
			if err := encryption.WriteNew(abs); err != nil {
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
			if err := conf.SaveKubeconfig(filepath.Join(abs, pki.AdminKubeconfig)); err != nil {
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
	initCmd.Flags().StringVar(&serviceCIDR, "service-cidr", "10.96.0.0/16", "the masters' --service-cidr: the certificates are valid for the kubernetes Service's ClusterIP, its first address")
	initCmd.Flags().StringVar(&masters, "masters", "m1,m2,m3", "comma-separated names of the masters (their --name) to issue certificates for")
	cmd.AddCommand(initCmd, newPKIIssueCommand(), newPKIRenewCommand(), newPKIServiceAccountKeyCommand(), newPKIEncryptionKeyCommand())
	return cmd
}

func newPKIIssueCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "issue", Short: "Issue a master's certificate or the client-certificate signer with the root CA"}
	var dir, hosts, serviceCIDR string
	var validity time.Duration
	master := &cobra.Command{
		Use:   "master NAME",
		Short: "Issue master NAME's certificate (run where ca.key is)",
		Long: `Write master-NAME.crt and master-NAME.key to --dir, signed by ca.crt/ca.key
there: CommonName and DNS name NAME, organization orch:masters, for server
and client authentication, valid for --hosts and the kubernetes Service
(its ClusterIP, kubernetes.default.svc, ...). NAME is the master's --name,
its Raft server ID: the other masters accept it only under that name.
Copy the two files with ca.crt, the tokens and gossip.key to that master.`,
		Example: `  orchd pki issue master m4 --dir /etc/orch/pki --hosts 10.0.0.4`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			if len(splitList(hosts)) == 0 {
				return fmt.Errorf("--hosts is required: the IPs and DNS names the master's API and Raft transport are reached at")
			}
			certHosts, err := withKubernetesService(splitList(hosts), serviceCIDR)
			if err != nil {
				return err
			}
			if err := pki.IssueMaster(pki.IssueMasterOptions{Dir: dir, Name: args[0], Hosts: certHosts, Validity: validity}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(dir, pki.MasterCertFile(args[0])), filepath.Join(dir, pki.MasterKeyFile(args[0])))
			return nil
		},
	}
	master.Flags().StringVar(&dir, "dir", "", "PKI directory holding ca.crt and ca.key (required)")
	master.Flags().StringVar(&hosts, "hosts", "", "comma-separated IPs and DNS names the master is reached at (API and Raft addresses; required)")
	master.Flags().DurationVar(&validity, "validity", pki.DefaultMasterValidity, "how long the certificate is valid")
	master.Flags().StringVar(&serviceCIDR, "service-cidr", "10.96.0.0/16", "the masters' --service-cidr: the certificate is valid for the kubernetes Service's ClusterIP, its first address")
	signer := &cobra.Command{
		Use:   "signer",
		Short: "Issue the client-certificate signer, an intermediate CA for the masters (run where ca.key is)",
		Long: `Write signer.crt and signer.key to --dir: an intermediate CA signed by the
root (pathlen 0, usable only for client certificates). The leader signs node
and user client certificates with it, so the root key can stay offline.
Masters never accept a certificate it signed as a master's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			if err := pki.IssueSigner(dir, validity); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(dir, pki.SignerCert), filepath.Join(dir, pki.SignerKey))
			return nil
		},
	}
	signer.Flags().StringVar(&dir, "dir", "", "PKI directory holding ca.crt and ca.key (required)")
	signer.Flags().DurationVar(&validity, "validity", pki.DefaultSignerValidity, "how long the signer is valid")
	cmd.AddCommand(master, signer, newPKIIssueNodeCommand())
	return cmd
}

func newPKIRenewCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "renew", Short: "Re-issue a certificate with a new validity"}
	var dir string
	var validity time.Duration
	master := &cobra.Command{
		Use:   "master NAME",
		Short: "Re-issue master NAME's certificate in place: same names, new key and validity (run where ca.key is)",
		Long: `Re-issue master-NAME.crt and master-NAME.key in --dir with the subject and
addresses of the current certificate, a new key and --validity, as kubeadm's
'certs renew'. A master reading these files picks them up at its next TLS
handshake, without a restart; elsewhere, copy the two files over the master's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return fmt.Errorf("--dir is required")
			}
			if err := pki.RenewMaster(dir, args[0], validity); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "renewed %s\n", filepath.Join(dir, pki.MasterCertFile(args[0])))
			return nil
		},
	}
	master.Flags().StringVar(&dir, "dir", "", "PKI directory holding ca.crt, ca.key and the master's certificate (required)")
	master.Flags().DurationVar(&validity, "validity", pki.DefaultMasterValidity, "how long the renewed certificate is valid")
	cmd.AddCommand(master)
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

// withKubernetesService adds to a master certificate's hosts the names
// in-cluster clients reach the API by, as kubeadm's apiserver certificate:
// the kubernetes Service's ClusterIP (the first address of serviceCIDR)
// and its DNS names.
func withKubernetesService(hosts []string, serviceCIDR string) ([]string, error) {
	ip, err := sched.FirstServiceIP(serviceCIDR)
	if err != nil {
		return nil, fmt.Errorf("--service-cidr: %w", err)
	}
	return append(append(hosts, ip), pki.KubernetesServiceDNSNames()...), nil
}
