package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"orch.io/orch/apiserver"
)

// tokenFileFlags is Kubernetes' --token-auth-file: users' static bearer
// tokens.
type tokenFileFlags struct {
	path string
}

func (f *tokenFileFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.path, "token-auth-file", "", `a CSV file of users' bearer tokens, as kube-apiserver's: token,user,uid[,"group1,group2"] a line; read at start`)
}

// configure adds the static token authenticator when a file is given.
func (f *tokenFileFlags) configure(sc *apiserver.Config) error {
	if f.path == "" {
		return nil
	}
	a, err := apiserver.TokenFileAuthenticator(f.path)
	if err != nil {
		return fmt.Errorf("--token-auth-file: %w", err)
	}
	sc.Authenticators = append(sc.Authenticators, a)
	return nil
}
