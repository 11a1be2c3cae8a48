package tables

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// configMapPrinter is kubectl's ConfigMap columns (printConfigMap): the
// number of keys, data and binaryData together.
var configMapPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Data", "string", 0, "Data contains the configuration data."),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		cm := obj.(*v1.ConfigMap)
		return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}, nil
	},
}

// secretPrinter is kubectl's Secret columns (printSecret): the type and
// the number of keys, never a value.
var secretPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Type", "string", 0, "The type of the secret"),
		col("Data", "string", 0, "The number of entries in the secret"),
		ageColumn,
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		s := obj.(*v1.Secret)
		return []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now)}, nil
	},
}
