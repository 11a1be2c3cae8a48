package v1

import (
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxConfigMapSize bounds a ConfigMap's keys and values together, as
// Kubernetes' MaxConfigMapSize (1 MiB).
const MaxConfigMapSize = 1 << 20

// ConfigMap holds configuration for pods to consume, as Kubernetes'
// core/v1 kind: as environment variables (env[].valueFrom.configMapKeyRef,
// envFrom[].configMapRef) and as files (configMap and projected volumes).
type ConfigMap struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Immutable, once true, forbids changing data and binaryData (and
	// setting it back); the object can still be deleted.
	Immutable *bool `json:"immutable,omitempty"`
	// Data holds UTF-8 values by key.
	Data map[string]string `json:"data,omitempty"`
	// BinaryData holds binary values by key (base64 in JSON); its keys may
	// not repeat data's.
	BinaryData map[string][]byte `json:"binaryData,omitempty"`
}

// validateConfigMap is Kubernetes' ValidateConfigMap (without the
// object meta, checked for every kind): keys are config map keys, no key
// is in both maps, and keys and values together fit in 1 MiB.
func validateConfigMap(cm *ConfigMap) field.ErrorList {
	var errs field.ErrorList
	total := 0
	for _, key := range sortedKeys(cm.Data) {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(key) + len(cm.Data[key])
	}
	for _, key := range sortedKeys(cm.BinaryData) {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		total += len(key) + len(cm.BinaryData[key])
	}
	if total > MaxConfigMapSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxConfigMapSize))
	}
	return errs
}

// validateConfigMapUpdate is the immutability half of Kubernetes'
// ValidateConfigMapUpdate.
func validateConfigMapUpdate(cm, old *ConfigMap) field.ErrorList {
	if old.Immutable == nil || !*old.Immutable {
		return nil
	}
	const msg = "field is immutable when `immutable` is set"
	var errs field.ErrorList
	if cm.Immutable == nil || !*cm.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
	}
	if !mapsEqual(cm.Data, old.Data) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), msg))
	}
	if !mapsEqual(cm.BinaryData, old.BinaryData) {
		errs = append(errs, field.Forbidden(field.NewPath("binaryData"), msg))
	}
	return errs
}

// mapsEqual compares two maps, an empty one equal to nil (JSON drops both).
func mapsEqual[V any](a, b map[string]V) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// sortedKeys returns a map's keys in order, so errors list in a stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DescriptionAnnotation describes an object for people
// (kubernetes.io/description).
const DescriptionAnnotation = "kubernetes.io/description"
