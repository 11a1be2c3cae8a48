// Command gen writes orch's OpenAPI v2 document, built from the Go types
// and doc comments of api/v1, for package openapi to embed. It runs from
// `go generate ./api/openapi`.
package main

import (
	"flag"
	"fmt"
	"os"

	"orch.io/orch/api/openapi/build"
)

func main() {
	src := flag.String("src", "../v1", "source directory of orch.io/orch/api/v1")
	out := flag.String("out", "swagger.json", "file to write")
	flag.Parse()
	if err := run(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run builds the document and writes it.
func run(src, out string) error {
	sw, err := build.Build(build.Options{OrchDir: src})
	if err != nil {
		return err
	}
	b, err := build.Marshal(sw)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
