// Command kubectl is Kubernetes' kubectl built from k8s.io/kubectl at the
// version go.mod pins, so the end-to-end suite tests against a known client
// instead of whatever kubectl happens to be installed. Its main is
// kubernetes' cmd/kubectl.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// Print the error as kubectl does, with its exit code.
		util.CheckErr(err)
	}
}
