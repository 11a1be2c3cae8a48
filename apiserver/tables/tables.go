// Package tables holds the server-side Table columns of every resource, as
// Kubernetes' printers (pkg/printers/internalversion/printers.go) define
// them, so `kubectl get` prints orch's objects as it prints Kubernetes'.
//
// Printers are keyed by resource (plural name) in one table; a resource
// without a printer gets Name and Age, so a kind added to the resource table
// prints at once. Cells are computed the way the server computes them for
// Kubernetes' TableConvertor: with every column (kubectl hides the
// priority-1 columns unless -o wide).
package tables

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "orch.io/orch/api/v1"
)

// Printer defines one resource's columns and how one object fills them.
type Printer struct {
	// Columns are the column definitions, Name first.
	Columns []metav1.TableColumnDefinition
	// Row returns the cells of obj (one per column) and the row's
	// conditions, with ages measured at now.
	Row func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition)
}

// printers are the resources with columns of their own. Read-only.
var printers = map[string]Printer{
	"pods":                       podPrinter,
	"nodes":                      nodePrinter,
	"services":                   servicePrinter,
	"replicationcontrollers":     rcPrinter,
	"endpoints":                  endpointsPrinter,
	"namespaces":                 namespacePrinter,
	"serviceaccounts":            serviceAccountPrinter,
	"configmaps":                 configMapPrinter,
	"secrets":                    secretPrinter,
	"resourcequotas":             resourceQuotaPrinter,
	"limitranges":                createdAtPrinter,
	"roles":                      createdAtPrinter,
	"clusterroles":               createdAtPrinter,
	"rolebindings":               bindingPrinter,
	"clusterrolebindings":        bindingPrinter,
	"certificatesigningrequests": csrPrinter,
	"leases":                     leasePrinter,
	"endpointslices":             endpointSlicePrinter,
	"events":                     eventPrinter,
	"poddisruptionbudgets":       pdbPrinter,
	"jobs":                       jobPrinter,
	"cronjobs":                   cronJobPrinter,
	"replicasets":                replicaSetPrinter,
	"deployments":                deploymentPrinter,
	"controllerrevisions":        controllerRevisionPrinter,
	"daemonsets":                 daemonSetPrinter,
	"statefulsets":               statefulSetPrinter,
}

// For returns the printer of a resource (its plural name); one without a
// printer of its own gets Name and Age.
func For(resource string) Printer {
	if p, ok := printers[resource]; ok {
		return p
	}
	return defaultPrinter
}

// Column descriptions shared by many printers (Kubernetes takes them from
// ObjectMeta's field docs).
const (
	nameDoc = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
	ageDoc  = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)

// nameColumn and ageColumn are every printer's Name and (most printers') Age.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: nameDoc}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: ageDoc}
)

// col is a column definition; priority 1 columns show only with -o wide.
func col(name, typ string, priority int32, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: priority, Description: desc}
}

// defaultPrinter is Name and Age, for resources without a printer.
var defaultPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn, ageColumn},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		m := obj.GetObjectMeta()
		return []any{m.Name, age(m.CreationTimestamp, now)}, nil
	},
}

// createdAtPrinter is Kubernetes' printer of roles, cluster roles and limit
// ranges: Name and the creation time.
var createdAtPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		{Name: "Created At", Type: "date", Description: ageDoc}},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		m := obj.GetObjectMeta()
		return []any{m.Name, m.CreationTimestamp.UTC().Format(time.RFC3339)}, nil
	},
}

// age is Kubernetes' translateTimestampSince: a human duration since t,
// "<unknown>" for an unset time.
func age(t v1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// orNone is s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
