package v1

import "k8s.io/apimachinery/pkg/util/validation/field"

// The roots of the field paths validation reports. A *field.Path is never
// changed once made (Child, Index and Key make new ones), so these are
// shared by every validation instead of made for each.
var (
	pathMetadata = field.NewPath("metadata")
	pathSpec     = field.NewPath("spec")
	pathStatus   = field.NewPath("status")
)

// pathFn makes a field path when an error needs it. Validation passes one
// where making the *field.Path up front would cost an allocation for every
// valid object: a closure a callee does not keep stays on the caller's
// stack, and the path is built only on the error's branch.
type pathFn func() *field.Path

// child is the path to the field name under the path p makes.
func (p pathFn) child(name string) *field.Path { return p().Child(name) }

// index is the path to element i of the list at the path p makes.
func (p pathFn) index(i int) *field.Path { return p().Index(i) }
