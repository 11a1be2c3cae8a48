// Command kubectl is kubectl built from k8s.io/kubectl at the version go.mod
// pins, so the end-to-end tests drive orch with a known kubectl instead of
// whichever one happens to be installed. It is kube's cmd/kubectl main,
// without the cloud auth plugins.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
