package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	v1 "orch.io/orch/api/v1"
)

func newSnapshotCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "snapshot",
		Short:   "Save and inspect backups of the cluster's state",
		GroupID: "cluster",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Save a point-in-time, checksummed backup of every object",
		Long: `Save a backup of the whole cluster state: every object as of the moment of the
request (it includes every write acknowledged before it), with a SHA-256
trailer. The file is written under a temporary name, checked, then renamed.
Restore it into a fresh cluster by starting every master with
'orchd master --restore FILE' (the same file) on an empty --data-dir.`,
		Example: "  orchctl snapshot save backup.orch",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			rc, err := c.Snapshot(cmd.Context())
			if err != nil {
				return err
			}
			defer rc.Close()
			tmp, err := os.CreateTemp(filepath.Dir(args[0]), ".orch-snapshot-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if _, err := io.Copy(tmp, rc); err != nil {
				tmp.Close()
				return fmt.Errorf("snapshot save: %w", err)
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			info, err := inspectFile(tmp.Name())
			if err != nil {
				return fmt.Errorf("snapshot save: the received backup does not check: %w", err)
			}
			if err := os.Rename(tmp.Name(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "saved %s: index %d, %d objects, sha256 %s\n", args[0], info.Index, total(info), info.SHA256)
			return nil
		},
	}
	inspect := &cobra.Command{
		Use:     "inspect FILE",
		Short:   "Check a backup's checksum and count what it holds",
		Example: "  orchctl snapshot inspect backup.orch",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			info, err := inspectFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "index:  %d\nsha256: %s (ok)\nbytes:  %d\n", info.Index, info.SHA256, info.Bytes)
			t := &table{headers: []string{"RESOURCE", "OBJECTS"}}
			names := make([]string, 0, len(info.Objects))
			for r := range info.Objects {
				names = append(names, r)
			}
			sort.Strings(names)
			for _, r := range names {
				t.rows = append(t.rows, []string{r, fmt.Sprint(info.Objects[r])})
			}
			return writeTable(a.out, t, false)
		},
	}
	cmd.AddCommand(save, inspect)
	return cmd
}

func inspectFile(path string) (v1.BackupInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return v1.BackupInfo{}, err
	}
	defer f.Close()
	info, _, err := v1.ReadBackup(f)
	return info, err
}

func total(info v1.BackupInfo) int {
	n := 0
	for r, c := range info.Objects {
		if r != "masters" {
			n += c
		}
	}
	return n
}
