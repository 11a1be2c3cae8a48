package apiserver

import (
	"context"
	"fmt"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// dryRunKey marks a request's context as dryRun=All.
type dryRunKey struct{}

// withDryRun marks ctx: the write is decoded, defaulted, validated,
// authorized and admitted, and checked against the store as the FSM would,
// but never proposed.
func withDryRun(ctx context.Context) context.Context {
	return context.WithValue(ctx, dryRunKey{}, true)
}

// isDryRun reports whether the request is a dry run.
func isDryRun(ctx context.Context) bool {
	b, _ := ctx.Value(dryRunKey{}).(bool)
	return b
}

// optionsKind names the options a verb's parameters are, as Kubernetes
// names them in its errors.
func optionsKind(verb string) string {
	switch verb {
	case "update":
		return "UpdateOptions"
	case "patch":
		return "PatchOptions"
	case "delete":
		return "DeleteOptions"
	}
	return "CreateOptions"
}

// checkDryRun validates the dryRun values of a write, as Kubernetes does:
// only "All" is known; anything else is 422 naming the options. It reports
// whether the write is a dry run.
func checkDryRun(verb string, values []string) (bool, error) {
	if len(values) == 0 {
		return false, nil // what the validation below answers for none
	}
	if errs := metav1validation.ValidateDryRun(field.NewPath("dryRun"), values); len(errs) > 0 {
		causes := make([]v1.StatusCause, 0, len(errs))
		for _, e := range errs {
			causes = append(causes, v1.StatusCause{Type: string(e.Type), Field: e.Field, Message: e.Error()})
		}
		return false, v1.NewInvalid(optionsKind(verb)+".meta.k8s.io", "", causes)
	}
	return len(values) > 0, nil
}

// dryApply answers a command as committing it next would, without
// proposing it: the same round-trip check as a real write (fsm.Verify),
// then, after a read barrier (so the answer is the leader's), the FSM's own
// apply against this master's store in a transaction that is thrown away
// (fsm.Store.DryRun).
func (s *Server) dryApply(ctx context.Context, cmd []byte) (any, error) {
	if err := fsm.Verify(cmd); err != nil {
		return nil, err
	}
	if _, err := s.backend.ReadBarrier(ctx); err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	return s.backend.Store().DryRun(cmd), nil
}
