package rbac

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// BenchmarkAuthorize measures one decision with 1000 namespaces of two
// RoleBindings each and the default ClusterRoleBindings in the store.
func BenchmarkAuthorize(b *testing.B) {
	f := fsm.NewTestFSM(b)
	idx := uint64(0)
	create := func(obj v1.Object) {
		v1.Default(obj)
		idx++
		fsm.MustCreate(b, f, idx, obj)
	}
	for _, cr := range DefaultClusterRoles() {
		create(cr)
	}
	for _, crb := range DefaultClusterRoleBindings() {
		create(crb)
	}
	for i := 0; i < 1000; i++ {
		ns := fmt.Sprintf("ns-%d", i)
		create(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns, UID: ns}})
		create(roleBinding(ns, "edit", "ClusterRole", Edit, userSubject(fmt.Sprintf("user-%d", i))))
		create(roleBinding(ns, "view", "ClusterRole", View, groupSubject(fmt.Sprintf("group-%d", i))))
	}
	b.Run("rebuild", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := buildIndex(f.Store()); err != nil {
				b.Fatal(err)
			}
		}
	})
	u := &user.DefaultInfo{Name: "user-500", Groups: []string{"group-7", user.AllAuthenticated}}
	for _, tc := range []struct {
		name  string
		attrs authorizer.AttributesRecord
		allow bool
	}{
		{"allowed", attrs(u, "create", "", "pods", "", "ns-500", ""), true},
		{"denied", attrs(u, "create", "", "pods", "", "ns-501", ""), false},
		{"view by group", attrs(u, "get", "", "pods", "log", "ns-7", "p"), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := New(f.Store)
			ctx := context.Background()
			for b.Loop() {
				d, _, _ := a.Authorize(ctx, tc.attrs)
				if (d == authorizer.DecisionAllow) != tc.allow {
					b.Fatalf("decision %v", d)
				}
			}
		})
	}
}
