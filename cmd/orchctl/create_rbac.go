package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	v1 "orch.io/orch/api/v1"
)

// validRoleVerbs are the verbs kubectl create role accepts.
var validRoleVerbs = []string{"*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "use", "bind", "escalate", "impersonate"}

// roleFlags are the flags of create role and create clusterrole.
type roleFlags struct {
	verbs, resources, resourceNames, urls []string
}

func (f *roleFlags) add(cmd *cobra.Command, cluster bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.verbs, "verb", nil, "verbs the rule allows (get, list, watch, create, update, patch, delete, deletecollection, bind, escalate, *)")
	fl.StringSliceVar(&f.resources, "resource", nil, "resources the rule applies to: TYPE, TYPE.GROUP or TYPE/SUBRESOURCE")
	fl.StringSliceVar(&f.resourceNames, "resource-name", nil, "names of the resources the rule applies to (all when not given)")
	if cluster {
		fl.StringSliceVar(&f.urls, "non-resource-url", nil, "non-resource URLs the rule applies to (a trailing * matches a prefix)")
	}
}

// rules builds a role's rules as kubectl create role does: one rule per API
// group, holding that group's resources, and one for the non-resource URLs.
func (f *roleFlags) rules() ([]v1.PolicyRule, error) {
	if len(f.verbs) == 0 {
		return nil, fmt.Errorf("at least one verb must be specified")
	}
	for _, v := range f.verbs {
		ok := false
		for _, valid := range validRoleVerbs {
			ok = ok || v == valid
		}
		if !ok {
			return nil, fmt.Errorf("invalid verb: '%s'", v)
		}
	}
	if len(f.resources) == 0 && len(f.urls) == 0 {
		return nil, fmt.Errorf("at least one resource must be specified")
	}
	byGroup := map[string][]string{}
	var groups []string
	for _, spec := range f.resources {
		typ, sub, _ := strings.Cut(spec, "/")
		res, group, hasGroup := strings.Cut(typ, ".")
		if r, ok := v1.ResourceByName(res); ok && (!hasGroup || group == r.Group) {
			res, group = r.Name, r.Group
		} else if !hasGroup && res != "*" {
			return nil, fmt.Errorf("the server doesn't have a resource type %q", res)
		}
		if sub != "" {
			res += "/" + sub
		}
		if _, seen := byGroup[group]; !seen {
			groups = append(groups, group)
		}
		byGroup[group] = append(byGroup[group], res)
	}
	sort.Strings(groups)
	var rules []v1.PolicyRule
	for _, g := range groups {
		rules = append(rules, v1.PolicyRule{Verbs: f.verbs, APIGroups: []string{g}, Resources: byGroup[g], ResourceNames: f.resourceNames})
	}
	if len(f.urls) > 0 {
		rules = append(rules, v1.PolicyRule{Verbs: f.verbs, NonResourceURLs: f.urls})
	}
	return rules, nil
}

// bindingFlags are the flags of create rolebinding and clusterrolebinding.
type bindingFlags struct {
	role, clusterRole             string
	users, groups, serviceAccount []string
}

func (f *bindingFlags) add(cmd *cobra.Command, namespaced bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.clusterRole, "clusterrole", "", "the ClusterRole to grant")
	if namespaced {
		fl.StringVar(&f.role, "role", "", "the Role (of the binding's namespace) to grant")
	}
	fl.StringSliceVar(&f.users, "user", nil, "users to grant the role to")
	fl.StringSliceVar(&f.groups, "group", nil, "groups to grant the role to")
	fl.StringSliceVar(&f.serviceAccount, "serviceaccount", nil, "service accounts to grant the role to, as NAMESPACE:NAME")
}

