package tables

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// pdbPrinter is Kubernetes' printer of PodDisruptionBudgets.
var pdbPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Min Available", "string", 0, "The minimum number of pods that must be available."),
		col("Max Unavailable", "string", 0, "The maximum number of pods that may be unavailable."),
		col("Allowed Disruptions", "integer", 0, "Calculated number of pods that may be disrupted at this time."),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		pdb := obj.(*v1.PodDisruptionBudget)
		minAvailable, maxUnavailable := "N/A", "N/A"
		if pdb.Spec.MinAvailable != nil {
			minAvailable = pdb.Spec.MinAvailable.String()
		}
		if pdb.Spec.MaxUnavailable != nil {
			maxUnavailable = pdb.Spec.MaxUnavailable.String()
		}
		return []any{pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), age(pdb.CreationTimestamp, now)}, nil
	},
}
