package tables

import (
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "orch.io/orch/api/v1"
)

var namespacePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Status", "string", 0, "The status of the namespace"),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		ns := obj.(*v1.Namespace)
		return []any{ns.Name, ns.Status.Phase, age(ns.CreationTimestamp, now)}, nil
	},
}

var serviceAccountPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		sa := obj.(*v1.ServiceAccount)
		return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}, nil
	},
}

var resourceQuotaPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		ageColumn,
		col("Request", "string", 0, "Request represents a minimum amount of cpu/memory that a container may consume."),
		col("Limit", "string", 0, "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		q := obj.(*v1.ResourceQuota)
		names := make([]string, 0, len(q.Status.Hard))
		for name := range q.Status.Hard {
			names = append(names, string(name))
		}
		sort.Strings(names)
		var request, limit []string
		for _, name := range names {
			used, hard := q.Status.Used[v1.ResourceName(name)], q.Status.Hard[v1.ResourceName(name)]
			cell := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
			if strings.HasPrefix(name, "limits.") {
				limit = append(limit, cell)
			} else {
				request = append(request, cell)
			}
		}
		return []any{q.Name, age(q.CreationTimestamp, now), strings.Join(request, ", "), strings.Join(limit, ", ")}, nil
	},
}

// bindingPrinter prints role bindings and cluster role bindings.
var bindingPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Role", "string", 0, "RoleRef references a role."),
		ageColumn,
		col("Users", "string", 1, "Users in the binding"),
		col("Groups", "string", 1, "Groups in the binding"),
		col("ServiceAccounts", "string", 1, "ServiceAccounts in the binding"),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		var ref v1.RoleRef
		var subjects []v1.Subject
		switch b := obj.(type) {
		case *v1.RoleBinding:
			ref, subjects = b.RoleRef, b.Subjects
		case *v1.ClusterRoleBinding:
			ref, subjects = b.RoleRef, b.Subjects
		}
		var users, groups, sas []string
		for _, s := range subjects {
			switch s.Kind {
			case "User":
				users = append(users, s.Name)
			case "Group":
				groups = append(groups, s.Name)
			case "ServiceAccount":
				sas = append(sas, s.Namespace+":"+s.Name)
			}
		}
		m := obj.GetObjectMeta()
		return []any{m.Name, ref.Kind + "/" + ref.Name, age(m.CreationTimestamp, now),
			strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}, nil
	},
}

var csrPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		ageColumn,
		col("SignerName", "string", 0, "Requested signer for the request. It is a qualified name in the form: `scope-hostname.io/name`."),
		col("Requestor", "string", 0, "Name of the user that created the request."),
		col("RequestedDuration", "string", 0, "expirationSeconds is the requested duration of validity of the issued certificate."),
		col("Condition", "string", 0, "The condition of the request: Approved, Denied or Pending, with Failed and Issued."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		csr := obj.(*v1.CertificateSigningRequest)
		requested := "<none>"
		if s := csr.Spec.ExpirationSeconds; s != nil {
			requested = duration.HumanDuration(time.Duration(*s) * time.Second)
		}
		var approved, denied, failed bool
		for _, c := range csr.Status.Conditions {
			switch c.Type {
			case v1.CertificateApproved:
				approved = true
			case v1.CertificateDenied:
				denied = true
			case v1.CertificateFailed:
				failed = true
			}
		}
		status := "Pending"
		switch {
		case denied:
			status = "Denied"
		case approved:
			status = "Approved"
		}
		if failed {
			status += ",Failed"
		}
		if len(csr.Status.Certificate) > 0 {
			status += ",Issued"
		}
		return []any{csr.Name, age(csr.CreationTimestamp, now), orNone(csr.Spec.SignerName), csr.Spec.Username, requested, status}, nil
	},
}
