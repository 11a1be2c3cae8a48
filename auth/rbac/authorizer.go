package rbac

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	"orch.io/orch/fsm"
)

// Authorizer is the RBAC authorizer. It keeps an index of the bindings by
// subject, rebuilt from the store when a Role, ClusterRole or binding
// changes (or a snapshot restore replaces the store); a request costs a
// check of four channels, two map lookups per group of the user and the
// rule matching of the grants that apply to it.
type Authorizer struct {
	store func() *fsm.Store
	mu    sync.Mutex // serialises rebuilds
	cur   atomic.Pointer[cached]
}

type cached struct {
	store   *fsm.Store
	watches []<-chan struct{}
	idx     *index
}

func (c *cached) fresh(st *fsm.Store) bool {
	if c == nil || c.store != st {
		return false
	}
	for _, ch := range c.watches {
		select {
		case <-ch:
			return false
		default:
		}
	}
	return true
}

// New returns an authorizer reading the current store from store (the
// cluster's, which a snapshot restore replaces).
func New(store func() *fsm.Store) *Authorizer {
	return &Authorizer{store: store}
}

func (a *Authorizer) index() (*index, error) {
	st := a.store()
	if c := a.cur.Load(); c.fresh(st) {
		return c.idx, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.cur.Load(); c.fresh(st) {
		return c.idx, nil
	}
	idx, watches, err := buildIndex(st)
	if err != nil {
		return nil, err
	}
	a.cur.Store(&cached{store: st, watches: watches, idx: idx})
	return idx, nil
}

// Authorize allows a request that a rule of a Role or ClusterRole bound to
// its user (or one of the user's groups) allows, as Kubernetes'
// RBACAuthorizer; otherwise it has no opinion, with the errors of
// bindings that name missing roles as the reason.
func (a *Authorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "", nil
	}
	idx, err := a.index()
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	var allowedBy *grant
	var errs []error
	idx.visit(u.GetName(), u.GetGroups(), attrs.GetNamespace(), func(g *grant) bool {
		if g.err != nil {
			errs = append(errs, g.err)
			return true
		}
		for i := range g.rules {
			if RuleAllows(attrs, &g.rules[i]) {
				allowedBy = g
				return false
			}
		}
		return true
	})
	if allowedBy != nil {
		return authorizer.DecisionAllow, "RBAC: allowed by " + allowedBy.String(), nil
	}
	reason := ""
	if len(errs) > 0 {
		reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))
	}
	return authorizer.DecisionNoOpinion, reason, nil
}

// RulesFor returns every rule granted to u in namespace (the
// ClusterRoleBindings' and, for a namespace, its RoleBindings'), and the
// errors of bindings naming missing roles; the rules are complete but for
// those.
func (a *Authorizer) RulesFor(u user.Info, namespace string) ([]rbacv1.PolicyRule, error) {
	idx, err := a.index()
	if err != nil {
		return nil, err
	}
	var rules []rbacv1.PolicyRule
	var errs []error
	idx.visit(u.GetName(), u.GetGroups(), namespace, func(g *grant) bool {
		if g.err != nil {
			errs = append(errs, g.err)
		}
		rules = append(rules, g.rules...)
		return true
	})
	return rules, utilerrors.NewAggregate(errs)
}

// RoleRefRules returns the rules of the role a binding in namespace ("" for
// a ClusterRoleBinding) names, or Kubernetes' not-found error.
func (a *Authorizer) RoleRefRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	idx, err := a.index()
	if err != nil {
		return nil, err
	}
	return idx.roleRules(ref, namespace)
}

// ConfirmNoEscalation returns nil when u holds, in namespace, every
// permission rules grant; otherwise the error of Kubernetes'
// ConfirmNoEscalation naming those it lacks.
func (a *Authorizer) ConfirmNoEscalation(u user.Info, namespace string, rules []rbacv1.PolicyRule) error {
	owner, resolveErr := a.RulesFor(u, namespace)
	covers, missing := rbacvalidation.Covers(owner, rules)
	if covers {
		return nil
	}
	descs := make([]string, 0, len(missing))
	seen := map[string]bool{}
	for _, m := range missing {
		if d := CompactString(m); !seen[d] {
			seen[d] = true
			descs = append(descs, d)
		}
	}
	sort.Strings(descs)
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
		u.GetName(), u.GetGroups(), strings.Join(descs, "\n"))
	if resolveErr != nil {
		msg += fmt.Sprintf("; resolution errors: %v", []error{resolveErr})
	}
	return fmt.Errorf("%s", msg)
}

// CompactString describes a rule as Kubernetes' rbacv1helpers.CompactString.
func CompactString(r rbacv1.PolicyRule) string {
	var parts []string
	var args []any
	if len(r.APIGroups) > 0 {
		parts, args = append(parts, "APIGroups:%q"), append(args, r.APIGroups)
	}
	if len(r.Resources) > 0 {
		parts, args = append(parts, "Resources:%q"), append(args, r.Resources)
	}
	if len(r.NonResourceURLs) > 0 {
		parts, args = append(parts, "NonResourceURLs:%q"), append(args, r.NonResourceURLs)
	}
	if len(r.ResourceNames) > 0 {
		parts, args = append(parts, "ResourceNames:%q"), append(args, r.ResourceNames)
	}
	if len(r.Verbs) > 0 {
		parts, args = append(parts, "Verbs:%q"), append(args, r.Verbs)
	}
	return fmt.Sprintf("{"+strings.Join(parts, ", ")+"}", args...)
}
