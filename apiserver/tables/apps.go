package tables

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "orch.io/orch/api/v1"
)

// controllerRevisionPrinter is kubectl's ControllerRevision columns
// (printControllerRevision): the controller as kind.group/name.
var controllerRevisionPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Controller", "string", 0, "Controller of the object"),
		col("Revision", "integer", 0, "Revision indicates the revision of the state represented by Data."),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		cr := obj.(*v1.ControllerRevision)
		controller := "<none>"
		if ref := cr.ControllerRef(); ref != nil {
			gv, err := schema.ParseGroupVersion(ref.APIVersion)
			if err == nil {
				controller = strings.ToLower(gv.WithKind(ref.Kind).GroupKind().String()) + "/" + ref.Name
			}
		}
		return []any{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp, now)}, nil
	},
}
