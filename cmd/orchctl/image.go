package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

func newImageCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage container images on the nodes",
		Long: `Manage container images on the nodes, for clusters without a registry or for
images that were never pushed to one.`,
	}
	cmd.AddCommand(newImageLoadCmd(a))
	return cmd
}

// imageLoadOptions are the flags of image load.
type imageLoadOptions struct {
	node     string
	allNodes bool
	timeout  time.Duration
}

func newImageLoadCmd(a *app) *cobra.Command {
	o := &imageLoadOptions{}
	cmd := &cobra.Command{
		Use:   "load FILE (--node NAME | --all-nodes)",
		Short: "Load an OCI image tarball into the runtime of nodes",
		Long: fmt.Sprintf(`Load an OCI image tarball (as written by 'docker save', 'podman save' or
'ctr images export') into the container runtime of one node, or of every node.
The file is streamed through a master to each node's agent; it may be up to
%d MiB. FILE "-" reads standard input (with --node only).

Pods that use the image with imagePullPolicy IfNotPresent or Never then start
without a registry. Each upload is limited by --timeout, not by --request-timeout.`, v1.MaxImageUploadBytes>>20),
		Example: `  # Load an image into node-1
  docker save myapp:1.0 -o myapp.tar
  orchctl image load myapp.tar --node node-1

  # Load it into every node
  orchctl image load myapp.tar --all-nodes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(cmd, "name one image tarball: image load FILE (--node NAME | --all-nodes)")
			}
			if (o.node == "") == !o.allNodes {
				return usagef(cmd, "give either --node NAME or --all-nodes")
			}
			if args[0] == "-" && o.allNodes {
				return usagef(cmd, "--all-nodes needs a file: standard input cannot be sent more than once")
			}
			return a.runImageLoad(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "the node to load the image into")
	f.BoolVar(&o.allNodes, "all-nodes", false, "load the image into every node")
	f.DurationVar(&o.timeout, "timeout", 15*time.Minute, "time limit of the upload to each node (0: none)")
	return cmd
}

// runImageLoad uploads the tarball to each node in turn, reporting each
// node's failure and going on with the next.
func (a *app) runImageLoad(ctx context.Context, file string, o *imageLoadOptions) error {
	var src io.Reader
	var rewind func() error
	if file == "-" {
		src, rewind = a.in, func() error { return nil }
	} else {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("open the image tarball: %w", err)
		}
		defer f.Close()
		src = f
		rewind = func() error {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("rewind %s: %w", file, err)
			}
			return nil
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	nodes := []string{o.node}
	if o.allNodes {
		lctx, cancel := a.requestContext(ctx)
		list, _, err := client.ListTyped[v1.Node](lctx, c, "nodes", "", client.ListOptions{})
		cancel()
		if err != nil {
			return fmt.Errorf("list nodes: %w", err)
		}
		if len(list) == 0 {
			return fmt.Errorf("the cluster has no nodes to load %s into", file)
		}
		nodes = nodes[:0]
		for _, n := range list {
			nodes = append(nodes, n.Name)
		}
	}
	failed := false
	for _, node := range nodes {
		if err := rewind(); err != nil {
			return err
		}
		images, err := a.loadImage(ctx, c, node, src, o.timeout)
		if err != nil {
			if a.reportEach(fmt.Errorf("node/%s: %w", node, err)) {
				return errReported
			}
			failed = true
			continue
		}
		for _, img := range images {
			fmt.Fprintf(a.out, "node/%s: loaded %s\n", node, img)
		}
	}
	if failed {
		return errReported
	}
	return nil
}

func (a *app) loadImage(ctx context.Context, c *client.Client, node string, src io.Reader, timeout time.Duration) ([]string, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return c.LoadImage(ctx, node, src)
}
