package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	"orch.io/orch/encryption"
	"orch.io/orch/node/ociimage"
	"orch.io/orch/pki"
)

func newDevCommand() *cobra.Command {
	host, _ := os.Hostname()
	var dataDir, apiAddr, raftAddr, nodeName, logLevel string
	var busybox bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a one-machine cluster: one master and one node in one process",
		Long: `Run a whole orch cluster on this machine for trying orch out and for
development: one master (a one-member Raft group) and one node agent with a
containerd of its own, in one process.

The first start creates the cluster credentials in --data-dir/pki and writes
--data-dir/admin.conf for orchctl; later starts reuse them and the state. The
busybox image (docker.io/library/busybox:1.35, built from the machine's
busybox-static) is imported so pods run without a registry.

Ctrl-C stops the pods, the containerd and the master. Needs root (network
namespaces, cgroups) and the containerd, runc and busybox-static packages.`,
		Example: `  sudo orchd dev --data-dir /tmp/orch
  orchctl --config /tmp/orch/admin.conf get nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return runDev(ctx, cmd, abs, apiAddr, raftAddr, nodeName, logLevel, busybox)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data-dir", "", "directory for the cluster's credentials and state (required)")
	fl.StringVar(&apiAddr, "api-addr", "127.0.0.1:6443", "host:port of the HTTPS API")
	fl.StringVar(&raftAddr, "raft-addr", "127.0.0.1:7001", "host:port of the master's Raft transport")
	fl.StringVar(&nodeName, "node-name", host, "name of the node")
	fl.BoolVar(&busybox, "busybox-image", true, "build and import docker.io/library/busybox:1.35 from /bin/busybox")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.MarkFlagRequired("data-dir")
	return cmd
}

// devMasterName is the name of orchd dev's one master.
const devMasterName = "dev"

func runDev(ctx context.Context, cmd *cobra.Command, dir, apiAddr, raftAddr, nodeName, logLevel string, busybox bool) error {
	apiHost, _, err := net.SplitHostPort(apiAddr)
	if err != nil {
		return fmt.Errorf("--api-addr: %w", err)
	}
	pkiDir := filepath.Join(dir, "pki")
	if _, err := os.Stat(filepath.Join(pkiDir, pki.CACert)); errors.Is(err, os.ErrNotExist) {
		if err := pki.Init(pki.InitOptions{Dir: pkiDir, Hosts: []string{apiHost, "localhost"}, Masters: []string{devMasterName}}); err != nil {
			return err
		}
	}
	// A directory made before masters had certificates of their own.
	if _, err := os.Stat(filepath.Join(pkiDir, pki.MasterCertFile(devMasterName))); errors.Is(err, os.ErrNotExist) {
		if err := pki.IssueMaster(pki.IssueMasterOptions{Dir: pkiDir, Name: devMasterName, Hosts: []string{apiHost, "localhost"}}); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(pkiDir, pki.ServiceAccountKey)); errors.Is(err, os.ErrNotExist) {
		// A dev directory made before service accounts.
		if err := pki.WriteServiceAccountKey(pkiDir); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(pkiDir, encryption.FileName)); errors.Is(err, os.ErrNotExist) {
		// A dev directory made before Secrets were encrypted at rest.
		if err := encryption.WriteNew(pkiDir); err != nil {
			return err
		}
	}
	b, err := pki.Load(pkiDir)
	if err != nil {
		return err
	}
	conf := &client.Config{APIVersion: "orch.io/v1", Kind: "Config", Servers: []string{"https://" + apiAddr},
		CertificateAuthority: filepath.Join(pkiDir, pki.CACert), Token: b.AdminToken}
	if err := conf.Save(filepath.Join(dir, "admin.conf")); err != nil {
		return err
	}
	// The node's own credentials (its client certificate), made once.
	nodePKI := filepath.Join(pkiDir, "nodes", nodeName)
	if _, err := os.Stat(filepath.Join(nodePKI, pki.NodeCert)); errors.Is(err, os.ErrNotExist) {
		if err := pki.IssueNode(pki.IssueNodeOptions{Dir: pkiDir, Name: nodeName, Out: nodePKI}, time.Now()); err != nil {
			return err
		}
	}
	nodeDir := filepath.Join(dir, "node")
	if busybox {
		img := filepath.Join(nodeDir, "images", "busybox.tar")
		if err := os.MkdirAll(filepath.Dir(img), 0o755); err != nil {
			return err
		}
		if err := ociimage.WriteBusyboxFile(img, ociimage.BusyboxOptions{}); err != nil {
			return fmt.Errorf("build the busybox image (is busybox-static installed?): %w", err)
		}
	}

	master := newMasterCommand()
	master.SetArgs([]string{"--name", devMasterName, "--data-dir", filepath.Join(dir, "master"), "--pki-dir", pkiDir,
		"--api-addr", apiAddr, "--raft-addr", raftAddr, "--initial-cluster", devMasterName + "=" + raftAddr,
		"--heartbeat-timeout", "1s", "--election-timeout", "1s", "--leader-lease-timeout", "500ms", "--log-level", logLevel, "--handle-signals=false"})
	nodeCmd := newNodeCommand()
	nodeCmd.SetArgs([]string{"--name", nodeName, "--state-dir", nodeDir, "--pki-dir", nodePKI,
		"--api-servers", "https://" + apiAddr, "--node-ip", apiHost, "--agent-addr", net.JoinHostPort(apiHost, "10250"),
		"--stop-pods-on-exit", "--restart-backoff", "5s", "--log-level", logLevel, "--handle-signals=false"})

	mctx, stopMaster := context.WithCancel(context.Background())
	nctx, stopNode := context.WithCancel(context.Background())
	masterDone, nodeDone := make(chan error, 1), make(chan error, 1)
	go func() { masterDone <- master.ExecuteContext(mctx) }()
	go func() { nodeDone <- nodeCmd.ExecuteContext(nctx) }()
	fmt.Fprintf(cmd.OutOrStdout(), "orch dev cluster starting in %s\n  export ORCHCONFIG=%s\n  orchctl get nodes\n",
		dir, filepath.Join(dir, "admin.conf"))
	var nodeErr, masterErr error
	nodeStopped, masterStopped := false, false
	select {
	case <-ctx.Done():
	case nodeErr = <-nodeDone:
		nodeStopped = true
	case masterErr = <-masterDone:
		masterStopped = true
	}
	// The node first: it stops its pods while the master still runs.
	stopNode()
	if !nodeStopped {
		nodeErr = <-nodeDone
	}
	stopMaster()
	if !masterStopped {
		masterErr = <-masterDone
	}
	return errors.Join(nodeErr, masterErr)
}

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Build images for clusters without a registry"}
	var out, name, busyboxPath string
	var adds []string
	bb := &cobra.Command{
		Use:   "busybox",
		Short: "Write an OCI image tarball of busybox-static",
		Long: `Write an OCI image-layout tarball holding the machine's busybox-static
(every applet linked under /bin). Import it with 'orchctl image load' or by
copying it into a node's <state-dir>/images/.`,
		Example: `  orchd image busybox -o busybox.tar`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("-o FILE is required")
			}
			files := map[string][]byte{}
			for _, a := range adds {
				src, dst, ok := strings.Cut(a, ":")
				if !ok || dst == "" {
					return fmt.Errorf("--add %q: want SRC:PATH-IN-IMAGE", a)
				}
				b, err := os.ReadFile(src)
				if err != nil {
					return fmt.Errorf("--add: %w", err)
				}
				files[dst] = b
			}
			if err := ociimage.WriteBusyboxFile(out, ociimage.BusyboxOptions{Name: name, BusyboxPath: busyboxPath, Files: files}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	bb.Flags().StringVarP(&out, "output", "o", "", "file to write")
	bb.Flags().StringVar(&name, "name", ociimage.BusyboxImage, "image name")
	bb.Flags().StringVar(&busyboxPath, "busybox", "/bin/busybox", "the busybox binary")
	bb.Flags().StringArrayVar(&adds, "add", nil, "SRC:PATH add the executable SRC to the image at PATH (e.g. ./tool:/bin/tool); repeatable")
	cmd.AddCommand(bb)
	return cmd
}
