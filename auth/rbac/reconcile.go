package rbac

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	rbacv1 "k8s.io/api/rbac/v1"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Proposer commits commands; cluster.Cluster implements it.
type Proposer interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}

// Defaults keeps the default roles and bindings in place on the leader, as
// kube-apiserver's bootstrap policy: it creates those that are missing and
// adds missing rules and subjects to those not annotated
// rbac.authorization.kubernetes.io/autoupdate=false. It runs when the
// master becomes leader and then every Interval.
type Defaults struct {
	Store    func() *fsm.Store
	Proposer Proposer
	Logger   *slog.Logger
	// Interval between reconciliations; 0 means 5 minutes.
	Interval time.Duration
}

// Run reconciles until ctx ends, retrying a failed pass after a second.
func (d *Defaults) Run(ctx context.Context) {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsystem", "rbac-defaults")
	interval := d.Interval
	if interval == 0 {
		interval = 5 * time.Minute
	}
	for {
		wait := interval
		if err := d.Reconcile(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("reconcile default roles", "err", err)
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Reconcile makes one pass over the default roles and bindings.
func (d *Defaults) Reconcile(ctx context.Context) error {
	for _, cr := range DefaultClusterRoles() {
		if err := d.ensure(ctx, "clusterroles", cr, func(stored v1.Object) v1.Object {
			s := stored.(*v1.ClusterRole)
			if ok, _ := rbacvalidation.Covers(s.Rules, cr.Rules); ok {
				return nil
			}
			next := v1.DeepCopy(s)
			_, missing := rbacvalidation.Covers(s.Rules, cr.Rules)
			next.Rules = append(next.Rules, missing...)
			return next
		}); err != nil {
			return err
		}
	}
	for _, crb := range DefaultClusterRoleBindings() {
		if err := d.ensure(ctx, "clusterrolebindings", crb, func(stored v1.Object) v1.Object {
			s := stored.(*v1.ClusterRoleBinding)
			if s.RoleRef != crb.RoleRef {
				return nil // immutable: left as the administrator made it
			}
			missing := missingSubjects(s.Subjects, crb.Subjects)
			if len(missing) == 0 {
				return nil
			}
			next := v1.DeepCopy(s)
			next.Subjects = append(next.Subjects, missing...)
			return next
		}); err != nil {
			return err
		}
	}
	return nil
}

// ensure creates want when it is missing, or applies the update merge
// returns (nil: nothing to add) unless autoupdate is off.
func (d *Defaults) ensure(ctx context.Context, resource string, want v1.Object, merge func(v1.Object) v1.Object) error {
	name := want.GetObjectMeta().Name
	rec, err := d.Store().Get(resource, "", name)
	var cmd []byte
	switch {
	case v1.IsNotFound(err):
		m := want.GetObjectMeta()
		m.UID, m.CreationTimestamp = uuid.NewString(), v1.NewTime(time.Now())
		v1.Default(want)
		cmd, err = fsm.NewCreate(want)
	case err != nil:
		return fmt.Errorf("read %s %s: %w", resource, name, err)
	case rec.Meta().Annotations[AutoUpdateAnnotation] == "false":
		return nil
	default:
		next := merge(rec.Object())
		if next == nil {
			return nil
		}
		cmd, err = fsm.NewUpdate(next, false)
	}
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", resource, name, err)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.Proposer.Apply(actx, cmd); err != nil && !v1.IsAlreadyExists(err) && !v1.IsConflict(err) {
		return fmt.Errorf("write %s %s: %w", resource, name, err)
	}
	return nil
}

func missingSubjects(have, want []rbacv1.Subject) []rbacv1.Subject {
	var out []rbacv1.Subject
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}
