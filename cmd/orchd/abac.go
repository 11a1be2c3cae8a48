package main

import (
	"github.com/spf13/pflag"

	"orch.io/orch/apiserver"
	"orch.io/orch/apiserver/abac"
)

// abacFlags is Kubernetes' --authorization-policy-file (ABAC).
type abacFlags struct {
	policyFile string
}

func (f *abacFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.policyFile, "authorization-policy-file", "", "a file of Kubernetes ABAC policies (one JSON Policy a line) that allow users, groups and service accounts requests")
}

// configure adds the ABAC authorizer when a policy file is given.
func (f *abacFlags) configure(sc *apiserver.Config) error {
	if f.policyFile == "" {
		return nil
	}
	az, err := abac.NewFromFile(f.policyFile)
	if err != nil {
		return err
	}
	sc.Authorizers = append(sc.Authorizers, az)
	return nil
}
