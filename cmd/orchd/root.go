package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is the orch version, set at build time with -ldflags.
var version = "v0.1.0-dev"

// buildDate is when the built commit was made (RFC 3339, UTC), set at build
// time with -ldflags; /version reports it.
var buildDate string

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "orchd",
		Short:         "orchd runs orch masters and creates cluster credentials",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newPKICommand(), newMasterCommand(), newNodeCommand(), newDevCommand(), newImageCommand(), newRecoverCommand(), newContainerLogCommand())
	return root
}

// newLogger returns a text logger on stderr at the named level.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
