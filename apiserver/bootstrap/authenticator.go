package bootstrap

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Authenticator maps a valid, unexpired bootstrap token presented as a
// bearer token to the user system:bootstrap:<id> in system:bootstrappers
// (Kubernetes' plugin/pkg/auth/authenticator/token/bootstrap). It
// implements authenticator.Request.
type Authenticator struct {
	// Store returns the master's current store.
	Store func() *fsm.Store
	// Barrier makes the next local read linearizable; it is used when a
	// token is not found locally (a follower may not have it yet).
	Barrier func(ctx context.Context) (uint64, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives why a well-formed token was refused.
	Logger *slog.Logger
}

// AuthenticateRequest implements authenticator.Request. A bearer token that
// is not of the bootstrap form is not this authenticator's (no opinion).
func (a *Authenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil, false, nil
	}
	id, _, err := v1.ParseBootstrapToken(tok)
	if err != nil {
		return nil, false, nil
	}
	bt, err := a.lookup(r.Context(), id)
	if err != nil {
		a.refused(id, err.Error())
		return nil, false, nil
	}
	if !matches(tok, bt.Spec.SecretHash) {
		a.refused(id, "the secret does not match")
		return nil, false, nil
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if Expired(bt, now()) {
		a.refused(id, "the token has expired")
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: UserPrefix + id, Groups: []string{Group}}}, true, nil
}

// Expired reports whether a token has expired at now.
func Expired(bt *v1.BootstrapToken, now time.Time) bool {
	return bt.Spec.Expiration != nil && !now.Before(bt.Spec.Expiration.Time)
}

func (a *Authenticator) lookup(ctx context.Context, id string) (*v1.BootstrapToken, error) {
	rec, err := a.Store().Get("bootstraptokens", "", id)
	if v1.IsNotFound(err) && a.Barrier != nil {
		if _, berr := a.Barrier(ctx); berr != nil {
			return nil, berr
		}
		rec, err = a.Store().Get("bootstraptokens", "", id)
	}
	if err != nil {
		return nil, err
	}
	return rec.Object().(*v1.BootstrapToken), nil
}

func (a *Authenticator) refused(id, why string) {
	if a.Logger != nil {
		a.Logger.Info("bootstrap token refused", "token_id", id, "reason", why)
	}
}
