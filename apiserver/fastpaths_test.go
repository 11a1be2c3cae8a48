package apiserver

import (
	"mime"
	"net/http/httptest"
	"reflect"
	"testing"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "orch.io/orch/api/v1"
)

// TestIsProtobufMatchesParse compares isProtobuf, which skips the parse of
// the common "application/json", with the media type as parsed.
func TestIsProtobufMatchesParse(t *testing.T) {
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/json ", " application/json", "application/json;", protobufContentType, protobufContentType + "; x=y",
		"APPLICATION/VND.KUBERNETES.PROTOBUF", "application/yaml", "text/plain", ";", "application/json\x00", "a/b; c"} {
		r := httptest.NewRequest("POST", "/api/v1/namespaces/default/pods", nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		mt, _, err := mime.ParseMediaType(ct)
		want := err == nil && mt == protobufContentType
		if got := isProtobuf(r); got != want {
			t.Errorf("Content-Type %q: protobuf %v, parsed %v", ct, got, want)
		}
	}
}

// TestCheckDryRunMatchesValidation compares checkDryRun, which answers no
// values at once, with the validation on every kind of dryRun values.
func TestCheckDryRunMatchesValidation(t *testing.T) {
	for _, values := range [][]string{nil, {}, {"All"}, {""}, {"all"}, {"All", "All"}, {"All", "x"}, {"x"}} {
		var want error
		if errs := metav1validation.ValidateDryRun(field.NewPath("dryRun"), values); len(errs) > 0 {
			causes := make([]v1.StatusCause, 0, len(errs))
			for _, e := range errs {
				causes = append(causes, v1.StatusCause{Type: string(e.Type), Field: e.Field, Message: e.Error()})
			}
			want = v1.NewInvalid(optionsKind("create")+".meta.k8s.io", "", causes)
		}
		got, err := checkDryRun("create", values)
		if !reflect.DeepEqual(err, want) || got != (want == nil && len(values) > 0) {
			t.Errorf("dryRun %q: %v %v, validation %v", values, got, err, want)
		}
	}
}
