package apiserver

import (
	"bytes"
	"net/http"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	v1 "orch.io/orch/api/v1"
)

// kubectl auth can-i posts its SelfSubjectAccessReview as protobuf.
func TestProtobufAccessReview(t *testing.T) {
	e := newTestEnv(t)
	scheme := runtime.NewScheme()
	if err := authzv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ser := protobuf.NewSerializer(scheme, scheme)
	encode := func(obj runtime.Object) []byte {
		var buf bytes.Buffer
		if err := ser.Encode(obj, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	ssar := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: "default", Verb: "create", Resource: "pods"}}}
	ssar.SetGroupVersionKind(authzv1.SchemeGroupVersion.WithKind("SelfSubjectAccessReview"))
	const path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
	b := e.expectCode(t, http.StatusCreated, http.MethodPost, path, encode(ssar), withContentType(protobufContentType))
	if out := decode[v1.SelfSubjectAccessReview](t, b); !out.Status.Allowed || out.Spec.ResourceAttributes == nil || out.Spec.ResourceAttributes.Resource != "pods" {
		t.Errorf("answer %s", b)
	}
	// A body of another kind, and a body that is not protobuf, are 400.
	sar := &authzv1.SubjectAccessReview{}
	sar.SetGroupVersionKind(authzv1.SchemeGroupVersion.WithKind("SubjectAccessReview"))
	e.expectCode(t, http.StatusBadRequest, http.MethodPost, path, encode(sar), withContentType(protobufContentType))
	e.expectCode(t, http.StatusBadRequest, http.MethodPost, path, []byte("k8s\x00garbage"), withContentType(protobufContentType))
	// Other resources take JSON only.
	e.expectCode(t, http.StatusUnsupportedMediaType, http.MethodPost, "/api/v1/namespaces/default/pods", encode(ssar), withContentType(protobufContentType))
}
