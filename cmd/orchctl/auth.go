package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	v1 "orch.io/orch/api/v1"
)

func newAuthCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Inspect authorization",
	}
	cmd.AddCommand(newCanICmd(a))
	return cmd
}

func newCanICmd(a *app) *cobra.Command {
	var subresource, as string
	var asGroups []string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "can-i VERB [TYPE | TYPE/NAME | TYPE NAME | NONRESOURCEURL]",
		Short: "Check whether an action is allowed",
		Long: `Check whether an action is allowed, as kubectl auth can-i: it prints yes
(exit code 0) or no (exit code 1), asking the API server with a
SelfSubjectAccessReview. TYPE is a resource type (pods, rc,
roles.rbac.authorization.k8s.io, ...); a NONRESOURCEURL starts with "/".

--as USER (and --as-group GROUP) asks about another user with a
SubjectAccessReview, which only those allowed to create subjectaccessreviews
(cluster admins) may do; unlike kubectl, orch does not impersonate.`,
		Example: `  orchctl auth can-i create pods -n team-a
  orchctl auth can-i get pods/web -n team-a
  orchctl auth can-i update pods --subresource status
  orchctl auth can-i get /metrics
  orchctl auth can-i list nodes --as alice --as-group devs`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			attrs, nonRes, warning, err := a.canIAttributes(args, subresource)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			if warning != "" && !quiet {
				fmt.Fprintln(a.errOut, warning)
			}
			if as == "" && len(asGroups) > 0 {
				return usagef(cmd, "--as-group needs --as")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx, cancel := a.requestContext(cmd.Context())
			defer cancel()
			var st v1.SubjectAccessReviewStatus
			if as != "" {
				in := v1.SubjectAccessReview{Spec: v1.SubjectAccessReviewSpec{User: as, Groups: asGroups,
					ResourceAttributes: attrs, NonResourceAttributes: nonRes}}
				var out v1.SubjectAccessReview
				if err := c.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", nil, in, &out); err != nil {
					return err
				}
				st = out.Status
			} else {
				in := v1.SelfSubjectAccessReview{Spec: v1.SelfSubjectAccessReviewSpec{ResourceAttributes: attrs, NonResourceAttributes: nonRes}}
				var out v1.SelfSubjectAccessReview
				if err := c.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", nil, in, &out); err != nil {
					return err
				}
				st = out.Status
			}
			if st.Allowed {
				if !quiet {
					fmt.Fprintln(a.out, "yes")
				}
				return nil
			}
			if !quiet {
				line := "no"
				if st.Reason != "" {
					line += " - " + st.Reason
				}
				if st.EvaluationError != "" {
					line += " - " + st.EvaluationError
				}
				fmt.Fprintln(a.out, line)
			}
			return errReported
		},
	}
	f := cmd.Flags()
	f.StringVar(&subresource, "subresource", "", "the subresource to ask about (status, log, scale, ...)")
	f.StringVar(&as, "as", "", "ask about this user instead of the caller (a SubjectAccessReview)")
	f.StringSliceVar(&asGroups, "as-group", nil, "a group of the --as user; repeat for several")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing; only the exit code answers")
	return cmd
}

// canIAttributes turns can-i's arguments into the attributes of a review,
// and a warning for a resource type the server does not serve.
func (a *app) canIAttributes(args []string, subresource string) (*v1.ResourceAttributes, *v1.NonResourceAttributes, string, error) {
	verb := args[0]
	if len(args) == 1 {
		return nil, nil, "", fmt.Errorf("you must specify two arguments: verb resource or verb resource/resourceName")
	}
	if strings.HasPrefix(args[1], "/") {
		if len(args) > 2 || subresource != "" {
			return nil, nil, "", fmt.Errorf("a non-resource URL takes no name or subresource")
		}
		return nil, &v1.NonResourceAttributes{Verb: verb, Path: args[1]}, "", nil
	}
	typ, name, _ := strings.Cut(args[1], "/")
	if len(args) == 3 {
		if name != "" {
			return nil, nil, "", fmt.Errorf("give the name as TYPE/NAME or TYPE NAME, not both")
		}
		name = args[2]
	}
	ra := &v1.ResourceAttributes{Verb: verb, Subresource: subresource, Name: name}
	var warning string
	res, group, _ := strings.Cut(typ, ".")
	if r, ok := v1.ResourceByName(res); ok && (group == "" || group == r.Group) {
		ra.Resource, ra.Group = r.Name, r.Group
		switch {
		case a.allNamespaces:
		case r.Namespaced:
			ra.Namespace = a.namespace
		case r.Name == "namespaces" && r.Group == "":
			ra.Namespace = name // a namespace is in itself
		}
	} else {
		ra.Resource, ra.Group, ra.Namespace = res, group, a.namespace
		if a.allNamespaces {
			ra.Namespace = ""
		}
		warning = fmt.Sprintf("Warning: the server doesn't have a resource type '%s'", typ)
	}
	return ra, nil, warning, nil
}