func (f *bindingFlags) binding() (v1.RoleRef, []v1.Subject, error) {
	var ref v1.RoleRef
	switch {
	case f.role != "" && f.clusterRole != "":
		return ref, nil, fmt.Errorf("exactly one of clusterrole or role must be specified")
	case f.role != "":
		ref = v1.RoleRef{APIGroup: v1.RBACGroup, Kind: "Role", Name: f.role}
	case f.clusterRole != "":
		ref = v1.RoleRef{APIGroup: v1.RBACGroup, Kind: "ClusterRole", Name: f.clusterRole}
	default:
		return ref, nil, fmt.Errorf("exactly one of clusterrole or role must be specified")
	}
	var subjects []v1.Subject
	for _, u := range f.users {
		subjects = append(subjects, v1.Subject{Kind: v1.UserKind, APIGroup: v1.RBACGroup, Name: u})
	}
	for _, g := range f.groups {
		subjects = append(subjects, v1.Subject{Kind: v1.GroupKind, APIGroup: v1.RBACGroup, Name: g})
	}
	for _, sa := range f.serviceAccount {
		ns, name, ok := strings.Cut(sa, ":")
		if !ok || ns == "" || name == "" {
			return ref, nil, fmt.Errorf("serviceaccount must be <namespace>:<name>")
		}
		subjects = append(subjects, v1.Subject{Kind: v1.ServiceAccountKind, Namespace: ns, Name: name})
	}
	return ref, subjects, nil
}

// newCreateRBACCmds returns create role, clusterrole, rolebinding and
// clusterrolebinding, with kubectl's flags.
func newCreateRBACCmds(a *app) []*cobra.Command {
	create := func(cmd *cobra.Command, obj v1.Object) error {
		c, err := a.client()
		if err != nil {
			return err
		}
		ctx, cancel := a.requestContext(cmd.Context())
		defer cancel()
		if err := c.Create(ctx, obj); err != nil {
			return err
		}
		r, _ := v1.ResourceOf(obj)
		fmt.Fprintf(a.out, "%s.%s/%s created\n", r.Singular, r.Group, obj.GetObjectMeta().Name)
		return nil
	}
	var role, clusterRole roleFlags
	var rb, crb bindingFlags
	roleCmd := &cobra.Command{
		Use:     "role NAME --verb=VERB --resource=RESOURCE [--resource-name=NAME]",
		Short:   "Create a Role",
		Example: `  orchctl create role pod-reader --verb=get,list,watch --resource=pods,pods/log -n team-a`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, err := role.rules()
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return create(cmd, &v1.Role{ObjectMeta: v1.ObjectMeta{Name: args[0], Namespace: a.namespace}, Rules: rules})
		},
	}
	role.add(roleCmd, false)
	clusterRoleCmd := &cobra.Command{
		Use:   "clusterrole NAME --verb=VERB [--resource=RESOURCE] [--non-resource-url=URL]",
		Short: "Create a ClusterRole",
		Example: `  orchctl create clusterrole node-reader --verb=get,list,watch --resource=nodes
  orchctl create clusterrole metrics --verb=get --non-resource-url=/metrics`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, err := clusterRole.rules()
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return create(cmd, &v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: args[0]}, Rules: rules})
		},
	}
	clusterRole.add(clusterRoleCmd, true)
	rbCmd := &cobra.Command{
		Use:     "rolebinding NAME --clusterrole=NAME|--role=NAME [--user=USER] [--group=GROUP] [--serviceaccount=NS:NAME]",
		Short:   "Create a RoleBinding",
		Example: `  orchctl create rolebinding alice-edit --clusterrole=edit --user=alice -n team-a`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, subjects, err := rb.binding()
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return create(cmd, &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Name: args[0], Namespace: a.namespace}, RoleRef: ref, Subjects: subjects})
		},
	}
	rb.add(rbCmd, true)
	crbCmd := &cobra.Command{
		Use:     "clusterrolebinding NAME --clusterrole=NAME [--user=USER] [--group=GROUP] [--serviceaccount=NS:NAME]",
		Short:   "Create a ClusterRoleBinding",
		Example: `  orchctl create clusterrolebinding ops-admin --clusterrole=cluster-admin --group=ops`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, subjects, err := crb.binding()
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return create(cmd, &v1.ClusterRoleBinding{ObjectMeta: v1.ObjectMeta{Name: args[0]}, RoleRef: ref, Subjects: subjects})
		},
	}
	crb.add(crbCmd, false)
	return []*cobra.Command{roleCmd, clusterRoleCmd, rbCmd, crbCmd}
}
