package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/token/tokenfile"
)

// TokenFileAuthenticator reads Kubernetes' static token file (orchd master
// --token-auth-file, as kube-apiserver's): CSV records of token, user
// name, user uid and optionally a quoted, comma-separated list of groups.
// It returns an authenticator of those bearer tokens for
// Config.Authenticators; a token that is not in the file is left to the
// other authenticators. The file is read once, at start.
func TokenFileAuthenticator(path string) (authenticator.Request, error) {
	tokens, err := tokenfile.NewCSV(path)
	if err != nil {
		return nil, fmt.Errorf("read the token file: %w", err)
	}
	return staticTokens{tokens: tokens}, nil
}

// staticTokens authenticates a request's bearer token with a token
// authenticator.
type staticTokens struct {
	tokens authenticator.Token
}

func (s staticTokens) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, false, nil
	}
	return s.tokens.AuthenticateToken(r.Context(), tok)
}
