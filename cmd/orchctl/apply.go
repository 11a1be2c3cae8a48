package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// fileOptions are the -f flags shared by create, apply, replace and delete.
type fileOptions struct {
	files     []string
	recursive bool
}

func (o *fileOptions) addFlags(cmd *cobra.Command, what string) {
	cmd.Flags().StringSliceVarP(&o.files, "filename", "f", nil,
		"file, directory or - (stdin) with the manifests "+what+" (YAML or JSON; repeatable)")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "also read the subdirectories of -f directories")
}

// manifests reads and decodes every manifest, and places those without a
// namespace in -n.
func (a *app) manifests(o *fileOptions) ([]*manifest, error) {
	ms, err := readManifests(o.files, a.in, o.recursive)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if err := m.setNamespace(a.namespace, a.namespaceExplicit()); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// forEachManifest runs fn on every manifest, printing "TYPE/NAME <result>"
// or the error of each, and returns errReported if any failed.
func (a *app) forEachManifest(ms []*manifest, fn func(m *manifest) (string, error)) error {
	failed := false
	for _, m := range ms {
		result, err := fn(m)
		if err != nil {
			if a.reportEach(err) {
				return errReported
			}
			failed = true
			continue
		}
		fmt.Fprintf(a.out, "%s %s\n", m.ref(), result)
	}
	if failed {
		return errReported
	}
	return nil
}

func newCreateCmd(a *app) *cobra.Command {
	o := &fileOptions{}
	saveConfig := false
	cmd := &cobra.Command{
		Use:   "create -f FILE|DIR|-",
		Short: "Create objects from manifests",
		Long: `Create the objects of YAML or JSON manifests (several per file with '---', or a
kind: List). Every manifest is decoded strictly before anything is sent: an
unknown field is an error that names it. Objects without a namespace go to -n.`,
		Example: `  orchctl create -f pod.yaml
  orchctl create -f ./manifests/
  cat rc.json | orchctl create -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.files) == 0 {
				return usagef(cmd, "-f is required")
			}
			ms, err := a.manifests(o)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.forEachManifest(ms, func(m *manifest) (string, error) {
				if saveConfig {
					config, err := appliedConfig(m.raw)
					if err != nil {
						return "", err
					}
					meta := m.obj.GetObjectMeta()
					if meta.Annotations == nil {
						meta.Annotations = map[string]string{}
					}
					meta.Annotations[lastAppliedAnnotation] = string(config)
				}
				ctx, cancel := a.requestContext(cmd.Context())
				defer cancel()
				if err := c.Create(ctx, m.obj); err != nil {
					return "", err
				}
				return "created", nil
			})
		},
	}
	o.addFlags(cmd, "to create")
	cmd.Flags().BoolVar(&saveConfig, "save-config", false,
		"record the configuration in the "+lastAppliedAnnotation+" annotation, so a later apply can remove fields")
	cmd.AddCommand(newCreateNamespaceCmd(a))
	cmd.AddCommand(newCreateRBACCmds(a)...)
	return cmd
}

func newCreateNamespaceCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "namespace NAME",
		Aliases: []string{"ns"},
		Short:   "Create a namespace",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd.Context())
			defer cancel()
			ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: args[0]}}
			if err := c.Create(ctx, ns); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "namespace/%s created\n", ns.Name)
			return nil
		},
	}
}

func newApplyCmd(a *app) *cobra.Command {
	o := &fileOptions{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects to match manifests",
		Long: `Make the cluster match the manifests: an object that does not exist is created;
one that exists gets a JSON merge patch from the configuration applied last time
(kept in the ` + lastAppliedAnnotation + ` annotation) to the
new one. Fields you removed from the manifest are removed; fields the system set
(status, defaults, replicas changed by scale if you never wrote them) are kept.

Prints TYPE/NAME created, configured or unchanged for each object.`,
		Example: `  orchctl apply -f web.yaml
  orchctl apply -f ./manifests/ -R`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.files) == 0 {
				return usagef(cmd, "-f is required")
			}
			ms, err := a.manifests(o)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if m.obj.GetObjectMeta().Name == "" {
					return fmt.Errorf("%s: apply needs metadata.name (generateName works with create only)", m.source)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.forEachManifest(ms, func(m *manifest) (string, error) {
				return a.applyOne(cmd.Context(), c, m)
			})
		},
	}
	o.addFlags(cmd, "to apply")
	return cmd
}

// applyOne creates or patches one object and says which it did.
func (a *app) applyOne(ctx context.Context, c *client.Client, m *manifest) (string, error) {
	config, err := appliedConfig(m.raw)
	if err != nil {
		return "", err
	}
	meta := m.obj.GetObjectMeta()
	ns := ""
	if m.res.Namespaced {
		ns = meta.Namespace
	}
	path, err := client.ResourcePath(m.res.Name, ns, meta.Name)
	if err != nil {
		return "", err
	}
	var current json.RawMessage
	rctx, cancel := a.requestContext(ctx)
	err = c.Do(rctx, http.MethodGet, path, nil, nil, &current)
	cancel()
	switch {
	case v1.IsNotFound(err):
		body, err := withLastApplied(config, config)
		if err != nil {
			return "", err
		}
		obj := m.res.New()
		if err := json.Unmarshal(body, obj); err != nil {
			return "", fmt.Errorf("%s: %w", m.source, err)
		}
		rctx, cancel := a.requestContext(ctx)
		defer cancel()
		if err := c.Create(rctx, obj); err != nil {
			return "", err
		}
		return "created", nil
	case err != nil:
		return "", err
	}
	patch, changed, err := applyPatch(current, config)
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.ref(), err)
	}
	if !changed {
		return "unchanged", nil
	}
	rctx, cancel = a.requestContext(ctx)
	defer cancel()
	if err := c.Patch(rctx, m.res.Name, ns, meta.Name, patch, nil); err != nil {
		return "", err
	}
	return "configured", nil
}

func newReplaceCmd(a *app) *cobra.Command {
	o := &fileOptions{}
	cmd := &cobra.Command{
		Use:   "replace -f FILE|DIR|-",
		Short: "Replace objects with the content of manifests",
		Long: `Replace each object with the manifest (PUT). When the manifest carries
metadata.resourceVersion (as 'get -o yaml' prints it), the replace happens only
if the object has not changed since: otherwise it fails with a Conflict.`,
		Example: `  orchctl get rc web -o yaml > rc.yaml
  # edit rc.yaml
  orchctl replace -f rc.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.files) == 0 {
				return usagef(cmd, "-f is required")
			}
			ms, err := a.manifests(o)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.forEachManifest(ms, func(m *manifest) (string, error) {
				rv := m.obj.GetObjectMeta().ResourceVersion
				ctx, cancel := a.requestContext(cmd.Context())
				defer cancel()
				if err := c.Update(ctx, m.obj); err != nil {
					if v1.IsConflict(err) {
						return "", withHint(err, fmt.Sprintf(
							"resourceVersion %s in %s is out of date: the object changed since it was read; get it again, edit and retry",
							rv, m.source))
					}
					return "", err
				}
				return "replaced", nil
			})
		},
	}
	o.addFlags(cmd, "to replace")
	return cmd
}
